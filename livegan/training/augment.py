"""Adaptive discriminator augmentation (Karras et al. 2020, "Training Generative Adversarial
Networks with Limited Data", section 2 and appendix B), written from the paper.

Every image D sees, real or fake, goes through the same differentiable pipeline; each
augmentation is applied to each image with probability p (the two rotations with 1 - sqrt(1 - p),
so that a rotation happens with probability p overall).  p is tuned during training from the
overfitting heuristic r_t = E[sign(D(real))]: up when r_t is above the target, down when below.

Geometric augmentations are composed into one 3x3 matrix per image and applied in one resampling:
reflect padding, 2x upsampling with a low-pass filter, bilinear sampling, low-pass 2x
downsampling.  Colour augmentations are composed into one 4x4 matrix.  The paper's filter uses the
sym6 wavelet; this one is a 12-tap Kaiser-windowed low-pass of the same length (our own design).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

from .options import PIPES

# The paper's groups (appendix B) and the pipelines the official --augpipe names.
GROUPS = {
    "blit": ("xflip", "rotate90", "xint"),
    "geom": ("scale", "rotate", "aniso", "xfrac"),
    "color": ("brightness", "contrast", "lumaflip", "hue", "saturation"),
    "filter": ("imgfilter",),
    "noise": ("noise",),
    "cutout": ("cutout",),
}
ALL = tuple(a for g in GROUPS.values() for a in g)


@dataclass
class AdaOptions:
    """Strengths from appendix B of the paper."""
    xint_max: float = 0.125          # integer translation, fraction of the image size
    scale_std: float = 0.2           # log2 standard deviation of isotropic scaling
    rotate_max: float = 1.0          # arbitrary rotation, fraction of pi
    aniso_std: float = 0.2           # log2 standard deviation of anisotropic scaling
    xfrac_std: float = 0.125         # fractional translation, fraction of the image size
    brightness_std: float = 0.2
    contrast_std: float = 0.5        # log2
    hue_max: float = 1.0             # fraction of pi
    saturation_std: float = 1.0      # log2
    imgfilter_std: float = 1.0       # log2 gain of each frequency band
    noise_std: float = 0.1
    cutout_size: float = 0.5


def _lowpass(taps: int = 12) -> torch.Tensor:
    import scipy.signal

    f = scipy.signal.firwin(taps, 0.5, window=("kaiser", 6.0))
    return torch.as_tensor(f / f.sum(), dtype=torch.float32)


def _bandpass_bank(taps: int = 31) -> torch.Tensor:
    """Four 1-D bands that sum to the identity: [0, 1/8), [1/8, 1/4), [1/4, 1/2), [1/2, 1] of
    Nyquist (the paper's four octaves), from windowed-sinc low-passes."""
    import numpy as np
    import scipy.signal

    lows = [scipy.signal.firwin(taps, c, window=("kaiser", 8.0)) for c in (0.125, 0.25, 0.5)]
    delta = np.zeros(taps)
    delta[taps // 2] = 1.0
    cuts = [np.zeros(taps)] + lows + [delta]
    bands = [cuts[i + 1] - cuts[i] for i in range(4)]
    return torch.as_tensor(np.stack(bands), dtype=torch.float32)


class AugmentPipe(torch.nn.Module):
    """`augs`: the augmentations on (names from ALL); `p`: their probability (a buffer, so it is
    saved and restored with the run)."""

    def __init__(self, augs: Optional[tuple] = None, p: float = 0.0, options: Optional[AdaOptions] = None):
        super().__init__()
        augs = augs if augs is not None else tuple(a for grp in PIPES["bgc"] for a in GROUPS[grp])
        bad = [a for a in augs if a not in ALL]
        if bad:
            raise ValueError(f"unknown augmentation {bad[0]!r}: one of {', '.join(ALL)}")
        self.augs = frozenset(augs)
        self.o = options or AdaOptions()
        self.register_buffer("p", torch.tensor(float(p)))
        self.register_buffer("f_resample", _lowpass())
        self.register_buffer("f_bands", _bandpass_bank())

    @classmethod
    def named(cls, pipe: str, p: float = 0.0) -> "AugmentPipe":
        if pipe not in PIPES:
            raise ValueError(f"--augpipe {pipe!r}: one of {', '.join(PIPES)}")
        return cls(tuple(a for g in PIPES[pipe] for a in GROUPS[g]), p)

    # -- random draws: each image gets the augmentation with probability p, else the identity ----
    def _gate(self, n: int, p: torch.Tensor, x: torch.Tensor, identity: float, g) -> torch.Tensor:
        keep = torch.rand(n, device=x.device, generator=g) < p
        return torch.where(keep, x, torch.full_like(x, identity))

    def forward(self, images: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        n, c, h, w = images.shape
        dev, o, g = images.device, self.o, generator
        p = self.p.clamp(0, 1).to(dev)
        if float(p) == 0:
            return images
        A = self.augs

        def rand(*shape):
            return torch.rand(*shape, device=dev, generator=g)

        def randn(*shape):
            return torch.randn(*shape, device=dev, generator=g)

        # Geometry: Ginv maps output pixel coordinates (centred) to input coordinates.
        I3 = torch.eye(3, device=dev).repeat(n, 1, 1)
        Ginv = I3.clone()
        if "xflip" in A:
            i = self._gate(n, p, torch.floor(rand(n) * 2), 0, g)
            Ginv = Ginv @ _scale(1 - 2 * i, torch.ones(n, device=dev))
        if "rotate90" in A:
            k = self._gate(n, p, torch.floor(rand(n) * 4), 0, g)
            Ginv = Ginv @ _rotate(-math.pi / 2 * k)
        if "xint" in A:
            t = (rand(n, 2) * 2 - 1) * o.xint_max
            t = torch.where((rand(n) < p)[:, None], t, torch.zeros_like(t))
            Ginv = Ginv @ _translate(-torch.round(t[:, 0] * w), -torch.round(t[:, 1] * h))
        if "scale" in A:
            s = self._gate(n, p, torch.exp2(randn(n) * o.scale_std), 1, g)
            Ginv = Ginv @ _scale(1 / s, 1 / s)
        p_rot = 1 - torch.sqrt((1 - p).clamp(0, 1))
        if "rotate" in A:
            a = self._gate(n, p_rot, (rand(n) * 2 - 1) * math.pi * o.rotate_max, 0, g)
            Ginv = Ginv @ _rotate(-a)
        if "aniso" in A:
            s = self._gate(n, p, torch.exp2(randn(n) * o.aniso_std), 1, g)
            Ginv = Ginv @ _scale(1 / s, s)
        if "rotate" in A:
            a = self._gate(n, p_rot, (rand(n) * 2 - 1) * math.pi * o.rotate_max, 0, g)
            Ginv = Ginv @ _rotate(-a)
        if "xfrac" in A:
            t = randn(n, 2) * o.xfrac_std
            t = torch.where((rand(n) < p)[:, None], t, torch.zeros_like(t))
            Ginv = Ginv @ _translate(-t[:, 0] * w, -t[:, 1] * h)
        if not torch.equal(Ginv, I3):
            images = self._resample(images, Ginv)

        # Colour: one 4x4 matrix on homogeneous RGB.
        I4 = torch.eye(4, device=dev).repeat(n, 1, 1)
        C = I4.clone()
        v = torch.tensor([1, 1, 1, 0], dtype=torch.float32, device=dev) / math.sqrt(3)   # luma axis
        vv = torch.outer(v, v)
        if "brightness" in A:
            b = self._gate(n, p, randn(n) * o.brightness_std, 0, g)
            C = _translate3(b) @ C
        if "contrast" in A:
            s = self._gate(n, p, torch.exp2(randn(n) * o.contrast_std), 1, g)
            C = _scale3(s) @ C
        if "lumaflip" in A:
            i = self._gate(n, p, torch.floor(rand(n) * 2), 0, g)
            C = (torch.eye(4, device=dev) - 2 * vv * i[:, None, None]) @ C         # Householder
        if "hue" in A and c == 3:
            a = self._gate(n, p, (rand(n) * 2 - 1) * math.pi * o.hue_max, 0, g)
            C = _rotate_about(v[:3], a) @ C
        if "saturation" in A and c == 3:
            s = self._gate(n, p, torch.exp2(randn(n) * o.saturation_std), 1, g)
            C = (vv + (torch.eye(4, device=dev) - vv) * s[:, None, None]) @ C
        if not torch.equal(C, I4):
            x = images.reshape(n, c, h * w)
            if c == 3:
                x = C[:, :3, :3] @ x + C[:, :3, 3:]
            else:            # greyscale: the luma part of the matrix
                x = x * C[:, :1, :1].mean(dim=(1, 2), keepdim=True) + C[:, :3, 3:].mean(dim=1, keepdim=True)
            images = x.reshape(n, c, h, w)

        if "imgfilter" in A:
            gains = torch.exp2(randn(n, 4) * o.imgfilter_std)
            gains = torch.where(rand(n, 4) < p, gains, torch.ones_like(gains))
            # Keep the expected power: bands carry roughly 10:1:1:1 of a natural image's power.
            power = torch.tensor([10.0, 1.0, 1.0, 1.0], device=dev) / 13
            gains = gains / (gains.square() @ power).sqrt()[:, None]
            f = gains @ self.f_bands.to(dev)                                       # [n, taps]
            images = _filter_each(images, f)

        if "noise" in A:
            sigma = randn(n, 1, 1, 1).abs() * o.noise_std
            sigma = torch.where(rand(n, 1, 1, 1) < p, sigma, torch.zeros_like(sigma))
            images = images + randn(n, c, h, w) * sigma
        if "cutout" in A:
            size = torch.where(rand(n) < p, torch.full((n,), o.cutout_size, device=dev), torch.zeros(n, device=dev))
            cx, cy = rand(n), rand(n)
            xs = (torch.arange(w, device=dev) + 0.5) / w
            ys = (torch.arange(h, device=dev) + 0.5) / h
            out_x = (xs[None, :] - cx[:, None]).abs() >= size[:, None] / 2
            out_y = (ys[None, :] - cy[:, None]).abs() >= size[:, None] / 2
            keep = out_x[:, None, :] | out_y[:, :, None]
            images = images * keep[:, None].to(images.dtype)
        return images

    def _resample(self, x: torch.Tensor, Ginv: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        f = self.f_resample.to(x.device)
        taps = f.numel()
        # How far outside the picture the output's corners reach, plus the filter's support.
        cx, cy = w / 2, h / 2
        corners = torch.tensor([[-cx, -cy, 1], [cx, -cy, 1], [cx, cy, 1], [-cx, cy, 1]], device=x.device).T
        reach = (Ginv @ corners)[:, :2, :]
        mx = int(math.ceil(float((reach[:, 0].abs().max() - cx).clamp(min=0)))) + taps // 4 + 1
        my = int(math.ceil(float((reach[:, 1].abs().max() - cy).clamp(min=0)))) + taps // 4 + 1
        mx, my = min(mx, w - 1), min(my, h - 1)
        x = F.pad(x, [mx, mx, my, my], mode="reflect")
        x = _upfirdn_1ch(x, f, up=2, padding=(taps // 2, taps // 2 - 1, taps // 2, taps // 2 - 1), gain=4)
        # Output samples at twice the resolution, with taps/2 - 1 extra on each side for the
        # decimating filter: sample j sits at (j + 0.5)/2 - w/2 (centred pixel units).
        e = taps // 2 - 1
        jx = (torch.arange(-e, 2 * w + e, device=x.device, dtype=torch.float32) + 0.5) / 2 - cx
        jy = (torch.arange(-e, 2 * h + e, device=x.device, dtype=torch.float32) + 0.5) / 2 - cy
        gy, gx = torch.meshgrid(jy, jx, indexing="ij")
        pts = torch.stack([gx, gy, torch.ones_like(gx)]).reshape(3, -1)
        src = (Ginv @ pts)[:, :2, :]                                                # [n, 2, P]
        nx = (src[:, 0] + cx + mx) / (w + 2 * mx) * 2 - 1
        ny = (src[:, 1] + cy + my) / (h + 2 * my) * 2 - 1
        grid = torch.stack([nx, ny], dim=-1).reshape(n, len(jy), len(jx), 2)
        x = F.grid_sample(x, grid.to(x.dtype), mode="bilinear", padding_mode="reflection", align_corners=False)
        return _upfirdn_1ch(x, f, down=2)


def _upfirdn_1ch(x: torch.Tensor, f: torch.Tensor, up: int = 1, down: int = 1,
                 padding: tuple = (0, 0, 0, 0), gain: float = 1.0) -> torch.Tensor:
    """upfirdn2d (zero insertion, pad, separable FIR, decimation) along each axis as a sum of
    shifted slices: on the CPU many times faster than the depthwise convolution."""
    g = gain ** 0.5
    k = (f.flip(0) * g).to(x.dtype)
    for axis, (p0, p1) in ((3, padding[:2]), (2, padding[2:])):
        if up > 1:
            shape = list(x.shape)
            x = torch.stack([x] + [torch.zeros_like(x)] * (up - 1), dim=axis + 1)
            shape[axis] *= up
            x = x.reshape(shape)
        pads = [0, 0, 0, 0]
        pads[(3 - axis) * 2:(3 - axis) * 2 + 2] = [p0, p1]
        x = F.pad(x, pads)
        n_out = (x.shape[axis] - k.numel()) // down + 1
        acc = None
        for i in range(k.numel()):          # a sum of shifted slices: no copies, no im2col
            term = x.narrow(axis, i, (n_out - 1) * down + 1)
            term = (term[..., ::down] if axis == 3 else term[:, :, ::down]) * k[i]
            acc = term if acc is None else acc + term
        x = acc
    return x


def _scale(sx: torch.Tensor, sy: torch.Tensor) -> torch.Tensor:
    m = torch.zeros(len(sx), 3, 3, device=sx.device)
    m[:, 0, 0], m[:, 1, 1], m[:, 2, 2] = sx, sy, 1
    return m


def _rotate(a: torch.Tensor) -> torch.Tensor:
    m = torch.zeros(len(a), 3, 3, device=a.device)
    m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1], m[:, 2, 2] = a.cos(), -a.sin(), a.sin(), a.cos(), 1
    return m


def _translate(tx: torch.Tensor, ty: torch.Tensor) -> torch.Tensor:
    m = torch.eye(3, device=tx.device).repeat(len(tx), 1, 1)
    m[:, 0, 2], m[:, 1, 2] = tx, ty
    return m


def _translate3(b: torch.Tensor) -> torch.Tensor:
    m = torch.eye(4, device=b.device).repeat(len(b), 1, 1)
    m[:, :3, 3] = b[:, None]
    return m


def _scale3(s: torch.Tensor) -> torch.Tensor:
    m = torch.eye(4, device=s.device).repeat(len(s), 1, 1)
    m[:, 0, 0] = m[:, 1, 1] = m[:, 2, 2] = s
    return m


def _rotate_about(axis: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """Rodrigues' rotation by angle a about a unit axis, as a 4x4 colour matrix."""
    k = torch.zeros(3, 3, device=a.device)
    k[0, 1], k[0, 2], k[1, 0], k[1, 2], k[2, 0], k[2, 1] = -axis[2], axis[1], axis[2], -axis[0], -axis[1], axis[0]
    r = torch.eye(3, device=a.device) + a.sin()[:, None, None] * k + (1 - a.cos())[:, None, None] * (k @ k)
    m = torch.eye(4, device=a.device).repeat(len(a), 1, 1)
    m[:, :3, :3] = r
    return m


def _filter_each(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """Each image filtered with its own 1-D kernel along W then H (reflect padded)."""
    n, c, h, w = x.shape
    t = f.shape[1]
    k = f[:, None, None, :].repeat_interleave(c, dim=0)                       # [n*c, 1, 1, t]
    y = F.pad(x.reshape(1, n * c, h, w), [t // 2, t // 2, 0, 0], mode="reflect")
    y = F.conv2d(y, k.flip(-1), groups=n * c)
    y = F.pad(y, [0, 0, t // 2, t // 2], mode="reflect")
    y = F.conv2d(y, k.flip(-1).transpose(2, 3), groups=n * c)
    return y.reshape(n, c, h, w)


class AdaTuner:
    """p from the overfitting heuristic: every `interval` steps, r_t = mean sign(D(real)) of those
    steps; p moves by sign(r_t - target) x (images seen) / (ada_kimg x 1000), within [0, 1]."""

    def __init__(self, pipe: AugmentPipe, target: float = 0.6, interval: int = 4, ada_kimg: float = 500.0):
        self.pipe, self.target, self.interval, self.ada_kimg = pipe, target, interval, ada_kimg
        self.signs: list[torch.Tensor] = []
        self.rt: Optional[float] = None

    def observe(self, signs: torch.Tensor) -> None:
        """The signs of D on reals (the loss's 'Loss/signs/real' report, Dmain and Dreg)."""
        self.signs.append(signs.detach().flatten().cpu())

    def update(self, batch_idx: int, batch: int, reduce=None) -> None:
        if batch_idx % self.interval or not self.signs:
            return
        s = torch.cat(self.signs)
        s = s[torch.isfinite(s)]                  # a non-finite step says nothing about overfitting
        tot = torch.stack([s.sum(), torch.tensor(float(len(s)))]).double()
        if reduce is not None:                    # every rank moves p by the same amount
            reduce(tot)
        self.signs = []
        if float(tot[1]) == 0:
            return
        self.rt = float(tot[0] / tot[1])
        adjust = float(np.sign(self.rt - self.target)) * batch * self.interval / (self.ada_kimg * 1000)
        self.pipe.p.copy_((self.pipe.p + adjust).clamp(0, 1))


def diff_augment(x: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """DiffAugment (Zhao et al. 2020) colour, translation and cutout: differentiable, applied to
    every image D sees, real and fake alike."""
    n, _, h, w = x.shape
    dev = x.device

    def r(*shape):
        return torch.rand(*shape, device=dev, generator=generator)
    x = x + (r(n, 1, 1, 1) - 0.5)                                           # brightness
    m = x.mean(dim=1, keepdim=True)
    x = (x - m) * (r(n, 1, 1, 1) * 2) + m                                   # saturation
    m = x.mean(dim=[1, 2, 3], keepdim=True)
    x = (x - m) * (r(n, 1, 1, 1) + 0.5) + m                                 # contrast
    sh, sw = int(h * 0.125 + 0.5), int(w * 0.125 + 0.5)                     # translation by 1/8
    tx = (r(n) * (2 * sh + 1)).long() - sh
    ty = (r(n) * (2 * sw + 1)).long() - sw
    gy, gx = torch.meshgrid(torch.arange(h, device=dev), torch.arange(w, device=dev), indexing="ij")
    gy = (gy[None] + tx[:, None, None] + 1).clamp(0, h + 1)
    gx = (gx[None] + ty[:, None, None] + 1).clamp(0, w + 1)
    pad = torch.nn.functional.pad(x, [1, 1, 1, 1])
    x = pad.permute(0, 2, 3, 1)[torch.arange(n, device=dev)[:, None, None], gy, gx].permute(0, 3, 1, 2)
    ch, cw = int(h * 0.5 + 0.5), int(w * 0.5 + 0.5)                         # cutout of half the side
    oy = (r(n) * (h + (1 - ch % 2))).long()
    ox = (r(n) * (w + (1 - cw % 2))).long()
    yy = (gy[:1] * 0 + torch.arange(h, device=dev)[None, :, None]) - oy[:, None, None] + ch // 2
    xx = (gx[:1] * 0 + torch.arange(w, device=dev)[None, None, :]) - ox[:, None, None] + cw // 2
    keep = ~((yy >= 0) & (yy < ch) & (xx >= 0) & (xx < cw))
    return x * keep[:, None].to(x.dtype)
