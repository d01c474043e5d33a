"""The show: everything but the window (core.py), in its parts: the command queue, the loaders,
the planner and the frozen status each tick publishes."""
from .core import Show
from ..settings import FIRST_FRAME_S
from .loaders import cpu_mapper, first_frame, make_bank
from .options import Options, Stats
from .status import ShowStatus

__all__ = ["Show", "Options", "Stats", "ShowStatus", "make_bank", "first_frame", "cpu_mapper", "FIRST_FRAME_S"]
