"""Real pixels from a real (headless EGL, Mesa) GL context."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from livegan.display import SHADER_DIR, HeadlessDisplay, Renderer, ShaderLibrary, fit_rect
from livegan.params import Registry


@pytest.fixture(scope="module")
def gl_display():
    d = HeadlessDisplay((64, 48))
    yield d
    d.close()


@pytest.fixture
def gl(gl_display):
    """The module's display, its context current for the test: the tests run between ours (other
    modules', in the same worker) create and release contexts of their own."""
    gl_display.make_current()
    yield gl_display


def defaults(**kw):
    v = dict(Registry().frozen().values)
    v.update(kw)
    return v


def render(gl, img, size=None, use_pbo=None, **kw):
    size = size or (img.shape[1], img.shape[0])
    fbo = gl.ctx.simple_framebuffer(size, components=4)
    r = Renderer(gl.ctx, gl.renderer.shaders, use_pbo=use_pbo)
    r.upload(img)
    r.render(defaults(**kw), fbo, size)
    from livegan.display import read_rgb
    return read_rgb(fbo, size), r, fbo


def test_generator_frames_pass_through_exactly(gl, tiny):
    with torch.inference_mode():
        img = tiny(torch.randn(1, tiny.z_dim), None)
    u8 = (img * 127.5 + 128).clamp(0, 255).to(torch.uint8)[0].permute(1, 2, 0).numpy()
    for pbo in (False, True):                                  # direct and pixel-unpack-buffer upload
        out, r, _ = render(gl, u8, use_pbo=pbo)
        assert r.use_pbo == pbo
        assert out.shape == u8.shape
        assert np.abs(out.astype(int) - u8.astype(int)).max() <= 1
        assert (out == u8).mean() > 0.99
        r.upload(u8[::-1].copy())                              # a second frame through the same path
        from livegan.display import read_rgb
        fbo = gl.ctx.simple_framebuffer((u8.shape[1], u8.shape[0]), components=4)
        r.render(defaults(), fbo, (u8.shape[1], u8.shape[0]))
        assert (read_rgb(fbo, (u8.shape[1], u8.shape[0])) == u8[::-1]).mean() > 0.99


def known():
    y, x = np.mgrid[0:32, 0:32]
    img = np.zeros((32, 32, 3), np.uint8)
    img[..., 0] = x * 8
    img[..., 1] = y * 8
    img[..., 2] = 100
    return img


def test_a_display_draws_in_its_own_context_whatever_was_made_since():
    """EGL's current context changes with every context made or released in a thread; a display
    used after that must still draw and read in its own (before: zeros, or a crash in a read)."""
    import moderngl

    a = HeadlessDisplay((32, 32))
    a.renderer.upload(known())
    later = HeadlessDisplay((64, 48))
    other = moderngl.create_standalone_context(backend="egl")
    later.close()
    try:
        a.present(defaults())
        assert np.abs(a.read().astype(int) - known()).max() <= 1
    finally:
        other.release()
        a.close()


def test_brightness_contrast_saturation_hue(gl):
    img = known().astype(int)
    out, _, _ = render(gl, known(), brightness=0.2)
    assert np.abs(out.astype(int) - np.clip(img + 51, 0, 255)).max() <= 2
    out, _, _ = render(gl, known(), contrast=0.0)
    assert np.abs(out.astype(int) - 128).max() <= 1          # contrast 0: mid grey
    out, _, _ = render(gl, known(), saturation=0.0)
    assert (out.max(axis=2).astype(int) - out.min(axis=2)).max() <= 1   # grey
    lum = img @ np.array([0.299, 0.587, 0.114])
    assert np.abs(out[..., 0] - lum).max() <= 2
    out, _, _ = render(gl, known(), hue=180.0)
    assert np.abs(out.astype(int) - img).mean() > 20          # colours moved


