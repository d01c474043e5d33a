"""Live condition sources for StyleGAN-Canvas networks: each reads on its own thread and keeps
only its newest frame (never a queue), already cropped and resized to the network's condition
size as uint8 RGB.  A source that fails keeps its last good frame, says why in `error`, and tries
again; the show never waits for it.

Every frame has a key that says where it came from.  Frames of files (an image, a folder, a video)
are keyed by the file's identity and frame index, so a replay can read them again; frames of a
camera, an NDI source or the show's own output are `stored` with a recording instead.
"""
from __future__ import annotations

import hashlib
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
VIDEO_EXTS = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".mpg", ".ts")
MAX_IMAGE_BYTES = 64 << 20
MAX_VIDEO_BYTES = 64 << 30


@dataclass(frozen=True)
class CondFrame:
    key: tuple                       # (kind, identity, index): equal keys mean equal pixels
    pixels: np.ndarray = field(compare=False, repr=False)   # HWC uint8 RGB at the condition size
    stored: bool = False             # a recording keeps the pixels (not re-readable from a file)
    path: str = ""                   # the file it came from (files only)


def file_identity(path: str | os.PathLike) -> str:
    """Cheap identity of a file: size, and the hash of its first and last MiB (a replay checks it)."""
    p = Path(path)
    st = p.stat()
    h = hashlib.sha256(f"{st.st_size}".encode())
    with open(p, "rb") as f:
        h.update(f.read(1 << 20))
        if st.st_size > 2 << 20:
            f.seek(-(1 << 20), os.SEEK_END)
            h.update(f.read(1 << 20))
    return h.hexdigest()[:16]


