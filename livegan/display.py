"""GL output: texture upload, the shader chain, the HUD; a pyglet window or a headless EGL context.

Both backends render through the same `Renderer`, so headless output is identical to the window's.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Mapping, Optional

import numpy as np

from .effects import EFFECTS, active

SHADER_DIR = Path(__file__).resolve().parents[1] / "shaders"
FIT_MODES = ("fit", "fill", "stretch")


class ShaderLibrary:
    """Programs built from shader files; with `dev`, files are re-read when they change, and a
    compile error keeps the previous program (the error goes to the HUD)."""

    def __init__(self, ctx, folder: Path = SHADER_DIR, dev: bool = False):
        self.ctx, self.folder, self.dev = ctx, Path(folder), dev
        self.vertex = (self.folder / "quad.vert").read_text()
        self._progs: dict[str, tuple] = {}                # frag file -> (program, vao, mtime)
        self.errors: dict[str, str] = {}
        self._last_check = 0.0

    def get(self, frag: str):
        if frag not in self._progs:
            self._build(frag, required=True)
        return self._progs[frag]

    def _build(self, frag: str, required: bool = False) -> None:
        path = self.folder / frag
        mtime = path.stat().st_mtime
        try:
            prog = self.ctx.program(vertex_shader=self.vertex, fragment_shader=path.read_text())
        except Exception as e:                          # moderngl.Error: compile/link log
            msg = " ".join(str(e).split())[:200]
            self.errors[frag] = f"{frag}: {msg}"
            if required and frag not in self._progs:
                raise
            old = self._progs.get(frag)
            if old:                                      # keep the previous program
                self._progs[frag] = (old[0], old[1], mtime)
            return
        self.errors.pop(frag, None)
        old = self._progs.get(frag)
        self._progs[frag] = (prog, self.ctx.vertex_array(prog, []), mtime)
        if old:
            old[1].release()
            old[0].release()

    def reload_changed(self) -> None:
        if not self.dev or time.perf_counter() - self._last_check < 0.25:
            return
        self._last_check = time.perf_counter()
        for frag, (_, _, mtime) in list(self._progs.items()):
            try:
                if (self.folder / frag).stat().st_mtime != mtime:
                    self._build(frag)
            except OSError:
                pass


def fit_rect(img_w: int, img_h: int, out_w: int, out_h: int, mode: str) -> tuple[float, float, float, float]:
    """(scale_x, scale_y, offset_x, offset_y) in screen-uv units for fit / fill / stretch."""
    if mode == "stretch":
        return 1.0, 1.0, 0.0, 0.0
    s = min(out_w / img_w, out_h / img_h) if mode == "fit" else max(out_w / img_w, out_h / img_h)
    sx, sy = img_w * s / out_w, img_h * s / out_h
    return sx, sy, (1 - sx) / 2, (1 - sy) / 2


class Renderer:
    """Uploads generator frames and draws them through the effect chain into a framebuffer."""

    def __init__(self, ctx, shaders: Optional[ShaderLibrary] = None, dev: bool = False,
                 use_pbo: Optional[bool] = None):
        import moderngl

        self.ctx = ctx
        # Uploads go through a pixel-unpack buffer on real GPUs (the driver DMAs it while we go
        # on); on a software rasteriser (Mesa llvmpipe) that is only one more memcpy.
        if use_pbo is None:
            renderer = ctx.info.get("GL_RENDERER", "").lower()
            use_pbo = not any(sw in renderer for sw in ("llvmpipe", "softpipe", "swrast"))
        self.use_pbo = use_pbo
        self._pbo = None
        self.shaders = shaders or ShaderLibrary(ctx, dev=dev)
        self.src = None                # current generator frame
        self.prev_frame = None         # previous generator frame (crossfade)
        self.hold = None               # last frame of the old network while a swap fades
        self._ping: list = []
        self.prev_output = None        # last chain output (feedback)
        self._hud_tex = None
        self.swap_fade = 0.0
        self._moderngl = moderngl
        self.interop = None            # gl_interop.CudaInterop, once textures are shared with CUDA
        self.interop_error = ""
        self._shared: dict = {}        # texture name -> CudaGLTexture
        self._rgba = None              # device staging frame (RGBA8: CUDA shares no RGB formats)
        # The program: the picture after effects, at the canvas's own size (or `program_size`),
        # with no HUD and no letterbox; recordings, snapshots and outputs take it from here.
        self.program_size: Optional[tuple[int, int]] = None
        self.program_fbo = None
        self._program_reader = None

    def _texture(self, w: int, h: int, comps: int = 4, dtype: str = "f2"):
        t = self.ctx.texture((w, h), comps, dtype=dtype)
        t.repeat_x = t.repeat_y = False
        return t

    def enable_interop(self) -> str:
        """Share textures with CUDA (frames then never leave the GPU); '' on success, else why not."""
        from .gl_interop import probe

        self.interop, self.interop_error = probe(self.ctx)
        return self.interop_error

    def _frame_textures(self, w: int, h: int, comps: int) -> bool:
        """(Re)create the frame textures for this size and format; True when they are new."""
        if self.src is not None and self.src.size == (w, h) and self.src.components == comps:
            return False
        for t in (self.src, self.prev_frame):
            if t is not None:
                t.release()
        for cg in self._shared.values():
            cg.release()
        self._shared = {}
        self.src, self.prev_frame = self.ctx.texture((w, h), comps), self.ctx.texture((w, h), comps)
        for t in (self.src, self.prev_frame):
            t.repeat_x = t.repeat_y = False
        self._pbo = self.ctx.buffer(reserve=w * h * comps) if self.use_pbo and comps == 3 else None
        self._ping = [self.ctx.framebuffer([self._texture(w, h)]) for _ in range(3)]
        self.prev_output = None
        return True

    def upload(self, image) -> None:
        """A new generator frame, HWC uint8 RGB, top row first: a numpy array, or a CUDA tensor
        (copied on the GPU when `enable_interop` succeeded, else through host memory).  Host
        frames go through the pixel-unpack buffer when `use_pbo` (the copy into it returns at
        once and the driver moves it on)."""
        if not isinstance(image, np.ndarray):
            if self.interop is not None:
                try:
                    return self._upload_cuda(image)
                except Exception as e:                  # InteropError, or a driver refusing
                    self.interop, self.interop_error = None, f"CUDA-GL sharing failed: {e}"
            image = image.cpu().numpy()
        h, w = image.shape[:2]
        data = np.ascontiguousarray(image)
        if self._frame_textures(w, h, 3):
            self.prev_frame.write(data)
        else:
            self.src, self.prev_frame = self.prev_frame, self.src
        if self._pbo is None:
            self.src.write(data)
            return
        self._pbo.orphan()                                   # a fresh store: no wait on the last upload
        self._pbo.write(data)
        self.src.write(self._pbo)

    def _upload_cuda(self, image) -> None:
        import torch

        h, w = image.shape[:2]
        if self._frame_textures(w, h, 4):
            self._shared = {t.glo: self.interop.share(t) for t in (self.src, self.prev_frame)}
        self.src, self.prev_frame = self.prev_frame, self.src
        if self._rgba is None or self._rgba.shape[:2] != (h, w) or self._rgba.device != image.device:
            self._rgba = torch.full((h, w, 4), 255, dtype=torch.uint8, device=image.device)
        self._rgba[..., :3].copy_(image)                   # alpha stays 255
        self._shared[self.src.glo].write(self._rgba)

    # -- what the effect chain carries from one frame to the next (recordings replay it) ---------
    def carried_state(self) -> dict:
        """The textures the next frame depends on besides its own picture: the picture on screen,
        the previous generator frame (crossfade), the feedback buffers and a network swap's held
        frame, as raw texel bytes (the feedback buffers are half floats: PNG would round them)."""
        def tex(t):
            return None if t is None else {"size": list(t.size), "comps": t.components, "dtype": t.dtype,
                                           "data": np.frombuffer(t.read(), np.uint8)}
        ping = [f.color_attachments[0] for f in self._ping]
        prev = next((i for i, t in enumerate(ping) if t is self.prev_output), None)
        return {"src": tex(self.src), "prev_frame": tex(self.prev_frame), "hold": tex(self.hold),
                "ping": [tex(t) for t in ping], "prev_output": prev, "swap_fade": float(self.swap_fade)}

    def restore_carried(self, state: dict) -> None:
        """Put the renderer back into a `carried_state` (the first replayed frame then draws as the
        first recorded one did)."""
        def tex(d):
            if d is None:
                return None
            t = self.ctx.texture(tuple(d["size"]), d["comps"], dtype=d["dtype"])
            t.repeat_x = t.repeat_y = False
            t.write(np.ascontiguousarray(d["data"]).tobytes())
            return t
        if state.get("src") is None:
            return
        src = state["src"]
        self._frame_textures(src["size"][0], src["size"][1], src["comps"])
        self.src.write(np.ascontiguousarray(src["data"]).tobytes())
        if state.get("prev_frame") is not None:
            self.prev_frame.write(np.ascontiguousarray(state["prev_frame"]["data"]).tobytes())
        for fbo, d in zip(self._ping, state.get("ping") or []):
            if d is not None:
                fbo.color_attachments[0].write(np.ascontiguousarray(d["data"]).tobytes())
        k = state.get("prev_output")
        self.prev_output = self._ping[k].color_attachments[0] if k is not None else None
        self.hold = tex(state.get("hold"))
        self.swap_fade = float(state.get("swap_fade") or 0.0)

    def release(self) -> None:
        """Give CUDA's hold on the shared textures back (before the GL context goes)."""
        for cg in self._shared.values():
            cg.release()
        self._shared = {}

    def begin_swap_fade(self) -> None:
        """Hold the current frame and fade from it to the new network's frames."""
        if self.src is None:
            return
        w, h = self.src.size
        comps = self.src.components
        if self.hold is None or self.hold.size != (w, h) or self.hold.components != comps:
            self.hold = self.ctx.texture((w, h), comps)
        self.hold.write(self.src.read())
        self.swap_fade = 1.0

    def _run(self, effect_frag: str, src, dst_fbo, uniforms: Mapping, textures: Mapping = {},
             viewport: Optional[tuple] = None) -> None:
        prog, vao, _ = self.shaders.get(effect_frag)
        dst_fbo.use()                       # (use() resets the viewport to the framebuffer's own)
        if viewport is not None:
            self.ctx.viewport = viewport
        src.use(0)
        if "src" in prog:
            prog["src"].value = 0
        for i, (name, tex) in enumerate(textures.items(), start=1):
            tex.use(i)
            if name in prog:
                prog[name].value = i
        for k, v in uniforms.items():
            if k in prog:
                prog[k].value = v
        vao.render(self._moderngl.TRIANGLES, vertices=3)

    def render(self, values: Mapping[str, float], target, size: tuple[int, int], fit: str = "fit",
               hud: Optional[np.ndarray] = None, area: Optional[tuple[int, int, int, int]] = None) -> None:
        """Draw the current frame through every active effect, then to `target` (w x h), fitted
        into `area` (x, y, w, h from the bottom left; default: all of it)."""
        self.shaders.reload_changed()
        ctx = self.ctx
        ctx.disable(self._moderngl.BLEND)
        if self.src is None:
            target.use()
            target.clear(0.0, 0.0, 0.0, 1.0)
        else:
            w, h = self.src.size
            # The program never depends on the view: the chain always samples linearly (exact at
            # texel centres), whatever size the window is.
            self.src.filter = (self._moderngl.LINEAR, self._moderngl.LINEAR)
            cur, free = self.src, list(self._ping)
            for eff in EFFECTS:
                fade = eff.name == "crossfade" and self.swap_fade > 0
                if not (active(eff, values) or fade):
                    continue
                if eff.name == "feedback" and self.prev_output is None:
                    continue
                dst = next(f for f in free if f.color_attachments[0] is not cur)
                uniforms = {k: fn(values) for k, fn in eff.uniforms.items()}
                textures = {}
                if "prev_frame" in eff.textures:
                    textures["prev_frame"] = self.hold if fade else self.prev_frame
                    if fade:
                        uniforms["amount"] = max(uniforms["amount"], self.swap_fade)
                if "prev_output" in eff.textures:
                    textures["prev_output"] = self.prev_output
                self._run(eff.shader, cur, dst, uniforms, textures, (0, 0, w, h))
                cur = dst.color_attachments[0]
            # Keep the chain's output for feedback next frame.
            if any(eff.name == "feedback" for eff in EFFECTS if active(eff, values)):
                keep = next(f for f in self._ping if f.color_attachments[0] is not cur)
                self._run("passthrough.frag", cur, keep, {}, viewport=(0, 0, w, h))
                self.prev_output = keep.color_attachments[0]
                self._ping = [f for f in self._ping if f is not keep] + [keep]
            pw, ph = self.program_size or (w, h)
            if self.program_fbo is None or self.program_fbo.size != (pw, ph):
                if self.program_fbo is not None:
                    self.program_fbo.release()
                self.program_fbo = ctx.framebuffer([ctx.texture((pw, ph), 4)])
                self._program_reader = None
            psx, psy, pox, poy = fit_rect(w, h, pw, ph, "fill")     # another aspect: crop, never bars
            self._run("present.frag", cur, self.program_fbo, {"scale": (psx, psy), "offset": (pox, poy)},
                      viewport=(0, 0, pw, ph))
            target.use()
            ctx.viewport = (0, 0, size[0], size[1])
            target.clear(0.0, 0.0, 0.0, 1.0, viewport=(0, 0, size[0], size[1]))
            self.view_program(target, area or (0, 0, size[0], size[1]), fit)
        if hud is not None:
            self._draw_hud(hud, target, size)

    def view_program(self, target, area: tuple[int, int, int, int], fit: str = "fit", shaders=None,
                     texture=None) -> None:
        """Draw the program (already rendered this frame) fitted into `area` of `target`.  With
        `shaders` and `texture` of another context sharing this one's objects (the output
        window), it draws there, through that context's wrapper of the same texture."""
        if self.program_fbo is None:
            return
        pw, ph = self.program_fbo.size
        x, y, w, h = area
        tex = texture or self.program_fbo.color_attachments[0]
        tex.filter = (self._moderngl.NEAREST,) * 2 if (pw, ph) == (w, h) and fit != "stretch" \
            else (self._moderngl.LINEAR,) * 2
        sx, sy, ox, oy = fit_rect(pw, ph, w, h, fit)
        lib = shaders or self.shaders
        prog, vao, _ = lib.get("view_program.frag")
        target.use()
        lib.ctx.viewport = (x, y, w, h)
        tex.use(0)
        prog["src"].value = 0
        for k, v in {"scale": (sx, sy), "offset": (ox, oy)}.items():
            if k in prog:
                prog[k].value = v
        vao.render(self._moderngl.TRIANGLES, vertices=3)

    def read_program(self) -> Optional[np.ndarray]:
        """The program frame just drawn (HWC uint8, top row first), read synchronously."""
        if self.program_fbo is None:
            return None
        return read_rgb(self.program_fbo, self.program_fbo.size)

    def read_program_async(self, tag=None) -> Optional[tuple[np.ndarray, object]]:
        """Start reading this frame's program back; returns the previous one's (pixels, tag), so
        the CPU never waits for the frame it just drew.  `flush_program` collects the last."""
        if self.program_fbo is None:
            return None
        if self._program_reader is None or self._program_reader.size != self.program_fbo.size:
            self._program_reader = AsyncReader(self.ctx, self.program_fbo.size)
        got = self._program_reader.collect()
        self._program_reader.submit(self.program_fbo, tag)
        return got

    def flush_program(self) -> Optional[tuple[np.ndarray, object]]:
        """The frame still in flight in the async reader (end of a recording)."""
        return self._program_reader.collect() if self._program_reader is not None else None

    def _draw_hud(self, hud: np.ndarray, target, size) -> None:
        h, w = hud.shape[:2]
        if self._hud_tex is None or self._hud_tex.size != (w, h):
            if self._hud_tex is not None:
                self._hud_tex.release()
            self._hud_tex = self.ctx.texture((w, h), 4)
        self._hud_tex.write(np.ascontiguousarray(hud).tobytes())
        self.ctx.enable(self._moderngl.BLEND)
        self.ctx.blend_func = self._moderngl.SRC_ALPHA, self._moderngl.ONE_MINUS_SRC_ALPHA
        self._run("hud.frag", self._hud_tex, target, {}, viewport=(8, max(0, size[1] - h - 8), w, h))
        self.ctx.disable(self._moderngl.BLEND)
        self.ctx.viewport = (0, 0, size[0], size[1])


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


