"""The fast ops agree with their plain definitions on every geometry the networks use."""
from __future__ import annotations

import math

import pytest
import torch

from stylegan3.ops import (FilteredLReLU, design_lowpass_filter, filtered_lrelu_ref, modulate_weights,
                           modulated_conv2d, upfirdn2d)

GEOMETRIES = [  # up, up taps, down, down taps, padding, input size, radial
    (2, 12, 2, 12, (9, 8, 9, 8), (38, 38), False),       # typical StyleGAN3-T layer
    (4, 24, 2, 12, (13, 12, 13, 12), (38, 38), False),   # sampling rate doubles: 4x up
    (2, 12, 2, 12, (5, 4, 5, 4), (86, 86), True),        # StyleGAN3-R radial down filter
    (2, 12, 2, 12, (-3, -4, -3, -4), (40, 40), False),   # negative padding crops
    (2, 12, 2, 12, (9, 8, 7, 6), (30, 44), False),       # non-square (wide canvas)
    (1, 1, 1, 1, (0, 0, 0, 0), (64, 64), False),         # ToRGB: bias and clamp only
]


@pytest.mark.parametrize("up,tu,down,td,pad,size,radial", GEOMETRIES)
def test_fast_filtered_lrelu_matches_reference(up, tu, down, td, pad, size, radial):
    torch.manual_seed(0)
    fu = design_lowpass_filter(tu, 2.0, 8.0, 16.0 * up) if tu > 1 else None
    fd = design_lowpass_filter(td, 2.5, 6.0, 32.0, radial=radial) if td > 1 else None
    x, b = torch.randn(2, 5, *size) * 3, torch.randn(5)
    gain, slope = (math.sqrt(2), 0.2) if tu > 1 else (1.0, 1.0)
    for clamp in (256, 1.5):                              # 1.5 really clamps
        ref = filtered_lrelu_ref(x, fu, fd, b, up, down, pad, gain, slope, clamp)
        out = FilteredLReLU(fu, fd, up, down, pad, size, gain=gain)(x, b, slope, clamp)
        assert out.shape == ref.shape
        assert float((out - ref).norm() / ref.norm()) < 1e-6


@pytest.mark.parametrize("up,tu,down,td,pad,size,radial", [g for g in GEOMETRIES if g[0] > 1 and not g[6]])
def test_the_fast_gradient_is_the_reference_definitions_gradient(up, tu, down, td, pad, size, radial):
    """filtered_grad's backward (the passes transposed) against autograd through the plain
    definition: gradients for the input and the bias, with the clamp idle and biting."""
    from stylegan3.filtered_grad import filtered_lrelu, supported

    torch.manual_seed(0)
    fu = design_lowpass_filter(tu, 2.0, 8.0, 16.0 * up)
    fd = design_lowpass_filter(td, 2.5, 6.0, 32.0)
    x0, b0 = torch.randn(2, 5, *size) * 3, torch.randn(5)
    act = FilteredLReLU(fu, fd, up, down, pad, size, gain=math.sqrt(2))
    assert supported(act)
    for clamp in (256, 1.5):
        got = []
        for fast in (False, True):
            x, b = x0.clone().requires_grad_(), b0.clone().requires_grad_()
            y = (filtered_lrelu(act, x, b, 0.2, clamp) if fast else
                 filtered_lrelu_ref(x, fu, fd, b, up, down, pad, math.sqrt(2), 0.2, clamp))
            y.backward(torch.cos(torch.arange(y.numel(), dtype=torch.float32)).view_as(y))
            got.append((y.detach(), x.grad, b.grad))
        for ref, out in zip(*got):
            assert float((out - ref).norm() / ref.norm()) < 1e-5


def test_a_generator_trains_through_the_fast_gradient():
    """Gradients of a StyleGAN3's picture for its ws and weights: the fast passes with their
    transposes give what autograd through the reference definition gives."""
    from stylegan3 import load_network
    from stylegan3 import filtered_grad

    G = load_network("builtin:tiny", device="cpu").requires_grad_(True)
    ws = G.mapping(torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(3)), None).detach()
    layers = [m for m in G.synthesis.modules() if hasattr(m, "reference_ops")]
    calls = []
    real = filtered_grad.filtered_lrelu
    grads = []
    for reference in (True, False):
        for m in layers:
            m.reference_ops = reference
        G.zero_grad()
        w = ws.clone().requires_grad_()
        filtered_grad.filtered_lrelu = lambda *a: calls.append(1) or real(*a)
        try:
            G.synthesis(w).square().mean().backward()
        finally:
            filtered_grad.filtered_lrelu = real
        grads.append([w.grad] + [p.grad for m in layers for p in (m.weight, m.bias)])
    assert len(calls) == sum(not m.is_torgb for m in layers)        # every filtered layer, only when asked
    for ref, out in zip(*grads):
        assert float((out - ref).norm() / ref.norm()) < 1e-4


def test_upfirdn2d_zero_insertion_is_correct_on_a_delta():
    # An impulse through up=2 with a 1-D filter [1, 2, 1] gives the 2-D outer product scaled by up.
    x = torch.zeros(1, 1, 3, 3)
    x[0, 0, 1, 1] = 1
    y = upfirdn2d(x, torch.tensor([1.0, 2.0, 1.0]), up=2, padding=(1, 1, 1, 1), gain=4)
    assert y.shape == (1, 1, 6, 6)
    k = torch.tensor([1.0, 2.0, 1.0]) * 2
    assert torch.allclose(y[0, 0, 1:4, 1:4], torch.outer(k, k))
    assert float(y.sum()) == pytest.approx(float(torch.outer(k, k).sum()))


def test_shared_weight_batched_modconv_equals_per_sample():
    torch.manual_seed(1)
    x, w, s = torch.randn(4, 6, 9, 9), torch.randn(5, 6, 3, 3), torch.randn(4, 6)
    g = torch.tensor(0.7)
    batched = modulated_conv2d(x, w, s, demodulate=True, input_gain=g, padding=2)
    one_by_one = torch.cat([modulated_conv2d(x[i:i + 1], w, s[i:i + 1], True, g, padding=2) for i in range(4)])
    assert torch.allclose(batched, one_by_one, rtol=1e-5, atol=1e-5)
    # Demodulated per-sample weights have unit norm per output channel (before the input gain).
    wn = w * w.square().mean([1, 2, 3], keepdim=True).rsqrt()
    mw = modulate_weights(wn, s, demodulate=True)
    assert torch.allclose(mw.square().sum(dim=[2, 3, 4]), torch.ones(4, 5), atol=1e-4)


@pytest.mark.parametrize("n", [1, 3])
def test_one_by_one_modconv_runs_as_matmul_and_equals_conv2d(n):
    # ToRGB's 1x1 conv takes the matmul path; it must equal the grouped conv of per-sample weights.
    torch.manual_seed(2)
    x, w, s = torch.randn(n, 4, 17, 23), torch.randn(3, 4, 1, 1), torch.randn(n, 4)
    out = modulated_conv2d(x, w, s, demodulate=False)
    mw = modulate_weights(w, s, demodulate=False)                       # [n, 3, 4, 1, 1]
    ref = torch.nn.functional.conv2d(x.reshape(1, n * 4, 17, 23), mw.reshape(n * 3, 4, 1, 1), groups=n)
    assert out.shape == (n, 3, 17, 23)
    assert torch.allclose(out, ref.reshape(n, 3, 17, 23), rtol=1e-5, atol=1e-5)
