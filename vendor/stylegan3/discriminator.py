"""The StyleGAN2 discriminator (Karras et al. 2020, section 4 and appendix; the StyleGAN2-ADA and
StyleGAN3 papers train every generator against this same network), with the parameter and buffer
names of the official checkpoints so a snapshot's D loads and resumes.

Architecture 'resnet' (the default), 'skip' or 'orig': blocks from the image resolution down to 8,
each two 3x3 convs (the second downsamples through the [1,3,3,1] filter), then the 4x4 epilogue:
minibatch standard deviation, a 3x3 conv, a fully connected layer and the output (one logit, or the
projection onto the label embedding when conditional).
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np
import torch
from torch import nn

from .layout import wants_nhwc
from .mapping import FullyConnectedLayer, MappingNetwork
from .ops import upfirdn2d, setup_filter
from .precision import compute_dtype
from .sg2 import Conv2dLayer

ARCHITECTURES = ("orig", "skip", "resnet")


def _freezable(layer: Conv2dLayer, trainable: bool) -> Conv2dLayer:
    """A frozen layer keeps its weights as buffers: never in an optimiser, never reduced across
    processes, and `requires_grad_(True)` on the whole network cannot wake it."""
    if not trainable:
        for name in ("weight", "bias"):
            p = getattr(layer, name)
            if p is not None:
                delattr(layer, name)
                layer.register_buffer(name, p.detach())
    return layer


def downsample2d(x: torch.Tensor, f: torch.Tensor, down: int = 2) -> torch.Tensor:
    """Filter and decimate an image by `down` (exactly 1/down of its size)."""
    fw = f.shape[-1]
    p0, p1 = (fw - down + 1) // 2, (fw - down) // 2
    return upfirdn2d(x, f, down=down, padding=(p0, p1, p0, p1))


class DiscriminatorBlock(nn.Module):
    """One resolution: (fromrgb) -> conv 3x3 -> conv 3x3 down 2, plus the resnet skip (1x1 down)."""

    def __init__(self, in_channels: int, tmp_channels: int, out_channels: int, resolution: int,
                 img_channels: int, first_layer_idx: int, architecture: str = "resnet",
                 activation: str = "lrelu", resample_filter: Sequence[float] = (1, 3, 3, 1),
                 conv_clamp: Optional[float] = None, use_fp16: bool = False,
                 fp16_channels_last: bool = False, freeze_layers: int = 0):
        super().__init__()
        if architecture not in ARCHITECTURES:
            raise ValueError(f"unknown discriminator architecture {architecture!r}")
        self.in_channels, self.resolution, self.img_channels = in_channels, resolution, img_channels
        self.first_layer_idx, self.architecture, self.use_fp16 = first_layer_idx, architecture, use_fp16
        self.channels_last = use_fp16 and fp16_channels_last
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        self.num_layers = 0
        self.precision = "auto"

        def layer(*args, **kw) -> Conv2dLayer:
            trainable = first_layer_idx + self.num_layers >= freeze_layers   # --freezed counts from the top
            self.num_layers += 1
            return _freezable(Conv2dLayer(*args, conv_clamp=conv_clamp if kw.pop("clamp", True) else None,
                                          channels_last=self.channels_last, **kw), trainable)

        if in_channels == 0 or architecture == "skip":
            self.fromrgb = layer(img_channels, tmp_channels, kernel_size=1, activation=activation)
        self.conv0 = layer(tmp_channels, tmp_channels, kernel_size=3, activation=activation)
        self.conv1 = layer(tmp_channels, out_channels, kernel_size=3, activation=activation, down=2,
                           resample_filter=resample_filter)
        if architecture == "resnet":
            self.skip = layer(tmp_channels, out_channels, kernel_size=1, bias=False, down=2,
                              resample_filter=resample_filter, clamp=False)

    def forward(self, x: Optional[torch.Tensor], img: Optional[torch.Tensor], force_fp32: bool = False):
        device = (x if x is not None else img).device
        dtype = compute_dtype(self.precision, self.use_fp16 and not force_fp32, device)
        nhwc = (self.channels_last and not force_fp32) or wants_nhwc(img if x is None else x)
        fmt = torch.channels_last if nhwc else torch.contiguous_format
        if x is not None:
            x = x.to(dtype=dtype, memory_format=fmt)
        if self.in_channels == 0 or self.architecture == "skip":
            y = self.fromrgb(img.to(dtype=dtype, memory_format=fmt))
            x = x + y if x is not None else y
            img = downsample2d(img, self.resample_filter) if self.architecture == "skip" else None
        if self.architecture == "resnet":
            y = self.skip(x, gain=math.sqrt(0.5))
            x = self.conv0(x)
            x = y + self.conv1(x, gain=math.sqrt(0.5))
        else:
            x = self.conv1(self.conv0(x))
        return x, img


class MinibatchStdLayer(nn.Module):
    """Appends the mean standard deviation over groups of `group_size` samples as extra feature
    maps (Karras et al. 2018).  Sample i belongs to group i mod (N / group_size), as the official
    layer splits the batch."""

    def __init__(self, group_size: Optional[int], num_channels: int = 1):
        super().__init__()
        self.group_size, self.num_channels = group_size, num_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        g = min(self.group_size, n) if self.group_size is not None else n
        if n % g:
            raise ValueError(f"minibatch-std groups of {g} do not divide a batch of {n} (--mbstd-group, --batch-gpu)")
        f = self.num_channels
        y = x.reshape(g, -1, f, c // f, h, w)
        y = (y - y.mean(dim=0)).square().mean(dim=0)
        y = (y + 1e-8).sqrt().mean(dim=[2, 3, 4])           # [n/g, f]
        y = y.reshape(-1, f, 1, 1).repeat(g, 1, h, w)
        return torch.cat([x, y], dim=1)


class DiscriminatorEpilogue(nn.Module):
    def __init__(self, in_channels: int, cmap_dim: int, resolution: int, img_channels: int,
                 architecture: str = "resnet", mbstd_group_size: Optional[int] = 4,
                 mbstd_num_channels: int = 1, activation: str = "lrelu", conv_clamp: Optional[float] = None):
        super().__init__()
        self.in_channels, self.cmap_dim, self.resolution, self.architecture = in_channels, cmap_dim, resolution, architecture
        if architecture == "skip":
            self.fromrgb = Conv2dLayer(img_channels, in_channels, kernel_size=1, activation=activation)
        self.mbstd = MinibatchStdLayer(mbstd_group_size, mbstd_num_channels) if mbstd_num_channels > 0 else None
        self.conv = Conv2dLayer(in_channels + mbstd_num_channels, in_channels, kernel_size=3,
                                activation=activation, conv_clamp=conv_clamp)
        self.fc = FullyConnectedLayer(in_channels * resolution ** 2, in_channels, activation=activation)
        self.out = FullyConnectedLayer(in_channels, 1 if cmap_dim == 0 else cmap_dim)

    def forward(self, x: torch.Tensor, img: Optional[torch.Tensor], cmap: Optional[torch.Tensor]) -> torch.Tensor:
        x = x.to(dtype=torch.float32, memory_format=torch.contiguous_format)
        if self.architecture == "skip":
            x = x + self.fromrgb(img.to(torch.float32))
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = self.out(self.fc(self.conv(x).flatten(1)))
        if self.cmap_dim > 0:                               # projection discriminator
            x = (x * cmap).sum(dim=1, keepdim=True) * (1 / np.sqrt(self.cmap_dim))
        return x


class Discriminator(nn.Module):
    """img [N, C, R, R] in [-1, 1] (+ labels c) -> logits [N, 1]."""

    def __init__(self, c_dim: int, img_resolution: int, img_channels: int,
                 architecture: str = "resnet",
                 channel_base: int = 32768,          # channels at resolution r: channel_base / r ...
                 channel_max: int = 512,             # ... at most this
                 num_fp16_res: int = 4,              # fp16 in the highest resolutions (CUDA)
                 conv_clamp: Optional[float] = 256,
                 cmap_dim: Optional[int] = None,
                 block_kwargs: Optional[dict] = None,
                 mapping_kwargs: Optional[dict] = None,
                 epilogue_kwargs: Optional[dict] = None):
        super().__init__()
        if img_resolution < 8 or img_resolution & (img_resolution - 1):
            raise ValueError(f"the discriminator needs a power-of-two resolution >= 8, got {img_resolution}")
        self.c_dim, self.img_resolution, self.img_channels = c_dim, img_resolution, img_channels
        log2 = int(np.log2(img_resolution))
        self.block_resolutions = [2 ** i for i in range(log2, 2, -1)]
        channels = {r: min(channel_base // r, channel_max) for r in self.block_resolutions + [4]}
        fp16_resolution = max(2 ** (log2 + 1 - num_fp16_res), 8)
        cmap_dim = channels[4] if cmap_dim is None else cmap_dim
        cmap_dim = 0 if c_dim == 0 else cmap_dim
        common = dict(img_channels=img_channels, architecture=architecture, conv_clamp=conv_clamp)
        layer_idx = 0
        for res in self.block_resolutions:
            block = DiscriminatorBlock(channels[res] if res < img_resolution else 0, channels[res],
                                       channels[res // 2], resolution=res, first_layer_idx=layer_idx,
                                       use_fp16=res >= fp16_resolution, **(block_kwargs or {}), **common)
            setattr(self, f"b{res}", block)
            layer_idx += block.num_layers
        if c_dim > 0:
            self.mapping = MappingNetwork(z_dim=0, c_dim=c_dim, w_dim=cmap_dim, num_ws=None, w_avg_beta=None,
                                          **(mapping_kwargs or {}))
        self.b4 = DiscriminatorEpilogue(channels[4], cmap_dim=cmap_dim, resolution=4,
                                        **(epilogue_kwargs or {}), **common)

    def forward(self, img: torch.Tensor, c: Optional[torch.Tensor] = None, update_emas: bool = False,
                **block_kwargs) -> torch.Tensor:
        x = None
        for res in self.block_resolutions:
            x, img = getattr(self, f"b{res}")(x, img, **block_kwargs)
        cmap = None
        if self.c_dim > 0:
            cmap = self.mapping(torch.empty([img.shape[0] if img is not None else x.shape[0], 0], device=x.device), c)
        return self.b4(x, img, cmap)


def build_discriminator(init_kwargs: dict, device: Optional[torch.device | str] = None) -> Discriminator:
    """Our D from the official constructor kwargs (a snapshot's `D` record or train options)."""
    D = Discriminator(**init_kwargs).to(device) if device is not None else Discriminator(**init_kwargs)
    D.init_kwargs = dict(init_kwargs)
    return D
