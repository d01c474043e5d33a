"""Modulated convolution (StyleGAN2/3): each sample's weights scaled by its styles per input
channel and, with demodulation, normalised per output channel."""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from . import native


def _conv(x: torch.Tensor, w: torch.Tensor, padding: int) -> torch.Tensor:
    """conv2d; a 1x1 kernel (ToRGB) runs as a matmul, 4x faster on CPUs than oneDNN's conv with
    few channels, which reorders the whole image into its blocked layout and back; other kernels
    with few channels run in the compiled direct convolution (native/) where it applies, 3x3
    kernels with more channels as Winograd's F(2x2, 3x3) where that applies."""
    if w.shape[2:] == (1, 1) and padding == 0 and x.is_contiguous():
        n, c, h, wd = x.shape
        return torch.matmul(w[:, :, 0, 0], x.reshape(n, c, h * wd)).reshape(n, -1, h, wd)
    y = native.conv2d(x, w, padding)
    if y is None and x.device.type == "cpu" and native.winograd_applies(
            x.shape[1], w.shape[0], w.shape[-1], x.shape[2] + 2 * padding - 2, x.shape[3] + 2 * padding - 2):
        y = native.winograd(x, w, padding)
    return y if y is not None else F.conv2d(x, w, padding=padding)


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, demodulate: bool,
                     input_gain: Optional[torch.Tensor] = None, padding: int = 0,
                     transpose_up: int = 1, weight_normalized: bool = False) -> torch.Tensor:
    """Modulated convolution: each sample's weights scaled by its styles (per input channel) and,
    with demodulation, normalised per output channel.

    Batch 1 folds the styles into the weights (one conv, like the official fused path).  Larger
    batches keep the weights shared and scale activations instead -- conv(x * s) * d equals
    conv(x, w * s * d) exactly in real arithmetic -- so the batch runs as one ordinary convolution
    rather than a grouped one that builds a weight copy per image; where the compiled direct
    convolution takes the layer, each image gets its folded weights as at batch 1.

    Styles are normalised per sample (the official StyleGAN3 code normalises over the whole batch;
    demodulation cancels that factor up to its 1e-8 epsilon, and per-sample keeps every frame
    independent of what else is in its batch).  `transpose_up` > 1 makes it a transposed conv
    with that stride (StyleGAN2's upsampling layers; padding is then the transposed conv's).
    `weight_normalized`: the weight is `normalized_weight(weight)` already (a layer's cached copy).
    """
    if demodulate and not weight_normalized:
        weight = normalized_weight(weight)
    n = x.shape[0]
    per_image = (n > 1 and transpose_up == 1 and x.device.type == "cpu"
                 and native.conv_applies(x.shape[1], weight.shape[0], weight.shape[-1]))
    if n == 1 or per_image:
        # Each image's own folded weights (on the CPU in one compiled call where it applies).
        w = native.modulate(weight, styles, demodulate, input_gain)
        if w is None:
            s = styles * styles.square().mean(dim=1, keepdim=True).rsqrt() if demodulate else styles
            w = modulate_weights(weight, s, demodulate, input_gain)
        w = w.to(x.dtype)
        if n == 1:
            if transpose_up > 1:
                return F.conv_transpose2d(x, w[0].transpose(0, 1), stride=transpose_up, padding=padding)
            return _conv(x, w[0], padding)
        # The compiled direct convolution takes a weight per image at no cost: each frame computed
        # as it would be alone, without the two passes over the activations below.
        y = native.conv2d(x, w, padding)
        if y is not None:
            return y
    if demodulate:
        styles = styles * styles.square().mean(dim=1, keepdim=True).rsqrt()
    s = styles if input_gain is None else styles * input_gain
    x = x * s.to(x.dtype)[:, :, None, None]
    wt = weight.to(x.dtype)
    if transpose_up > 1:
        y = F.conv_transpose2d(x, wt.transpose(0, 1), stride=transpose_up, padding=padding)
    else:
        y = _conv(x, wt, padding)
    if demodulate:
        d = (styles.square() @ weight.square().sum(dim=[2, 3]).t() + 1e-8).rsqrt()   # [N, O]
        y = y * d.to(y.dtype)[:, :, None, None]
    return y


def normalized_weight(weight: torch.Tensor) -> torch.Tensor:
    """The weight scaled to unit mean square per output channel (before modulation)."""
    return weight * weight.square().mean([1, 2, 3], keepdim=True).rsqrt()


def grouped_modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, demodulate: bool,
                             input_gain: Optional[torch.Tensor] = None, padding: int = 0) -> torch.Tensor:
    """StyleGAN3's modulated convolution in the official code's own order, for training: weights
    and styles pre-normalised (the styles over the whole batch), per-sample weights modulated,
    demodulated and scaled by the input gain, one grouped convolution.  The same function as
    `modulated_conv2d` up to the 1e-8 epsilon; computed in the same order, its gradients agree
    with the official trainer's to rounding (Adam's first steps amplify any other difference)."""
    n, i = x.shape[0], weight.shape[1]
    if demodulate:
        weight = normalized_weight(weight)
        styles = styles * styles.square().mean().rsqrt()
    w = weight.unsqueeze(0) * styles.unsqueeze(1).unsqueeze(3).unsqueeze(4)
    if demodulate:
        w = w * (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt().unsqueeze(2).unsqueeze(3).unsqueeze(4)
    if input_gain is not None:
        w = w * input_gain.expand(n, i).unsqueeze(1).unsqueeze(3).unsqueeze(4)
    y = F.conv2d(x.reshape(1, -1, *x.shape[2:]), w.reshape(-1, i, *weight.shape[2:]).to(x.dtype),
                 padding=padding, groups=n)
    return y.reshape(n, -1, *y.shape[2:])


def modulate_weights(weight: torch.Tensor, styles: torch.Tensor, demodulate: bool,
                     input_gain: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Per-sample weights [N, O, I, k, k]: input channels scaled by styles, then demodulated
    (weight and styles are expected pre-normalised as in `modulated_conv2d`)."""
    w = weight.unsqueeze(0) * styles[:, None, :, None, None]
    if demodulate:
        w = w * (w.square().sum(dim=[2, 3, 4], keepdim=True) + 1e-8).rsqrt()
    if input_gain is not None:
        w = w * input_gain
    return w
