"""The compiled first and last layers of StyleGAN3 (stylegan3/native): ToRGB's 1x1 convolution with
its bias and clamp in one pass (the torch path's pixels to rounding: the same bits where MKL's
product sums in channel order with FMA, as on AVX2 and AVX-512 here), and the Fourier input
(its features to rounding of a float64 definition, closer than the float32 torch path at large
translations); a whole layer in one call (bit for bit its three calls).  All run under each CPU
kernel set (test_kernel_sets)."""
from __future__ import annotations

import copy
import math

import pytest
import torch

from stylegan3 import native

pytestmark = pytest.mark.exactness


def _torch_torgb(x, w, b, clamp):
    n, i, h, wd = x.shape
    out = []
    for k in range(n):
        wk = w[k] if w.ndim == 5 else w
        y = torch.matmul(wk[:, :, 0, 0], x[k].reshape(i, h * wd)).reshape(-1, h, wd) + b[:, None, None]
        out.append(y.clamp(-clamp, clamp) if clamp is not None else y)
    return torch.stack(out)


# n, in, out, height, width: one vector, not whole vectors, one task, several tasks (4096 pixels
# each, the last longer), per-image weights, more outputs than one group.
@pytest.mark.parametrize("n,i,o,h,w,per_image", [(1, 4, 3, 4, 4, False), (1, 4, 3, 7, 9, False),
                                                 (2, 4, 3, 64, 64, True), (1, 16, 3, 257, 131, False),
                                                 (3, 32, 7, 33, 20, True), (1, 3, 1, 128, 128, False)])
def test_the_compiled_torgb_is_torchs(n, i, o, h, w, per_image):
    torch.manual_seed(6)
    x, b = torch.randn(n, i, h, w) * 40, torch.randn(o)
    wt = torch.randn(n, o, i, 1, 1) if per_image else torch.randn(o, i, 1, 1)
    with torch.inference_mode():
        scale = _torch_torgb(x, wt, b, None).abs().max()             # the sums' size, unclamped
        for clamp in (None, 30.0, 1e9):
            got, ref = native.pointwise(x, wt, b, clamp), _torch_torgb(x, wt, b, clamp)
            assert got is not None and got.shape == ref.shape
            assert float((got - ref).abs().max() / scale) < 1e-6
            if clamp == 30.0:                                   # the clamp bites: exactly its bounds
                assert torch.equal(got.abs() == 30.0, ref.abs() == 30.0)
        assert native.pointwise(x, wt, b.double(), 30.0) is None
        assert native.pointwise(x, torch.randn(o, i, 3, 3), b, 30.0) is None
        assert native.pointwise(x[:, :, :3, :3], wt, b, 30.0) is None           # under one vector
    assert native.pointwise(x, wt, b, 30.0) is None                             # a gradient: torch


def test_a_network_through_the_compiled_ends_is_the_torch_paths(monkeypatch):
    """builtin:tiny's frame to rounding with ToRGB and the Fourier input compiled."""
    from stylegan3.checkpoints import load_network

    G = load_network("builtin:tiny", device="cpu").eval()
    ws = G.mapping(torch.randn(3, G.z_dim, generator=torch.Generator().manual_seed(7)), None)
    with torch.inference_mode():
        alone = [G.synthesis(ws[k: k + 1]) for k in range(3)]
        monkeypatch.setattr(native, "fourier", lambda *a, **k: None)
        torch_input = G.synthesis(ws[:1])
        monkeypatch.setattr(native, "pointwise", lambda *a, **k: None)
        torch_ends = G.synthesis(ws[:1])
    assert float((torch_input - torch_ends).norm() / torch_ends.norm()) < 1e-6
    assert float((alone[0] - torch_ends).norm() / torch_ends.norm()) < 1e-5      # the input: rounding


def _float64_features(inp, w, transform, size):
    """The torch definition in float64, one image at a time."""
    d = copy.deepcopy(inp).double()
    d._grids = {}
    out = []
    for k in range(w.shape[0]):
        d.transform.copy_(transform[k].double())
        out.append(d(w[k: k + 1].double(), size=size).contiguous()[0])
    return torch.stack(out)


@pytest.mark.parametrize("size", [None, (61, 44)])
def test_the_compiled_fourier_input_is_the_definition_to_rounding(monkeypatch, size):
    """Rotations and translations from w and from the user (up to 40 samples, where float32
    arguments lose digits), a wide canvas of odd width; each image as it is alone."""
    from stylegan3.checkpoints import load_network

    G = load_network("builtin:tiny", device="cpu").eval()
    inp = G.synthesis.input
    torch.manual_seed(8)
    w = G.mapping(torch.randn(3, G.z_dim), None)[:, 0]
    user = torch.eye(3).repeat(3, 1, 1)
    user[:, 0, 2], user[:, 1, 2] = torch.tensor([0.3, -5.0, 40.0]), torch.tensor([0.7, 0.0, -12.0])
    c, s = math.cos(0.4), math.sin(0.4)
    user[1, :2, :2] = torch.tensor([[c, -s], [s, c]])
    with torch.inference_mode():
        got = inp(w, transform=user, size=size)
        alone = [inp(w[k: k + 1], transform=user[k: k + 1], size=size) for k in range(3)]
        ref = _float64_features(inp, w, user, size)
        monkeypatch.setattr(native, "fourier", lambda *a, **k: None)
        torch32 = inp(w, transform=user, size=size)
    assert got.is_contiguous() and got.shape == ref.shape == torch32.shape
    assert all(torch.equal(got[k: k + 1], alone[k]) for k in range(3))
    for k in range(3):
        err = float((got[k].double() - ref[k]).norm() / ref[k].norm())
        err32 = float((torch32[k].double() - ref[k]).norm() / ref[k].norm())
        assert err < 1e-6 and err <= err32 * 1.5, (k, err, err32)
    assert float((torch32[2].double() - ref[2]).norm() / ref[2].norm()) > 1e-5   # torch's float32 at 40


