"""Low-level ops of StyleGAN2/3: FIR filter design, up/FIR/down resampling, bias+activation and
the filtered leaky ReLU (modulated convolution: modconv.py; both re-exported here).

Every op has one plain PyTorch definition written for clarity (`*_ref`), and the fast path used by
the networks.  The fast filtered leaky ReLU is polyphase and separable: each 1-D pass is a blocked
banded matrix product on the data with channels folded into the batch, so no zero-stuffed grid is
ever materialised and no depthwise (groups=C) convolution is needed.  On the CPU in float32
without a gradient, a layer takes the compiled kernel instead (native/: the same passes, one
plane at a time in cache); the matrix products serve CUDA, other dtypes, training and a machine
without a compiler.  Tests compare all of them with the plain definition.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from . import native
from .bias_act import bias_act
from .fir import fir_conv
from .modconv import grouped_modulated_conv2d, modulate_weights, modulated_conv2d, normalized_weight

__all__ = ["design_lowpass_filter", "setup_filter", "upfirdn2d", "upsample2d", "filtered_lrelu_ref", "up_phases",
           "FilteredLReLU", "bias_act", "modulated_conv2d", "grouped_modulated_conv2d", "modulate_weights",
           "normalized_weight"]

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

    f is 1-D (separable, applied along W then H) or 2-D; None means the identity filter.  The
    convolution pads (when the pads are symmetric) and decimates (its stride) by itself: the
    same sums as padding a copy first and dropping the outputs in between, without the copy and
    the dropped outputs (StyleGAN2's discriminator computed 4x the outputs it kept).
    """
    n, c, h, w = x.shape
    px0, px1, py0, py1 = padding
    if up > 1:
        x = x.reshape(n, c, h, 1, w, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(n, c, h * up, w * up)
    own = f is not None and px0 == px1 >= 0 and py0 == py1 >= 0     # the convolution's own padding
    if not own:
        x = _pad2(x, (py0, py1), (px0, px1))
    if f is None:
        return (x * gain if gain != 1 else x)[:, :, ::down, ::down]
    py, px = (py0, px0) if own else (0, 0)
    f = (f * gain ** (f.ndim / 2)).to(x.dtype).flip(list(range(f.ndim)))
    c = x.shape[1]
    if f.ndim == 2:
        return fir_conv(x, f[None, None].expand(c, 1, *f.shape), (down, down), (py, px))
    x = fir_conv(x, f.reshape(1, 1, 1, -1).expand(c, 1, 1, f.numel()), (1, down), (0, px))
    return fir_conv(x, f.reshape(1, 1, -1, 1).expand(c, 1, f.numel(), 1), (down, 1), (py, 0))


def upsample2d(x: torch.Tensor, f: torch.Tensor, up: int = 2) -> torch.Tensor:
    """StyleGAN2 image upsampling with a 2-D filter: output is exactly up x the input size."""
    fw = f.shape[-1]
    p0, p1 = (fw + up - 1) // 2, (fw - up) // 2
    return upfirdn2d(x, f, up=up, padding=(p0, p1, p0, p1), gain=up * up)


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


def up_phases(f: torch.Tensor, up: int, pad0: int, gain: float = 1.0) -> tuple[torch.Tensor, int]:
    """Zero-insertion by `up`, `pad0` zeros in front and correlation with flip(f) * up * gain, as
    polyphase taps: output up*q + r = sum_j h[r, j] * x[q + j + j0] (x zero outside its range;
    h [up, J] float64, one tap range shared by all phases, zeros where a phase has fewer)."""
    g = f.double().flip(0) * up * gain
    taps = g.numel()
    j0 = min(math.ceil((r - pad0) / up) for r in range(up))
    j1 = max(math.floor((taps - 1 - pad0 + r) / up) for r in range(up))
    h = torch.zeros(up, j1 - j0 + 1, dtype=torch.float64)
    for r in range(up):
        for j in range(j0, j1 + 1):
            k = up * j + pad0 - r
            if 0 <= k < taps:
                h[r, j - j0] = g[k]
    return h, j0


# Outputs per block of a down pass.  8 measured 1.05x over 16 for builtin:tiny on an AVX-512 Xeon
# (less zero work in the band; bench/roofline.py --variants), 16 having been chosen on an EPYC.
DOWN_BLOCK = 8


class _Pass:
    """One 1-D resampling pass evaluated as a blocked banded matmul.

    Output block k (`block` samples) is `window_k @ kernel`, where window_k is `win` consecutive
    inputs starting at k * `step` in the zero-padded signal (`pad_lo` zeros in front).  Along the last
    axis the windows come from `unfold` (one copy); along rows they are overlapping row slabs taken
    with `as_strided` (no copy) and multiplied from the left.  Either way the pass is one GEMM doing
    only the band's work plus a small overlap -- far faster on CPUs than single-channel or depthwise
    convolutions, and just as good on GPUs.
    """

    def __init__(self, kernel: torch.Tensor, step: int, pad_lo: int, n_in: int, n_out: int):
        self.kernel = kernel.float()                       # [win, outputs per block]
        self.win, self.block = kernel.shape
        self.step, self.pad_lo, self.n_in, self.n_out = step, pad_lo, n_in, n_out
        self.blocks = -(-n_out // self.block)
        self.need = (self.blocks - 1) * step + self.win    # padded input length the windows read
        self._cache: dict = {}

    @staticmethod
    def up(f: torch.Tensor, up: int, pad0: int, pad1: int, n_in: int, gain: float = 1.0,
           block: Optional[int] = None, min_out: int = 0) -> "_Pass":
        """Zero-insert by `up`, pad by (pad0, pad1) (negative crops), correlate with flip(f)*up.
        Blocks of 32 // up inputs (32 outputs) measured fastest on CPUs: larger blocks do more
        zero work, smaller ones make skinny GEMMs.  `min_out`: produce at least that many samples
        (the extra ones are finite don't-cares), so the next pass needs no padding copy."""
        block = block or max(4, 32 // up)
        n_out = n_in * up + pad0 + pad1 - f.numel() + 1
        h, j0 = up_phases(f, up, pad0, gain)
        J = h.shape[1]
        kern = torch.zeros(block + J - 1, block, up, dtype=torch.float64)
        for p in range(block):
            kern[p: p + J, p, :] = h.t()
        p = _Pass(kern.reshape(block + J - 1, block * up), block, -j0, n_in, n_out)
        if min_out > p.blocks * p.block:
            p.blocks = -(-min_out // p.block)
            p.need = (p.blocks - 1) * p.step + p.win
        return p

    @staticmethod
    def down(f: torch.Tensor, down: int, n_in: int, block: int = DOWN_BLOCK) -> "_Pass":
        """Correlate with flip(f) (valid part only) and keep every `down`-th sample."""
        g = f.double().flip(0)
        taps = g.numel()
        n_out = (n_in - taps) // down + 1
        kern = torch.zeros((block - 1) * down + taps, block, dtype=torch.float64)
        for p in range(block):
            kern[p * down: p * down + taps, p] = g
        return _Pass(kern, block * down, 0, n_in, n_out)

    def pads(self, n: int) -> tuple[int, int]:
        """(front, back) padding that turns an input of n samples into exactly `need` samples
        (negative: crop).  Inputs longer than n_in carry don't-care samples at the end."""
        return self.pad_lo, self.need - self.pad_lo - n

    def _kernel(self, x: torch.Tensor, transpose: bool) -> torch.Tensor:
        key = (x.device, x.dtype, transpose)
        if key not in self._cache:
            k = self.kernel.t().contiguous() if transpose else self.kernel
            self._cache[key] = k.to(device=x.device, dtype=x.dtype)
        return self._cache[key]

    def cols(self, x: torch.Tensor) -> torch.Tensor:
        """Along the last axis of padded x [B, R, need] -> [B, R, blocks * block]."""
        b, r, _ = x.shape
        w = x.unfold(-1, self.win, self.step).reshape(-1, self.win)   # copies the windows once
        return (w @ self._kernel(x, False)).reshape(b, r, -1)

    def rows(self, x: torch.Tensor) -> torch.Tensor:
        """Along axis 1 of contiguous x [B, m * step, C] (every channel padded to m >= need / step
        whole steps) -> [B, m * block, C]: per channel, the first `blocks` blocks are the output
        and the rest finite don't-cares.  With the channel stride a multiple of the step, all
        channels' windows form one uniformly strided batch, so the overlapping slabs are never
        copied (a per-channel batch would make matmul copy them)."""
        b, r, c = x.shape
        m = r // self.step
        assert r == m * self.step and r >= self.need and x.is_contiguous(), (r, self.step, self.need)
        n = (b - 1) * m + self.blocks          # the last channel's spare windows would overrun x
        slabs = x.as_strided((n, self.win, c), (self.step * c, c, 1))
        if torch.compiler.is_compiling():               # (traced: no out= into a view)
            out = torch.matmul(self._kernel(x, True), slabs)
            return F.pad(out, [0, 0, 0, 0, 0, b * m - n]).view(b, m * self.block, c)
        out = x.new_empty((b * m, self.block, c))
        torch.matmul(self._kernel(x, True), slabs, out=out[:n])
        out[n:].zero_()
        return out.view(b, m * self.block, c)


def _pad2(x: torch.Tensor, rows: tuple[int, int], cols: tuple[int, int]) -> torch.Tensor:
    """Pad (or crop, where negative) the last two axes with zeros; a no-op returns x itself."""
    (t, b), (l, r) = rows, cols
    if t < 0 or b < 0 or l < 0 or r < 0:
        x = x[..., max(0, -t): x.shape[-2] - max(0, -b), max(0, -l): x.shape[-1] - max(0, -r)]
        t, b, l, r = max(t, 0), max(b, 0), max(l, 0), max(r, 0)
    if not (t or b or l or r):
        return x
    return F.pad(x, [l, r, t, b])


def _biased_pad(x: torch.Tensor, b: torch.Tensor, rows: tuple[int, int], cols: tuple[int, int]) -> torch.Tensor:
    """x [N, C, H, W] in any memory format (an NHWC conv output too) plus the bias, written into a
    zero-padded [N*C, H', W'] buffer in one pass (negative pads crop): the bias add, the padding
    and the change of layout are one copy, not three."""
    (t, bt), (l, r) = rows, cols
    h, w = x.shape[2:]
    x = x[:, :, max(0, -t): h - max(0, -bt), max(0, -l): w - max(0, -r)]
    t, bt, l, r = max(t, 0), max(bt, 0), max(l, 0), max(r, 0)
    n, c, h, w = x.shape
    if torch.compiler.is_compiling():                   # (traced: no out= into a view)
        return F.pad(x + b.reshape(1, -1, 1, 1).to(x.dtype), [l, r, t, bt]).reshape(n * c, t + h + bt, l + w + r)
    buf = x.new_zeros((n, c, t + h + bt, l + w + r))
    torch.add(x, b.reshape(1, -1, 1, 1).to(x.dtype), out=buf[:, :, t: t + h, l: l + w])
    return buf.view(n * c, t + h + bt, l + w + r)


def _fit(x: torch.Tensor, dim: int, n: int) -> torch.Tensor:
    """x with exactly n samples along dim: a view when it has enough, else zero-padded at the end."""
    have = x.shape[dim]
    if have >= n:
        return x.narrow(dim, 0, n)
    pad = [0, 0] * (x.ndim - 1 - dim) + [0, n - have]
    return F.pad(x, pad)


class FilteredLReLU:
    """Fast filtered leaky ReLU for one layer's fixed geometry (filters, factors, padding, size).

    bias -> separable polyphase upsampling (columns, then rows; the rows pass also carries the
    activation gain since lrelu(g*x) = g*lrelu(x)) -> leaky ReLU and clamp in place -> separable
    strided downsampling (rows, then columns).  Channels are folded into the batch and the data stay
    in [B, H, W] layout throughout.  Kernels are cached per (device, dtype), so a call makes no
    host-to-device copies (CUDA graphs can capture it).
    """

    def __init__(self, fu: Optional[torch.Tensor], fd: Optional[torch.Tensor], up: int, down: int,
                 padding: Padding, in_size: Sequence[int], gain: float = 1.0, down_block: int = DOWN_BLOCK):
        px0, px1, py0, py1 = (int(p) for p in padding)
        h_in, w_in = int(in_size[0]), int(in_size[1])
        self.padding, self.up, self.down, self.gain = (px0, px1, py0, py1), up, down, gain
        self.has_up = fu is not None or up > 1
        self.radial = fd is not None and fd.ndim == 2
        self.fu, self.fd, self.in_size = fu, fd, (h_in, w_in)   # (the gradient's passes: filtered_grad.py)
        if self.has_up:
            fu1 = fu if fu is not None else torch.ones(1)
            assert fu1.ndim == 1, "upsampling filters are separable"
            self.up_w = _Pass.up(fu1, up, px0, px1, w_in)
            self.up_h = _Pass.up(fu1, up, py0, py1, h_in, gain=gain)
            h_tmp, w_tmp = self.up_h.n_out, self.up_w.n_out
        else:
            h_tmp, w_tmp = h_in + py0 + py1, w_in + px0 + px1
        self.tmp_size = (h_tmp, w_tmp)
        self.fd2 = None
        self.down_h = self.down_w = None
        if self.radial:
            self.fd2 = fd.flip([0, 1]).float()
            self.out_size = ((h_tmp - fd.shape[0]) // down + 1, (w_tmp - fd.shape[1]) // down + 1)
        elif fd is not None:
            self.down_h = _Pass.down(fd, down, h_tmp, down_block)
            self.down_w = _Pass.down(fd, down, w_tmp, down_block)
            self.out_size = (self.down_h.n_out, self.down_w.n_out)
            if self.has_up:     # the up columns cover what the down columns read: no pad copy
                self.up_w = _Pass.up(fu1, up, px0, px1, w_in, min_out=self.down_w.need)
        else:
            self.out_size = (-(-h_tmp // down), -(-w_tmp // down))
        # Rows per channel between the passes (see _Pass.rows): whole steps of the pass that
        # reads them, and enough of them for it.
        self.rows_in = self.rows_mid = 0
        if self.has_up:
            u, d = self.up_h, self.down_h
            m = -(-u.need // u.step)
            while d is not None and (m * u.block < d.need or (m * u.block) % d.step):
                m += 1
            self.rows_in, self.rows_mid = m * u.step, m * u.block
        elif self.down_h is not None:
            d = self.down_h
            self.rows_mid = -(-max(d.need, h_tmp) // d.step) * d.step
        self._fd2_cache: dict = {}
        # The compiled kernel (native/): float32 CPU inference, separable filters, up a multiple
        # of down -- every StyleGAN3 layer but ToRGB and StyleGAN3-R's radial ones.
        self.native = None
        if self.has_up and self.down_h is not None and native.FilteredTaps.applies(up, down):
            (hx, jx0), (hy, jy0) = up_phases(fu1, up, px0), up_phases(fu1, up, py0, gain)
            self.native = native.FilteredTaps(up, down, jx0, hx.float().contiguous(), jy0, hy.float().contiguous(),
                                              fd.double().flip(0).float().contiguous(), self.out_size)

    def padded(self, x: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """x [N, C, H, W] (any memory format) plus the bias, as [N*C, rows, columns] padded for the
        up passes.  The rows for the rows pass are padded here already, on the smallest array:
        zero rows stay zero through the column pass."""
        h, w = x.shape[2:]
        lo = self.up_h.pad_lo
        return _biased_pad(x, b, (lo, self.rows_in - lo - h), self.up_w.pads(w))

    def __call__(self, x: torch.Tensor, b: torch.Tensor, slope: float,
                 clamp: Optional[float]) -> torch.Tensor:
        if self.native is not None and not torch.compiler.is_compiling():
            y = native.filtered_lrelu(self.native, x, b, slope, clamp)
            if y is not None:
                return y
        return self.downsampled(self.activated(x, b, slope, clamp), x.shape[0], x.shape[1])

    def activated(self, x: torch.Tensor, b: torch.Tensor, slope: float, clamp: Optional[float]) -> torch.Tensor:
        """Bias, the up passes, leaky ReLU and clamp: the [N*C, rows, columns] array the down
        filter reads (a fresh one where upsampled, updated in place)."""
        n, c, h, w = x.shape
        if self.has_up:
            x = self.up_h.rows(self.up_w.cols(self.padded(x, b)))    # [B, rows_mid, >= W2], fresh
        else:
            x = (x + b.reshape(1, -1, 1, 1).to(x.dtype)).reshape(n * c, h, w)
            x = _pad2(x, self.padding[2:], self.padding[:2])
            if self.gain != 1:
                x = x * self.gain
        inplace = x.is_contiguous() and self.has_up          # fresh buffer: update in place
        if slope != 1:
            x = F.leaky_relu_(x, slope) if inplace else F.leaky_relu(x, slope)
            inplace = True
        if clamp is not None and clamp >= 0:
            x = x.clamp_(-clamp, clamp) if inplace else x.clamp(-clamp, clamp)
        return x

    def downsampled(self, x: torch.Tensor, n: int, c: int) -> torch.Tensor:
        """The down filter on `activated`'s array -> [N, C, ho, wo] (x is only read)."""
        ho, wo = self.out_size
        if self.fd2 is not None:                             # radial (non-separable) filter
            key = (x.device, x.dtype)
            if key not in self._fd2_cache:
                self._fd2_cache[key] = self.fd2.to(device=x.device, dtype=x.dtype)[None, None]
            x = x[:, : self.tmp_size[0], : self.tmp_size[1]].unsqueeze(1)
            x = F.conv2d(x, self._fd2_cache[key], stride=self.down)[:, 0]
        elif self.down_h is not None:
            if x.shape[1] != self.rows_mid or not x.is_contiguous():
                x = _fit(x, 1, self.rows_mid).contiguous()
            x = self.down_h.rows(x)
            x = self.down_w.cols(_fit(x[:, :ho], 2, self.down_w.need))   # only the rows kept
        elif self.down > 1:
            x = x[:, :: self.down, :: self.down]
        return x[:, :ho, :wo].reshape(n, c, ho, wo)
