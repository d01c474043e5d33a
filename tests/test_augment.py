"""ADA: each augmentation of the paper's pipeline does what it says, and p follows D's overfitting."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from livegan.training.augment import ALL, AugmentPipe


def _smooth(n=4, size=32):
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    return torch.stack([torch.sin(2 * xx + yy), torch.cos(1.5 * xx - yy), xx * yy]).repeat(n, 1, 1, 1) * 0.8


def test_each_augmentation_does_what_it_says():
    x = _smooth()
    g = lambda: torch.Generator().manual_seed(1)
    assert torch.equal(AugmentPipe(p=0.0)(x), x)                              # p = 0: untouched
    for name in ALL:                                                       # p = 1: every one changes the picture
        out = AugmentPipe((name,), p=1.0)(x, g())
        assert out.shape == x.shape and torch.isfinite(out).all(), name
        assert (out - x).abs().mean() > 1e-3, name
    # the blits are exact up to the resampling filter: each image is itself flipped or not
    out = AugmentPipe(("xflip",), p=1.0)(x, g())
    err = torch.minimum((out - x).abs().flatten(1).mean(1), (out - x.flip(3)).abs().flatten(1).mean(1))
    assert err.max() < 0.01
    out = AugmentPipe(("rotate90",), p=1.0)(x, g())
    err = torch.stack([(out - x.rot90(k, (2, 3))).abs().flatten(1).mean(1) for k in range(4)]).min(0).values
    assert err.max() < 0.01
    # colour: hue rotates about the grey axis (luma kept), saturation 0..inf keeps the grey mean
    out = AugmentPipe(("hue",), p=1.0)(x, g())
    assert torch.allclose(out.mean(1), x.mean(1), atol=1e-5)
    out = AugmentPipe(("brightness",), p=1.0)(x, g())
    shift = (out - x).flatten(1)
    assert torch.allclose(shift, shift[:, :1].expand_as(shift), atol=1e-5)        # one offset per image
    # cutout zeroes a square of half the side (clipped where its centre is near an edge)
    out = AugmentPipe(("cutout",), p=1.0)(x, g())
    zero = ((out == 0).all(1)).flatten(1).float().mean(1)
    assert ((zero > 0.05) & (zero <= 0.25)).all() and float(zero.max()) == 0.25
    # differentiable: D's gradient reaches G through every augmentation
    y = x.clone().requires_grad_()
    AugmentPipe.named("bgcfnc", 1.0)(y, g()).square().sum().backward()
    assert torch.isfinite(y.grad).all() and y.grad.abs().sum() > 0
    # applied with probability p; an applied xflip flips or not at random (as the paper's): p/2 flipped
    pipe = AugmentPipe(("xflip",), p=0.5)
    many = _smooth(n=400)
    out = pipe(many, g())
    flipped = ((out - many.flip(3)).abs().flatten(1).mean(1) < 0.01).float().mean()
    assert 0.18 < float(flipped) < 0.32
    with pytest.raises(ValueError, match="unknown augmentation"):
        AugmentPipe(("warp",))
    with pytest.raises(ValueError, match="--augpipe"):
        AugmentPipe.named("xyz")


def test_ada_p_rises_on_a_tiny_dataset_and_stays_near_zero_on_a_large_one(tmp_path):
    """The reals are drawn from the very generator being trained (fixed: --glr 0), so a fair D
    cannot tell them from the fakes.  From 2,000 of them it cannot overfit and r_t stays near 0,
    so p stays at 0; two of them it memorises, r_t nears the target and ADA raises p."""
    from PIL import Image

    from livegan.training.loop import Trainer, TrainOptions

    def opts(data):
        return TrainOptions(data=str(data), outdir=str(tmp_path / "out"), batch=8, cbase=1024, cmax=64, w_dim=32,
                            map_depth=2, gamma=0.1, glr=0.0, dlr=0.006, aug="ada", ada_kimg=0.4, kimg=10, tick=10,
                            fp32=True, seed=3)
    one = tmp_path / "one"
    one.mkdir()
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(one / "0.png")
    t = Trainer(opts(one), log=lambda m: None)
    with torch.no_grad():               # scale G's output into [-1, 1] so its pictures survive as PNGs
        peak = t.G(torch.randn(500, 32, generator=torch.Generator().manual_seed(9)), None).abs().max()
        for k, v in t.G.state_dict().items():
            if k.endswith(("torgb.weight", "torgb.bias")):
                v.mul_(0.8 / peak)
        G = {k: v.clone() for k, v in t.G.state_dict().items()}
        imgs = torch.cat([t.G(z, None) for z in torch.randn(2000, 32, generator=torch.Generator().manual_seed(5)).split(200)])
    for name, n in (("large", 2000), ("tiny", 2)):
        (tmp_path / name).mkdir()
        for i in range(n):
            a = ((imgs[i].clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
            Image.fromarray(a).save(tmp_path / name / f"{i:04d}.png")
    p = {}
    for name in ("large", "tiny"):
        t = Trainer(opts(tmp_path / name), log=lambda m: None)
        t.G.load_state_dict(G)
        t.G_ema.load_state_dict(G)
        ps = []
        for _ in range(160):
            t.step()
            ps.append(t.augment_p)
        p[name] = ps
    late = {k: float(np.mean(v[80:])) for k, v in p.items()}
    assert max(p["large"]) <= 0.1 and late["large"] <= 0.03, p["large"]
    assert late["tiny"] >= 0.1 and max(p["tiny"][80:]) >= 0.16, p["tiny"]
    assert math.isclose(p["tiny"][0], 0.0)                          # it starts at 0 and is raised
