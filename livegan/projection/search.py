"""The search for ws that draw a picture, as NVIDIA's StyleGAN2/3 projector does it: Adam on w
starting from w_avg, the learning rate ramped up over the first 5% of the steps and down (cosine)
over the last 25%, and a noise on w of 5% of w's spread that fades out by 75%.  We search W+ (one w
per layer, [num_ws, w_dim]): a keyframe holds one per layer.  StyleGAN2's noise maps stay the
network's stored ones unless asked for (`noise=True`: optimised too, regularised to stay white
as the projector does); the show plays the stored ones, so the picture written is made with them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F

INITIAL_LR, RAMP_DOWN, RAMP_UP = 0.1, 0.25, 0.05
NOISE_FACTOR, NOISE_RAMP = 0.05, 0.75
NOISE_REG = 1e5


@dataclass
class Projection:
    ws: np.ndarray                         # [num_ws, w_dim] float32
    image: np.ndarray                      # HWC uint8, with the network's stored noise (as the show plays it)
    target: np.ndarray                     # HWC uint8 at the network's size
    losses: list = field(default_factory=list)
    psnr: float = 0.0                      # of `image` against the target, dB
    psnr_average: float = 0.0              # of the average picture (w_avg) against it: the floor
    settings: dict = field(default_factory=dict)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)


def to_tensor(img: np.ndarray, device) -> torch.Tensor:
    return torch.from_numpy(np.array(img, np.uint8)).to(device).permute(2, 0, 1)[None].float() / 127.5 - 1


def w_stats(G, samples: int = 10_000, seed: int = 123) -> tuple[torch.Tensor, float]:
    """(w_avg [w_dim], w_std) from mapped z, as the projector measures them."""
    from ..latents import classes_for

    rng = np.random.RandomState(seed)
    dev = next(G.parameters()).device
    with torch.no_grad():
        z = torch.from_numpy(rng.randn(samples, G.z_dim).astype(np.float32)).to(dev)
        w = G.mapping(z, classes_for(G, samples, rng=rng))[:, 0].float()
    avg = w.mean(0)
    return avg, float(((w - avg) ** 2).sum() / samples) ** 0.5


def lr_at(t: float) -> float:
    ramp = min(1.0, (1.0 - t) / RAMP_DOWN)
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    return INITIAL_LR * ramp * min(1.0, t / RAMP_UP)


def _noise_maps(G) -> list[torch.Tensor]:
    return [m.noise_const for m in G.synthesis.modules() if getattr(m, "use_noise", False) and hasattr(m, "noise_const")]


def _noise_reg(maps: list[torch.Tensor]) -> torch.Tensor:
    reg = 0.0
    for v in maps:
        n = v[None, None]
        while True:
            reg = reg + (n * torch.roll(n, 1, 3)).mean() ** 2 + (n * torch.roll(n, 1, 2)).mean() ** 2
            if n.shape[2] <= 8:
                break
            n = F.avg_pool2d(n, 2)
    return reg


def synth(G, ws: torch.Tensor) -> torch.Tensor:
    kw = {"noise_mode": "const"} if getattr(G, "family", "") == "stylegan2" else {}
    return G.synthesis(ws, **kw)


def project(G, target: np.ndarray, loss_fn: Callable, steps: int = 300, seed: int = 0, noise: bool = False,
            start: Optional[np.ndarray] = None, on_step: Optional[Callable] = None, lr: float = INITIAL_LR) -> Projection:
    """Search ws for `target` (HWC uint8 at G's size); `loss_fn(img) -> scalar` from losses.py;
    `start`: ws to start from (an encoder's guess) instead of w_avg; `on_step(i, loss, img)`."""
    from ..imaging import to_uint8

    dev = next(G.parameters()).device
    G.requires_grad_(False)
    torch.manual_seed(seed)
    w_avg, w_std = w_stats(G)
    if start is not None:
        w0 = torch.as_tensor(np.asarray(start, np.float32), device=dev).reshape(G.num_ws, G.w_dim)
    else:
        w0 = w_avg[None].repeat(G.num_ws, 1)
    w_opt = w0.clone()[None].requires_grad_(True)
    stored = [m.clone() for m in _noise_maps(G)] if noise else []
    maps = _noise_maps(G) if noise else []
    for m in maps:
        m.normal_()
        m.requires_grad_(True)
    opt = torch.optim.Adam([w_opt] + maps, betas=(0.9, 0.999), lr=lr)
    losses = []
    try:
        for i in range(steps):
            t = i / max(1, steps)
            scale = w_std * NOISE_FACTOR * max(0.0, 1.0 - t / NOISE_RAMP) ** 2
            for g in opt.param_groups:
                g["lr"] = lr * lr_at(t) / INITIAL_LR if steps > 1 else lr
            ws = w_opt + torch.randn_like(w_opt) * scale
            img = synth(G, ws)
            dist = loss_fn(img)
            total = dist + NOISE_REG * _noise_reg(maps) if maps else dist
            opt.zero_grad(set_to_none=True)
            total.backward()
            opt.step()
            if maps:
                with torch.no_grad():                   # kept white: zero mean, unit spread
                    for m in maps:
                        m -= m.mean()
                        m *= m.square().mean().rsqrt()
            losses.append(float(dist.detach()))
            if on_step is not None:
                on_step(i, losses[-1], img)
    finally:
        for m, s in zip(maps, stored):                  # the network keeps its own noise
            m.requires_grad_(False)
            with torch.no_grad():
                m.copy_(s)
    ws = w_opt.detach()                                 # the last: the ramps end with no noise, no step
    with torch.no_grad():
        image = to_uint8(synth(G, ws))[0]
        average = to_uint8(synth(G, w_avg[None, None].repeat(1, G.num_ws, 1)))[0]
    return Projection(ws=ws[0].cpu().numpy().astype(np.float32), image=image, target=target, losses=losses,
                      psnr=psnr(image, target), psnr_average=psnr(average, target),
                      settings={"steps": steps, "seed": seed, "noise": noise, "lr": lr, "loss": getattr(loss_fn, "name", "")})
