"""The compiled filtered activation (stylegan3/native): the plain definition's pictures on every
geometry it takes, frames that do not depend on their batch or the thread count, and the torch
path taking over, with one line said, where it cannot be built or loaded."""
from __future__ import annotations

import math
import os
import platform
import subprocess
import sys

import pytest
import torch

from conftest import ROOT
from stylegan3 import native
from stylegan3.ops import FilteredLReLU, design_lowpass_filter, filtered_lrelu_ref

GEOMETRIES = [  # up, up taps, down, down taps, padding, input size
    (2, 12, 2, 12, (9, 8, 9, 8), (38, 38)),         # typical StyleGAN3-T layer
    (4, 24, 2, 12, (13, 12, 13, 12), (38, 38)),     # sampling rate doubles: 4x up, two output streams
    (2, 12, 2, 12, (-3, -4, -3, -4), (40, 40)),     # negative padding crops
    (2, 12, 2, 12, (9, 8, 7, 6), (31, 44)),         # non-square, odd output height (one kept row alone)
    (4, 24, 2, 12, (13, 12, 11, 12), (21, 70)),     # wide canvas, 4x up
    (4, 24, 2, 12, (13, 11, 13, 12), (38, 38)),     # 4x up, an odd output width (two streams, one extra)
    (4, 24, 2, 12, (13, 11, 13, 12), (14, 9)),      # 4x up, a row narrower than two streams' vectors
    (2, 6, 2, 6, (3, 2, 3, 2), (9, 9)),             # few taps, output narrower than one vector
]


def _layer(up, tu, down, td, pad, size):
    fu = design_lowpass_filter(tu, 2.0, 8.0, 16.0 * up)
    fd = design_lowpass_filter(td, 2.5, 6.0, 32.0)
    return fu, fd, FilteredLReLU(fu, fd, up, down, pad, size, gain=math.sqrt(2))


@pytest.mark.exactness
@pytest.mark.parametrize("up,tu,down,td,pad,size", GEOMETRIES)
def test_the_kernel_computes_the_plain_definition(up, tu, down, td, pad, size):
    torch.manual_seed(0)
    fu, fd, act = _layer(up, tu, down, td, pad, size)
    assert act.native is not None and native.library() is not None, "the kernel was not built"
    x, b = torch.randn(2, 5, *size) * 3, torch.randn(5)
    for clamp in (256, 1.5, None):                        # 1.5 really clamps
        ref = filtered_lrelu_ref(x, fu, fd, b, up, down, pad, math.sqrt(2), 0.2, clamp)
        for layout in (torch.contiguous_format, torch.channels_last):
            out = native.filtered_lrelu(act.native, x.contiguous(memory_format=layout), b, 0.2, clamp)
            assert out is not None and out.shape == ref.shape
            assert float((out - ref).norm() / ref.norm()) < 1e-6, (clamp, layout)
            if clamp == 1.5:
                assert float(out.abs().max()) <= 1.5
        # The layer as the network calls it takes the kernel and gives the same pixels.
        assert torch.equal(act(x, b, 0.2, clamp), native.filtered_lrelu(act.native, x, b, 0.2, clamp))


def test_frames_do_not_depend_on_their_batch_or_the_threads():
    torch.manual_seed(1)
    *_, act = _layer(4, 24, 2, 12, (13, 12, 13, 12), (38, 38))
    x, b = torch.randn(3, 6, 38, 38), torch.randn(6)
    whole = native.filtered_lrelu(act.native, x, b, 0.2, 256)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        alone = [native.filtered_lrelu(act.native, x[i: i + 1], b, 0.2, 256) for i in range(3)]
    finally:
        torch.set_num_threads(threads)
    assert all(torch.equal(whole[i: i + 1], alone[i]) for i in range(3))


