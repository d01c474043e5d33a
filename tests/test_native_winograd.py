"""The compiled 3x3 convolution as Winograd's F(2x2, 3x3) (stylegan3/native/winograd.cpp): the
direct convolution's sums to rounding, each image bit for bit what it gets alone and on any number
of threads, non-finite inputs reaching the outputs the direct sums reach, and what it does not
take left to oneDNN.  Run under each CPU kernel set (test_kernel_sets)."""
from __future__ import annotations

import ctypes

import pytest
import torch
import torch.nn.functional as F

from stylegan3 import native

pytestmark = pytest.mark.exactness


# n, in, out, height, width, pad: StyleGAN3-T's 64 px layers (36, 52 and 84 px at 64 channels, 64
# to 51 and 51 to 40), odd outputs (a last tile row and column of one output), out channels that
# are no multiple of the register block, blocks of tiles across tile rows, one tile, every padding.
GEOMETRIES = [(1, 64, 64, 36, 36, 2), (1, 64, 51, 84, 84, 2), (1, 51, 40, 52, 52, 2), (2, 64, 64, 33, 47, 2),
              (3, 5, 13, 17, 16, 0), (1, 7, 7, 9, 11, 1), (1, 3, 1, 2, 2, 2), (2, 40, 33, 20, 70, 1)]


@pytest.mark.parametrize("n,i,o,h,w,pad", GEOMETRIES)
def test_winograd_is_the_convolution(n, i, o, h, w, pad):
    torch.manual_seed(8)
    x, wt, wb = torch.randn(n, i, h, w), torch.randn(o, i, 3, 3), torch.randn(n, o, i, 3, 3)
    with torch.inference_mode():
        ref = F.conv2d(x, wt, padding=pad)
        refb = torch.cat([F.conv2d(x[j: j + 1], wb[j], padding=pad) for j in range(n)])
        got, gotb = native.winograd(x, wt, pad), native.winograd(x, wb, pad)
    assert got is not None and gotb is not None and got.shape == ref.shape and gotb.shape == refb.shape
    # The transforms add, subtract and halve: a few 1e-7 of the sums' size (the direct sums' own
    # rounding is about 1e-7); a wrong tap or tile would be of order one.
    assert float((got - ref).abs().max() / ref.abs().max()) < 2e-6
    assert float((gotb - refb).abs().max() / refb.abs().max()) < 2e-6


def test_each_image_is_what_it_gets_alone_on_any_threads():
    """Tiles are grouped into tasks by the batch size and the threads; no sum depends on that."""
    torch.manual_seed(9)
    x, wb = torch.randn(3, 64, 36, 40), torch.randn(3, 51, 64, 3, 3)
    threads = torch.get_num_threads()
    try:
        with torch.inference_mode():
            whole = native.winograd(x, wb, 2)
            torch.set_num_threads(1)
            alone = [native.winograd(x[j: j + 1], wb[j: j + 1], 2) for j in range(3)]
    finally:
        torch.set_num_threads(threads)
    assert all(torch.equal(whole[j: j + 1], alone[j]) for j in range(3))


@pytest.mark.parametrize("bad", [float("inf"), float("-inf"), float("nan")])
def test_a_non_finite_input_reaches_what_the_direct_sums_reach(bad):
    """An inf or NaN pixel (a runaway bend, say) makes non-finite exactly the outputs whose 3x3
    window holds it, as the direct convolution does; every other output stays finite."""
    torch.manual_seed(10)
    x, wt = torch.randn(1, 40, 20, 24), torch.randn(33, 40, 3, 3)
    for (y, c) in [(0, 0), (7, 5), (10, 12), (19, 23)]:          # corners, odd and even positions
        xb = x.clone()
        xb[0, 3, y, c] = bad
        with torch.inference_mode():
            ref, got = F.conv2d(xb, wt, padding=2), native.winograd(xb, wt, 2)
        assert torch.equal(torch.isfinite(got), torch.isfinite(ref)), (y, c)


def test_what_it_does_not_take_is_none():
    x, w = torch.randn(1, 8, 20, 20), torch.randn(8, 8, 3, 3)
    with torch.inference_mode():
        assert native.winograd(x, torch.randn(8, 8, 5, 5), 2) is None            # not 3x3
        assert native.winograd(x, w, 3) is None                                  # padding past 2
        assert native.winograd(x.double(), w.double(), 2) is None                # float64
        assert native.winograd(x, torch.randn(2, 8, 8, 3, 3), 2) is None         # 2 weights, 1 image
        assert native.winograd(torch.randn(1, 8, 1, 1), w, 0) is None            # no output
    assert native.winograd(x, w, 2) is None                                      # a gradient wanted


def test_a_geometry_it_does_not_take_or_memory_it_cannot_get_is_a_code_not_a_crash():
    lib = native.library()
    x, w, out = torch.zeros(64), torch.zeros(9 * 4), torch.zeros(64)

    def call(k, pad, i):
        g = native.ConvGeometry(1, i, 4, 4, 1, k, pad, 1, 2)
        return lib.livegan_winograd(ctypes.byref(g), x.data_ptr(), w.data_ptr(), out.data_ptr())
    assert call(5, 2, 1) == 1 and call(3, 3, 1) == 1
    assert call(3, 2, 1 << 40) == 2                   # transformed weights for 2**40 channels
    assert torch.equal(out, torch.zeros(64))
