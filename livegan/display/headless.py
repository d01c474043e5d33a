"""The headless backend: an EGL context (no X server) rendering into an offscreen framebuffer."""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Optional

import numpy as np

from .readback import AsyncReader, read_rgb
from .renderer import Renderer


class HeadlessDisplay:
    """An EGL context (no X server) rendering into an offscreen framebuffer of `size`."""

    def __init__(self, size: tuple[int, int], dev: bool = False):
        import moderngl

        # Mesa's software rasteriser starts a thread per core, which then competes with the
        # generator's threads on a CPU-only machine; one is plenty for a single full-screen quad
        # chain (an explicit LP_NUM_THREADS wins).
        os.environ.setdefault("LP_NUM_THREADS", "1")
        try:
            self.ctx = moderngl.create_standalone_context(backend="egl")
        except Exception as e:
            raise RuntimeError(f"no headless GL: EGL context failed ({e}); install Mesa's libegl1 "
                               "and libgl1-mesa-dri") from None
        self.size = size
        self.fbo = self.ctx.simple_framebuffer(size, components=4)
        self.renderer = Renderer(self.ctx, dev=dev)

    def make_current(self) -> None:
        """EGL's current context is per thread and changes whenever another context is made or
        released in it; GL objects used under the wrong one read back zeros, or crash.  Every
        call below makes this one current first.  (moderngl's `with ctx:` leaves no context
        current on exit, so it cannot nest: entering alone is what is wanted.)"""
        self.ctx.__enter__()

    def present(self, values, fit: str = "fit", hud=None, inset=None) -> None:
        self.make_current()
        self.renderer.render(values, self.fbo, self.size, fit, hud, inset=inset)

    def read(self) -> np.ndarray:
        self.make_current()
        return read_rgb(self.fbo, self.size)

    def read_async(self) -> Optional[np.ndarray]:
        """The previous presented frame (see AsyncReader)."""
        self.make_current()
        if getattr(self, "_reader", None) is None:
            self._reader = AsyncReader(self.ctx, self.size)
        img = self._reader.collect()
        self._reader.submit(self.fbo)
        return img

    def close(self) -> None:
        self.make_current()
        self.renderer.release()
        self.ctx.release()


class HeadlessBackend:
    """An EGL framebuffer; with `video`, every frame's program goes into a fragmented file (after a
    kill or a full disk it still decodes up to its last second)."""

    wait_first = True
    stopped = False

    def __init__(self, display, video: Optional[Path], fps: float, realtime: bool):
        from ..media import VideoSink

        self.display, self.realtime = display, realtime
        self.sink = VideoSink(video, fps, live=realtime, fragmented=True) if video else None
        self.last = None                                # the last frame's program
        self.written = 0

    def pace(self, due: float, clock) -> None:
        delay = due - clock.now()
        if delay > 0:
            time.sleep(delay)

    def finish(self, i: int, last: bool) -> None:
        if self.sink is None and not last:
            return
        program = self.display.renderer.read_program()   # the program: no HUD, no letterbox
        self.last = program if program is not None else self.display.read()
        if self.sink is not None:
            self.sink.put(self.last, block=not self.realtime)

    def close(self) -> None:
        self.written = self.sink.close() if self.sink else 0
        # The EGL context and its GL objects go now, on this thread, not at the process's exit:
        # left to libEGL's exit handlers and the interpreter's teardown, released in whatever
        # order those run, they are a known source of heap corruption at exit.
        self.display.close()
