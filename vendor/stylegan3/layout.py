"""Memory layout for the convolutions autograd differentiates on the CPU (training, projection).

oneDNN runs StyleGAN2's convolutions faster in NHWC (channels last) than in NCHW, forward and
backward: at batch 8 and 32 px a 64-channel 3x3 convolution's forward+backward 1.25x, its
forward 2x, the discriminator's 3-channel 1x1 fromrgb 6x (bench/train.py gives the whole
iteration).  Elementwise ops keep the layout they are given, so a layer converts its input once
and the next layer finds it converted.  Inference keeps NCHW: its pictures stay as they are.
"""
from __future__ import annotations

import torch


def wants_nhwc(x: torch.Tensor) -> bool:
    """A 4-D CPU tensor on its way into a differentiated convolution."""
    return x.device.type == "cpu" and x.ndim == 4 and torch.is_grad_enabled()


def conv_layout(x: torch.Tensor) -> torch.Tensor:
    """x in the layout its convolution runs fastest in (a no-op when it already is)."""
    return x.contiguous(memory_format=torch.channels_last) if wants_nhwc(x) else x
