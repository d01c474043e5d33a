"""Recording a session: the recorder (a sink of the running show) writes the program's video and
the control log side by side in a walk folder; the log's format and reader are in log.py."""
from .log import CARRIED_NAME, LOG_NAME, LOG_VERSION, VIDEO_NAME, ControlLog, RecordingError, load_carried, read_log, save_carried, show_state
from .recorder import Recorder

__all__ = ["Recorder", "ControlLog", "RecordingError", "read_log", "save_carried", "load_carried", "show_state",
           "LOG_NAME", "VIDEO_NAME", "LOG_VERSION", "CARRIED_NAME"]
