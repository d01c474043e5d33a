"""The renderer: generator frames uploaded (host copies, or CUDA-GL sharing), drawn through the
effect chain into the program and the screen, and read back for the sinks.  Both backends (window,
headless) render through it, so headless output is identical to the window's."""
from __future__ import annotations

from typing import Mapping, Optional

import numpy as np

from .effects import EFFECTS, active
from .readback import AsyncReader, read_rgb
from .shaders import ShaderLibrary, fit_rect


_TEXEL_BYTES = {"f1": 1, "f2": 2, "f4": 4}


def checked_carried(state) -> dict:
    """A recording's carried state (data from outside) as restore_carried may use it: each
    texture's size, components, type and byte count agree (no texture larger than the bytes the
    file holds is ever made), the rest plain; ValueError naming what does not."""
    import math

    if not isinstance(state, dict):
        raise ValueError("carried state: not a mapping")

    def texture(d, key):
        if d is None:
            return None
        try:
            w, h = (int(v) for v in d["size"])
            comps, dtype = int(d["comps"]), str(d["dtype"])
            data = np.ascontiguousarray(d["data"]).tobytes()
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"carried state: {key} is not a texture ({type(e).__name__})") from None
        if not (1 <= w <= 16384 and 1 <= h <= 16384 and 1 <= comps <= 4 and dtype in _TEXEL_BYTES
                and len(data) == w * h * comps * _TEXEL_BYTES[dtype]):
            raise ValueError(f"carried state: {key} is {w}x{h}x{comps} {dtype[:8]} with {len(data)} bytes")
        return {"size": [w, h], "comps": comps, "dtype": dtype, "data": data}

    ping = state.get("ping") or []
    fade = state.get("swap_fade") or 0.0
    if not isinstance(ping, list) or len(ping) > 8 or not isinstance(fade, (int, float)) or not math.isfinite(fade):
        raise ValueError("carried state: its feedback buffers or swap fade are not as a renderer writes them")
    return {"src": texture(state.get("src"), "src"), "prev_frame": texture(state.get("prev_frame"), "prev_frame"),
            "hold": texture(state.get("hold"), "hold"), "ping": [texture(d, "ping") for d in ping],
            "prev_output": state.get("prev_output"), "swap_fade": float(fade)}


def _write(t, d: dict, key: str) -> None:
    """A carried texture's bytes into one of ours, which must be its size."""
    if tuple(t.size) != tuple(d["size"]) or t.components != d["comps"] or t.dtype != d["dtype"]:
        raise ValueError(f"carried state: {key} is {d['size'][0]}x{d['size'][1]}x{d['comps']} {d['dtype']}, "
                         f"this renderer's {t.size[0]}x{t.size[1]}x{t.components} {t.dtype}")
    t.write(d["data"])


def free_gl(*objects) -> None:
    """Release GL objects now (a framebuffer with the textures it draws into); None is skipped.
    moderngl frees nothing by itself: a texture merely dropped stays in GL memory (VRAM on a GPU)
    until the context ends.  Every network swap to another frame size left the feedback chain's
    three framebuffers and textures, the program's texture and read-back buffers and the held
    frame behind: about 40 bytes a pixel, 40 MiB of GPU memory a swap for a 1024 px network."""
    for o in objects:
        if o is None:
            continue
        attached = [*(getattr(o, "color_attachments", None) or ()), getattr(o, "depth_attachment", None)]
        o.release()
        for t in attached:
            if t is not None:
                t.release()


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
        self._inset_tex = None
        self.swap_fade = 0.0
        self._moderngl = moderngl
        self.interop = None            # interop.CudaInterop, once textures are shared with CUDA
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
        from .interop import probe

        self.interop, self.interop_error = probe(self.ctx)
        return self.interop_error

    def _frame_textures(self, w: int, h: int, comps: int) -> bool:
        """(Re)create the frame textures for this size and format; True when they are new."""
        if self.src is not None and self.src.size == (w, h) and self.src.components == comps:
            return False
        for cg in self._shared.values():            # CUDA's hold first, then GL's objects
            cg.release()
        self._shared = {}
        free_gl(self.src, self.prev_frame, self._pbo, *self._ping)
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
            t.write(d["data"])
            return t
        state = checked_carried(state)
        if state.get("src") is None:
            return
        src = state["src"]
        self._frame_textures(src["size"][0], src["size"][1], src["comps"])
        _write(self.src, src, "src")
        if state.get("prev_frame") is not None:
            _write(self.prev_frame, state["prev_frame"], "prev_frame")
        ping = state.get("ping") or []
        for fbo, d in zip(self._ping, ping):
            if d is not None:
                _write(fbo.color_attachments[0], d, "ping")
        k = state.get("prev_output")
        if k is not None and not (isinstance(k, int) and 0 <= k < len(self._ping)):
            raise ValueError(f"carried state: prev_output {str(k)[:20]} is not a feedback buffer")
        self.prev_output = self._ping[k].color_attachments[0] if k is not None else None
        old, self.hold = self.hold, tex(state.get("hold"))
        free_gl(old)
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
            free_gl(self.hold)
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
               hud: Optional[np.ndarray] = None, area: Optional[tuple[int, int, int, int]] = None,
               inset: Optional[np.ndarray] = None) -> None:
        """Draw the current frame through every active effect, then to `target` (w x h), fitted
        into `area` (x, y, w, h from the bottom left; default: all of it).  `inset` (the layer
        view, HWC uint8) goes in the lower right of the target only: the program stays clean."""
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
                free_gl(self.program_fbo)
                if self._program_reader is not None:
                    self._program_reader.release()
                self.program_fbo = ctx.framebuffer([ctx.texture((pw, ph), 4)])
                self._program_reader = None
            psx, psy, pox, poy = fit_rect(w, h, pw, ph, "fill")     # another aspect: crop, never bars
            self._run("present.frag", cur, self.program_fbo, {"scale": (psx, psy), "offset": (pox, poy)},
                      viewport=(0, 0, pw, ph))
            target.use()
            ctx.viewport = (0, 0, size[0], size[1])
            target.clear(0.0, 0.0, 0.0, 1.0, viewport=(0, 0, size[0], size[1]))
            self.view_program(target, area or (0, 0, size[0], size[1]), fit)
        if inset is not None:
            self._draw_inset(inset, target, size)
        if hud is not None:
            self._draw_hud(hud, target, size)

    def _draw_inset(self, view: np.ndarray, target, size) -> None:
        """The layer view, opaque, in the lower right: as tall as a third of the target at most,
        in whole multiples of its own pixels where it is small (nearest neighbour)."""
        h, w = view.shape[:2]
        if self._inset_tex is None or self._inset_tex.size != (w, h):
            if self._inset_tex is not None:
                self._inset_tex.release()
            self._inset_tex = self.ctx.texture((w, h), 3)
            self._inset_tex.filter = (self._moderngl.NEAREST, self._moderngl.NEAREST)
        self._inset_tex.write(np.ascontiguousarray(view).tobytes())
        box = max(1, size[1] // 3)
        k = box / max(w, h)
        k = float(int(k)) if k >= 1 else k
        iw, ih = max(1, int(w * k)), max(1, int(h * k))
        self._run("hud.frag", self._inset_tex, target, {}, viewport=(max(0, size[0] - iw - 8), 8, iw, ih))
        self.ctx.viewport = (0, 0, size[0], size[1])

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
            if self._program_reader is not None:
                self._program_reader.release()
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
