"""StyleGAN2 generator, written from Karras et al. 2020, "Analyzing and Improving the Image Quality
of StyleGAN" (and the ADA paper's configuration), with the parameter names and shapes of the
official StyleGAN2-ADA / StyleGAN3-repository checkpoints.  Architectures 'orig', 'skip', 'resnet'.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from .layout import conv_layout
from .mapping import FullyConnectedLayer, MappingNetwork
from .ops import bias_act, modulated_conv2d, setup_filter, upfirdn2d, upsample2d
from .precision import compute_dtype


def modulated_conv(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, demodulate: bool,
                   up: int = 1, resample_filter: Optional[torch.Tensor] = None,
                   training: bool = False) -> torch.Tensor:
    """Modulated convolution with 'same' padding; `up` = 2 upsamples with a transposed strided
    convolution followed by the resampling filter (the official StyleGAN2 structure).
    `training`: the official trainer's unfused order of operations (below)."""
    if x.dtype == torch.float16 and demodulate:
        # Rescale before the fp16 product so it cannot overflow; demodulation undoes the scale.
        i, k = weight.shape[1], weight.shape[2]
        weight = weight * (1 / math.sqrt(i * k * k) / weight.norm(float("inf"), dim=[1, 2, 3], keepdim=True))
        styles = styles / styles.norm(float("inf"), dim=1, keepdim=True)
    k = weight.shape[-1]
    conv = unfused_modulated_conv2d if training else modulated_conv2d
    if up == 1:
        return conv(x, weight, styles, demodulate, padding=k // 2)
    fw = resample_filter.shape[-1]
    p0 = k // 2 + (fw + up - 1) // 2 - (k - 1)
    p1 = k // 2 + (fw - up) // 2 - (k - up)
    pt = max(min(-p0, -p1), 0)
    y = conv(x, weight, styles, demodulate, padding=pt, transpose_up=up)
    return upfirdn2d(y, resample_filter, padding=(p0 + pt, p1 + pt, p0 + pt, p1 + pt), gain=up * up)


def unfused_modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, demodulate: bool,
                             padding: int = 0, transpose_up: int = 1) -> torch.Tensor:
    """Modulated convolution in the order the official StyleGAN2 trainer computes it (its
    `fused_modconv='inference_only'` in training): the activations scaled by the styles, one
    ordinary convolution for the batch, then each output channel by its demodulation factor.
    The same function as `modulated_conv2d` in real arithmetic; computed in this order, its
    gradients agree with the official ones to rounding, which one Adam step from a fresh
    optimiser (an update of +-lr wherever a gradient is not tiny) otherwise turns into visible
    differences.  The factors are one matrix product, sum_i s_i^2 sum_k w_oik^2, rather than
    the official per-sample weights squared and summed ([N, O, I, k, k], forward and backward):
    the same sum in another order, within the training fixture's limits under each kernel set."""
    n = x.shape[0]
    d = None
    if demodulate:
        d = (styles.square() @ weight.square().sum(dim=[2, 3]).t() + 1e-8).rsqrt()     # [N, O]
    x = x * styles.to(x.dtype).reshape(n, -1, 1, 1)
    wt = weight.to(x.dtype)
    if transpose_up > 1:
        x = F.conv_transpose2d(x, wt.transpose(0, 1), stride=transpose_up, padding=padding)
    else:
        x = F.conv2d(x, wt, padding=padding)
    if d is not None:
        x = x * d.to(x.dtype).reshape(n, -1, 1, 1)
    return x


