"""Program outputs: every consumer of the program frames (the picture after effects, no HUD) is a
`Sink` with its own thread, a bounded queue and its own counters.  The app reads each program frame
back once and hands it to every sink (`App.outputs`); adding a sink does not touch the render loop.
A sink that falls behind drops frames (counted), never the display."""
from __future__ import annotations

from typing import Callable, Optional

from .sink import Sink

__all__ = ["Sink", "from_options"]


def from_options(fps: float, stream: Optional[str] = None, ndi: Optional[str] = None,
                 v4l2: Optional[str] = None, log: Callable[[str], None] = print) -> list[Sink]:
    """The sinks the command line asked for.  One that cannot start is one line in `log` and the
    show goes on without it."""
    sinks: list[Sink] = []
    wanted = [("stream", stream, "streaming the program to {}"), ("ndi", ndi, "NDI source {!r}"),
              ("v4l2", v4l2, "virtual camera {}")]
    for kind, arg, what in wanted:
        if not arg:
            continue
        try:
            if kind == "stream":
                from .stream import StreamSink
                sinks.append(StreamSink(arg, fps))
            elif kind == "ndi":
                from .ndi import NdiSink
                sinks.append(NdiSink(arg, fps))
            else:
                from .v4l2 import V4l2Sink
                sinks.append(V4l2Sink(arg, fps))
            log(f"livegan: output: {what.format(arg)}")
        except (ValueError, OSError, ImportError) as e:
            log(f"livegan: output {kind} off: {' '.join(str(e).split())}")
    return sinks