@pytest.mark.parametrize("channels", [12, 40, 51, 64])
@pytest.mark.parametrize("threads", [1, 2])
def test_channels_last_input_gives_the_planes_pixels(channels, threads):
    """Channels-last input is gathered into planes a block of pixels by a vector of channels at a
    time: groups wider than a vector, a last group short of one, pixels left over, channels
    that are not contiguous (every other channel of a wider tensor)."""
    torch.manual_seed(4)
    *_, act = _layer(2, 12, 2, 12, (9, 8, 9, 8), (38, 38))
    x, b = torch.randn(2, channels, 38, 38), torch.randn(channels)
    strided = torch.randn(2, 38, 38, 2 * channels)[..., ::2]
    strided.copy_(x.permute(0, 2, 3, 1))
    planes = native.filtered_lrelu(act.native, x, b, 0.2, 256)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(threads)
        for other in (x.contiguous(memory_format=torch.channels_last), strided.permute(0, 3, 1, 2)):
            assert torch.equal(native.filtered_lrelu(act.native, other, b, 0.2, 256), planes)
    finally:
        torch.set_num_threads(before)


def test_what_the_kernel_does_not_take_goes_the_torch_way():
    *_, act = _layer(2, 12, 2, 12, (9, 8, 9, 8), (38, 38))
    x, b = torch.randn(1, 4, 38, 38), torch.randn(4)
    assert native.filtered_lrelu(act.native, x.double(), b, 0.2, 256) is None
    assert native.filtered_lrelu(act.native, x.requires_grad_(), b, 0.2, 256) is None
    # Radial down filters (StyleGAN3-R) and ToRGB's plain bias keep the torch path.
    fu = design_lowpass_filter(12, 2.0, 8.0, 32.0)
    assert FilteredLReLU(fu, design_lowpass_filter(12, 2.5, 6.0, 32.0, radial=True), 2, 2, (5, 4, 5, 4),
                         (40, 40)).native is None
    assert FilteredLReLU(None, None, 1, 1, (0, 0, 0, 0), (40, 40)).native is None


def test_a_missing_compiler_is_one_clear_error(tmp_path):
    env_cxx = os.environ.get("CXX")
    os.environ["CXX"] = str(tmp_path / "no-such-c++")
    try:
        with pytest.raises(RuntimeError, match="no C\\+\\+ compiler"):
            native.build(cache=tmp_path)
    finally:
        if env_cxx is None:
            del os.environ["CXX"]
        else:
            os.environ["CXX"] = env_cxx


def test_a_broken_cached_library_is_built_again(tmp_path):
    first = native.build(cache=tmp_path)
    first.write_bytes(b"not a shared library")
    again = native.load(native.build(cache=tmp_path), rebuild=lambda: native.build(cache=tmp_path, fresh=True))
    assert again is not None and native.build(cache=tmp_path).read_bytes()[:4] == b"\x7fELF"


# Each kernel set's vector width: x86-64 builds one per set; elsewhere (no -march) the compiler's
# own 128-bit vectors, whatever torch's set.
X86 = platform.machine() in ("x86_64", "AMD64")
WIDTHS = [("AVX512", 16 if X86 else 4), ("AVX2", 8 if X86 else 4), ("DEFAULT", 4)]


@pytest.mark.parametrize("capability,floats", WIDTHS)
def test_each_kernel_set_is_built_for_its_own_vector_registers(tmp_path, capability, floats):
    """A vector wider than the target's registers is split by the compiler through memory: built
    for AVX2 with AVX-512's 16 floats, the kernels ran 10-40x slower than the torch path."""
    assert native.load(native.build(capability, cache=tmp_path)).livegan_vector_floats() == floats


def test_a_compiler_without_the_level_names_builds_them_by_their_flags(tmp_path, monkeypatch):
    """GCC before 11 and clang before 12 refuse -march=x86-64-v3: the build names the instructions
    instead, and each kernel set still gets its own vector width."""
    old = tmp_path / "old-c++"
    old.write_text("#!/bin/sh\nfor a in \"$@\"; do case \"$a\" in -march=x86-64-v*) "
                   "echo \"error: bad value ($a) for -march= switch\" >&2; exit 1;; esac; done\nexec c++ \"$@\"\n")
    old.chmod(0o755)
    monkeypatch.setenv("CXX", str(old))
    for capability, floats in WIDTHS:
        lib = native.load(native.build(capability, cache=tmp_path / capability))
        assert lib.livegan_vector_floats() == floats