class SynthesisLayer(nn.Module):
    """Modulated 3x3 conv (optionally upsampling), per-pixel noise, bias, leaky ReLU, clamp."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int,
                 resolution: int,                   # output resolution
                 kernel_size: int = 3,
                 up: int = 1,
                 use_noise: bool = True,
                 activation: str = "lrelu",
                 resample_filter: Sequence[float] = (1, 3, 3, 1),
                 conv_clamp: Optional[float] = None,
                 channels_last: bool = False):
        super().__init__()
        self.in_channels, self.out_channels, self.w_dim = in_channels, out_channels, w_dim
        self.resolution, self.up, self.use_noise, self.activation = resolution, up, use_noise, activation
        self.conv_clamp, self.channels_last = conv_clamp, channels_last
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        self.padding = kernel_size // 2
        self.act_gain = math.sqrt(2) if activation == "lrelu" else 1.0
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        if use_noise:
            self.register_buffer("noise_const", torch.randn([resolution, resolution]))
            self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "const",
                gain: float = 1, noise_gain=1.0, noise_seed: int = 0) -> torch.Tensor:
        """noise_gain: one factor for every layer's noise; a sequence with one per noisy layer (in
        synthesis order, as `noise_salt` numbers them: the per-layer noise strengths); or a tensor
        [N, layers], each sample's own."""
        if isinstance(noise_gain, torch.Tensor):
            noise_gain = noise_gain[:, self.noise_salt].view(-1, 1, 1, 1) if self.use_noise else 1.0
        elif not isinstance(noise_gain, (int, float)):
            noise_gain = float(noise_gain[self.noise_salt]) if self.use_noise else 1.0
        if noise_mode not in ("const", "random", "none"):
            raise ValueError(f"noise_mode must be 'const', 'random' or 'none', got {noise_mode!r}")
        styles = self.affine(w)
        x = modulated_conv(conv_layout(x), self.weight, styles, demodulate=True, up=self.up,
                           resample_filter=self.resample_filter, training=self.training)
        if self.use_noise and noise_mode == "const":
            noise = self.noise_const if not noise_seed else self.seeded_noise(int(noise_seed), x.device)
            x = x + (noise * (self.noise_strength * noise_gain)).to(x.dtype)
        elif self.use_noise and noise_mode == "random":
            noise = torch.randn([x.shape[0], 1, self.resolution, self.resolution], device=x.device)
            x = x + (noise * (self.noise_strength * noise_gain)).to(x.dtype)
        clamp = None if self.conv_clamp is None else self.conv_clamp * gain
        return bias_act(x, self.bias, act=self.activation, gain=self.act_gain * gain, clamp=clamp)


    def seeded_noise(self, seed: int, device) -> torch.Tensor:
        """Constant noise drawn from `seed` (and this layer's place), made once per seed: another
        seed, another texture, the same every frame."""
        cached = getattr(self, "_seeded", None)
        if cached is None or cached[0] != (seed, str(device)):
            g = torch.Generator().manual_seed(seed * 1_000_003 + getattr(self, "noise_salt", 0))
            noise = torch.randn([self.resolution, self.resolution], generator=g).to(device)
            self._seeded = cached = ((seed, str(device)), noise)
        return cached[1]


class ToRGBLayer(nn.Module):
    """Modulated 1x1 conv to image channels, no demodulation."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, kernel_size: int = 1,
                 conv_clamp: Optional[float] = None, channels_last: bool = False):
        super().__init__()
        self.in_channels, self.out_channels, self.w_dim, self.conv_clamp = in_channels, out_channels, w_dim, conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size ** 2)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv(conv_layout(x), self.weight, styles, demodulate=False, training=self.training)
        return bias_act(x, self.bias, clamp=self.conv_clamp)


class Conv2dLayer(nn.Module):
    """Plain (non-modulated) conv with equalised learning rate, optional 2x up- or downsampling
    through the resampling filter: the generator's resnet skips and every layer of the
    discriminator.  `trainable=False` (frozen discriminator layers) keeps the weights out of
    the optimiser; the state-dict names are the same either way."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True,
                 activation: str = "linear", up: int = 1, down: int = 1,
                 resample_filter: Sequence[float] = (1, 3, 3, 1), conv_clamp: Optional[float] = None,
                 channels_last: bool = False, trainable: bool = True):
        super().__init__()
        if up > 1 and (kernel_size != 1 or down != 1):
            raise ValueError("upsampling is supported for the 1x1 skip convolution only")
        self.in_channels, self.out_channels, self.activation = in_channels, out_channels, activation
        self.up, self.down, self.padding = up, down, kernel_size // 2
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size ** 2)
        self.act_gain = math.sqrt(2) if activation == "lrelu" else 1.0
        self.conv_clamp = conv_clamp
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]),
                                   requires_grad=trainable)
        self.bias = nn.Parameter(torch.zeros([out_channels]), requires_grad=trainable) if bias else None

    def forward(self, x: torch.Tensor, gain: float = 1) -> torch.Tensor:
        x = conv_layout(x)
        w = (self.weight * self.weight_gain).to(x.dtype)
        f, k = self.resample_filter, w.shape[-1]
        if self.up > 1:
            fw = f.shape[-1]
            p0, p1 = (fw + self.up - 1) // 2, (fw - self.up) // 2
            x = upfirdn2d(x, f, up=self.up, padding=(p0, p1, p0, p1), gain=self.up ** 2)
            x = F.conv2d(x, w)
        elif self.down > 1:
            # Filter, then a strided conv (a 1x1 conv after the filter's own decimation): the
            # filter's extra taps are split over both sides so the output is exactly 1/down.
            fw = f.shape[-1]
            p0 = self.padding + (fw - self.down + 1) // 2
            p1 = self.padding + (fw - self.down) // 2
            if k == 1:
                x = F.conv2d(upfirdn2d(x, f, down=self.down, padding=(p0, p1, p0, p1)), w)
            else:
                x = F.conv2d(upfirdn2d(x, f, padding=(p0, p1, p0, p1)), w, stride=self.down)
        else:
            x = F.conv2d(x, w, padding=self.padding)
        clamp = None if self.conv_clamp is None else self.conv_clamp * gain
        b = None if self.bias is None else self.bias.to(x.dtype)
        return bias_act(x, b, act=self.activation, gain=self.act_gain * gain, clamp=clamp)


