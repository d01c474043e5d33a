"""The condition picture of a StyleGAN-Canvas show (sources: sources.py; tensors: prep.py).

`Conditioner` owns the live source and decides which condition frame each display frame uses:
a frame keeps the condition it was first planned with, and that assignment is logged, so a
recorded session replays exactly (file frames are read again by identity and index; live frames
are stored beside the recording).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from .sources import (CameraSource, CondFrame, FeedbackSource, FolderSource, ImageSource, NdiSource, Source,
                      VideoSource, IMAGE_EXTS, fit_to, frame_of_video, file_identity, read_image)

SPEC_HELP = ("v4l2:/dev/videoN, a video file, an image, a folder of images, ndi:NAME, feedback or "
             "pattern")


def pattern(size: tuple[int, int]) -> np.ndarray:
    """The condition when no input is given: soft diagonal bands (deterministic)."""
    w, h = size
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    r = 0.5 + 0.5 * np.sin((x + y) / (0.11 * h))
    g = 0.5 + 0.5 * np.sin((x - 0.6 * y) / (0.17 * h) + 1.0)
    b = 0.5 + 0.5 * np.cos(np.hypot(x - w / 2, y - h / 2) / (0.09 * h))
    return (np.stack([r, g, b], axis=2) * 255).round().astype(np.uint8)


def is_canvas(G) -> bool:
    return getattr(G, "family", "") == "stylegan3-canvas"


def condition_size(G, aspect: Optional[str] = None) -> tuple[int, int]:
    """(W, H) of the condition for a Canvas network: its own, or widened to `aspect` (W:H) in
    steps the encoder's strides keep whole; the picture widens with it (the expandable canvas)."""
    _, h, w = G.cond_shape
    if aspect:
        a, b = (float(v) for v in aspect.split(":"))
        w = max(h // 2, int(round(h * a / b / 16)) * 16)
    return int(w), int(h)


def open_source(spec: str, size: tuple[int, int], fps: float) -> Optional[Source]:
    """The source a --input SPEC names (None for the pattern); ValueError (one line) if unusable."""
    s = str(spec).strip()
    if not s or len(s) > 4096:
        raise ValueError(f"--input: expected {SPEC_HELP}")
    if s == "pattern":
        return None
    if s == "feedback":
        return FeedbackSource(size, fps)
    if s.startswith("v4l2:"):
        return CameraSource(s[5:], size, fps)
    if s.startswith("ndi:"):
        return NdiSource(s[4:], size, fps)
    p = Path(s)
    if p.is_dir():
        return FolderSource(s, size, fps)
    if not p.exists():
        raise ValueError(f"--input {s}: no such file, folder or device (expected {SPEC_HELP})")
    if p.suffix.lower() in IMAGE_EXTS:
        return ImageSource(s, size, fps)
    return VideoSource(s, size, fps)


class Conditioner:
    def __init__(self, size: tuple[int, int], fps: float, log: Optional[Callable[[int, dict], None]] = None):
        self.size, self.fps = tuple(size), fps
        self.source: Optional[Source] = None
        self.spec = "pattern"
        self.log = log                                   # (frame, value) -> the control log
        self.assigned: dict[int, CondFrame] = {}
        self.last: CondFrame = CondFrame(("pattern", f"{size[0]}x{size[1]}", 0), pattern(self.size))
        self.replay_dir: Optional[Path] = None           # replaying: frames come from the log only
        self.lost = False
        from ..jobs import LatestLoader
        self._loader = LatestLoader("input-loader")     # opening a file or device never stalls a frame

    # -- the live source ------------------------------------------------------------------------
    def open(self, spec: str) -> str:
        """Switch to the source SPEC (the old one stops; its last frame stays until the new one
        delivers).  Raises ValueError for a bad spec; the current source then stays."""
        new = open_source(spec, self.size, self.fps)
        old, self.source, self.spec = self.source, (new.start() if new is not None else None), str(spec)
        if old is not None:
            old.stop()
        if new is None:
            self.last = CondFrame(("pattern", f"{self.size[0]}x{self.size[1]}", 0), pattern(self.size))
        return self.describe()

    def request(self, spec: str) -> None:
        """Switch to SPEC from the show: opened on a worker thread (the newest request wins), taken
        over by `poll` on the main thread."""
        size, fps = self.size, self.fps
        self._loader.submit(str(spec), lambda: open_source(spec, size, fps))

    def poll(self) -> list[str]:
        """Once per frame: use a source that finished opening; why the others failed."""
        errors = []
        for spec, source, err in self._loader.poll():
            if err is not None:
                errors.append(f"input off: {' '.join(str(err).split())[:200]}")
            elif source is not None and source.size != self.size:   # the network changed meanwhile:
                source.stop()                                       # opened again at the new size
                self.request(spec)
            else:
                old, self.source, self.spec = self.source, (source.start() if source is not None else None), spec
                if old is not None:
                    old.stop()
                if source is None:
                    self.last = CondFrame(("pattern", f"{self.size[0]}x{self.size[1]}", 0), pattern(self.size))
        return errors

    def resize(self, size: tuple[int, int]) -> None:
        """A network with another condition size: reopen the source at that size."""
        if tuple(size) != self.size:
            self.size = tuple(size)
            self.last = CondFrame(("pattern", f"{size[0]}x{size[1]}", 0), fit_to(self.last.pixels, self.size))
            self.assigned.clear()
            if self.source is not None:
                self.open(self.spec)

    @property
    def moving(self) -> bool:
        """A source whose picture changes by itself (not the pattern, an image or a slideshow)."""
        return self.source is not None and not isinstance(self.source, (ImageSource, FolderSource))

    @property
    def wants_feedback(self) -> bool:
        return isinstance(self.source, FeedbackSource)

    def feedback(self, program: np.ndarray) -> None:
        if isinstance(self.source, FeedbackSource):
            self.source.push(program)

    def tick(self, keyframe: int) -> None:
        """Once per display frame: the folder slideshow follows the keyframe."""
        if isinstance(self.source, FolderSource):
            self.source.select(keyframe)

    def current(self) -> CondFrame:
        """The newest frame of the source, or the last good one (a lost camera keeps its picture)."""
        if self.source is not None:
            got = self.source.latest()
            self.lost = self.source.error is not None
            if got is not None:
                self.last = got
        return self.last

    # -- which frame uses which condition ----------------------------------------------------------
    def for_frame(self, frame: int) -> CondFrame:
        got = self.assigned.get(frame)
        if got is not None:
            return got
        if self.replay_dir is not None:                  # replay: the latest logged one
            earlier = [f for f in self.assigned if f < frame]
            return self.assigned[max(earlier)] if earlier else self.last
        cond = self.current()
        self.assigned[frame] = cond
        if self.log is not None:
            self.log(frame, self.log_value(frame, cond))
        if len(self.assigned) > 512:                     # frames long past
            for f in sorted(self.assigned)[:-256]:
                del self.assigned[f]
        return cond

    @staticmethod
    def log_value(frame: int, cond: CondFrame) -> dict:
        v = {"for": frame, "key": list(cond.key)}
        if cond.stored:
            v["pixels"] = cond.pixels                      # the recorder stores them, logs the file name
        elif cond.path:
            v["path"] = os.path.abspath(cond.path)
        return v

    def apply_logged(self, value: dict) -> None:
        """Replay: frame value['for'] uses the logged condition (read again, or from the stored file)."""
        key = tuple(value["key"])
        kind = key[0]
        if kind == "pattern":
            pixels = pattern(self.size)
        elif value.get("file"):
            base = Path(os.path.realpath(self.replay_dir or "."))
            path = Path(os.path.realpath(base / str(value["file"])))
            if base not in path.parents:                 # stored frames live beside the log, nowhere else
                raise ValueError(f"condition file {str(value['file'])[:60]!r} is outside the recording's folder")
            pixels = read_image(path, self.size)
        elif value.get("path"):
            path = value["path"]
            if file_identity(path) != key[1]:
                raise ValueError(f"condition file {path} changed since the recording (identity differs)")
            pixels = read_image(path, self.size) if kind == "image" else frame_of_video(path, int(key[2]), self.size)
        else:
            raise ValueError(f"condition {kind} of frame {value.get('for')}: its pixels were not stored")
        self.assigned[int(value["for"])] = CondFrame(key, pixels, path=value.get("path", ""))

    # -- status --------------------------------------------------------------------------------
    def describe(self) -> str:
        return self.source.describe() if self.source is not None else "pattern"

    def status(self) -> str:
        s = f"input {self.describe()}"
        if self.source is not None and self.source.error:
            s += f"  LOST ({self.source.error[:60]}), showing the last frame"
        return s

    def stop(self) -> None:
        if self.source is not None:
            self.source.stop()
            self.source = None
