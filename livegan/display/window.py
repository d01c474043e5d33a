"""The window backend: a pyglet window (full screen on screen K) with a moderngl context, and the
projector's output window.  pyglet is imported here only."""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from .readback import AsyncReader, read_rgb
from .renderer import Renderer
from .shaders import ShaderLibrary


def have_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


class WindowDisplay:
    """A pyglet window (optionally full-screen on screen K) with a moderngl context on it."""

    def __init__(self, size: Optional[tuple[int, int]], fullscreen: bool, screen: int, vsync: bool = True,
                 dev: bool = False, caption: str = "livegan"):
        import moderngl
        import pyglet

        screens = list_screens()
        if not 0 <= screen < len(screens):
            raise ValueError(f"no screen {screen}; there are {len(screens)} (see --list-screens)")
        scr = pyglet.display.get_display().get_screens()[screen]
        w, h = size or (1280, 720)
        self.screen = screen
        # Full screen is the screen's own size: given a width and height too, pyglet asks for a
        # video mode change, and where there is none (Xvfb, many projectors' EDIDs) it kept a
        # 1280x720 framebuffer inside the full-screen window.
        dims = {} if fullscreen else {"width": w, "height": h}
        self.window = pyglet.window.Window(caption=caption, resizable=True, vsync=vsync, fullscreen=fullscreen,
                                           screen=scr, config=gl_config(), **dims)
        self.ctx = moderngl.create_context()
        self.renderer = Renderer(self.ctx, dev=dev)
        self.output: Optional[OutputWindow] = None

    @property
    def size(self) -> tuple[int, int]:
        return self.window.get_framebuffer_size()

    def preview_area(self) -> Optional[tuple[int, int, int, int]]:
        """With an output window this one is the performer's monitor: the program as a preview
        in the lower right, clear of the HUD at the top left."""
        if self.output is None:
            return None
        w, h = self.size
        return (int(w * 0.4), 0, w - int(w * 0.4), int(h * 0.6))

    def present(self, values, fit: str = "fit", hud=None, inset=None) -> None:
        self.renderer.render(values, self.ctx.detect_framebuffer(), self.size, fit, hud, self.preview_area(), inset)
        if self.output is not None:
            self.output.draw(self.renderer, fit)

    def open_output(self, screen: int) -> "OutputWindow":
        self.output = OutputWindow(self, screen)
        return self.output

    def flip(self) -> None:
        """Show what was drawn: the output window (vsync: the projector never tears), then this."""
        if self.output is not None:
            self.output.flip()
        self.window.switch_to()
        self.window.flip()

    def read_async(self) -> Optional[np.ndarray]:
        size = tuple(self.size)
        if getattr(self, "_reader", None) is None or self._reader.size != size:
            if getattr(self, "_reader", None) is not None:
                self._reader.release()                 # the window was resized: its buffers go
            self._reader = AsyncReader(self.ctx, size)
        img = self._reader.collect()
        self._reader.submit(self.ctx.detect_framebuffer())
        return img

    def toggle_fullscreen(self) -> None:
        self.window.set_fullscreen(not self.window.fullscreen)

    def close(self) -> None:
        if self.output is not None:
            self.output.close()
            self.window.switch_to()
        self.renderer.release()
        _ = self.ctx.error                  # clears GL's error flag, which pyglet's close would raise
        self.window.close()


def gl_config():
    import pyglet

    return pyglet.gl.Config(major_version=3, minor_version=3, forward_compatible=True, double_buffer=True)


