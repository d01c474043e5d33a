"""Writing frame sequences: video through PyAV (bundled FFmpeg), GIF through Pillow."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import numpy as np

CODECS = {"h264": ("libx264", "yuv420p"), "prores": ("prores_ks", "yuv422p10le"),
          "ffv1": ("ffv1", "yuv444p")}


def write_video(path: str | os.PathLike, frames: Iterable[np.ndarray], fps: float = 30,
                codec: str | None = None, crf: int = 18, fragmented: bool = False, live: bool = False) -> int:
    """Encode HWC uint8 RGB frames; the codec follows the extension (.mp4 h264, .mov prores,
    .mkv ffv1, .gif) unless given.  `fragmented` writes self-contained one-second MP4/MOV
    fragments, so a killed process leaves a file that decodes up to its last second.  `live`
    (implied by `fragmented`): the frames come from a running show, so h264 uses a fast preset
    that leaves the CPU to the generator.  Returns the number of frames written."""
    path = Path(path)
    if path.suffix.lower() == ".gif":
        return _write_gif(path, frames, fps)
    import av
    from fractions import Fraction

    codec = codec or {".mov": "prores", ".mkv": "ffv1"}.get(path.suffix.lower(), "h264")
    name, pix = CODECS[codec]
    n = 0
    opts = {"movflags": "frag_keyframe+empty_moov+default_base_moof"} if fragmented and path.suffix.lower() in (".mp4", ".mov") else {}
    fmt = {".mov": "mov", ".mkv": "matroska"}.get(path.suffix.lower(), "mp4")
    # Write through a Python file: FFmpeg's own I/O swallows write errors (a full disk would go
    # unnoticed); Python's raise OSError, which stops the writer cleanly.
    with open(path, "wb") as fobj, av.open(fobj, mode="w", format=fmt, options=opts) as out:
        stream = out.add_stream(name, rate=Fraction(fps).limit_denominator(1000))
        stream.pix_fmt = pix
        if codec == "h264":
            stream.options = {"crf": str(crf), "preset": "veryfast" if fragmented or live else "medium",
                              "g": str(max(1, int(round(fps))))}
        elif codec == "prores":
            stream.options = {"profile": "3"}           # 422 HQ
        for frame in frames:
            if n == 0:
                stream.height, stream.width = frame.shape[0] // 2 * 2, frame.shape[1] // 2 * 2
            f = np.ascontiguousarray(frame[: stream.height, : stream.width, :3])
            for packet in stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                out.mux(packet)
            n += 1
        for packet in stream.encode():
            out.mux(packet)
    return n


def _write_gif(path: Path, frames: Iterable[np.ndarray], fps: float) -> int:
    from PIL import Image

    imgs = [Image.fromarray(f) for f in frames]
    imgs[0].save(path, save_all=True, append_images=imgs[1:], duration=int(round(1000 / fps)), loop=0)
    return len(imgs)


def read_video(path: str | os.PathLike) -> list[np.ndarray]:
    """Decode every frame back to HWC uint8 RGB (used by tests and tools)."""
    import av

    with av.open(str(path)) as f:
        return [fr.to_ndarray(format="rgb24") for fr in f.decode(video=0)]


class VideoSink:
    """Encodes frames on its own thread from a bounded queue.  `put(block=False)` never waits:
    when the encoder falls behind the frame is dropped and counted (live); offline rendering
    passes block=True.  Errors (disk full...) stop the sink and are kept in `error`."""

    def __init__(self, path, fps: float, codec: str | None = None, maxsize: int = 32,
                 fragmented: bool = False, crf: int = 18, live: bool = False):
        import queue
        import threading

        self.path, self.fps, self.codec = Path(path), fps, codec
        self.fragmented, self.crf, self.live = fragmented, crf, live
        self.queue: "queue.Queue" = queue.Queue(maxsize=maxsize)
        self.dropped = 0
        self.written = 0
        self.error: str | None = None
        self._thread = threading.Thread(target=self._run, name="livegan-video", daemon=True)
        self._thread.start()

    def _frames(self):
        while True:
            f = self.queue.get()
            if f is None:
                return
            yield f

    def _count(self, frames):
        for f in frames:
            yield f
            self.written += 1

    def _run(self) -> None:
        try:
            self.written = write_video(self.path, self._count(self._frames()), self.fps, self.codec,
                                       self.crf, self.fragmented, self.live)
        except Exception as e:
            self.error = f"video {self.path.name}: {type(e).__name__}: {e}"
            while self.queue.get() is not None:        # drain so producers never block
                pass

    def put(self, frame: np.ndarray, block: bool = False) -> bool:
        import queue

        if self.error:
            return False
        try:
            self.queue.put(frame, block=block)
            return True
        except queue.Full:
            self.dropped += 1
            return False

    def close(self) -> int:
        self.queue.put(None)
        self._thread.join()
        return self.written
