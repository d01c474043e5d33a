"""StyleGAN3 generator (configs T and R), written from Karras et al. 2021, "Alias-Free Generative
Adversarial Networks", with parameter names and shapes of the official checkpoints.

Extension: `SynthesisNetwork.forward(ws, transform=...)` takes a per-sample input transform [N, 3, 3]
so one batch can hold frames with different rotation/translation.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from . import filtered_grad, native
from .mapping import FullyConnectedLayer, MappingNetwork
from .ops import (FilteredLReLU, design_lowpass_filter, filtered_lrelu_ref, grouped_modulated_conv2d, modulated_conv2d,
                  normalized_weight)
from .paramcache import version_key
from .precision import compute_dtype


# oneDNN convolves layers of at most this many channels in NHWC on the CPU (see channels_last).
NHWC_MAX_CHANNELS = 32


class SynthesisInput(nn.Module):
    """Fourier features: sinusoids of fixed frequencies/phases, rotated and translated by w."""

    def __init__(self, w_dim: int, channels: int, size: int | Sequence[int],
                 sampling_rate: float, bandwidth: float):
        super().__init__()
        self.w_dim, self.channels = w_dim, channels
        self.size = np.broadcast_to(np.asarray(size), [2])       # [width, height]
        self.sampling_rate, self.bandwidth = sampling_rate, bandwidth
        # Random frequencies inside a disc of radius `bandwidth`, denser towards the centre.
        freqs = torch.randn([channels, 2])
        radii = freqs.square().sum(dim=1, keepdim=True).sqrt()
        freqs /= radii * radii.square().exp().pow(0.25)
        freqs *= bandwidth
        phases = torch.rand([channels]) - 0.5
        self.weight = nn.Parameter(torch.randn([channels, channels]))
        self.affine = FullyConnectedLayer(w_dim, 4, weight_init=0, bias_init=[1, 0, 0, 0])
        self.register_buffer("transform", torch.eye(3, 3))      # user-specified inverse transform
        self.register_buffer("freqs", freqs)
        self.register_buffer("phases", phases)
        self._grids: dict = {}

    def _grid(self, sw: int, sh: int, device: torch.device) -> torch.Tensor:
        """The sampling grid [1, sh, sw, 2] for a size (made once per size and device)."""
        key = (sw, sh, str(device))
        if key not in self._grids:
            theta = torch.tensor([[0.5 * sw / self.sampling_rate, 0, 0], [0, 0.5 * sh / self.sampling_rate, 0]],
                                 dtype=torch.float32, device=device)
            with torch.inference_mode(False), torch.no_grad():     # (usable outside inference mode too)
                self._grids[key] = F.affine_grid(theta.unsqueeze(0), [1, 1, sh, sw], align_corners=False)
        return self._grids[key]

    def forward(self, w: torch.Tensor, transform: Optional[torch.Tensor] = None,
                size: Optional[Sequence[int]] = None) -> torch.Tensor:
        """w [N, w_dim] -> features [N, C, H, W]; `transform` [N, 3, 3] overrides the buffer per
        sample; `size` ([W, H] samples) widens the grid at the same sampling rate (wide canvas)."""
        n = w.shape[0]
        user = self.transform.unsqueeze(0) if transform is None else transform.to(w.device, torch.float32)
        # Rotation and translation predicted from w: t = (cos, sin, tx, ty), normalised rotation.
        t = self.affine(w)
        sw, sh = (int(v) for v in (self.size if size is None else size))
        if w.device.type == "cpu" and not torch.is_grad_enabled():
            # Planes: the layout every CPU layer of ours reads (the next convolves them as they are).
            x = native.fourier(t, user.expand(n, 3, 3), self.freqs, self.phases,
                               self.weight / math.sqrt(self.channels), self.sampling_rate, self.bandwidth, (sw, sh))
            if x is not None:
                return x
        t = t / t[:, :2].norm(dim=1, keepdim=True)
        c, s, tx, ty = t.unbind(1)
        zero, one = torch.zeros_like(c), torch.ones_like(c)
        m_r = torch.stack([c, -s, zero, s, c, zero, zero, zero, one], 1).view(n, 3, 3)
        m_t = torch.stack([one, zero, -tx, zero, one, -ty, zero, zero, one], 1).view(n, 3, 3)
        transforms = m_r @ m_t @ user
        freqs = self.freqs.unsqueeze(0)
        phases = self.phases.unsqueeze(0) + (freqs @ transforms[:, :2, 2:]).squeeze(2)
        freqs = freqs @ transforms[:, :2, :2]
        # Fade out frequencies that the rotation pushes beyond the representable band.
        amplitudes = (1 - (freqs.norm(dim=2) - self.bandwidth)
                      / (self.sampling_rate / 2 - self.bandwidth)).clamp(0, 1)
        grid = self._grid(sw, sh, w.device)
        # Each sample's phase: a two-term dot product, written out (a batched product of H*W 1x2
        # matrices took 0.1-0.4 ms a frame at 36 px on a 2-core CPU; this is the same sums).
        x = grid[..., 0:1] * freqs[:, None, None, :, 0] + grid[..., 1:2] * freqs[:, None, None, :, 1]
        x = torch.sin((x + phases.unsqueeze(1).unsqueeze(2)) * (math.pi * 2))
        x = x * amplitudes.unsqueeze(1).unsqueeze(2)
        x = x @ (self.weight / math.sqrt(self.channels)).t()    # [N, H, W, C]
        return x.permute(0, 3, 1, 2)


class SynthesisLayer(nn.Module):
    """Modulated conv, then filtered leaky ReLU on a 2x (or 4x) oversampled grid; or ToRGB."""

    def __init__(self, w_dim: int,
                 is_torgb: bool,                    # last layer: 1x1 conv, no activation
                 is_critically_sampled: bool,       # last layers: no radial filters
                 use_fp16: bool,                    # checkpoint runs this layer in fp16 on CUDA
                 in_channels: int, out_channels: int,
                 in_size: int | Sequence[int], out_size: int | Sequence[int],
                 in_sampling_rate: float, out_sampling_rate: float,
                 in_cutoff: float, out_cutoff: float,
                 in_half_width: float, out_half_width: float,
                 conv_kernel: int = 3,              # 3 for config T, 1 for config R
                 filter_size: int = 6,              # taps per up/down factor
                 lrelu_upsampling: int = 2,         # oversampling of the nonlinearity
                 use_radial_filters: bool = False,  # config R
                 conv_clamp: Optional[float] = 256,
                 magnitude_ema_beta: float = 0.999):  # training only
        super().__init__()
        self.w_dim, self.is_torgb, self.is_critically_sampled, self.use_fp16 = w_dim, is_torgb, is_critically_sampled, use_fp16
        self.in_channels, self.out_channels = in_channels, out_channels
        self.in_size = np.broadcast_to(np.asarray(in_size), [2])
        self.out_size = np.broadcast_to(np.asarray(out_size), [2])
        self.in_sampling_rate, self.out_sampling_rate = in_sampling_rate, out_sampling_rate
        self.tmp_sampling_rate = max(in_sampling_rate, out_sampling_rate) * (1 if is_torgb else lrelu_upsampling)
        self.in_cutoff, self.out_cutoff = in_cutoff, out_cutoff
        self.in_half_width, self.out_half_width = in_half_width, out_half_width
        self.conv_kernel = 1 if is_torgb else conv_kernel
        self.conv_clamp, self.magnitude_ema_beta = conv_clamp, magnitude_ema_beta

        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        k = self.conv_kernel
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, k, k]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.register_buffer("magnitude_ema", torch.ones([]))

        self.up_factor = int(np.rint(self.tmp_sampling_rate / in_sampling_rate))
        assert in_sampling_rate * self.up_factor == self.tmp_sampling_rate
        self.up_taps = filter_size * self.up_factor if self.up_factor > 1 and not is_torgb else 1
        self.register_buffer("up_filter", design_lowpass_filter(
            self.up_taps, in_cutoff, in_half_width * 2, self.tmp_sampling_rate))
        self.down_factor = int(np.rint(self.tmp_sampling_rate / out_sampling_rate))
        assert out_sampling_rate * self.down_factor == self.tmp_sampling_rate
        self.down_taps = filter_size * self.down_factor if self.down_factor > 1 and not is_torgb else 1
        self.down_radial = use_radial_filters and not is_critically_sampled
        self.register_buffer("down_filter", design_lowpass_filter(
            self.down_taps, out_cutoff, out_half_width * 2, self.tmp_sampling_rate, radial=self.down_radial))

        # Pad so that the output has exactly out_size samples.
        pad_total = (self.out_size - 1) * self.down_factor + 1
        pad_total -= (self.in_size + self.conv_kernel - 1) * self.up_factor
        pad_total += self.up_taps + self.down_taps - 2
        pad_lo = (pad_total + self.up_factor) // 2
        pad_hi = pad_total - pad_lo
        self.padding = [int(pad_lo[0]), int(pad_hi[0]), int(pad_lo[1]), int(pad_hi[1])]
        self.precision = "auto"
        # NHWC convolutions: None = where measured faster.  On the CPU in inference only layers of
        # few channels that oneDNN convolves (no compiled direct convolution: no compiler), which it
        # runs 1.3-3x faster in NHWC; from 64 channels oneDNN's own reorder of NCHW input beats
        # converting it: StyleGAN3-T 64 px frames 0.96x the time under AVX2, 0.82x under the
        # default set, 1.02x under AVX-512; with 128 and 256 channels 0.94x and 0.93x (AVX2), 0.97x
        # and 0.94x (AVX-512).  True/False forces either (set_channels_last; the GPU kit: CUDA).
        self.channels_last: Optional[bool] = None
        self.reference_ops = False      # True: the plain (slow) filtered_lrelu_ref, for checks
        self.fast_grad = True           # False: gradients through the reference definition
        self._act: dict = {}
        self._weight_cache: tuple = ((), None)       # (key, normalized weight): inference only
        self._plans: dict = {}                        # native.layer's checked geometries

    def _activation(self, h: int, w: int) -> FilteredLReLU:
        """The filtered activation for a conv output of h x w (other sizes: wide canvas)."""
        if (h, w) not in self._act:
            self._act[(h, w)] = FilteredLReLU(self.up_filter, self.down_filter, self.up_factor,
                                              self.down_factor, self.padding, (h, w),
                                              gain=1.0 if self.is_torgb else math.sqrt(2))
        return self._act[(h, w)]

    def _normalized_weight(self) -> torch.Tensor:
        """normalized_weight(self.weight), made again only when the weight changes (network
        mixing writes into it, which moves its version; a load moves its storage)."""
        w = self.weight
        key = version_key(w)
        if key is None:
            return normalized_weight(w)
        if self._weight_cache[0] != key:
            self._weight_cache = (key, normalized_weight(w))
        return self._weight_cache[1]

    def _nhwc(self, x: torch.Tensor) -> bool:
        if self.channels_last is not None:
            return self.channels_last
        return (x.device.type == "cpu" and not self.training and not self.is_torgb and not torch.is_grad_enabled()
                and max(self.in_channels, self.out_channels) <= NHWC_MAX_CHANNELS
                and not native.conv_applies(self.in_channels, self.out_channels, self.conv_kernel))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "const",
                force_fp32: bool = False, update_emas: bool = False,
                skip: Optional[torch.Tensor] = None, styles: Optional[torch.Tensor] = None) -> torch.Tensor:
        """`skip` (StyleGAN-Canvas): extra channels, already at the conv output's size, joined
        after the modulated conv and before the filtered activation (the bias covers them).
        `styles`: this layer's `affine(w)`, made already (the network makes them all first)."""
        styles = self.affine(w) if styles is None else styles
        if self.is_torgb:
            styles = styles * (1 / math.sqrt(self.in_channels * self.conv_kernel ** 2))
        if update_emas:                 # training: track the input's mean square (its gain at play time)
            cur = x.detach().to(torch.float32).square().mean()
            self.magnitude_ema.copy_(cur.lerp(self.magnitude_ema, self.magnitude_ema_beta))
        dtype = compute_dtype(self.precision, self.use_fp16 and not force_fp32, x.device)
        x = x.to(dtype)
        if skip is None and not self.training:
            y = self._compiled_torgb(x, styles) if self.is_torgb else self._compiled_layer(x, styles)
            if y is not None:
                return y
        if self._nhwc(x):
            x = x.contiguous(memory_format=torch.channels_last)
        if self.training:                               # the official order
            x = grouped_modulated_conv2d(x, self.weight, styles, demodulate=not self.is_torgb,
                                         input_gain=self.magnitude_ema.rsqrt(), padding=self.conv_kernel - 1)
        else:
            cached = not self.is_torgb and not torch.is_grad_enabled()
            x = modulated_conv2d(x, self._normalized_weight() if cached else self.weight, styles,
                                 demodulate=not self.is_torgb, input_gain=self.magnitude_ema.rsqrt(),
                                 padding=self.conv_kernel - 1, weight_normalized=cached)
        if skip is not None:
            x = torch.cat([x, skip], dim=1)     # (type promotion as the official code: fp16 + fp32 -> fp32)
        slope = 1.0 if self.is_torgb else 0.2
        act = self._activation(x.shape[2], x.shape[3])
        # Training needs gradients: the fast passes write into preallocated buffers, which autograd
        # cannot follow, so a graph-building call takes the same passes with their transposes as
        # the gradient (filtered_grad.py), or the plain definition where those do not apply.
        if not self.reference_ops:
            if not (torch.is_grad_enabled() and (x.requires_grad or self.bias.requires_grad)):
                # (An NHWC conv output goes in as it is: the activation's first copy changes the layout.)
                return act(x, self.bias, slope, self.conv_clamp)
            if self.fast_grad and filtered_grad.supported(act):
                return filtered_grad.filtered_lrelu(act, x, self.bias, slope, self.conv_clamp)
        gain = 1.0 if self.is_torgb else math.sqrt(2)
        return filtered_lrelu_ref(x, self.up_filter, self.down_filter, self.bias, self.up_factor,
                                  self.down_factor, self.padding, gain, slope, self.conv_clamp)

    def _compiled_layer(self, x: torch.Tensor, styles: torch.Tensor) -> Optional[torch.Tensor]:
        """The modulation, the direct convolution and the filtered activation in one compiled call
        (native.layer) where all three apply: the pixels of the three separate calls below."""
        if x.device.type != "cpu" or torch.is_grad_enabled() or self.reference_ops or x.ndim != 4:
            return None
        pad = self.conv_kernel - 1                      # the convolution's output: pad larger
        act = self._activation(x.shape[2] + pad, x.shape[3] + pad)
        if act.native is None:
            return None
        return native.layer(x, self._normalized_weight(), styles, self.magnitude_ema.rsqrt(), pad, act.native,
                            self.bias, 0.2, self.conv_clamp, plans=self._plans)

    def _compiled_torgb(self, x: torch.Tensor, styles: torch.Tensor) -> Optional[torch.Tensor]:
        """ToRGB on the CPU without a gradient: each image's folded 1x1 weights, the bias and the
        clamp in one compiled pass (native.pointwise) instead of a product, a sum and a clamp over
        the image; the same operations in the same order.  None where it does not apply."""
        if (x.device.type != "cpu" or torch.is_grad_enabled() or any(self.padding)
                or self.up_factor != 1 or self.down_factor != 1):
            return None
        w = native.modulate(self.weight, styles, False, self.magnitude_ema.rsqrt())
        return None if w is None else native.pointwise(x, w, self.bias, self.conv_clamp)

    def extra_repr(self) -> str:
        return (f"in={self.in_channels} out={self.out_channels} size={list(self.in_size)}->{list(self.out_size)} "
                f"up={self.up_factor} down={self.down_factor} torgb={self.is_torgb} fp16={self.use_fp16}")


