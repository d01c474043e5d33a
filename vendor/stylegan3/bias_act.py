"""Bias + activation + gain + clamp, as in StyleGAN2/3 (the official `bias_act` op).

The arithmetic is the official reference definition's, op for op (bias add, leaky ReLU, gain,
clamp), so pictures are the same to the bit.  What differs is the bookkeeping: the forward makes
one array and works in place on it, and under autograd one Function keeps only its output, whose
sign and clamp say everything the gradient needs.  Autograd through the four separate ops makes
four arrays, keeps two, and differentiates the clamp as four more passes (two comparisons, an
and, a select); here the gradient is the same ops in the same order (clamp mask, gain, leaky
ReLU slope), each in place, so it is the same to the bit as well (tests/test_training_ops.py) for
finite values.  Where the forward made a NaN the reference's clamp gives it a zero gradient and
this one a NaN one; the loss is NaN then either way, and the trainer zeroes NaN gradients.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F

_aten = torch.ops.aten


def bias_act(x: torch.Tensor, b: Optional[torch.Tensor] = None, act: str = "linear",
             alpha: float = 0.2, gain: Optional[float] = None,
             clamp: Optional[float] = None) -> torch.Tensor:
    """x + b (along dim 1), then activation, gain and symmetric clamp, as in StyleGAN2/3."""
    if act == "lrelu":
        gain = math.sqrt(2) if gain is None else gain
    elif act != "linear":
        raise ValueError(f"unknown activation {act!r}")
    gain = 1.0 if gain is None else float(gain)
    clamp = None if clamp is None or clamp < 0 else float(clamp)
    if b is not None:
        b = b.reshape([1, -1] + [1] * (x.ndim - 2)).to(x.dtype)
    lrelu = act == "lrelu"
    grad = torch.is_grad_enabled() and (x.requires_grad or (b is not None and b.requires_grad))
    if grad and gain > 0 and (lrelu or clamp is not None) and not torch.compiler.is_compiling():
        return _BiasAct.apply(x, b, lrelu, alpha, gain, clamp)
    if grad or torch.compiler.is_compiling():
        return _functional(x, b, lrelu, alpha, gain, clamp)
    return _in_place(x, b, lrelu, alpha, gain, clamp)


def _functional(x: torch.Tensor, b: Optional[torch.Tensor], lrelu: bool, alpha: float, gain: float,
                clamp: Optional[float]) -> torch.Tensor:
    """The reference definition as autograd (and torch.compile) sees separate ops."""
    if b is not None:
        x = x + b
    if lrelu:
        x = F.leaky_relu(x, alpha)
    if gain != 1:
        x = x * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return x


def _in_place(x: torch.Tensor, b: Optional[torch.Tensor], lrelu: bool, alpha: float, gain: float,
              clamp: Optional[float]) -> torch.Tensor:
    """The same ops: the first makes a fresh array, the rest work in place on it (the caller's x
    is never written)."""
    y = None if b is None else x + b
    if lrelu:
        y = F.leaky_relu(x, alpha) if y is None else F.leaky_relu_(y, alpha)
    if gain != 1:
        y = x * gain if y is None else y.mul_(gain)
    if clamp is not None:
        y = x.clamp(-clamp, clamp) if y is None else y.clamp_(-clamp, clamp)
    return x if y is None else y


class _BiasAct(torch.autograd.Function):
    """Needs gain > 0: then the output is positive exactly where the pre-activation was, and it
    sits on +-clamp exactly where the clamp held it."""

    @staticmethod
    def forward(ctx, x, b, lrelu: bool, alpha: float, gain: float, clamp: Optional[float]):
        y = _in_place(x, b, lrelu, alpha, gain, clamp)
        ctx.save_for_backward(y)
        ctx.args = (lrelu, alpha, gain, clamp, b is not None and ctx.needs_input_grad[1])
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        lrelu, alpha, gain, clamp, need_b = ctx.args
        if torch.is_grad_enabled():
            # create_graph (R1, path length): differentiable and out of place.  The masks' own
            # derivative is zero; the reference's autograd still links a leaky ReLU's input to
            # it (a zero tensor), not a clamp's (none), and so does this: Adam counts a step
            # for a zero gradient and skips a missing one.
            y = y if lrelu else y.detach()
            gx = g
            if clamp is not None:
                gx = _aten.hardtanh_backward(gx, y, -clamp, clamp)
            if gain != 1:
                gx = gx * gain
            if lrelu:
                gx = _aten.leaky_relu_backward(gx, y, alpha, True)
        else:                       # one fresh array, then in place (g itself may be shared)
            if clamp is not None:
                gx = _aten.hardtanh_backward(g, y, -clamp, clamp)
                if gain != 1:
                    gx.mul_(gain)
            else:
                gx = g * gain
            if lrelu:
                _aten.leaky_relu_backward.grad_input(gx, y, alpha, True, grad_input=gx)
        gb = None
        if need_b:
            gb = gx.sum([d for d in range(gx.ndim) if d != 1], keepdim=True)
        return gx, gb, None, None, None, None
