"""Reading frames back from GL: at once (read_rgb) or one frame late without waiting (AsyncReader)."""
from __future__ import annotations

import numpy as np


class AsyncReader:
    """Frame read-back through two pixel-pack buffers: `submit` starts copying this frame on the
    GPU side, `collect` returns the previous frame's pixels, so the CPU never waits for the frame
    it just drew (one frame of latency, fine for recording)."""

    def __init__(self, ctx, size: tuple[int, int]):
        self.size = tuple(size)
        self.bufs = [ctx.buffer(reserve=size[0] * size[1] * 3) for _ in range(2)]
        self.i = 0
        self.pending = [False, False]
        self.tags = [None, None]

    def release(self) -> None:
        """Free the two buffers (a reader of another size replaces this one)."""
        for b in self.bufs:
            b.release()
        self.pending = [False, False]

    def submit(self, fbo, tag=None) -> None:
        fbo.read_into(self.bufs[self.i], viewport=(0, 0, *self.size), components=3)
        self.pending[self.i] = True
        self.tags[self.i] = tag
        self.i ^= 1

    def collect(self):
        """The older pending frame: pixels, or (pixels, tag) when it was submitted with a tag."""
        j = self.i                                   # the older of the two
        if not self.pending[j]:
            j ^= 1                                   # only the newer one is pending (a flush)
            if not self.pending[j]:
                return None
        self.pending[j] = False
        data = self.bufs[j].read()
        img = np.flipud(np.frombuffer(data, np.uint8).reshape(self.size[1], self.size[0], 3)).copy()
        return img if self.tags[j] is None else (img, self.tags[j])


def read_rgb(fbo, size: tuple[int, int]) -> np.ndarray:
    """Framebuffer -> HWC uint8, top row first."""
    data = fbo.read(viewport=(0, 0, size[0], size[1]), components=3)
    return np.flipud(np.frombuffer(data, np.uint8).reshape(size[1], size[0], 3)).copy()