class OutputWindow:
    """The clean program (no HUD, no preview layout) on screen N: full-screen on another screen,
    a plain window on the monitor's own.  Its GL context shares objects with the main one, so the
    program rendered there once per frame is drawn here from the same texture."""

    def __init__(self, main: WindowDisplay, screen: int):
        import moderngl
        import pyglet

        screens = pyglet.display.get_display().get_screens()
        if not 0 <= screen < len(screens):
            raise ValueError(f"--output-screen {screen}: no such screen; there are {len(screens)} (see --list-screens)")
        same = screen == main.screen
        size = main.renderer.program_size or (1280, 720)
        main.window.switch_to()                  # pyglet shares objects with the current context
        self.window = pyglet.window.Window(width=size[0], height=size[1], caption="livegan program",
                                           resizable=True, fullscreen=not same, screen=screens[screen],
                                           vsync=True, config=gl_config())
        self.ctx = moderngl.create_context()
        self.shaders = ShaderLibrary(self.ctx, main.renderer.shaders.folder)
        self.main = main
        self.screen = screen
        self.drawn = 0
        self._texture: tuple = (None, None)           # ((GL name, size), this context's wrapper)
        main.window.switch_to()

    @property
    def size(self) -> tuple[int, int]:
        return self.window.get_framebuffer_size()

    def draw(self, renderer: Renderer, fit: str = "fit") -> None:
        import pyglet

        pyglet.gl.glFlush()                      # the program texture is complete for the other context
        self.window.switch_to()
        target = self.ctx.detect_framebuffer()
        w, h = self.size
        target.use()
        self.ctx.viewport = (0, 0, w, h)
        target.clear(0.0, 0.0, 0.0, 1.0)
        fbo = renderer.program_fbo
        if fbo is not None:
            glo = (fbo.color_attachments[0].glo, fbo.size)
            if self._texture[0] != glo:                # wrapped once (releasing a wrapper would delete it)
                self._texture = (glo, self.ctx.external_texture(glo[0], fbo.size, 4, 0, "f1"))
            renderer.view_program(target, (0, 0, w, h), fit, shaders=self.shaders, texture=self._texture[1])
        self.drawn += 1
        self.main.window.switch_to()

    def read(self) -> np.ndarray:
        """What was drawn this frame (before `flip`)."""
        self.window.switch_to()
        try:
            return read_rgb(self.ctx.detect_framebuffer(), self.size)
        finally:
            self.main.window.switch_to()

    def flip(self) -> None:
        self.window.switch_to()
        self.window.flip()

    def close(self) -> None:
        self.window.switch_to()
        _ = self.ctx.error
        self.window.close()


def refresh_rate(screen: int = 0) -> Optional[float]:
    """The screen's refresh rate in Hz, or None when the display does not say (e.g. Xvfb)."""
    import pyglet

    try:
        mode = pyglet.display.get_display().get_screens()[screen].get_mode()
        rate = float(getattr(mode, "rate", 0) or 0)
        return rate if 20 <= rate <= 1000 else None
    except Exception:
        return None


def list_screens() -> list[str]:
    """Screens pyglet can see ('' when there is no display)."""
    import pyglet

    try:
        return [f"{s.width}x{s.height}+{s.x}+{s.y}" for s in pyglet.display.get_display().get_screens()]
    except Exception:
        return []


class WindowBackend:
    """The pyglet window (and the projector's output window): events are taken once a frame, the
    frame is drawn, then flipped.  With `screenshot`, the last frame is saved before its flip."""

    wait_first = False

    def __init__(self, display, keys: Callable, screenshot: Optional[Path] = None,
                 on_output_close: Optional[Callable] = None):
        import pyglet

        self.display, self.screenshot = display, screenshot
        self._pyglet = pyglet
        self._stop = False

        def on_key_press(symbol, modifiers):
            if symbol == pyglet.window.key.ESCAPE:
                self._stop = True
            else:
                keys(pyglet.window.key.symbol_string(symbol).lower())
            return pyglet.event.EVENT_HANDLED

        display.window.push_handlers(on_key_press=on_key_press)
        if display.output is not None:
            def on_close():
                # Closing the projector's window leaves the show running on the monitor.
                out, display.output = display.output, None
                out.close()
                display.window.switch_to()
                if on_output_close is not None:
                    on_output_close()
                return pyglet.event.EVENT_HANDLED
            display.output.window.push_handlers(on_key_press=on_key_press, on_close=on_close)

    @property
    def stopped(self) -> bool:
        return self._stop or self.display.window.has_exit

    def _events(self) -> None:
        if self.display.output is not None:
            self.display.output.window.dispatch_events()
        self.display.window.switch_to()
        self.display.window.dispatch_events()

    def pace(self, due: float, clock) -> None:
        self._events()
        delay = due - clock.now()
        if delay > 0:
            time.sleep(delay)
            self._events()

    def finish(self, i: int, last: bool) -> None:
        if last:
            if self.screenshot is not None:
                screenshots(self.display, self.screenshot)
            return
        self.display.flip()

    def close(self) -> None:
        self.display.close()


def screenshots(display, path: Path) -> None:
    """The frame just drawn, before it is flipped: this window to PATH and, with an output
    window, the output to PATH-output.png and the program itself to PATH-program.png."""
    from ..imaging import save_png

    save_png(path, read_rgb(display.ctx.detect_framebuffer(), display.size))
    if display.output is not None:
        save_png(path.with_name(path.stem + "-output.png"), display.output.read())
        program = display.renderer.read_program()
        if program is not None:
            save_png(path.with_name(path.stem + "-program.png"), program)
