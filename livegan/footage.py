"""Video files from outside (a condition video, a dataset's clips, a recording's replay of one):
opened with FFmpeg's own pixel limit on the container's probe and on the decoder, refused by the
size a stream declares before a frame is decoded, and any failure on the way one ValueError line
naming the file.  PyAV raises a different exception per damage (EOFError, OSError, IndexError for
a missing stream, a None codec context, FFmpeg's 'patches welcome'): none reaches the callers."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import numpy as np

from .console import reason

MAX_PIXELS = 64_000_000          # a frame's declared size, as for a picture (8000 x 8000)


@contextmanager
def open_video(path: str, what: str = "video", max_pixels: int = MAX_PIXELS) -> Iterator[tuple]:
    """(container, its first video stream), its frames at most `max_pixels`; ValueError otherwise."""
    import av

    cap = {"max_pixels": str(int(max_pixels))}
    try:
        container = av.open(str(path), stream_options=[cap])      # probing decodes a frame: capped too
    except Exception as e:
        raise ValueError(f"{what}: not a readable video ({reason(e)})") from None
    with container:
        try:
            stream = container.streams.video[0] if container.streams.video else None
            ctx = stream.codec_context if stream is not None else None
            if ctx is None:
                raise ValueError(f"{what}: no video stream")
            w, h = int(ctx.width or 0), int(ctx.height or 0)
            if w * h > max_pixels:
                raise ValueError(f"{what}: {w}x{h} frames are too large (at most {max_pixels // 1_000_000} megapixels)")
            ctx.options = cap                     # a stream may change its size midway: the decoder refuses
        except ValueError:
            raise
        except Exception as e:
            raise ValueError(f"{what}: not a readable video ({reason(e)})") from None
        yield container, stream


def decoded(container, stream, what: str = "video") -> Iterator:
    """The stream's frames; a failure midway is one ValueError line (the frames before it came)."""
    it = container.decode(stream)
    while True:
        try:
            frame = next(it)
        except StopIteration:
            return
        except Exception as e:
            raise ValueError(f"{what}: not a readable video ({reason(e)})") from None
        yield frame


def rgb(frame, what: str = "video") -> np.ndarray:
    """A decoded frame as HWC uint8 RGB."""
    try:
        return frame.to_ndarray(format="rgb24")
    except Exception as e:
        raise ValueError(f"{what}: a frame cannot be converted ({reason(e)})") from None