def test_kaleidoscope_mirror_and_view_zoom(gl):
    out, _, _ = render(gl, known(), kaleido=1)
    assert np.abs(out.astype(int) - out[:, ::-1].astype(int)).max() <= 8   # left/right symmetric
    out, _, _ = render(gl, known(), view_zoom=2.0)
    # Zoom 2 shows the centre half: the red ramp now spans 8..24 of the original.
    row = out[16, :, 0].astype(int)
    assert abs(row[0] - 64) <= 8 and abs(row[-1] - 188) <= 10


def test_crossfade_and_feedback(gl):
    a = np.full((16, 16, 3), 200, np.uint8)
    b = np.full((16, 16, 3), 40, np.uint8)
    fbo = gl.ctx.simple_framebuffer((16, 16), components=4)
    r = Renderer(gl.ctx, gl.renderer.shaders)
    from livegan.display import read_rgb
    r.upload(a)
    r.upload(b)
    r.render(defaults(crossfade=0.5), fbo, (16, 16))
    assert abs(int(read_rgb(fbo, (16, 16))[8, 8, 0]) - 120) <= 2   # half of each
    r2 = Renderer(gl.ctx, gl.renderer.shaders)
    r2.upload(a)
    r2.render(defaults(feedback=0.5), fbo, (16, 16))
    r2.render(defaults(feedback=0.5), fbo, (16, 16))
    r2.upload(b)
    r2.render(defaults(feedback=0.5), fbo, (16, 16))
    assert abs(int(read_rgb(fbo, (16, 16))[8, 8, 0]) - 120) <= 3   # bright trail lingers


def test_fit_letterboxes_and_fill_crops(gl):
    out, _, _ = render(gl, known(), size=(64, 32))            # 32x32 image in a 64x32 screen
    assert out[:, :16].max() == 0 and out[:, 48:].max() == 0   # black bars
    assert out[:, 16:48].max() > 0
    assert fit_rect(100, 50, 100, 100, "fill") == pytest.approx((2.0, 1.0, -0.5, 0.0))


def test_shader_error_keeps_previous_program(tmp_path, gl):
    folder = tmp_path / "shaders"
    shutil.copytree(SHADER_DIR, folder)
    lib = ShaderLibrary(gl.ctx, folder, dev=True)
    prog_before = lib.get("color.frag")[0]
    import os
    import time
    (folder / "color.frag").write_text("#version 330\nvoid main() { this is not glsl }\n")
    os.utime(folder / "color.frag", (time.time() + 5, time.time() + 5))
    lib._last_check = 0
    lib.reload_changed()
    assert "color.frag" in lib.errors and "\n" not in lib.errors["color.frag"]
    assert lib.get("color.frag")[0] is prog_before
    r = Renderer(gl.ctx, lib)
    fbo = gl.ctx.simple_framebuffer((32, 32), components=4)
    r.upload(known())
    r.render(defaults(contrast=0.0), fbo, (32, 32))            # still renders with the old program
    from livegan.display import read_rgb
    assert abs(int(read_rgb(fbo, (32, 32))[5, 5, 0]) - 128) <= 1


class _HostShare:
    """Stands in for the CUDA copy only: writes the RGBA staging tensor with texture.write, so the
    renderer's side of CUDA-GL sharing (RGBA8 textures, swapping, alpha fill, the fade hold) runs
    for real on a CPU-only machine."""

    def __init__(self):
        self.shared, self.released = [], 0

    def share(self, texture):
        outer = self

        class Writer:
            def write(self, rgba):
                assert rgba.shape[2] == 4 and bool((rgba[..., 3] == 255).all())
                texture.write(rgba.numpy().tobytes())

            def release(self):
                outer.released += 1
        self.shared.append(texture)
        return Writer()


