"""Layer views, as in NVIDIA's StyleGAN3 visualizer: one synthesis layer's feature maps made into
a picture on the engine thread, beside the frame (the performer's monitor shows it; the program
only when `layer_program` sends it there).

Modes: 0 one channel (grey), 1 three channels as red, green and blue, 2 the mean magnitude of all
channels (where the layer is active), 3 a grid of 16 channels from the chosen one.  Maps are
scaled by their largest magnitude, then by the gain; with FFT each map's log-magnitude spectrum,
centred, is shown instead.
"""
from __future__ import annotations

import math

import numpy as np

MODES = ("channel", "rgb", "energy", "grid")
GRID = 16


def _spectrum(x):
    import torch

    f = torch.fft.fftshift(torch.fft.fft2(x.float()), dim=(-2, -1)).abs()
    return torch.log1p(f)


def view_image(x, channel: int, mode: int, gain: float, fft: bool) -> np.ndarray:
    """x: one sample's maps [C, H, W] (a tensor) -> HWC uint8 RGB."""
    import torch

    x = x.detach().float()
    c = x.shape[0]
    ch = min(max(int(channel), 0), c - 1)
    if mode == 1:
        maps = x[[min(ch + i, c - 1) for i in range(3)]]
    elif mode == 2:
        maps = x.abs().mean(0, keepdim=True)
    elif mode == 3:
        maps = x[ch: ch + GRID]
    else:
        maps = x[ch: ch + 1]
    if fft:
        maps = _spectrum(maps)
    signed = not fft and mode != 2
    peak = maps.abs().amax(dim=(-2, -1), keepdim=True).clamp_min(1e-8)
    v = maps / peak * float(gain)                               # in [-gain, gain] (or [0, gain])
    v = (v * 127.5 + 128) if signed else (v * 255)
    img = v.clamp(0, 255).to(torch.uint8).cpu().numpy()       # [k, H, W]
    if mode == 3:
        k, h, w = img.shape
        side = math.ceil(math.sqrt(GRID))
        sheet = np.zeros((side * h + side - 1, side * w + side - 1), np.uint8)
        for i in range(k):
            r, q = divmod(i, side)
            sheet[r * (h + 1): r * (h + 1) + h, q * (w + 1): q * (w + 1) + w] = img[i]
        img = sheet[None]
    if img.shape[0] == 1:
        img = np.repeat(img, 3, axis=0)
    return np.ascontiguousarray(img.transpose(1, 2, 0))


def fit_to(view: np.ndarray, h: int, w: int) -> np.ndarray:
    """The view at the program's size (nearest neighbour), for `layer_program`."""
    ys = (np.arange(h) * view.shape[0] // h).clip(0, view.shape[0] - 1)
    xs = (np.arange(w) * view.shape[1] // w).clip(0, view.shape[1] - 1)
    return np.ascontiguousarray(view[ys][:, xs])


def sheet(G, ws, out) -> None:
    """docs/layer-views.png: every layer of G for one w, in each mode (docs/pictures.py)."""
    import torch
    from PIL import Image
    from stylegan3.bending import Bender

    b = Bender({}, all_taps=True)
    with torch.inference_mode():
        G.synthesis(ws[:1], bend=b)
    size = 96
    rows = []
    for mode, fft in ((0, False), (1, False), (2, False), (3, False), (2, True)):
        row = [np.asarray(Image.fromarray(view_image(b.tapped[i][0], 0, mode, 1.0, fft)).resize((size, size), Image.NEAREST))
               for i in sorted(b.tapped)]
        rows.append(np.concatenate([np.pad(t, ((2, 2), (2, 2), (0, 0))) for t in row], axis=1))
    Image.fromarray(np.concatenate(rows, axis=0)).save(out, optimize=True)
    print(f"wrote {out}")
