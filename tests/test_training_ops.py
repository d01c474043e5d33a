"""The ops training differentiates (bias + activation, resampling, StyleGAN2's demodulation, the
convolutions' layout) compute what their plain definitions compute: the same bits where the
arithmetic is the same, the same gradients to the first and second order, and the same answer
to which parameters a second-order gradient reaches (Adam steps a zero gradient, skips none)."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from stylegan3.bias_act import bias_act
from stylegan3.discriminator import Discriminator
from stylegan3.ops import setup_filter, upfirdn2d
from stylegan3.sg2 import unfused_modulated_conv2d

BIAS_ACT = [  # act, gain, clamp: every combination the networks use, and a clamp that bites
    ("lrelu", math.sqrt(2), 256.0),
    ("lrelu", 1.0, 0.5),
    ("lrelu", None, None),
    ("linear", 1.0, 0.3),
    ("linear", 0.7, 0.3),
]


def plain_bias_act(x, b, act, gain, clamp, alpha=0.2):
    """The official reference definition: four separate ops, autograd through each."""
    x = x + b.reshape([1, -1] + [1] * (x.ndim - 2))
    if act == "lrelu":
        x = F.leaky_relu(x, alpha)
        gain = math.sqrt(2) if gain is None else gain
    if gain is not None and gain != 1:
        x = x * gain
    return x if clamp is None else x.clamp(-clamp, clamp)


@pytest.mark.parametrize("shape", [(4, 8, 9, 7), (6, 8)])
@pytest.mark.parametrize("act,gain,clamp", BIAS_ACT)
def test_bias_act_is_the_reference_to_the_bit_and_its_gradients_too(shape, act, gain, clamp):
    torch.manual_seed(3)
    x = (torch.randn(shape) * 2).requires_grad_()
    b = torch.randn(shape[1]).requires_grad_()
    g = torch.randn(shape)
    ours, ref = bias_act(x, b, act, gain=gain, clamp=clamp), plain_bias_act(x, b, act, gain, clamp)
    assert torch.equal(ours, ref)
    with torch.no_grad():
        x0 = x.clone()
        assert torch.equal(bias_act(x, b, act, gain=gain, clamp=clamp), ref)
        assert torch.equal(x, x0)                               # the caller's array is never written
    for a, r in zip(torch.autograd.grad(ours, [x, b], g, retain_graph=True),
                    torch.autograd.grad(ref, [x, b], g, retain_graph=True)):
        assert torch.equal(a, r)
    # Second order, as R1 and path length take it: a gradient made with create_graph, then its own.
    second = []
    for y in (ours, ref):
        gx, = torch.autograd.grad(y, [x], g * x, create_graph=True)
        second.append(torch.autograd.grad(gx.square().sum(), [x, b], allow_unused=True))
    (ox, ob), (rx, rb) = second
    assert torch.equal(ox, rx)
    assert (ob is None) == (rb is None)                         # a leaky ReLU links b (zeros), a clamp does not
    assert ob is None or torch.equal(ob, rb)


def test_bias_act_keeps_one_array_for_its_gradient_where_the_reference_keeps_two():
    x = torch.randn(2, 4, 8, 8, requires_grad=True)
    b = torch.randn(4, requires_grad=True)
    counts = []
    for fn in (lambda: bias_act(x, b, "lrelu", clamp=256.0), lambda: plain_bias_act(x, b, "lrelu", None, 256.0)):
        big = []
        with torch.autograd.graph.saved_tensors_hooks(lambda t: big.append(t.numel()) or t, lambda t: t):
            fn()
        counts.append(sum(n == x.numel() for n in big))
    assert counts == [1, 2], counts          # the reference: the leaky ReLU's input and the clamp's


def padded_copy_upfirdn2d(x, f, up=1, down=1, padding=(0, 0, 0, 0), gain=1.0):
    """The readable definition: zero-stuff, pad a copy (negative pads crop), filter every output,
    keep every down-th."""
    n, c, h, w = x.shape
    if up > 1:
        x = F.pad(x.reshape(n, c, h, 1, w, 1), [0, up - 1, 0, 0, 0, up - 1]).reshape(n, c, h * up, w * up)
    px0, px1, py0, py1 = padding
    x = F.pad(x, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
    x = x[:, :, max(-py0, 0): x.shape[2] - max(-py1, 0), max(-px0, 0): x.shape[3] - max(-px1, 0)]
    f = (f * gain ** (f.ndim / 2)).flip(list(range(f.ndim)))
    if f.ndim == 2:
        x = F.conv2d(x, f[None, None].expand(c, 1, *f.shape), groups=c)
    else:
        x = F.conv2d(x, f.reshape(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
        x = F.conv2d(x, f.reshape(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
    return x[:, :, ::down, ::down]


@pytest.mark.parametrize("nhwc", [False, True])
@pytest.mark.parametrize("up,down,pad", [(1, 2, (2, 2, 2, 2)), (1, 2, (1, 1, 1, 1)), (2, 1, (2, 1, 2, 1)),
                                         (2, 1, (1, 1, 1, 1)), (1, 2, (-1, 2, 0, 3)), (2, 2, (3, 3, 3, 3))])
def test_upfirdn2d_pads_and_decimates_in_the_convolution_to_the_same_bits(up, down, pad, nhwc):
    torch.manual_seed(4)
    for f in (setup_filter([1, 3, 3, 1]), torch.tensor([0.1, 0.5, 0.3, -0.2, 0.05])):
        x = torch.randn(3, 5, 17, 14)
        x = x.contiguous(memory_format=torch.channels_last) if nhwc else x
        ours, ref = upfirdn2d(x, f, up, down, pad, gain=up * up), padded_copy_upfirdn2d(x, f, up, down, pad, up * up)
        assert ours.shape == ref.shape and torch.equal(ours, ref)
        xg, g = x.clone().requires_grad_(), torch.randn(ref.shape)
        a, = torch.autograd.grad(upfirdn2d(xg, f, up, down, pad, gain=up * up), xg, g)
        r, = torch.autograd.grad(padded_copy_upfirdn2d(xg, f, up, down, pad, up * up), xg, g)
        assert float((a - r).norm() / r.norm()) < 1e-6


def test_stylegan2_demodulation_as_one_matrix_product_is_the_per_sample_weights_sum():
    torch.manual_seed(5)
    x = torch.randn(4, 6, 9, 9)
    w, s = torch.randn(5, 6, 3, 3, requires_grad=True), torch.randn(4, 6, requires_grad=True)
    ours = unfused_modulated_conv2d(x, w, s, demodulate=True, padding=1)
    pw = w.unsqueeze(0) * s.reshape(4, 1, 6, 1, 1)                       # the official order
    d = (pw.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()
    ref = F.conv2d(x * s.reshape(4, 6, 1, 1), w, padding=1) * d.reshape(4, 5, 1, 1)
    assert float((ours - ref).detach().norm() / ref.detach().norm()) < 1e-6
    g = torch.randn(ref.shape)
    for a, r in zip(torch.autograd.grad(ours, [w, s], g), torch.autograd.grad(ref, [w, s], g)):
        assert float((a - r).norm() / r.norm()) < 1e-5


def test_differentiated_convolutions_run_channels_last_and_inference_keeps_nchw():
    """Under autograd on the CPU the discriminator's convolutions take NHWC (oneDNN's faster
    layout there); without it they stay NCHW; the logits agree to rounding either way."""
    torch.manual_seed(6)
    D = Discriminator(c_dim=0, img_resolution=16, img_channels=3, channel_base=256, channel_max=32)
    img = torch.randn(4, 3, 16, 16)
    layouts: dict = {}

    def seen(key):
        return lambda mod, args, out: layouts.setdefault(key, []).append(
            out.is_contiguous(memory_format=torch.channels_last) and not out.is_contiguous())

    hooks = [D.b16.conv0.register_forward_hook(seen("grad")), D.b8.conv1.register_forward_hook(seen("grad"))]
    trained = D(img.requires_grad_())
    for h in hooks:
        h.remove()
    hooks = [D.b16.conv0.register_forward_hook(seen("none")), D.b8.conv1.register_forward_hook(seen("none"))]
    with torch.no_grad():
        played = D(img)
    assert layouts == {"grad": [True, True], "none": [False, False]}
    assert float((trained.detach() - played).norm() / played.norm()) < 1e-5


@pytest.mark.parametrize("stride,padding", [((1, 1), (1, 2)), ((2, 2), (2, 2)), ((1, 2), (0, 3))])
def test_the_blur_gradient_is_the_convolutions_own_to_every_order_and_learns_no_filter(stride, padding):
    """fir_conv against autograd through F.conv2d: the same forward bits, the same first and
    second-order gradients to rounding, and the second order without one filter-gradient
    convolution per channel (autograd's double backward makes them though the filter is fixed)."""
    from torch.profiler import ProfilerActivity, profile

    from stylegan3.fir import fir_conv
    torch.manual_seed(7)
    c = 6
    w = setup_filter([1, 3, 3, 1])[None, None].expand(c, 1, 4, 4)
    results, convs = [], []
    for fn in (lambda x: fir_conv(x, w, stride, padding),
               lambda x: F.conv2d(x, w, stride=stride, padding=padding, groups=c)):
        torch.manual_seed(8)
        x = torch.randn(3, c, 11, 9, requires_grad=True)
        y = fn(x)
        u = torch.randn(y.shape, requires_grad=True)
        gx, = torch.autograd.grad((y * u).sum(), x, create_graph=True)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            second = torch.autograd.grad((gx.square() * x).sum(), [x, u])
        convs.append(sum(e.count for e in prof.key_averages() if e.key == "aten::convolution"))
        results.append((y.detach(), gx.detach(), *second))
    assert torch.equal(results[0][0], results[1][0])
    for a, r in zip(results[0][1:], results[1][1:]):
        assert float((a - r).norm() / r.norm()) < 1e-6
    assert convs[0] <= 2 and convs[1] >= c, convs
