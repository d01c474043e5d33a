"""`--v4l2 /dev/videoN`: the program as a virtual camera (pyvirtualcam on a v4l2loopback device),
which OBS, browsers and video-call software take as a webcam.  Linux only; the same output on
Windows is Spout and on macOS Syphon (a sink class each, see the README)."""
from __future__ import annotations

import os

import numpy as np

from .sink import Sink

LOAD_HINT = ("load the v4l2loopback kernel module first: sudo modprobe v4l2loopback video_nr={n} "
             "card_label=livegan exclusive_caps=1")


def check_device(path: str) -> str:
    """ValueError (one line) unless PATH is a video character device."""
    n = "".join(ch for ch in os.path.basename(path) if ch.isdigit()) or "10"
    if not os.path.basename(path).startswith("video"):
        raise ValueError(f"--v4l2 {path!r}: expected a device like /dev/video10")
    from ..safeio import device_problem

    why = device_problem(path)
    if why:
        raise ValueError(f"--v4l2 {path}: {why.replace('a device', 'a video device')}; {LOAD_HINT.format(n=n)}")
    if not os.access(path, os.W_OK):
        raise ValueError(f"--v4l2 {path}: no permission to write to it (add yourself to the 'video' group)")
    return path


class V4l2Sink(Sink):
    name = "v4l2"

    def __init__(self, device: str, fps: float):
        self.device = check_device(device)
        self.cam = None
        super().__init__(fps, queue_size=1)

    def open(self, width: int, height: int) -> None:
        import pyvirtualcam

        try:
            self.cam = pyvirtualcam.Camera(width, height, self.fps, device=self.device, backend="v4l2loopback")
        except RuntimeError as e:                   # pyvirtualcam lists every backend's reason
            raise RuntimeError(f"{self.device} is not a v4l2loopback device ({' '.join(str(e).split())[:120]}); "
                               + LOAD_HINT.format(n=''.join(c for c in self.device if c.isdigit()))) from None

    def send(self, frame: np.ndarray) -> None:
        self.cam.send(np.ascontiguousarray(frame[: self.cam.height, : self.cam.width, :3]))

    def close(self) -> None:
        if self.cam is not None:
            self.cam.close()
        self.cam = None