def layer_geometry(img_resolution: int, img_channels: int, channel_base: int, channel_max: int,
                   num_layers: int, num_critical: int, first_cutoff: float, first_stopband: float,
                   last_stopband_rel: float, margin_size: int) -> tuple[np.ndarray, ...]:
    """Per layer (input first, ToRGB last): cutoffs, sampling rates, half widths, sizes, channels."""
    last_cutoff = img_resolution / 2
    last_stopband = last_cutoff * last_stopband_rel
    exponents = np.minimum(np.arange(num_layers + 1) / (num_layers - num_critical), 1)
    cutoffs = first_cutoff * (last_cutoff / first_cutoff) ** exponents
    stopbands = first_stopband * (last_stopband / first_stopband) ** exponents
    sampling_rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, img_resolution))))
    half_widths = np.maximum(stopbands, sampling_rates / 2) - cutoffs
    sizes = sampling_rates + margin_size * 2
    sizes[-2:] = img_resolution
    channels = np.rint(np.minimum((channel_base / 2) / cutoffs, channel_max))
    channels[-1] = img_channels
    return cutoffs, sampling_rates, half_widths, sizes, channels


class SynthesisNetwork(nn.Module):
    """ws [N, num_ws, w_dim] -> images [N, C, H, W]: Fourier input, then num_layers+1 layers whose
    cutoffs rise geometrically from first_cutoff to the image's Nyquist rate."""

    def __init__(self, w_dim: int, img_resolution: int, img_channels: int,
                 channel_base: int = 32768,         # channels = channel_base / 2 / cutoff ...
                 channel_max: int = 512,            # ... at most this
                 num_layers: int = 14,              # layers, ToRGB not counted
                 num_critical: int = 2,             # critically sampled layers at the end
                 first_cutoff: float = 2,
                 first_stopband: float = 2 ** 2.1,
                 last_stopband_rel: float = 2 ** 0.3,
                 margin_size: int = 10,             # extra samples around the image
                 output_scale: float = 0.25,
                 num_fp16_res: int = 4,             # fp16 for the highest-rate layers (CUDA)
                 **layer_kwargs):
        super().__init__()
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        self.num_ws = num_layers + 2
        self.num_layers, self.num_critical, self.margin_size = num_layers, num_critical, margin_size
        self.output_scale, self.num_fp16_res = output_scale, num_fp16_res

        cutoffs, sampling_rates, half_widths, sizes, channels = layer_geometry(
            img_resolution, img_channels, channel_base, channel_max, num_layers, num_critical, first_cutoff,
            first_stopband, last_stopband_rel, margin_size)

        self.input = SynthesisInput(w_dim, channels=int(channels[0]), size=int(sizes[0]),
                                    sampling_rate=sampling_rates[0], bandwidth=cutoffs[0])
        self.layer_names = []
        for idx in range(num_layers + 1):
            prev = max(idx - 1, 0)
            layer = SynthesisLayer(
                w_dim=w_dim, is_torgb=idx == num_layers, is_critically_sampled=idx >= num_layers - num_critical,
                use_fp16=bool(sampling_rates[idx] * 2 ** num_fp16_res > img_resolution),
                in_channels=int(channels[prev]), out_channels=int(channels[idx]),
                in_size=int(sizes[prev]), out_size=int(sizes[idx]),
                in_sampling_rate=int(sampling_rates[prev]), out_sampling_rate=int(sampling_rates[idx]),
                in_cutoff=cutoffs[prev], out_cutoff=cutoffs[idx],
                in_half_width=half_widths[prev], out_half_width=half_widths[idx], **layer_kwargs)
            name = f"L{idx}_{layer.out_size[0]}_{layer.out_channels}"
            setattr(self, name, layer)
            self.layer_names.append(name)

    def forward(self, ws: torch.Tensor, transform: Optional[torch.Tensor] = None,
                canvas: Optional[Sequence[int]] = None, bend=None, **layer_kwargs) -> torch.Tensor:
        """`canvas` = (extra_w, extra_h) input samples added on each side (wide canvas, see
        `wide_canvas_extra`); the output grows by that many trained-scale pixels times the
        ratio of output to input sampling rate.  `bend`: a bending.Bender, or None."""
        if ws.ndim != 3 or ws.shape[1:] != (self.num_ws, self.w_dim):
            raise ValueError(f"ws must have shape [N, {self.num_ws}, {self.w_dim}], got {list(ws.shape)}")
        ws = ws.to(torch.float32).unbind(dim=1)
        size = None
        if canvas is not None:
            size = [int(self.input.size[0]) + 2 * canvas[0], int(self.input.size[1]) + 2 * canvas[1]]
        x = self.input(ws[0], transform=transform, size=size)
        if bend is not None:                   # network bending (bending.py): layer 0 is the input
            x = bend(0, x)
        layers = [getattr(self, name) for name in self.layer_names]
        # Every layer's styles first, back to back: made between the layers, each small product
        # found its data evicted by the layer before (builtin:tiny 0.986x the time a frame).
        styles = [layer.affine(w) for layer, w in zip(layers, ws[1:])] if not torch.is_grad_enabled() else None
        for idx, (layer, w) in enumerate(zip(layers, ws[1:]), 1):
            x = layer(x, w, styles=None if styles is None else styles[idx - 1], **layer_kwargs)
            if bend is not None:
                x = bend(idx, x)
        if self.output_scale != 1:
            x = x * self.output_scale
        return x.to(torch.float32)


class Generator(nn.Module):
    """StyleGAN3 generator: `mapping` then `synthesis`, the official public shape."""

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, img_resolution: int, img_channels: int,
                 mapping_kwargs: Optional[dict] = None, **synthesis_kwargs):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self.synthesis = SynthesisNetwork(w_dim=w_dim, img_resolution=img_resolution,
                                          img_channels=img_channels, **synthesis_kwargs)
        self.num_ws = self.synthesis.num_ws
        kw = dict(mapping_kwargs or {})
        kw.setdefault("num_layers", 2)
        self.mapping = MappingNetwork(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, num_ws=self.num_ws, **kw)

    def forward(self, z: torch.Tensor, c: Optional[torch.Tensor] = None, truncation_psi: float = 1,
                truncation_cutoff: Optional[int] = None, update_emas: bool = False,
                **synthesis_kwargs) -> torch.Tensor:
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff,
                          update_emas=update_emas)
        return self.synthesis(ws, update_emas=update_emas, **synthesis_kwargs)
