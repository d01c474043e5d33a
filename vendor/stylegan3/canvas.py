"""StyleGAN-Canvas: StyleGAN3 steered by a condition image (Zheng et al., "StyleGAN-Canvas"),
written from its published description and the facts in shared/golden/canvas-t-tiny/README.md,
with the parameter names and shapes of its checkpoints.

A convolutional encoder (`appended_net`) reads the condition image and gives
- w vectors that replace the first `replace_w_num` mapping ws (truncation reaches only the mapping
  rows; ws[0] is unused),
- its deepest exported feature map, which replaces StyleGAN3's Fourier input, and
- skip tensors, reflect-padded and concatenated into the first synthesis layers before their
  filtered activation (so those layers' bias and the next layer's input include the skip channels).
A wider condition image gives a proportionally wider picture: the expandable canvas.

The encoder's float16 parts run in float16 on every device, as the official code does; the
reference outputs depend on that rounding.
"""
from __future__ import annotations

import re
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .mapping import MappingNetwork
from .sg3 import SynthesisLayer, layer_geometry

SKIP_PAD = 10                 # reflect padding of a skip to the conv output's size (fixed in the design)
BLOCK_RE = re.compile(r"^AL(\d+)_R(\d+)_C(\d+)_(\d+)$")
ENCODER_CLAMP = 512


