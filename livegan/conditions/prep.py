"""Condition frames -> the network's input tensor, with the preprocessing chosen live (registry
parameters cond_mode and cond_blur): the frame as it is, the training-time Gaussian blur, or an
edge map.  Deterministic, so a replay of the same frames gives the same tensors."""
from __future__ import annotations

import numpy as np

MODES = ("plain", "blur", "edges")


def to_tensor(pixels: np.ndarray, mode: int = 0, sigma: float = 0.0, device="cpu"):
    """HWC uint8 -> [1, 3, H, W] float32 in [-1, 1]."""
    import torch

    x = torch.from_numpy(np.array(pixels, dtype=np.uint8)).to(device).permute(2, 0, 1)[None].float() / 127.5 - 1
    return prepare(x, mode, sigma).contiguous()


def prepare(x, mode: int = 0, sigma: float = 0.0):
    """[N, 3, H, W] in [-1, 1] -> the condition the network reads (the same for the show and for
    training a Canvas network on pictures)."""
    import torch
    import torch.nn.functional as F

    mode = int(mode)
    c = x.shape[1]
    if mode == 1 and sigma > 0:
        from stylegan3.canvas import blur_filter

        f = blur_filter(float(sigma)).to(x.device, x.dtype)
        r = (f.numel() - 1) // 2
        # Reflect where the picture allows it, zeros beyond (as the official transform).
        pad = min(r, x.shape[2] - 1, x.shape[3] - 1)
        x = F.pad(x, [pad] * 4, mode="reflect")
        x = F.conv2d(F.pad(x, [r, r, 0, 0]), f.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
        x = F.conv2d(F.pad(x, [0, 0, r, r]), f.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)
        x = x[:, :, pad:x.shape[2] - pad, pad:x.shape[3] - pad]
    elif mode == 2:
        g = x.mean(dim=1, keepdim=True)
        k = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], device=x.device, dtype=x.dtype)
        gp = F.pad(g, [1, 1, 1, 1], mode="replicate")
        gx = F.conv2d(gp, k.view(1, 1, 3, 3))
        gy = F.conv2d(gp, k.t().contiguous().view(1, 1, 3, 3))
        mag = (gx.square() + gy.square()).sqrt() / 4             # a full black-white step is 1
        x = (mag.clamp(0, 1) * 2 - 1).repeat(1, c, 1, 1)
    return x