def hud_image(lines: list[str], width: int = 460) -> np.ndarray:
    """Text lines -> RGBA image (white on translucent black)."""
    from PIL import Image, ImageDraw, ImageFont

    try:
        font = ImageFont.load_default(size=14)
    except TypeError:                                     # older Pillow without sizes
        font = ImageFont.load_default()
    lh = 17
    rows = [row for line in lines for row in wrap_text(line, lambda t: font.getlength(t), width - 12)]
    img = Image.new("RGBA", (width, lh * len(rows) + 10), (0, 0, 0, 150))
    d = ImageDraw.Draw(img)
    for i, line in enumerate(rows):
        d.text((6, 5 + i * lh), line, fill=(255, 255, 255, 255), font=font)
    return np.asarray(img)


def wrap_text(line: str, length, width: float) -> list[str]:
    """`line` broken at spaces (or anywhere, for one long word) into rows `width` wide as
    `length(text)` measures them; continuation rows are indented."""
    rows, cur = [], ""
    for word in line.split(" "):
        cand = f"{cur} {word}" if cur else word
        if length(cand) <= width:
            cur = cand
            continue
        if cur:
            rows.append(cur)
            cur = "  " + word
        else:
            cur = word
        while length(cur) > width and len(cur) > 1:      # a word longer than the row
            k = len(cur)
            while k > 1 and length(cur[:k]) > width:
                k -= 1
            rows.append(cur[:k])
            cur = "  " + cur[k:]
    if cur or not rows:
        rows.append(cur)
    return rows


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

    def present(self, values, fit: str = "fit", hud=None) -> None:
        self.make_current()
        self.renderer.render(values, self.fbo, self.size, fit, hud)

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

    def present(self, values, fit: str = "fit", hud=None) -> None:
        self.renderer.render(values, self.ctx.detect_framebuffer(), self.size, fit, hud, self.preview_area())
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