def test_the_fourier_input_leaves_what_it_does_not_take():
    t, user, freqs, ph, wt = torch.randn(1, 4), torch.eye(3)[None], torch.randn(8, 2), torch.randn(8), torch.randn(8, 8)
    with torch.inference_mode():
        assert native.fourier(t, user, freqs, ph, wt, 16.0, 2.0, (20, 20)) is not None
        assert native.fourier(t, user, freqs, ph, wt, 4.0, 2.0, (20, 20)) is None     # no room to fade
        assert native.fourier(t.double(), user, freqs, ph, wt, 16.0, 2.0, (20, 20)) is None
        assert native.fourier(t, user, freqs, ph, wt[:, :4], 16.0, 2.0, (20, 20)) is None
    assert native.fourier(t, user, freqs, ph, wt, 16.0, 2.0, (20, 20)) is None         # a gradient


@pytest.mark.parametrize("n", [1, 3])
def test_a_layer_in_one_call_is_its_three_calls_bit_for_bit(n):
    """native.layer (modulation, direct convolution, filtered activation in one call) against the
    three separate calls, on builtin:tiny's layers: at batch 1 and 3, every image its own weights."""
    from stylegan3.checkpoints import load_network
    from stylegan3.modconv import modulated_conv2d

    G = load_network("builtin:tiny", device="cpu").eval()
    torch.manual_seed(9)
    ws = G.mapping(torch.randn(n, G.z_dim), None)
    checked = 0
    with torch.inference_mode():
        x = G.synthesis.input(ws[:, 0])
        for k, name in enumerate(G.synthesis.layer_names[:-1], 1):
            layer = getattr(G.synthesis, name)
            styles, gain, pad = layer.affine(ws[:, k]), layer.magnitude_ema.rsqrt(), layer.conv_kernel - 1
            y = modulated_conv2d(x, layer._normalized_weight(), styles, True, input_gain=gain, padding=pad,
                                 weight_normalized=True)
            act = layer._activation(*y.shape[2:])
            three = act(y, layer.bias, 0.2, layer.conv_clamp)
            one = native.layer(x, layer._normalized_weight(), styles, gain, pad, act.native, layer.bias, 0.2,
                               layer.conv_clamp)
            assert one is not None and torch.equal(one, three), name
            checked += 1
            x = three
    assert checked == len(G.synthesis.layer_names) - 1
    wide = torch.randn(1, 64, 40, 40)                       # 64 channels: oneDNN's, not this call's
    with torch.inference_mode():
        assert native.layer(wide, torch.randn(64, 64, 3, 3), torch.randn(1, 64), torch.ones(1), 2, act.native,
                            torch.zeros(64), 0.2, 256.0) is None
    assert native.layer(x, layer._normalized_weight(), styles, gain, pad, act.native, layer.bias, 0.2, 256.0) is None


def test_a_layers_kept_geometry_follows_sizes_batches_and_types():
    """native.layer keeps its checked geometry in the caller's dict: a second frame of the same
    shapes reuses it (the same pixels), another batch or canvas size gets its own, and a tensor of
    another type is checked again (and refused) rather than read through a kept geometry."""
    from stylegan3.checkpoints import load_network

    G = load_network("builtin:tiny", device="cpu").eval()
    layer = getattr(G.synthesis, G.synthesis.layer_names[1])
    plans: dict = {}
    torch.manual_seed(11)
    with torch.inference_mode():
        def call(x, styles, weight=None):
            pad = layer.conv_kernel - 1
            act = layer._activation(x.shape[2] + pad * 2 - 2, x.shape[3] + pad * 2 - 2)
            return native.layer(x, layer._normalized_weight() if weight is None else weight, styles,
                                layer.magnitude_ema.rsqrt(), pad, act.native, layer.bias, 0.2, layer.conv_clamp,
                                plans=plans)
        x, s = torch.randn(1, 32, 40, 40), torch.randn(1, 32)
        first, again = call(x, s), call(x, s)
        assert torch.equal(first, again) and len(plans) == 1
        fresh = native.layer(x, layer._normalized_weight(), s, layer.magnitude_ema.rsqrt(), 2,
                             layer._activation(42, 42).native, layer.bias, 0.2, layer.conv_clamp)
        assert torch.equal(first, fresh)
        three = call(torch.cat([x, x, x]), torch.cat([s, s, s]))
        assert three.shape[0] == 3 and torch.equal(three[1:2], first) and len(plans) == 2
        wide = call(torch.randn(1, 32, 40, 56), s)
        assert wide.shape[3] > first.shape[3] and len(plans) == 3
        assert call(x, s, layer._normalized_weight().double()) is None and len(plans) == 3
