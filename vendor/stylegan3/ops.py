"""Low-level ops of StyleGAN2/3: FIR filter design, up/FIR/down resampling, bias+activation,
modulated convolution and the filtered leaky ReLU.

Every op has one plain PyTorch definition written for clarity (`*_ref`), and the fast path used by
the networks.  The fast filtered leaky ReLU is polyphase and separable: each 1-D pass is a small
convolution on a single-channel view of the data (channels folded into the batch), so no zero-stuffed
grid is ever materialised and no depthwise (groups=C) convolution is needed.  Tests compare the two.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

Padding = Sequence[int]  # (x0, x1, y0, y1), as the official ops take it


# ----------------------------------------------------------------------------------------------
# Filter design


def design_lowpass_filter(numtaps: int, cutoff: float, width: float, fs: float,
                          radial: bool = False) -> Optional[torch.Tensor]:
    """Kaiser-windowed low-pass FIR (StyleGAN3, appendix C); None for a single tap (identity)."""
    import scipy.signal
    import scipy.special

    assert numtaps >= 1
    if numtaps == 1:
        return None
    if not radial:
        f = scipy.signal.firwin(numtaps=numtaps, cutoff=cutoff, width=width, fs=fs)
        return torch.as_tensor(f, dtype=torch.float32)
    # Radially symmetric jinc-based filter, windowed by a separable Kaiser window.
    t = (np.arange(numtaps) - (numtaps - 1) / 2) / fs
    r = np.hypot(*np.meshgrid(t, t))
    f = scipy.special.j1(2 * cutoff * (np.pi * r)) / (np.pi * r)
    beta = scipy.signal.kaiser_beta(scipy.signal.kaiser_atten(numtaps, width / (fs / 2)))
    w = np.kaiser(numtaps, beta)
    f *= np.outer(w, w)
    f /= np.sum(f)
    return torch.as_tensor(f, dtype=torch.float32)


def setup_filter(f: Sequence[float]) -> torch.Tensor:
    """StyleGAN2 resampling filter: normalised to unit sum; short 1-D kernels become 2-D (outer)."""
    f = torch.as_tensor(f, dtype=torch.float32)
    if f.ndim == 1 and f.numel() < 8:
        f = torch.outer(f, f)
    return f / f.sum()


# ----------------------------------------------------------------------------------------------
# Reference resampling: zero-insert, pad, FIR, decimate


def upfirdn2d(x: torch.Tensor, f: Optional[torch.Tensor], up: int = 1, down: int = 1,
              padding: Padding = (0, 0, 0, 0), gain: float = 1.0) -> torch.Tensor:
    """Upsample by zero insertion, pad (negative pads crop), convolve with f, keep every down-th.

    f is 1-D (separable, applied along W then H) or 2-D; None means the identity filter.
    """
    n, c, h, w = x.shape
    px0, px1, py0, py1 = padding
    if up > 1:
        x = x.reshape(n, c, h, 1, w, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(n, c, h * up, w * up)
    x = F.pad(x, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
    x = x[:, :, max(-py0, 0): x.shape[2] - max(-py1, 0), max(-px0, 0): x.shape[3] - max(-px1, 0)]
    if f is not None:
        f = (f * gain ** (f.ndim / 2)).to(x.dtype).flip(list(range(f.ndim)))
        c = x.shape[1]
        if f.ndim == 2:
            x = F.conv2d(x, f[None, None].expand(c, 1, *f.shape), groups=c)
        else:
            x = F.conv2d(x, f.reshape(1, 1, 1, -1).expand(c, 1, 1, f.numel()), groups=c)
            x = F.conv2d(x, f.reshape(1, 1, -1, 1).expand(c, 1, f.numel(), 1), groups=c)
    elif gain != 1:
        x = x * gain
    return x[:, :, ::down, ::down]


def upsample2d(x: torch.Tensor, f: torch.Tensor, up: int = 2) -> torch.Tensor:
    """StyleGAN2 image upsampling with a 2-D filter: output is exactly up x the input size."""
    fw = f.shape[-1]
    p0, p1 = (fw + up - 1) // 2, (fw - up) // 2
    return upfirdn2d(x, f, up=up, padding=(p0, p1, p0, p1), gain=up * up)


# ----------------------------------------------------------------------------------------------
# Bias + activation


def bias_act(x: torch.Tensor, b: Optional[torch.Tensor] = None, act: str = "linear",
             alpha: float = 0.2, gain: Optional[float] = None,
             clamp: Optional[float] = None) -> torch.Tensor:
    """x + b (along dim 1), then activation, gain and symmetric clamp, as in StyleGAN2/3."""
    if b is not None:
        x = x + b.reshape([1, -1] + [1] * (x.ndim - 2)).to(x.dtype)
    if act == "lrelu":
        x = F.leaky_relu(x, alpha)
        gain = math.sqrt(2) if gain is None else gain
    elif act != "linear":
        raise ValueError(f"unknown activation {act!r}")
    if gain is not None and gain != 1:
        x = x * gain
    if clamp is not None and clamp >= 0:
        x = x.clamp(-clamp, clamp)
    return x


# ----------------------------------------------------------------------------------------------
# Filtered leaky ReLU (StyleGAN3)


def filtered_lrelu_ref(x: torch.Tensor, fu: Optional[torch.Tensor], fd: Optional[torch.Tensor],
                       b: Optional[torch.Tensor], up: int, down: int, padding: Padding,
                       gain: float, slope: float, clamp: Optional[float]) -> torch.Tensor:
    """Readable definition: bias, upsample+FIR, leaky ReLU with gain and clamp, FIR+downsample."""
    x = bias_act(x, b)
    x = upfirdn2d(x, fu, up=up, padding=padding, gain=up * up)
    x = bias_act(x, act="lrelu", alpha=slope, gain=gain, clamp=clamp)
    return upfirdn2d(x, fd, down=down)


class _Polyphase:
    """Precomputed polyphase taps for one axis of `upfirdn` with up >= 1 and 1-D filter f.

    Output n of the zero-stuffed, padded, filtered signal is y[u*q + r] = sum_j h[r, j] x[q + j + j0],
    so each phase r is a plain correlation of the input with h[r] and all phases come from one
    convolution with `up` output channels.
    """

    def __init__(self, f: torch.Tensor, up: int, pad0: int, pad1: int, n_in: int):
        g = (f.flip(0) * up).double()                      # correlation taps incl. the up gain
        taps = g.numel()
        self.n_out = n_in * up + pad0 + pad1 - taps + 1
        # Phase r uses g[u*j + (pad0 - r)] for every j where the index is inside the filter.
        lo = [math.ceil(-(pad0 - r) / up) for r in range(up)]
        hi = [math.floor((taps - 1 - (pad0 - r)) / up) for r in range(up)]
        self.j0, j1 = min(lo), max(hi)
        h = torch.zeros(up, j1 - self.j0 + 1, dtype=torch.float64)
        for r in range(up):
            for j in range(lo[r], hi[r] + 1):
                h[r, j - self.j0] = g[up * j + pad0 - r]
        self.h = h.float()
        self.up = up
        self.q = -(-self.n_out // up)                       # outputs per phase (ceil)
        # Input range read: x[j0 .. q-1+j1]; zero-pad what falls outside [0, n_in).
        self.pad_lo = max(0, -self.j0)
        self.pad_hi = max(0, self.q - 1 + j1 - (n_in - 1))
        self.start = self.j0 + self.pad_lo                  # first input index read, after padding


def _poly_up_w(x: torch.Tensor, p: _Polyphase, h: torch.Tensor) -> torch.Tensor:
    """Polyphase upsample+filter along the last axis of x [B, 1, H, W]."""
    x = F.pad(x, [p.pad_lo, p.pad_hi])[..., p.start: p.start + p.q + h.shape[-1] - 1]
    y = F.conv2d(x, h.reshape(p.up, 1, 1, -1))              # [B, up, H, q]
    b, _, rows, q = y.shape
    return y.permute(0, 2, 3, 1).reshape(b, 1, rows, q * p.up)[..., : p.n_out]


def _poly_up_h(x: torch.Tensor, p: _Polyphase, h: torch.Tensor) -> torch.Tensor:
    """Polyphase upsample+filter along axis 2 of x [B, 1, H, W]."""
    x = F.pad(x, [0, 0, p.pad_lo, p.pad_hi])[:, :, p.start: p.start + p.q + h.shape[-1] - 1]
    y = F.conv2d(x, h.reshape(p.up, 1, -1, 1))              # [B, up, q, W]
    b, _, q, cols = y.shape
    return y.transpose(1, 2).reshape(b, 1, q * p.up, cols)[:, :, : p.n_out]


class FilteredLReLU:
    """Fast filtered leaky ReLU for one layer's fixed geometry (filters, factors, padding, size).

    The call does bias, polyphase separable upsampling, activation with gain and clamp, and
    strided separable downsampling.  Channels are folded into the batch so every convolution has a
    single input channel (depthwise convs are slow on CPU backends).  Taps are cached per
    (device, dtype) so the call does no host-to-device copies (CUDA graphs can capture it).
    """

    def __init__(self, fu: Optional[torch.Tensor], fd: Optional[torch.Tensor], up: int, down: int,
                 padding: Padding, in_size: Sequence[int]):
        px0, px1, py0, py1 = (int(p) for p in padding)
        self.padding = (px0, px1, py0, py1)
        self.up, self.down = up, down
        self.has_up = fu is not None or up > 1
        fu1 = fu if fu is not None else torch.ones(1)
        assert fu1.ndim == 1, "upsampling filters are separable"
        self.ph = _Polyphase(fu1, up, py0, py1, int(in_size[0]))
        self.pw = _Polyphase(fu1, up, px0, px1, int(in_size[1]))
        self.fd = None if fd is None else fd.flip(list(range(fd.ndim))).float()
        self._taps: dict = {}

    def _taps_for(self, x: torch.Tensor):
        key = (x.device, x.dtype)
        if key not in self._taps:
            cast = lambda t: None if t is None else t.to(device=x.device, dtype=x.dtype)
            self._taps[key] = (cast(self.ph.h), cast(self.pw.h), cast(self.fd))
        return self._taps[key]

    def __call__(self, x: torch.Tensor, b: torch.Tensor, gain: float, slope: float,
                 clamp: Optional[float]) -> torch.Tensor:
        n, c, h, w = x.shape
        hh, hw, fd = self._taps_for(x)
        x = x + b.reshape(1, -1, 1, 1).to(x.dtype)
        if self.has_up:
            x = x.reshape(n * c, 1, h, w)
            x = _poly_up_h(_poly_up_w(x, self.pw, hw), self.ph, hh)
        elif any(self.padding):
            x = upfirdn2d(x, None, padding=self.padding)
        if slope != 1:
            x = F.leaky_relu(x, slope)
        if gain != 1:
            x = x * gain
        if clamp is not None and clamp >= 0:
            x = x.clamp(-clamp, clamp)
        if fd is not None:
            d = self.down
            x = x.reshape(-1, 1, x.shape[-2], x.shape[-1])
            if fd.ndim == 1:
                x = F.conv2d(F.conv2d(x, fd.reshape(1, 1, 1, -1), stride=(1, d)),
                             fd.reshape(1, 1, -1, 1), stride=(d, 1))
            else:
                x = F.conv2d(x, fd[None, None], stride=d)
        elif self.down > 1:
            x = x[..., :: self.down, :: self.down]
        return x.reshape(n, c, x.shape[-2], x.shape[-1])


# ----------------------------------------------------------------------------------------------
# Modulated convolution


def modulate_weights(weight: torch.Tensor, styles: torch.Tensor, demodulate: bool,
                     input_gain: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Per-sample weights [N, O, I, k, k]: scale input channels by styles, then demodulate.

    Styles are normalised per sample (the official StyleGAN3 code normalises over the whole batch;
    demodulation cancels that factor up to the 1e-8 epsilon, and per-sample keeps each frame
    independent of what else is in its batch).
    """
    if demodulate:
        weight = weight * weight.square().mean([1, 2, 3], keepdim=True).rsqrt()
        styles = styles * styles.square().mean(dim=1, keepdim=True).rsqrt()
    w = weight.unsqueeze(0) * styles[:, None, :, None, None]
    if demodulate:
        w = w * (w.square().sum(dim=[2, 3, 4], keepdim=True) + 1e-8).rsqrt()
    if input_gain is not None:
        w = w * input_gain
    return w


def grouped_conv(x: torch.Tensor, w: torch.Tensor, padding: int | Sequence[int] = 0) -> torch.Tensor:
    """Convolve each sample with its own weights [N, O, I, k, k] as one grouped convolution."""
    n = x.shape[0]
    if n == 1:
        return F.conv2d(x, w[0].to(x.dtype), padding=padding)
    y = F.conv2d(x.reshape(1, -1, *x.shape[2:]), w.reshape(-1, *w.shape[2:]).to(x.dtype),
                 padding=padding, groups=n)
    return y.reshape(n, -1, *y.shape[2:])
