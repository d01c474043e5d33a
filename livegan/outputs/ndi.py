"""`--ndi NAME`: the program as an NDI source (cyndilib; its wheel ships the NDI runtime, which is
under NDI's own licence, see the README).  Frames arrive from the shared asynchronous read-back;
the queue holds one frame, so a frame the network cannot take in time is dropped and counted,
never queued behind the show."""
from __future__ import annotations

import re
import socket
import time
from fractions import Fraction

import numpy as np

from .sink import Sink

NAME_RE = re.compile(r"^[A-Za-z0-9 _.\-]{1,63}$")


def check_name(name: str) -> str:
    """ValueError (one line) unless NAME is a usable NDI source name."""
    if not NAME_RE.match(name or ""):
        raise ValueError(f"--ndi {name!r}: use 1..63 letters, digits, spaces, '_', '-' or '.'")
    return name


def sources(wait_s: float = 1.0) -> list[str]:
    """NDI source names visible from here ('HOST (NAME)'), after up to `wait_s` of discovery."""
    from cyndilib.finder import Finder

    f = Finder()
    f.open()
    try:
        # Polled with sleeps: cyndilib's wait_for_sources holds the GIL while it waits, which
        # would stall the show's main thread for as long.
        end = time.monotonic() + wait_s
        while True:
            f.update_sources()
            if time.monotonic() >= end:
                return list(f.get_source_names())
            time.sleep(0.05)
    finally:
        f.close()


def full_name(name: str, host: str = "") -> str:
    """The name receivers list: 'HOST (NAME)' with NDI's upper-cased short host name."""
    return f"{(host or socket.gethostname()).split('.')[0].upper()} ({name})"


class NdiSink(Sink):
    name = "ndi"

    def __init__(self, source_name: str, fps: float, discover_s: float = 1.0):
        self.source_name = check_name(source_name)
        self.discover_s = discover_s
        # Imported here, on the creating thread: two sink threads importing the Cython modules at
        # once can see them half initialised (ImportError: partially initialized module).
        import cyndilib.finder  # noqa: F401
        import cyndilib.sender  # noqa: F401
        import cyndilib.video_frame  # noqa: F401
        self.sender = self.frame = None
        self._rgba = None
        super().__init__(fps, queue_size=1)

    def open(self, width: int, height: int) -> None:
        from cyndilib.sender import Sender
        from cyndilib.video_frame import VideoSendFrame
        from cyndilib.wrapper.ndi_structs import FourCC

        # Two sources of one name confuse every receiver: refuse (and retry later) instead.
        mine = self.source_name.lower()
        taken = [s for s in sources(self.discover_s) if s.lower().endswith(f"({mine})")]
        if taken:
            raise RuntimeError(f"--ndi {self.source_name!r}: the name is in use on this network by {taken[0]}; "
                               "choose another --ndi NAME")
        vf = VideoSendFrame()
        vf.set_resolution(width, height)
        vf.set_frame_rate(Fraction(self.fps).limit_denominator(1001))
        vf.set_fourcc(FourCC.RGBX)
        # The show paces the frames; NDI's own clocking would block this thread instead.
        s = Sender(self.source_name, clock_video=False)
        s.set_video_frame(vf)
        s.open()
        self.sender, self.frame = s, vf
        self._rgba = np.full((height, width, 4), 255, np.uint8)
        self.retry_s = 2.0

    def send(self, frame: np.ndarray) -> None:
        h, w = self._rgba.shape[:2]
        self._rgba[..., :3] = frame[:h, :w, :3]
        if not self.sender.write_video(self._rgba.ravel()):
            raise RuntimeError("NDI sender refused the frame")

    def connections(self) -> int:
        s = self.sender
        return int(s.get_num_connections(0)) if s is not None else 0

    def close(self) -> None:
        if self.sender is not None:
            self.sender.close()
        self.sender = self.frame = None
