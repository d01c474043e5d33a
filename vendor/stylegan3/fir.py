"""Depthwise convolution by a constant filter (upfirdn2d's FIR), with a gradient that stays linear.

The operation is linear in its input and the filter never learns, so its gradient is the
transposed convolution by the same filter, and that one's gradient is this convolution again:
two Functions, each the other's backward, to any order.  Autograd's own convolution computes the
same first-order gradient, but its double backward (R1 and path-length regularisation) also
computes the filter's gradient, group by group, whether or not anything asks for it: for
StyleGAN2's discriminator at 64 channels, 64 small convolutions per blur per R1 pass, about a
third of that pass's time.  A first-order backward (no create_graph) takes the convolution's own
input gradient instead, autograd's bits.  The Python Function costs about 0.05 ms a call, which
the R1 and path-length passes repay (a StyleGAN2 step 1.02-1.03x over plain autograd); the
augmentations' per-image 1-D filters, with fewer channels, measured slower with it and keep
autograd's convolution.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F


def fir_conv(x: torch.Tensor, w: torch.Tensor, stride: Sequence[int], padding: Sequence[int]) -> torch.Tensor:
    """F.conv2d(x, w, stride, padding, groups=C) for a filter w [C, 1, kh, kw] that needs no gradient."""
    if torch.is_grad_enabled() and x.requires_grad and not torch.compiler.is_compiling():
        return _Fir.apply(x, w, tuple(stride), tuple(padding))
    return F.conv2d(x, w, stride=tuple(stride), padding=tuple(padding), groups=w.shape[0])


class _Fir(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w, stride, padding):
        ctx.save_for_backward(x, w)         # x for its layout (autograd's convolution keeps it too)
        ctx.geometry = (stride, padding, tuple(x.shape[2:]))
        return F.conv2d(x, w, stride=stride, padding=padding, groups=w.shape[0])

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        stride, padding, size = ctx.geometry
        if torch.is_grad_enabled():         # create_graph: the transposed Function, linear to any order
            return _FirT.apply(g, w, stride, padding, size), None, None, None
        # First order only: the convolution's own input gradient, autograd's bits and 10-20%
        # faster than the transposed convolution's forward on this CPU.
        gx = torch.ops.aten.convolution_backward(g, x, w, None, stride, padding, (1, 1), False, (0, 0),
                                                 w.shape[0], (True, False, False))[0]
        return gx, None, None, None


class _FirT(torch.autograd.Function):
    """The transpose: g [N, C, h, w] back onto an input of `size`."""

    @staticmethod
    def forward(ctx, g, w, stride, padding, size):
        ctx.save_for_backward(w)
        ctx.geometry = (stride, padding)
        k = w.shape[2:]
        extra = [size[i] - ((g.shape[2 + i] - 1) * stride[i] - 2 * padding[i] + k[i]) for i in range(2)]
        return F.conv_transpose2d(g, w, stride=stride, padding=padding, output_padding=extra, groups=w.shape[0])

    @staticmethod
    def backward(ctx, gg):
        (w,) = ctx.saved_tensors
        stride, padding = ctx.geometry
        return _Fir.apply(gg, w, stride, padding), None, None, None, None
