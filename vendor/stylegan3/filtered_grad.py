"""The fast filtered leaky ReLU with its gradient, for training (and anything else that
differentiates through the generator: projection, the encoder's loss).

The forward is the inference path of `ops.FilteredLReLU` (banded matrix products, in place).  The
backward runs the same passes transposed: each pass is linear, out = P(in), so the gradient is
Pᵀ(g) -- per block g @ kernelᵀ, the overlapping windows added back with one strided add per
`step`-long part of the window.  Between them the activation's derivative comes from the saved
(activated, clamped) array: slope where it is not positive, 0 where the clamp held it.  Autograd
would otherwise differentiate the reference definition's zero-stuffed depthwise convolutions, 3-5x
the work on CPUs; the gradient is the same function to rounding (tests/test_ops.py).
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from .ops import FilteredLReLU, _fit, _Pass


def supported(act: FilteredLReLU) -> bool:
    """Separable up and down filters (configs T and Canvas).  R's radial filter and ToRGB take the
    reference definition: a radial filter as a strided one-channel convolution and its input
    gradient measured 2.6x slower per R training step than the reference's depthwise form."""
    return act.has_up and act.down_h is not None


def cols_t(p: _Pass, g: torch.Tensor) -> torch.Tensor:
    """Transpose of `_Pass.cols` on an input of exactly `need` columns: g [B, R, blocks * block]
    -> [B, R, need]."""
    b, r, _ = g.shape
    w = g.reshape(b * r, p.blocks, p.block) @ p._kernel(g, False).t()          # [B*R, blocks, win]
    return _overlap_add(w.unsqueeze(3), p.step, p.need).view(b, r, p.need)


def _overlap_add(w: torch.Tensor, step: int, total: int) -> torch.Tensor:
    """Windows w [R, K, win, C] (window k starts at sample k * step) added into R signals of
    `total` samples, [R, total, C]: part j of every window (its j-th `step` samples) lands on steps
    k + j, so each part is one strided add with no overlap."""
    r, k, win, c = w.shape
    parts = -(-win // step)
    steps = max(k + parts - 1, -(-total // step))
    out = w.new_empty((r, steps, step, c))
    out[:, :k] = w[:, :, :step]
    out[:, k:].zero_()
    for j in range(1, parts):
        width = min(step, win - j * step)
        out[:, j: j + k, :width] += w[:, :, j * step: j * step + width]
    return out.view(r, steps * step, c)[:, :total]


def _down_rows_t(act: FilteredLReLU) -> _Pass:
    """The down rows pass transposed, as an up pass (made once per activation): a stride-d
    correlation with flip(f) transposes to zero insertion by d and correlation with f, padded so
    that it gives the tmp array's rows back."""
    if getattr(act, "_down_rows_t", None) is None:
        d, taps, ho, h_tmp = act.down, act.fd.numel(), act.out_size[0], act.tmp_size[0]
        act._down_rows_t = _Pass.up(act.fd.flip(0), d, taps - 1, h_tmp - d * ho, ho, gain=1.0 / d)
    return act._down_rows_t


def _up_rows_t(act: FilteredLReLU) -> tuple[_Pass, int]:
    """The up rows pass transposed, as a down pass (made once per activation): zero insertion by
    u and correlation with flip(f) * u * gain transposes to a stride-u correlation with
    f * u * gain, read from the gradient padded by taps - 1 - pad0 in front (the pass, that pad)."""
    if getattr(act, "_up_rows_t", None) is None:
        u, f, h_in = act.up, act.fu if act.fu is not None else torch.ones(1), act.in_size[0]
        taps = f.numel()
        act._up_rows_t = (_Pass.down(f.flip(0) * u * act.gain, u, u * (h_in - 1) + taps),
                          taps - 1 - act.padding[2])
    return act._up_rows_t


def _down_from(p: _Pass, front: int, g: torch.Tensor) -> torch.Tensor:
    """A down pass along rows on g [B, n, C] padded by `front` zero rows (negative: crops):
    [B, >= n_out, C]."""
    b, n, c = g.shape
    g = g[:, max(0, -front):]
    front = max(0, front)
    rows = -(-max(p.need, front + g.shape[1]) // p.step) * p.step
    buf = g.new_zeros((b, rows, c))
    buf[:, front: front + g.shape[1]] = g[:, : rows - front]
    return p.rows(buf)


def _up_from(p: _Pass, g: torch.Tensor) -> torch.Tensor:
    """An up pass along rows on g [B, n_in, C]: padded as `_Pass.rows` reads it (front zeros,
    whole steps), then the pass; [B, >= n_out, C] with rows past n_out not yet zero."""
    b, n, c = g.shape
    rows = -(-max(p.need, p.pad_lo + n) // p.step) * p.step
    buf = g.new_zeros((b, rows, c))
    buf[:, p.pad_lo: p.pad_lo + n] = g
    return p.rows(buf)


class _FilteredLReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, b: torch.Tensor, act: FilteredLReLU, slope: float,
                clamp: Optional[float]) -> torch.Tensor:
        t = act.activated(x, b, slope, clamp)                 # fresh: kept for the backward
        ctx.save_for_backward(t)
        ctx.act, ctx.slope, ctx.clamp, ctx.x_shape = act, slope, clamp, x.shape
        return act.downsampled(t, x.shape[0], x.shape[1])

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, gy: torch.Tensor):
        (t,) = ctx.saved_tensors
        act, slope, clamp = ctx.act, ctx.slope, ctx.clamp
        n, c, h, w = ctx.x_shape
        ho, wo = act.out_size
        dw, uw = act.down_w, act.up_w
        cols_in = uw.need                                # the padded input's columns
        # Down columns, then down rows (the forward's crops and pads become pads and crops).
        g = F.pad(gy.reshape(n * c, ho, wo), [0, dw.blocks * dw.block - wo])
        g = cols_t(dw, g)                                                         # [B, ho, need]
        g = _fit(g, 2, t.shape[2])                                                # [B, ho, C]
        g = _up_from(_down_rows_t(act), g.contiguous())                          # [B, >= tmp rows, C]
        g = _fit(g, 1, t.shape[1])                                                # (rows past tmp: unused)
        # Each one fused pass over g in place, reading the saved output (t > 0 exactly where the
        # input was): a fresh array this size would cost more in page faults than the pass itself.
        torch.ops.aten.leaky_relu_backward.grad_input(g, t, slope, True, grad_input=g)
        if clamp is not None and clamp >= 0:
            torch.ops.aten.hardtanh_backward.grad_input(g, t, -clamp, clamp, grad_input=g)
        # Up rows (as a down pass), then up columns, then the padding's crop.
        p, front = _up_rows_t(act)
        g = _down_from(p, front, g[:, : act.tmp_size[0]])[:, :h]                 # [B, h, C']
        g = cols_t(uw, g).reshape(n, c, h, cols_in)                               # [B, h, need]
        l = uw.pads(w)[0]
        gx = g.new_zeros((n, c, h, w))
        l0, ww = max(0, -l), min(w - max(0, -l), cols_in - max(l, 0))
        gx[..., l0: l0 + ww] = g[..., max(l, 0): max(l, 0) + ww]
        gb = gx.sum(dim=(0, 2, 3))
        return gx, gb, None, None, None


def filtered_lrelu(act: FilteredLReLU, x: torch.Tensor, b: torch.Tensor, slope: float,
                   clamp: Optional[float]) -> torch.Tensor:
    """`act(x, b, slope, clamp)` that autograd can differentiate (first order)."""
    return _FilteredLReLU.apply(x, b, act, slope, clamp)
