"""The shader files: programs built from them (re-read when they change, with --dev) and where
the picture sits in the output (fit / fill / stretch)."""
from __future__ import annotations

import time
from pathlib import Path

SHADER_DIR = Path(__file__).resolve().parents[2] / "shaders"
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