def test_shared_texture_path_renders_like_the_host_path(gl):
    img = known()
    host, _, _ = render(gl, img)
    size = (img.shape[1], img.shape[0])
    fbo = gl.ctx.simple_framebuffer(size, components=4)
    r = Renderer(gl.ctx, gl.renderer.shaders)
    r.interop = share = _HostShare()
    for frame in (img[::-1].copy(), img):                  # two frames: the textures swap
        r.upload(torch.from_numpy(frame))
    assert r.src.components == 4 and len(share.shared) == 2
    from livegan.display import read_rgb
    r.render(defaults(), fbo, size)
    assert np.array_equal(read_rgb(fbo, size), host)
    r.render(defaults(crossfade=0.5), fbo, size)           # prev_frame is the other shared texture
    mixed = read_rgb(fbo, size).astype(int)
    expect = (img.astype(int) + img[::-1].astype(int)) / 2
    assert np.abs(mixed - expect).max() <= 2
    r.begin_swap_fade()                                     # the hold copies an RGBA texture
    assert r.hold.components == 4
    r.release()
    assert share.released == 2


def test_a_failing_share_falls_back_to_host_upload_with_the_reason(gl):
    class Broken:
        def share(self, texture):
            from livegan.display.interop import InteropError
            raise InteropError("CUDA could not register the GL texture: invalid graphics context")
    img = known()
    host, _, _ = render(gl, img)
    size = (img.shape[1], img.shape[0])
    fbo = gl.ctx.simple_framebuffer(size, components=4)
    r = Renderer(gl.ctx, gl.renderer.shaders)
    r.interop = Broken()
    r.upload(torch.from_numpy(img))                         # a tensor frame, taken through host memory
    assert r.interop is None and "invalid graphics context" in r.interop_error
    from livegan.display import read_rgb
    r.render(defaults(), fbo, size)
    assert np.array_equal(read_rgb(fbo, size), host)


def test_probe_either_shares_or_says_in_one_line_why_not(gl):
    from livegan.display.interop import probe
    interop, why = probe(gl.ctx)
    if interop is None:
        assert why and "\n" not in why
        if not torch.cuda.is_available():
            assert why.startswith("no CUDA device")
    else:
        assert why == ""


class _CountingContext:
    """The real context, keeping every texture, framebuffer and buffer made through it."""

    def __init__(self, ctx):
        object.__setattr__(self, "_ctx", ctx)
        object.__setattr__(self, "made", [])

    def __getattr__(self, name):
        attr = getattr(self._ctx, name)
        if name in ("texture", "framebuffer", "buffer", "simple_framebuffer"):
            def make(*a, **k):
                o = attr(*a, **k)
                self.made.append(o)
                return o
            return make
        return attr

    def __setattr__(self, name, value):
        setattr(self._ctx, name, value)

    def live(self) -> int:
        from moderngl import InvalidObject
        return sum(1 for o in self.made if not isinstance(o.mglo, InvalidObject))


def test_gl_objects_do_not_pile_up_as_networks_of_other_sizes_swap(gl):
    """The class: GL objects replaced but never released (moderngl frees nothing by itself).  A
    network swap to another frame size left the feedback chain's framebuffers and textures, the
    program's texture and read-back buffers and the swap's held frame behind: GL memory grew at
    every swap (VRAM on a GPU: about 200 MB a swap at a 4K canvas)."""
    counting = _CountingContext(gl.ctx)
    r = Renderer(counting, gl.renderer.shaders, use_pbo=True)
    target = gl.ctx.simple_framebuffer((64, 48), components=4)
    rng = np.random.default_rng(0)
    live = []
    for i in range(12):
        w, h = (64, 48) if i % 2 else (96, 80)               # twemoji and tiny, swapped back and forth
        r.begin_swap_fade()
        for _ in range(3):
            r.upload(rng.integers(0, 255, (h, w, 3), np.uint8))
            r.render(defaults(feedback=0.5, crossfade=0.3), target, (64, 48))
            r.read_program_async()
        r.restore_carried(r.carried_state())                 # a recording's carried state, taken in
        live.append(counting.live())
    assert len(counting.made) > 40                           # objects were made at every swap...
    assert live[-1] == live[-2] == live[3], live             # ...and as many freed
    # two frame textures and the upload buffer, the chain's 3 framebuffers and their textures, the
    # held frame, the program's framebuffer and texture, its reader's 2 buffers
    assert live[-1] == 3 + 6 + 1 + 2 + 2, live