_RENDER = """
import sys, torch
from stylegan3 import load_network
G = load_network("builtin:tiny", device="cpu").eval()
with torch.inference_mode():
    ws = G.mapping(torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(3)), None)
    torch.save(G.synthesis(ws), sys.argv[1])
"""


def test_without_a_compiler_the_show_renders_the_same_frames(tmp_path):
    """A machine with no compiler renders the built-in network through the torch path, says so
    once, and its frame is the compiled path's to rounding."""
    frames = {}
    for name, cxx in (("compiled", None), ("torch", str(tmp_path / "no-such-c++"))):
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "vendor")]),
                   XDG_CACHE_HOME=str(tmp_path / name))
        if cxx:
            env["CXX"] = cxx
        r = subprocess.run([sys.executable, "-c", _RENDER, str(tmp_path / f"{name}.pt")], capture_output=True,
                           text=True, env=env, timeout=300)
        assert r.returncode == 0, r.stderr[-2000:]
        said = [ln for ln in r.stderr.splitlines() if "compiled kernels" in ln]
        assert len(said) == (1 if cxx else 0), r.stderr[-2000:]
        frames[name] = torch.load(tmp_path / f"{name}.pt")
    assert list((tmp_path / "compiled" / "livegan" / "native").glob("*.so"))
    a, b = frames["compiled"], frames["torch"]
    assert float((a - b).norm() / b.norm()) < 1e-5


def test_a_geometry_it_does_not_take_or_memory_it_cannot_get_is_a_code_not_a_crash():
    """The kernel answers 1 for factors it does not take and 2 when its scratch cannot be had
    (here: an input 2**40 rows high, never read); the caller then takes the torch path."""
    import ctypes

    lib = native.library()
    hx = hy = torch.ones(2, 6)
    gd, x, out = torch.ones(12), torch.zeros(64), torch.zeros(64)

    def call(up, down, h_in):
        g = native.Geometry(1, 1, h_in, 8, 64, 64, 8, 1, up, down, -3, 6, -3, 6, 12, 4, 4, 0.2, -1.0, 2)
        return lib.livegan_filtered_lrelu(ctypes.byref(g), x.data_ptr(), None, hx.data_ptr(), hy.data_ptr(),
                                          gd.data_ptr(), out.data_ptr())
    assert call(3, 2, 8) == 1
    assert call(2, 2, 1 << 40) == 2
    assert torch.equal(out, torch.zeros(64))


@pytest.mark.exactness
@pytest.mark.parametrize("n,i,o,size,k,pad", [(1, 8, 4, 70, 3, 2), (1, 16, 8, 33, 3, 2), (2, 5, 3, 40, 3, 1),
                                              (1, 4, 16, 17, 5, 2), (3, 1, 1, 16, 3, 0), (1, 6, 12, 20, 3, 3),
                                              (2, 32, 32, 36, 3, 2), (1, 32, 16, 41, 3, 2)])
@pytest.mark.parametrize("algorithm", ["direct", "auto"])
def test_the_direct_convolution_is_torchs(n, i, o, size, k, pad, algorithm):
    """Shared and per-image weights, group sizes that do not divide the output channels, bands of
    rows, an output exactly one vector wide; "auto" is Winograd's where it is the faster for the
    kernel set (AVX2 and default, 16 or more channels)."""
    torch.manual_seed(2)
    x, w, wb = torch.randn(n, i, size, size + 3), torch.randn(o, i, k, k), torch.randn(n, o, i, k, k)
    with torch.inference_mode():
        ref = torch.nn.functional.conv2d(x, w, padding=pad)
        refb = torch.cat([torch.nn.functional.conv2d(x[j: j + 1], wb[j], padding=pad) for j in range(n)])
        got, gotb = native.conv2d(x, w, pad, algorithm), native.conv2d(x, wb, pad, algorithm)
    assert got is not None and gotb is not None and got.shape == ref.shape
    assert float((got - ref).abs().max() / ref.abs().max()) < 1e-6
    assert float((gotb - refb).abs().max() / refb.abs().max()) < 1e-6