class DownConv(nn.Module):
    """Encoder conv: weight scaled by 1/sqrt(fan_in) (bias not), conv, optional leaky ReLU 0.2 (no
    gain), clamp to +-512, then an optional output gain; all in float16 when `fp16`."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int, padding: int,
                 act: bool, fp16: bool):
        super().__init__()
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel, kernel]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.register_buffer("magnitude_ema", torch.ones([]))       # stored, never read
        self.weight_gain = 1 / np.sqrt(in_channels * kernel * kernel)
        self.stride, self.padding, self.act, self.fp16 = stride, padding, act, fp16

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        dtype = torch.float16 if self.fp16 else torch.float32
        w, b = (self.weight * self.weight_gain).to(dtype), self.bias.to(dtype)
        x = x.to(dtype)
        if self.fp16 and x.device.type == "cpu":
            # The reference outputs (official code on the CPU) equal a float32 convolution of the
            # float16 values, rounded to float16; torch's own float16 CPU kernel differs by an ulp
            # here and there.  On CUDA the native float16 convolution is the official path.
            x = F.conv2d(x.float(), w.float(), b.float(), stride=self.stride, padding=self.padding).to(dtype)
        else:
            x = F.conv2d(x, w, b, stride=self.stride, padding=self.padding)
        if self.act:
            x = F.leaky_relu(x, 0.2)
        x = x.clamp(-ENCODER_CLAMP, ENCODER_CLAMP)
        return x * gain if gain != 1 else x


class ResBlock(nn.Module):
    """BatchNorm, then (1x1 shortcut + two 3x3 convs, each scaled by sqrt(1/2)), leaky ReLU."""

    def __init__(self, in_channels: int, mid_channels: int, out_channels: int, stride: int, fp16: bool):
        super().__init__()
        self.batch_norm = nn.BatchNorm2d(in_channels)
        self.conv1 = DownConv(in_channels, mid_channels, 3, 1, 1, act=True, fp16=fp16)
        self.conv2 = DownConv(mid_channels, out_channels, 3, stride, 1, act=False, fp16=fp16)
        self.skip_mapping = DownConv(in_channels, out_channels, 1, stride, 0, act=False, fp16=fp16)
        self.fp16 = fp16
        self.gain = float(np.sqrt(0.5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(torch.float16 if self.fp16 else torch.float32)
        bn = self.batch_norm
        # Eval mode: running statistics.  Train mode (as the official demo runs G): this batch's
        # statistics, without touching the stored running ones.
        x = F.batch_norm(x, None if self.training else bn.running_mean, None if self.training else bn.running_var,
                         bn.weight, bn.bias, self.training, 0.0, bn.eps)
        shortcut = self.skip_mapping(x, gain=self.gain)
        x = self.conv2(self.conv1(x), gain=self.gain)
        return F.leaky_relu(shortcut + x, 0.2)


class Epilogue(nn.Module):
    """Global average, a linear layer, then a 2-layer mapping MLP: the encoder's w, repeated."""

    def __init__(self, in_channels: int, w_dim: int, num_ws: int):
        super().__init__()
        self.mapping_in = nn.Linear(in_channels, w_dim)
        self.mapping = MappingNetwork(z_dim=w_dim, c_dim=0, w_dim=w_dim, num_ws=num_ws, num_layers=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.mapping_in(x.to(torch.float32).mean(dim=[2, 3]))
        return self.mapping(x, None)


class Encoder(nn.Module):
    """Condition image [N, C, H, W] in [-1, 1] -> (ws [N, num_ws, w_dim], skips in synthesis order:
    skips[0] feeds the input layer, skips[j] the j-th layer that takes one)."""

    def __init__(self, cond_channels: int, in_proj_channels: int, blocks: Sequence[dict], in_proj_fp16: bool,
                 w_dim: int, num_ws: int):
        super().__init__()
        self.in_proj = DownConv(cond_channels, in_proj_channels, 1, 1, 0, act=True, fp16=in_proj_fp16)
        self.block_names = []
        for b in blocks:
            setattr(self, b["name"], ResBlock(b["in"], b["mid"], b["out"], b["stride"], b["fp16"]))
            self.block_names.append(b["name"])
        self.connect_to = [int(b["connect_to"]) for b in blocks]
        self.epilogue = Epilogue(blocks[-1]["out"], w_dim, num_ws)

    def forward(self, cond: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        x = self.in_proj(cond.to(torch.float16))           # the official code casts the image first
        exported: dict[int, torch.Tensor] = {}
        for name, k in zip(self.block_names, self.connect_to):
            x = getattr(self, name)(x)
            if k:
                exported[k] = x
        ws = self.epilogue(x)
        return ws, [exported[k] for k in sorted(exported)]


class CondInput(nn.Module):
    """The deepest skip through a 1x1 conv (plain torch, with bias), reflect-padded to the first
    layer's size; it replaces the Fourier features and takes no w."""

    def __init__(self, channels: int, padding: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 1)
        self.padding = padding

    def forward(self, skip: torch.Tensor) -> torch.Tensor:
        x = self.conv(skip.to(torch.float32))
        return F.pad(x, [self.padding] * 4, mode="reflect")


class CanvasSynthesis(nn.Module):
    """StyleGAN3's synthesis layers with skip channels joined into some of them."""

    def __init__(self, w_dim: int, img_resolution: int, img_channels: int, skip_channels: Sequence[int],
                 input_channels: int, bottleneck_size: int, channel_base: int = 32768, channel_max: int = 512,
                 num_layers: int = 14, num_critical: int = 2, first_cutoff: float = 2,
                 first_stopband: float = 2 ** 2.1, last_stopband_rel: float = 2 ** 0.3, margin_size: int = 10,
                 output_scale: float = 0.25, num_fp16_res: int = 4, filter_taps: int = 1, **layer_kwargs):
        super().__init__()
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        # The official concat-blur filter (blur_sigma 0: one NaN tap); stored, never used.
        self.register_buffer("filter", torch.zeros([filter_taps]))
        self.num_ws = num_layers + 2
        self.num_layers, self.output_scale = num_layers, output_scale
        if img_resolution in (128, 256):                   # the official constructor forces this
            num_fp16_res = 3
        cutoffs, rates, half_widths, sizes, channels = layer_geometry(
            img_resolution, img_channels, channel_base, channel_max, num_layers, num_critical, first_cutoff,
            first_stopband, last_stopband_rel, margin_size)
        skip_channels = list(skip_channels) + [0] * (num_layers + 1 - len(skip_channels))
        if int(channels[0]) != input_channels:
            raise ValueError(f"the encoder's deepest skip has {input_channels} channels; the synthesis input "
                             f"needs {int(channels[0])}")
        self.input = CondInput(input_channels, int(sizes[0] - bottleneck_size) // 2)
        self.first_rate, self.bottleneck_size = float(rates[0]), bottleneck_size
        self.layer_names: list[str] = []
        self.skip_channels = skip_channels
        for idx in range(num_layers + 1):
            prev = max(idx - 1, 0)
            in_ch = int(channels[prev]) + (skip_channels[prev] if idx > 0 else 0)
            layer = SynthesisLayer(
                w_dim=w_dim, is_torgb=idx == num_layers, is_critically_sampled=idx >= num_layers - num_critical,
                use_fp16=bool(rates[idx] * 2 ** num_fp16_res > img_resolution),
                in_channels=in_ch, out_channels=int(channels[idx]),
                in_size=int(sizes[prev]), out_size=int(sizes[idx]),
                in_sampling_rate=int(rates[prev]), out_sampling_rate=int(rates[idx]),
                in_cutoff=cutoffs[prev], out_cutoff=cutoffs[idx],
                in_half_width=half_widths[prev], out_half_width=half_widths[idx], **layer_kwargs)
            if skip_channels[idx]:
                layer.bias = nn.Parameter(torch.zeros([int(channels[idx]) + skip_channels[idx]]))
            name = f"L{idx}_{layer.out_size[0]}_{layer.out_channels}"
            setattr(self, name, layer)
            self.layer_names.append(name)

    @property
    def torgb_fp16(self) -> bool:
        return bool(getattr(self, self.layer_names[-1]).use_fp16)

    def forward(self, ws: torch.Tensor, skips: Sequence[torch.Tensor], noise_mode: str = "const",
                bend=None, **layer_kwargs) -> torch.Tensor:
        if ws.ndim != 3 or ws.shape[1:] != (self.num_ws, self.w_dim):
            raise ValueError(f"ws must have shape [N, {self.num_ws}, {self.w_dim}], got {list(ws.shape)}")
        ws = ws.to(torch.float32).unbind(dim=1)
        x = self.input(skips[0])
        if bend is not None:                   # network bending (bending.py): layer 0 is the input
            x = bend(0, x)
        j = 1
        for idx, (name, w, sc) in enumerate(zip(self.layer_names, ws[1:], self.skip_channels), 1):
            skip = None
            if sc:
                skip = F.pad(skips[j], [SKIP_PAD] * 4, mode="reflect")
                j += 1
            x = getattr(self, name)(x, w, noise_mode=noise_mode, skip=skip, **layer_kwargs)
            if bend is not None:
                x = bend(idx, x)
        if self.output_scale != 1:
            x = x * self.output_scale
        return x.to(torch.float32)


def derive_architecture(state: dict[str, torch.Tensor], kwargs: dict) -> dict:
    """The encoder blocks and skip routing, from state-dict names and shapes (they are not all in
    the stored kwargs): block AL{i}_R{res}_C{ch}_{connect_to}; fp16 where res >= 32; stride 2
    where the resolution changes (always for the first); skip channels of layer L_i = its bias
    length minus its conv's output channels."""
    blocks = {}
    for key, t in state.items():
        parts = key.split(".")
        if len(parts) >= 3 and parts[0] == "appended_net" and BLOCK_RE.match(parts[1]):
            blocks.setdefault(parts[1], {})[".".join(parts[2:])] = tuple(t.shape)
    if not blocks:
        raise ValueError("no encoder blocks (appended_net.AL*) in the weights")
    order = sorted(blocks, key=lambda n: int(BLOCK_RE.match(n).group(1)))
    spec, prev_res = [], None
    for i, name in enumerate(order):
        m = BLOCK_RE.match(name)
        if int(m.group(1)) != i:
            raise ValueError(f"encoder blocks are not numbered 0..{len(order) - 1}")
        res, connect = int(m.group(2)), int(m.group(4))
        sh = blocks[name]
        try:
            mid, cin = sh["conv1.weight"][:2]
            cout = sh["conv2.weight"][0]
        except KeyError as e:
            raise ValueError(f"encoder block {name} lacks {e.args[0]}") from None
        stride = 2 if prev_res is None or res != prev_res else 1
        spec.append({"name": name, "in": int(cin), "mid": int(mid), "out": int(cout), "stride": stride,
                     "fp16": res >= 32, "connect_to": connect, "res": res})
        prev_res = res
    connects = sorted(b["connect_to"] for b in spec if b["connect_to"])
    if connects != list(range(1, len(connects) + 1)):
        raise ValueError(f"encoder exports skips {connects}; expected 1..{len(connects)}")
    layers = sorted({k.split(".")[1] for k in state if k.startswith("synthesis.L")},
                    key=lambda n: int(n[1:].split("_")[0]))
    skip_channels = [int(state[f"synthesis.{n}.bias"].shape[0] - state[f"synthesis.{n}.weight"].shape[0])
                     for n in layers]
    by_connect = {b["connect_to"]: b for b in spec if b["connect_to"]}
    receivers = [c for c in skip_channels if c]
    if len(receivers) != len(connects) - 1:
        raise ValueError(f"{len(receivers)} synthesis layers take skips, the encoder exports {len(connects) - 1}")
    for j, c in enumerate(receivers, start=2):
        if by_connect[j]["out"] != c:
            raise ValueError(f"skip {j - 1} has {by_connect[j]['out']} channels, its layer expects {c}")
    filt = state.get("synthesis.filter")
    proj = state.get("appended_net.in_proj.weight")
    if proj is None:
        raise ValueError("no appended_net.in_proj.weight")
    return {"encoder_blocks": [{k: v for k, v in b.items() if k != "res"} for b in spec],
            "in_proj_channels": int(proj.shape[0]), "cond_channels": int(proj.shape[1]),
            "skip_channels": skip_channels, "input_channels": int(by_connect[1]["out"]),
            "encoder_out_res": [b["res"] for b in spec],
            "filter_taps": int(filt.numel()) if filt is not None else 1}


# Stored kwargs that belong to the official training/demo code and change nothing here.
_IGNORED = ("encode_rgb", "blur_sigma", "connection_start", "connection_end", "connection_grow_from",
            "num_appended_ws", "encoder_channels", "encoder_receive_c", "encoder_receive", "encoder_connect_to",
            "has_operation", "g_channels_res", "encoder_out_res")


class Generator(nn.Module):
    """G(z, c, cond, truncation_psi, truncation_cutoff, replace_w_num=4, noise_mode) -> images."""

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, img_resolution: int, img_channels: int,
                 encoder_blocks: Sequence[dict], in_proj_channels: int, cond_channels: int,
                 skip_channels: Sequence[int], input_channels: int, projecting_img_dim: Sequence[int] = (3, 256, 256),
                 bottleneck_size: int = 16, mapping_kwargs: Optional[dict] = None, **synthesis_kwargs):
        super().__init__()
        for k in _IGNORED:
            synthesis_kwargs.pop(k, None)
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self.cond_shape = tuple(int(v) for v in projecting_img_dim)
        self.synthesis = CanvasSynthesis(w_dim, img_resolution, img_channels, skip_channels, input_channels,
                                         bottleneck_size, **synthesis_kwargs)
        self.num_ws = self.synthesis.num_ws
        kw = dict(mapping_kwargs or {})
        kw.setdefault("num_layers", 2)
        self.mapping = MappingNetwork(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, num_ws=self.num_ws, **kw)
        self.appended_net = Encoder(cond_channels, in_proj_channels, [dict(b) for b in encoder_blocks],
                                    self.synthesis.torgb_fp16, w_dim, self.num_ws)
        self.replace_w_num = 4

    def encoder(self, cond: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(ws [N, num_ws, w_dim], skips in synthesis order)."""
        self.check_cond(cond)
        # contiguous: the backward pass through this encoder corrupted the heap (torch 2.13, CPU)
        # for a strided view of a condition (a cropped blur)
        return self.appended_net(cond.contiguous())

    def check_cond(self, cond: torch.Tensor) -> None:
        c, h = self.cond_shape[0], self.cond_shape[1]
        if cond.ndim != 4 or cond.shape[1] != c or cond.shape[2] != h or cond.shape[3] < h // 2:
            raise ValueError(f"condition must be [N, {c}, {h}, W>={h // 2}] (this network's {c}x{h}x{self.cond_shape[2]}, "
                             f"wider for a wider canvas), got {list(cond.shape)}")

    def combine(self, ws_map: torch.Tensor, ws_enc: torch.Tensor, replace_w_num: int) -> torch.Tensor:
        """The first `replace_w_num` rows from the encoder, the rest from the mapping."""
        if not 0 <= replace_w_num <= self.num_ws:
            raise ValueError(f"replace_w_num must be 0..{self.num_ws}, got {replace_w_num}")
        ws = ws_map.clone()
        ws[:, :replace_w_num] = ws_enc[:, :replace_w_num]
        return ws

    def output_width(self, cond_width: int) -> int:
        """The picture's width for a condition `cond_width` wide (the expandable canvas): the
        bottleneck grows with the condition, each extra input sample adds img_resolution /
        sampling rate output pixels."""
        s = self.synthesis
        extra = (cond_width - self.cond_shape[2]) * s.bottleneck_size // self.cond_shape[1]
        return int(self.img_resolution + extra * self.img_resolution / s.first_rate)

    def forward(self, z: torch.Tensor, c: Optional[torch.Tensor], cond: torch.Tensor, truncation_psi: float = 1,
                truncation_cutoff: Optional[int] = None, replace_w_num: int = 4, noise_mode: str = "const",
                update_emas: bool = False, **synthesis_kwargs) -> torch.Tensor:
        ws_enc, skips = self.encoder(cond)
        ws_map = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        return self.synthesis(self.combine(ws_map, ws_enc, replace_w_num), skips, noise_mode=noise_mode,
                              **synthesis_kwargs)


def blur_filter(sigma: float) -> torch.Tensor:
    """The official conditioning blur: taps 2^-(k/sigma)^2 for k = -3 sigma..3 sigma, summing to 1."""
    r = int(np.ceil(3 * sigma))
    k = torch.arange(-r, r + 1, dtype=torch.float32)
    f = torch.exp2(-(k / sigma).square())
    return f / f.sum()


def preprocess(img: torch.Tensor, out_size: int | Sequence[int] = 256, blur_sigma: float = 21,
               pad: int = 30) -> torch.Tensor:
    """The training-time conditioning transform: bilinear resize to `out_size` (H or (H, W)),
    reflect pad, separable blur (zero beyond the reflected border, as the official filter2d),
    crop the padding off.  img [N, C, H, W] in [-1, 1]."""
    size = (out_size, out_size) if isinstance(out_size, int) else tuple(out_size)
    x = F.interpolate(img.to(torch.float32), size=size, mode="bilinear", align_corners=False, antialias=False)
    if blur_sigma <= 0:
        return x
    x = F.pad(x, [pad] * 4, mode="reflect")
    f = blur_filter(blur_sigma).to(x.device)
    r = (f.numel() - 1) // 2
    c = x.shape[1]
    x = F.conv2d(F.pad(x, [r, r, 0, 0]), f.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    x = F.conv2d(F.pad(x, [0, 0, r, r]), f.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)
    return x[:, :, pad:-pad, pad:-pad]
