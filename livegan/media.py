"""Writing frame sequences: video through PyAV (bundled FFmpeg), GIF through Pillow."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import numpy as np

from .codecs import CODECS, codec_for
from .worker import Worker


def write_video(path: str | os.PathLike, frames: Iterable[np.ndarray], fps: float = 30,
                codec: str | None = None, crf: int = 18, fragmented: bool = False, live: bool = False) -> int:
    """Encode HWC uint8 RGB frames; the codec follows the extension (.mp4 h264, .mov prores,
    .mkv ffv1, .gif) unless given.  `fragmented` writes self-contained one-second MP4/MOV
    fragments, so a killed process leaves a file that decodes up to its last second.  `live`
    (implied by `fragmented`): the frames come from a running show, so h264 uses a fast preset
    that leaves the CPU to the generator.  Returns the number of frames written.

    Crash safety: the final name appears only for a file that decodes.  Everything is written under
    a hidden temporary name; a fragmented file is renamed to its final name as soon as its first
    fragment is complete (from then on it decodes up to its last fragment after a kill), anything
    else when it is complete.  No frames: no file at all.  (A name reserved with
    safeio.claim_unique is released once the file is there.)"""
    from .safeio import release_claim

    path = Path(path)
    _remove_stale_partials(path)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.partial{path.suffix}")
    published = []

    def publish() -> None:                     # the first complete fragment is on disk
        if not published:
            os.replace(tmp, path)
            published.append(True)
    try:
        n = _encode(tmp, frames, fps, codec, crf, fragmented, live, publish if fragmented else None)
        if n and not published:
            publish()
        return n
    finally:
        if not published and tmp.exists():
            tmp.unlink()
        release_claim(path)


def _remove_stale_partials(path: Path) -> None:
    """Temporary files of earlier writers of `path` that were killed (their pid is gone)."""
    for p in path.parent.glob(f".{path.stem}.*.partial{path.suffix}"):
        try:
            pid = int(p.name[len(path.stem) + 2:].split(".")[0])
            os.kill(pid, 0)
        except ProcessLookupError:
            p.unlink(missing_ok=True)
        except (ValueError, PermissionError, OSError):
            pass


def _encode(path: Path, frames: Iterable[np.ndarray], fps: float, codec: str | None, crf: int,
            frag: bool, live: bool, publish=None) -> int:
    if path.suffix.lower() == ".gif":
        return _write_gif(path, frames, fps)
    codec = codec or codec_for(path)
    name, pix, _ = CODECS[codec]
    opts = {"movflags": "frag_keyframe+empty_moov+default_base_moof"} if frag and path.suffix.lower() in (".mp4", ".mov") else {}
    fmt = {".mov": "mov", ".mkv": "matroska", ".webm": "webm"}.get(path.suffix.lower(), "mp4")
    # Write through a Python file: FFmpeg's own I/O swallows write errors (a full disk would go
    # unnoticed); Python's raise OSError, which stops the writer cleanly.  A fragmented file is
    # then cut back to its last complete fragment, so what was written stays valid.
    if not opts:                                       # (Matroska: decodable once its first packet is in)
        with open(path, "wb") as raw:
            return _mux(raw, frames, fps, codec, name, pix, fmt, opts, crf, frag, live, publish)
    with open(path, "wb", buffering=0) as raw:        # unbuffered: what write() took is on disk
        fobj = BoxTracker(raw, on_media=publish)
        try:
            return _mux(fobj, frames, fps, codec, name, pix, fmt, opts, crf, frag, live)
        except BaseException:
            fobj.cut_to_last_box()
            raise


def _mux(fobj, frames, fps, codec, name, pix, fmt, opts, crf, frag, live, first_packet=None) -> int:
    import av
    from fractions import Fraction

    n = 0
    with av.open(fobj, mode="w", format=fmt, options=opts) as out:
        stream = out.add_stream(name, rate=Fraction(fps).limit_denominator(1000))
        stream.pix_fmt = pix
        if live or frag:                    # the generator keeps the cores (see threads.py)
            from .engine.threads import encoder_threads
            stream.codec_context.thread_count = encoder_threads()
        if codec == "h264":
            stream.options = {"crf": str(crf), "preset": "veryfast" if frag or live else "medium",
                              "g": str(max(1, int(round(fps))))}
        elif codec == "prores":
            stream.options = {"profile": "3"}           # 422 HQ
        elif codec == "vp9":                            # WebM for the gallery: every browser plays it
            stream.options = {"crf": "32", "b": "0", "deadline": "realtime", "cpu-used": "8"}
        for frame in frames:
            if n == 0:
                stream.height, stream.width = frame.shape[0] // 2 * 2, frame.shape[1] // 2 * 2
            f = np.ascontiguousarray(frame[: stream.height, : stream.width, :3])
            for packet in stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                out.mux(packet)
                if first_packet is not None:
                    fobj.flush()
                    first_packet()
                    first_packet = None
            n += 1
        for packet in stream.encode():
            out.mux(packet)
    return n


class BoxTracker:
    """A write-through file that follows the top-level boxes of the MP4/MOV stream written to it
    (size + type headers, as ISO/IEC 14496-12 lays them out) and remembers where the last complete
    `moov` or `mdat` ended.  After a write error, `cut_to_last_box` truncates the file there, so a
    fragmented recording stopped by a full disk decodes to its last fragment with no torn tail.
    A seek (a muxer rewriting a header) ends the tracking: then the cut point stays where it was."""

    def __init__(self, f, on_media=None):
        self.f = f
        self.on_media = on_media     # called once, when the first media box (a fragment) is complete
        self.pos = 0                 # bytes written so far
        self.box_end = 0             # where the current top-level box ends
        self.box_type = b""
        self.head = b""              # a box header split across writes
        self.good = 0                # end of the last complete moov/mdat
        self.tracking = True

    def write(self, b) -> int:
        mv = memoryview(b).cast("B")
        total = len(mv)
        while len(mv):
            n = self.f.write(mv)                          # raw file: may take part of it
            if self.tracking:
                self._follow(bytes(mv[:n]))
            self.pos += n
            mv = mv[n:]
        return total

    def _follow(self, b: bytes) -> None:
        i, pos = 0, self.pos
        while i < len(b):
            if pos + i < self.box_end:                       # inside a box's payload
                step = min(len(b) - i, self.box_end - (pos + i))
                i += step
                if pos + i == self.box_end and self.box_type in (b"moov", b"mdat"):
                    self.good = self.box_end
                    if self.box_type == b"mdat" and self.on_media is not None:
                        self.on_media, call = None, self.on_media
                        call()
                continue
            need = 8 - len(self.head)
            self.head += b[i: i + need]
            i += need
            if len(self.head) < 8:
                return
            size, self.box_type = int.from_bytes(self.head[:4], "big"), self.head[4:8]
            start = pos + i - 8
            self.head = b""
            if size < 8:                                      # 64-bit or to-end sizes: stop following
                self.tracking = False
                return
            self.box_end = start + size

    def seek(self, offset: int, whence: int = 0) -> int:
        self.tracking = False
        r = self.f.seek(offset, whence)
        self.pos = self.f.tell()
        return r

    def tell(self) -> int:
        return self.f.tell()

    def flush(self) -> None:
        self.f.flush()

    def seekable(self) -> bool:
        return self.f.seekable()

    def cut_to_last_box(self) -> None:
        try:
            self.f.truncate(min(self.good, self.pos))
        except (OSError, ValueError):
            pass


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


class VideoSink(Worker):
    """Encodes frames on its own thread from a bounded queue.  `put(block=False)` never waits:
    when the encoder falls behind the frame is dropped and counted (live); offline rendering
    passes block=True.  Errors (disk full...) stop the sink and are kept in `error`."""

    name = "video"

    def __init__(self, path, fps: float, codec: str | None = None, maxsize: int = 32,
                 fragmented: bool = False, crf: int = 18, live: bool = False):
        self.path, self.fps, self.codec = Path(path), fps, codec
        self.fragmented, self.crf, self.live = fragmented, crf, live
        self.written = 0
        self.error: str | None = None
        super().__init__(maxsize)

    def _count(self, frames):
        for f in frames:
            yield f
            self.written += 1

    def work(self, items) -> None:
        try:
            self.written = write_video(self.path, self._count(items), self.fps, self.codec,
                                       self.crf, self.fragmented, self.live)
        except Exception as e:
            self.error = f"video {self.path.name}: {type(e).__name__}: {e}"
            self.discard_rest()          # producers never block, until the end marker

    def put(self, frame: np.ndarray, block: bool = False) -> bool:
        if self.error:
            return False
        return super().put(frame, block)

    def close(self) -> int:
        self.end()
        return self.written
