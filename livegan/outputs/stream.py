"""`--stream URL`: the program as a low-latency network stream through PyAV/FFmpeg: H.264 with
zero-latency tuning in MPEG-TS (udp://, tcp://, srt:// where the bundled FFmpeg has it) or FLV
(rtmp://).  A receiver that is absent or goes away costs nothing: UDP does not care, and a
connection that fails is opened again two seconds later."""
from __future__ import annotations

from fractions import Fraction
from typing import Optional
from urllib.parse import urlsplit

import numpy as np

from .sink import Sink

FORMATS = {"udp": "mpegts", "tcp": "mpegts", "srt": "mpegts", "rtp": "rtp_mpegts", "rtmp": "flv"}


def output_protocols() -> Optional[set]:
    """The protocols the FFmpeg inside PyAV can write (`avio_enum_protocols`), or None when its
    library cannot be asked.  PyAV's wheels are built without SRT: an srt:// stream failed at its
    first frame with ProtocolNotFoundError, after the show had started."""
    import ctypes
    import glob
    import os

    import av

    libs = glob.glob(os.path.join(os.path.dirname(av.__file__), os.pardir, "av.libs", "libavformat*.so*"))
    try:
        enum = ctypes.CDLL(libs[0]).avio_enum_protocols
    except (IndexError, OSError, AttributeError):
        return None
    enum.restype, enum.argtypes = ctypes.c_char_p, [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int]
    state, names = ctypes.c_void_p(None), set()
    while len(names) < 1000:
        name = enum(ctypes.byref(state), 1)
        if not name:
            break
        names.add(name.decode("ascii", "replace"))
    return names


def check_url(url: str) -> str:
    """ValueError (one line) unless URL is SCHEME://HOST:PORT with a scheme we can stream to."""
    u = urlsplit(url)
    if u.scheme not in FORMATS or not u.hostname:
        raise ValueError(f"--stream {url!r}: expected {'|'.join(FORMATS)}://HOST:PORT, e.g. udp://127.0.0.1:5000")
    have = output_protocols()
    if have is not None and u.scheme not in have:
        can = "://, ".join(k for k in FORMATS if k in have)
        raise ValueError(f"--stream {url!r}: this FFmpeg (PyAV's) cannot send {u.scheme}://; it can send {can}://")
    try:
        port = u.port
    except ValueError:
        port = None
    if not port:
        raise ValueError(f"--stream {url!r}: needs a port 1..65535")
    return url


class StreamSink(Sink):
    name = "stream"

    def __init__(self, url: str, fps: float, crf: int = 23):
        self.url, self.crf = check_url(url), crf
        self.out = self.stream = None
        super().__init__(fps)

    def open(self, width: int, height: int) -> None:
        import av

        scheme = urlsplit(self.url).scheme
        target = self.url + ("&" if "?" in self.url else "?") + "pkt_size=1316" if scheme == "udp" else self.url
        self.out = av.open(target, mode="w", format=FORMATS[scheme], timeout=5)
        s = self.out.add_stream("libx264", rate=Fraction(self.fps).limit_denominator(1000))
        s.width, s.height, s.pix_fmt = width, height, "yuv420p"
        s.options = {"preset": "ultrafast", "tune": "zerolatency", "crf": str(self.crf),
                     "g": str(max(1, int(round(self.fps / 2))))}      # a keyframe twice a second: joins fast
        s.codec_context.thread_count = 1
        self.stream = s

    def send(self, frame: np.ndarray) -> None:
        import av

        f = np.ascontiguousarray(frame[: self.stream.height, : self.stream.width, :3])
        for p in self.stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
            self.out.mux(p)

    def close(self) -> None:
        try:
            for p in self.stream.encode():
                self.out.mux(p)
        finally:
            self.out.close()
            self.out = self.stream = None