class SynthesisBlock(nn.Module):
    """One resolution: (const | upsampling conv) + conv, and ToRGB added to the upsampled image."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int,
                 img_channels: int, is_last: bool,
                 architecture: str = "skip",        # 'orig', 'skip' or 'resnet'
                 resample_filter: Sequence[float] = (1, 3, 3, 1),
                 conv_clamp: Optional[float] = 256,
                 use_fp16: bool = False,            # checkpoint runs this block in fp16 on CUDA
                 fp16_channels_last: bool = False,
                 fused_modconv_default: bool | str = True,  # official option; ours is always fused
                 **layer_kwargs):
        super().__init__()
        if architecture not in ("orig", "skip", "resnet"):
            raise ValueError(f"unknown StyleGAN2 architecture {architecture!r}")
        self.in_channels, self.w_dim, self.resolution, self.img_channels = in_channels, w_dim, resolution, img_channels
        self.is_last, self.architecture, self.use_fp16 = is_last, architecture, use_fp16
        self.channels_last = use_fp16 and fp16_channels_last
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        self.num_conv = self.num_torgb = 0
        common = dict(w_dim=w_dim, resolution=resolution, conv_clamp=conv_clamp,
                      channels_last=self.channels_last, **layer_kwargs)
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn([out_channels, resolution, resolution]))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, up=2, resample_filter=resample_filter, **common)
            self.num_conv += 1
        self.conv1 = SynthesisLayer(out_channels, out_channels, **common)
        self.num_conv += 1
        if is_last or architecture == "skip":
            self.torgb = ToRGBLayer(out_channels, img_channels, w_dim=w_dim, conv_clamp=conv_clamp,
                                    channels_last=self.channels_last)
            self.num_torgb += 1
        if in_channels != 0 and architecture == "resnet":
            self.skip = Conv2dLayer(in_channels, out_channels, kernel_size=1, bias=False, up=2,
                                    resample_filter=resample_filter, channels_last=self.channels_last)
        self.precision = "auto"

    def forward(self, x: Optional[torch.Tensor], img: Optional[torch.Tensor], ws: torch.Tensor,
                force_fp32: bool = False, noise_mode: str = "const", noise_gain=1.0,
                update_emas: bool = False, noise_seed: int = 0, bend=None):   # StyleGAN2 tracks nothing in synthesis
        w_iter = iter(ws.unbind(dim=1))
        nk = {"noise_gain": noise_gain, "noise_seed": noise_seed}
        dtype = compute_dtype(self.precision, self.use_fp16 and not force_fp32, ws.device)
        # Network bending (bending.py): each layer's output, by its index in the whole network.
        b = (lambda name, t: t) if bend is None else (lambda name, t: bend(self.layer_index[name], t))
        if self.in_channels == 0:
            x = self.const.to(dtype).unsqueeze(0).repeat([ws.shape[0], 1, 1, 1])
            x = b("conv1", self.conv1(x, next(w_iter), noise_mode, **nk))
        elif self.architecture == "resnet":
            x = x.to(dtype)
            y = b("skip", self.skip(x, gain=math.sqrt(0.5)))
            x = b("conv0", self.conv0(x, next(w_iter), noise_mode, **nk))
            x = y + b("conv1", self.conv1(x, next(w_iter), noise_mode, gain=math.sqrt(0.5), **nk))
        else:
            x = x.to(dtype)
            x = b("conv0", self.conv0(x, next(w_iter), noise_mode, **nk))
            x = b("conv1", self.conv1(x, next(w_iter), noise_mode, **nk))
        if img is not None:
            img = upsample2d(img, self.resample_filter)
        if self.is_last or self.architecture == "skip":
            y = b("torgb", self.torgb(x, next(w_iter))).to(torch.float32)
            img = y if img is None else img + y
        return x, img


class SynthesisNetwork(nn.Module):
    """ws -> image through blocks at 4, 8, ..., img_resolution."""

    def __init__(self, w_dim: int, img_resolution: int, img_channels: int,
                 channel_base: int = 32768,         # channels at resolution r: channel_base / r ...
                 channel_max: int = 512,            # ... at most this
                 num_fp16_res: int = 4,             # fp16 for the highest resolutions (CUDA)
                 **block_kwargs):
        super().__init__()
        if img_resolution < 4 or img_resolution & (img_resolution - 1):
            raise ValueError(f"img_resolution must be a power of two >= 4, got {img_resolution}")
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        self.num_fp16_res = num_fp16_res
        log2 = int(np.log2(img_resolution))
        self.block_resolutions = [2 ** i for i in range(2, log2 + 1)]
        channels = {r: min(channel_base // r, channel_max) for r in self.block_resolutions}
        fp16_resolution = max(2 ** (log2 + 1 - num_fp16_res), 8)
        self.num_ws = 0
        for res in self.block_resolutions:
            block = SynthesisBlock(channels[res // 2] if res > 4 else 0, channels[res], w_dim=w_dim,
                                   resolution=res, img_channels=img_channels, is_last=res == img_resolution,
                                   use_fp16=res >= fp16_resolution, **block_kwargs)
            self.num_ws += block.num_conv + (block.num_torgb if res == img_resolution else 0)
            setattr(self, f"b{res}", block)
        index = 0                                       # layer numbers as layers.synthesis_layers gives them
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            block.layer_index = {}
            for name, _ in block.named_children():
                block.layer_index[name], index = index, index + 1
        noisy = [m for m in self.modules() if isinstance(m, SynthesisLayer) and m.use_noise]
        for k, m in enumerate(noisy):                   # each layer's own draw of a noise seed
            m.noise_salt = k

    def forward(self, ws: torch.Tensor, **block_kwargs) -> torch.Tensor:
        if ws.ndim != 3 or ws.shape[1:] != (self.num_ws, self.w_dim):
            raise ValueError(f"ws must have shape [N, {self.num_ws}, {self.w_dim}], got {list(ws.shape)}")
        ws = ws.to(torch.float32)
        x = img = None
        w_idx = 0
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            # A block's ToRGB shares its w with the next block's first conv.
            x, img = block(x, img, ws.narrow(1, w_idx, block.num_conv + block.num_torgb), **block_kwargs)
            w_idx += block.num_conv
        return img


class Generator(nn.Module):
    """StyleGAN2 generator: `mapping` then `synthesis`, the official public shape."""

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, img_resolution: int, img_channels: int,
                 mapping_kwargs: Optional[dict] = None, synthesis_kwargs: Optional[dict] = None,
                 **more_synthesis_kwargs):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.img_resolution, self.img_channels = img_resolution, img_channels
        # StyleGAN2-ADA pickles pass synthesis_kwargs as a dict; the StyleGAN3 repository as **kwargs.
        skw = {**(synthesis_kwargs or {}), **more_synthesis_kwargs}
        self.synthesis = SynthesisNetwork(w_dim=w_dim, img_resolution=img_resolution,
                                          img_channels=img_channels, **skw)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, num_ws=self.num_ws,
                                      **(mapping_kwargs or {}))

    def forward(self, z: torch.Tensor, c: Optional[torch.Tensor] = None, truncation_psi: float = 1,
                truncation_cutoff: Optional[int] = None, update_emas: bool = False,
                **synthesis_kwargs) -> torch.Tensor:
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff,
                          update_emas=update_emas)
        return self.synthesis(ws, update_emas=update_emas, **synthesis_kwargs)
