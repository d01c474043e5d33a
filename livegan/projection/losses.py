"""What a projection lowers: the distance between the network's picture and the target.

- `Structural`: mean squared pixel error plus (1 - SSIM) averaged over scales (the picture halved
  until 16 px): what is had without any other network.
- `DFeatures`: the network's own discriminator's block outputs, each normalised across channels at
  every position and compared by mean squared difference (the LPIPS recipe, on D's features); the
  published pickles and training snapshots carry D.
Both take pictures [N, 3, H, W] in [-1, 1] and return a scalar per batch (mean)."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def _gauss(size: int, sigma: float, channels: int, device) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float32, device=device) - (size - 1) / 2
    g = torch.exp(-(x ** 2) / (2 * sigma ** 2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(channels, 1, size, size).contiguous()


def ssim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean SSIM (Wang et al. 2004: 11-tap Gaussian window, σ 1.5, smaller for small pictures) of
    pictures in [-1, 1]."""
    c = a.shape[1]
    size = min(11, a.shape[-1] - (1 - a.shape[-1] % 2), a.shape[-2] - (1 - a.shape[-2] % 2))
    w = _gauss(size, 1.5 * size / 11, c, a.device)
    a, b = (a + 1) / 2, (b + 1) / 2
    mu_a, mu_b = F.conv2d(a, w, groups=c), F.conv2d(b, w, groups=c)
    saa = F.conv2d(a * a, w, groups=c) - mu_a ** 2
    sbb = F.conv2d(b * b, w, groups=c) - mu_b ** 2
    sab = F.conv2d(a * b, w, groups=c) - mu_a * mu_b
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    s = ((2 * mu_a * mu_b + c1) * (2 * sab + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (saa + sbb + c2))
    return s.mean()


class Structural:
    name = "pixels + multi-scale SSIM"

    def __init__(self, target: torch.Tensor, weight: float = 1.0):
        self.target, self.weight = target, weight

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        a, b = img, self.target
        loss = F.mse_loss(a, b)
        scores = []
        while True:
            scores.append(ssim(a, b))
            if min(a.shape[-2:]) < 32:
                break
            a, b = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
        return loss + self.weight * (1 - torch.stack(scores).mean())


def d_features(D, img: torch.Tensor) -> list[torch.Tensor]:
    """The discriminator's block outputs for pictures at its resolution (area-resized)."""
    if img.shape[-1] != D.img_resolution:
        img = F.interpolate(img, size=(D.img_resolution, D.img_resolution), mode="area"
                            if img.shape[-1] > D.img_resolution else "bilinear", align_corners=None)
    x, out = None, []
    for res in D.block_resolutions:
        x, img = getattr(D, f"b{res}")(x, img)
        out.append(x)
    return out


class DFeatures:
    name = "discriminator features"

    def __init__(self, D, target: torch.Tensor, pixel_weight: float = 0.1):
        self.D, self.pixel_weight = D.eval().requires_grad_(False), pixel_weight
        with torch.no_grad():
            self.want = [self._norm(f) for f in d_features(self.D, target)]
        self.target = target

    @staticmethod
    def _norm(f: torch.Tensor) -> torch.Tensor:
        f = f.float()
        return f / (f.pow(2).sum(1, keepdim=True).sqrt() + 1e-8)

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        got = [self._norm(f) for f in d_features(self.D, img)]
        dist = sum((g - w).pow(2).sum(1).mean() for g, w in zip(got, self.want)) / len(got)
        return dist + self.pixel_weight * F.mse_loss(img, self.target)