def fit_to(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Centre-crop to the aspect of size (W, H), then bilinear resize: a condition never has bars."""
    from PIL import Image

    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    if img.shape[2] == 4:
        img = img[..., :3]
    if img.ndim != 3 or img.shape[2] != 3 or img.shape[0] < 1 or img.shape[1] < 1:
        raise ValueError(f"a condition frame must be H x W x 3, got {list(img.shape)}")
    w, h = size
    ih, iw = img.shape[:2]
    if iw * h > ih * w:                                  # too wide: crop the sides
        cw = max(1, round(ih * w / h))
        x0 = (iw - cw) // 2
        img = img[:, x0:x0 + cw]
    else:
        ch = max(1, round(iw * h / w))
        y0 = (ih - ch) // 2
        img = img[y0:y0 + ch]
    if img.shape[:2] == (h, w):
        return np.ascontiguousarray(img, dtype=np.uint8)
    return np.asarray(Image.fromarray(np.ascontiguousarray(img, dtype=np.uint8)).resize((w, h), Image.BILINEAR))


def read_image(path: str | os.PathLike, size: tuple[int, int], what: str = "condition image") -> np.ndarray:
    """An image file as a condition frame (or, `what`, another picture); a clear ValueError for
    anything else."""
    import io

    from ..pictures import read_picture
    from ..safeio import read_regular

    data = read_regular(path, MAX_IMAGE_BYTES, what)
    pic = read_picture(io.BytesIO(data), str(path), draft=(size[0] * 2, size[1] * 2))
    return fit_to(np.asarray(pic), size)


def image_frame(path: str, size: tuple[int, int]) -> CondFrame:
    """An image file's condition frame, keyed by the file's identity (a replay reads it again)."""
    return CondFrame(("image", file_identity(path), 0), read_image(path, size), path=path)


class Source:
    """Base: a thread producing frames into one slot.  Subclasses implement `_run_once`."""

    kind = "source"
    retry_s = 2.0

    def __init__(self, size: tuple[int, int], fps: float = 30.0):
        self.size, self.fps = tuple(size), fps
        self.error: Optional[str] = None
        self.frames = 0
        self._frame: Optional[CondFrame] = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def start(self) -> "Source":
        self._thread = threading.Thread(target=self._loop, name=f"livegan-input-{self.kind}", daemon=True)
        self._thread.start()
        return self

    def latest(self) -> Optional[CondFrame]:
        with self._lock:
            return self._frame

    def _publish(self, frame: CondFrame) -> None:
        with self._lock:
            self._frame = frame
        self.frames += 1
        self.error = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._run_once()
            except Exception as e:                       # keep the last frame; say why; try again
                self.error = f"{type(e).__name__}: {' '.join(str(e).split())[:160]}"
            if self._stop.wait(self.retry_s):
                break

    def _run_once(self) -> None:
        raise NotImplementedError

    def describe(self) -> str:
        return self.kind

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


class ImageSource(Source):
    kind = "image"

    def __init__(self, path: str, size: tuple[int, int], fps: float = 30.0):
        super().__init__(size, fps)
        self.path = path
        read_image(path, self.size)                      # a bad file is one line at once

    def _run_once(self) -> None:
        if self._frame is None:
            self._publish(image_frame(self.path, self.size))
        self._stop.wait()                               # nothing more to read

    def describe(self) -> str:
        return f"image {Path(self.path).name}"


class FolderSource(Source):
    """A slideshow: image k of the folder (sorted by name) while keyframe k plays."""

    kind = "folder"

    def __init__(self, path: str, size: tuple[int, int], fps: float = 30.0):
        super().__init__(size, fps)
        self.path = path
        self.files = sorted(str(p) for p in Path(path).iterdir() if p.suffix.lower() in IMAGE_EXTS and p.is_file())
        if not self.files:
            raise ValueError(f"{path}: no images ({', '.join(IMAGE_EXTS)}) in this folder")
        self.index = 0
        self._want = threading.Event()
        self._want.set()

    def select(self, k: int) -> None:
        k = int(k) % len(self.files)
        if k != self.index:
            self.index = k
            self._want.set()

    def _run_once(self) -> None:
        while not self._stop.is_set():
            if not self._want.wait(0.1):
                continue
            self._want.clear()
            self._publish(image_frame(self.files[self.index], self.size))

    def stop(self) -> None:
        self._want.set()
        super().stop()

    def describe(self) -> str:
        return f"folder {Path(self.path).name} ({self.index + 1}/{len(self.files)})"


class VideoSource(Source):
    """A video file, looped, at its own frame rate (real time); frames keyed by index."""

    kind = "video"

    def __init__(self, path: str, size: tuple[int, int], fps: float = 30.0):
        super().__init__(size, fps)
        from ..safeio import check_regular

        self.path = path
        check_regular(path, MAX_VIDEO_BYTES, "condition video")
        self.identity = file_identity(path)
        self._probe()

    def _probe(self) -> None:
        from ..footage import decoded, open_video, rgb

        with open_video(self.path, self.path) as (c, s):
            for frame in decoded(c, s, self.path):
                rgb(frame, self.path)
                return
        raise ValueError(f"{self.path}: no frame in this video")

    def _run_once(self) -> None:
        from ..footage import decoded, open_video, rgb

        with open_video(self.path, self.path) as (c, s):
            rate = float(s.average_rate or s.guessed_rate or 25)
            t0, i = time.perf_counter(), 0
            for frame in decoded(c, s, self.path):
                if self._stop.is_set():
                    return
                pixels = fit_to(rgb(frame, self.path), self.size)
                self._publish(CondFrame(("video", self.identity, i), pixels, path=self.path))
                i += 1
                delay = t0 + i / rate - time.perf_counter()
                if delay > 0:
                    self._stop.wait(delay)
        self.retry_s = 0.0                             # the loop: from the start at once

    def describe(self) -> str:
        return f"video {Path(self.path).name}"


def frame_of_video(path: str, index: int, size: tuple[int, int]) -> np.ndarray:
    """Frame `index` of a video, decoded from the start (replays; deterministic); ValueError."""
    from ..footage import decoded, open_video, rgb

    with open_video(path, path) as (c, s):
        for i, frame in enumerate(decoded(c, s, path)):
            if i == index:
                return fit_to(rgb(frame, path), size)
    raise ValueError(f"{path}: has no frame {index}")


class StreamSource(Source):
    """A live picture whose frames cannot be read again: stored with a recording."""

    def __init__(self, size: tuple[int, int], fps: float = 30.0):
        super().__init__(size, fps)
        self.session = f"{time.time():.0f}"

    def _publish_live(self, img: np.ndarray) -> None:
        self._publish(CondFrame((self.kind, self.session, self.frames), fit_to(img, self.size), stored=True))


class CameraSource(StreamSource):
    """A V4L2 camera through PyAV/FFmpeg; a lost camera keeps its last frame and is reopened."""

    kind = "camera"

    def __init__(self, device: str, size: tuple[int, int], fps: float = 30.0):
        super().__init__(size, fps)
        from ..safeio import device_problem

        self.device = device
        import re
        if not re.fullmatch(r"/dev/video\d{1,3}", device):       # never any other device file
            raise ValueError(f"--input v4l2:{device[:60]}: expected a camera like v4l2:/dev/video0")
        why = device_problem(device)
        if why:
            raise ValueError(f"--input v4l2:{device}: {why.replace('device', 'camera device')}")

    def _run_once(self) -> None:
        import av

        with av.open(self.device, format="v4l2", timeout=5) as c:
            for frame in c.decode(video=0):
                if self._stop.is_set():
                    return
                self._publish_live(frame.to_ndarray(format="rgb24"))
        raise ConnectionError("the camera stopped sending")

    def describe(self) -> str:
        return f"camera {self.device}"


class NdiSource(StreamSource):
    """An NDI source by name (cyndilib): the picture another VJ program sends."""

    kind = "ndi"

    def __init__(self, name: str, size: tuple[int, int], fps: float = 30.0):
        super().__init__(size, fps)
        if not name or len(name) > 200:
            raise ValueError("--input ndi:NAME needs a source name")
        self.name = name

    def _run_once(self) -> None:
        from cyndilib.finder import Finder
        from cyndilib.receiver import Receiver
        from cyndilib.video_frame import VideoFrameSync
        from cyndilib.wrapper.ndi_recv import RecvBandwidth, RecvColorFormat

        finder = Finder()
        finder.open()
        try:
            source = None
            end = time.monotonic() + 5
            while source is None and time.monotonic() < end and not self._stop.is_set():
                time.sleep(0.05)                        # (wait_for_sources would hold the GIL)
                finder.update_sources()
                for n in finder.get_source_names():
                    if n == self.name or n.endswith(f"({self.name})"):
                        source = finder.get_source(n)
            if source is None:
                raise ConnectionError(f"NDI source {self.name!r} not found")
            recv = Receiver(color_format=RecvColorFormat.RGBX_RGBA, bandwidth=RecvBandwidth.highest)
            vf = VideoFrameSync()
            recv.frame_sync.set_video_frame(vf)
            recv.set_source(source)
            last, quiet = None, time.monotonic()
            try:
                while not self._stop.is_set():
                    time.sleep(1.0 / max(1.0, self.fps))
                    if not recv.is_connected():
                        if time.monotonic() - quiet > 5:
                            raise ConnectionError(f"NDI source {self.name!r} went away")
                        continue
                    recv.frame_sync.capture_video()
                    ts = vf.get_timestamp_posix()
                    if vf.xres > 0 and ts != last:
                        last, quiet = ts, time.monotonic()
                        self._publish_live(vf.get_array().reshape(vf.yres, vf.xres, 4)[..., :3])
            finally:
                recv.disconnect()
        finally:
            finder.close()

    def describe(self) -> str:
        return f"NDI {self.name}"


class FeedbackSource(StreamSource):
    """The show's own program frame becomes the next condition (the classic VJ loop).  The app
    pushes each program frame; only the newest is kept, so memory cannot grow."""

    kind = "feedback"

    def push(self, img: np.ndarray) -> None:
        try:
            self._publish_live(img)
        except ValueError as e:                          # a frame of the wrong shape: keep the last
            self.error = str(e)

    def _run_once(self) -> None:
        self._stop.wait()

    def describe(self) -> str:
        return "feedback (the program)"