def test_the_direct_convolution_leaves_what_it_does_not_take():
    x, w = torch.randn(1, 64, 40, 40), torch.randn(64, 64, 3, 3)
    with torch.inference_mode():
        assert native.conv2d(x, w, 1) is None                                         # oneDNN's
        assert native.conv2d(torch.randn(1, 4, 8, 8), torch.randn(4, 4, 3, 3), 1) is None  # under a vector
    assert native.conv2d(torch.randn(1, 4, 40, 40), torch.randn(4, 4, 3, 3), 1) is None    # a gradient


def test_the_direct_convolution_takes_any_layout():
    """The Fourier input's features arrive as an NHWC view: copied into planes, the same sums."""
    x, w = torch.randn(2, 32, 40, 40), torch.randn(16, 32, 3, 3)
    with torch.inference_mode():
        for algorithm in ("direct", "auto"):
            planes = native.conv2d(x, w, 2, algorithm)
            nhwc = x.contiguous(memory_format=torch.channels_last)
            assert torch.equal(native.conv2d(nhwc, w, 2, algorithm), planes)
            assert torch.equal(native.conv2d(x.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2), w, 2, algorithm),
                               planes)


def test_a_batch_through_the_direct_convolution_is_each_image_alone(monkeypatch):
    """At batch > 1 a few-channel modulated convolution folds each image's styles into its own
    weights, as at batch 1: every image's output is the one it gets alone, bit for bit."""
    from stylegan3.ops import modulated_conv2d

    torch.manual_seed(4)
    x, weight, styles, gain = torch.randn(3, 8, 40, 40), torch.randn(4, 8, 3, 3), torch.randn(3, 8), torch.tensor(0.7)
    with torch.inference_mode():
        whole = modulated_conv2d(x, weight, styles, True, input_gain=gain, padding=2)
        alone = [modulated_conv2d(x[i: i + 1], weight, styles[i: i + 1], True, input_gain=gain, padding=2)
                 for i in range(3)]
        monkeypatch.setattr(native, "CONV_MAX_CHANNELS", 0)           # oneDNN: the shared-weight path
        shared = modulated_conv2d(x, weight, styles, True, input_gain=gain, padding=2)
    assert all(torch.equal(whole[i: i + 1], alone[i]) for i in range(3))
    assert float((shared - whole).norm() / whole.norm()) < 1e-5


@pytest.mark.parametrize("n,o,i,k", [(1, 32, 32, 3), (3, 8, 5, 3), (2, 3, 4, 1), (2, 96, 80, 3)])
def test_the_compiled_modulation_is_torchs(n, o, i, k):
    """Styles normalised, weights scaled per input channel, demodulated and times the input gain,
    or without demodulation (ToRGB) the plain products; the largest shape runs in parallel."""
    from stylegan3.modconv import modulate_weights, normalized_weight

    torch.manual_seed(5)
    w, s, gain = normalized_weight(torch.randn(o, i, k, k)), torch.randn(n, i) * 3, torch.tensor(0.6)
    with torch.inference_mode():
        for demodulate in (True, False):
            for g in (gain, None):
                ref = modulate_weights(w, s * s.square().mean(1, keepdim=True).rsqrt() if demodulate else s,
                                       demodulate, g)
                got = native.modulate(w, s, demodulate, g)
                assert got is not None and got.shape == ref.shape
                assert float((got - ref).abs().max() / ref.abs().max()) < 1e-6
                if not demodulate:
                    assert torch.equal(got, ref)            # the same products in the same order
        assert native.modulate(w, s.double(), True, gain) is None
        assert native.modulate(w, s[:, :1], True, gain) is None
    assert native.modulate(w, s, True, gain) is None            # gradients: the torch path


def test_a_new_build_removes_builds_unused_for_a_month(tmp_path):
    import time

    stale, recent = tmp_path / "kernels-0000.so", tmp_path / "kernels-1111.so"
    for f in (stale, recent):
        f.write_bytes(b"old build")
    month = time.time() - (native.STALE_DAYS + 1) * 86400
    os.utime(stale, (month, month))
    built = native.build(cache=tmp_path)
    assert built.exists() and recent.exists() and not stale.exists()
    os.utime(built, (month, month))
    assert native.build(cache=tmp_path) == built and built.stat().st_mtime > month   # using it keeps it
