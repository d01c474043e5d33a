"""Fully connected layer and the mapping network z (+ c) -> w, shared by StyleGAN2 and StyleGAN3."""
from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
from torch import nn

from .ops import bias_act
from .paramcache import version_key


class FullyConnectedLayer(nn.Module):
    """Linear layer with equalised learning rate: weights stored unscaled, scaled at run time."""

    def __init__(self, in_features: int, out_features: int,
                 activation: str = "linear",        # 'linear' or 'lrelu'
                 bias: bool = True,
                 lr_multiplier: float = 1.0,        # learning-rate scale (mapping net uses 0.01)
                 weight_init: float = 1.0,          # std of the initial weights
                 bias_init: float | Sequence[float] = 0.0):
        super().__init__()
        self.in_features, self.out_features, self.activation = in_features, out_features, activation
        self.weight = nn.Parameter(torch.randn([out_features, in_features]) * (weight_init / lr_multiplier))
        init = torch.broadcast_to(torch.as_tensor(bias_init, dtype=torch.float32), [out_features])
        self.bias = nn.Parameter(init / lr_multiplier) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier
        self._scaled_cache: tuple = ((), None)      # (key, (weight, bias) scaled): inference only

    def _scaled(self, dtype: torch.dtype) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """The weight and bias times their gains in dtype.  Without a gradient they are kept until
        a parameter changes (an optimiser, network mixing or a load moves its version or storage):
        two operations fewer for each of a frame's affine layers (0.96-0.99x builtin:tiny's frame)."""
        w, b = self.weight, self.bias
        key = None if torch.is_grad_enabled() else version_key(w, b)
        if key is None:
            return w.to(dtype) * self.weight_gain, None if b is None else b.to(dtype) * self.bias_gain
        key = (dtype, key)
        if self._scaled_cache[0] != key:
            self._scaled_cache = (key, (w.to(dtype) * self.weight_gain,
                                        None if b is None else b.to(dtype) * self.bias_gain))
        return self._scaled_cache[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w, b = self._scaled(x.dtype)
        if self.activation == "linear" and b is not None:
            return torch.addmm(b.unsqueeze(0), x, w.t())
        return bias_act(x.matmul(w.t()), b, act=self.activation)


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


class MappingNetwork(nn.Module):
    """z (+ class embedding) -> w through an MLP, broadcast to num_ws, with truncation towards w_avg."""

    def __init__(self, z_dim: int, c_dim: int, w_dim: int,
                 num_ws: Optional[int],             # copies of w to output; None: return [N, w_dim]
                 num_layers: int = 8,               # 8 in StyleGAN2, 2 in StyleGAN3
                 embed_features: Optional[int] = None,  # class embedding size (default w_dim)
                 layer_features: Optional[int] = None,  # hidden width (default w_dim)
                 activation: str = "lrelu",
                 lr_multiplier: float = 0.01,
                 w_avg_beta: Optional[float] = 0.998):   # training: decay of the tracked mean w
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, c_dim, w_dim, num_ws
        self.num_layers, self.w_avg_beta = num_layers, w_avg_beta
        embed_features = (w_dim if embed_features is None else embed_features) if c_dim else 0
        layer_features = w_dim if layer_features is None else layer_features
        if c_dim:
            self.embed = FullyConnectedLayer(c_dim, embed_features)
        feats = [z_dim + embed_features] + [layer_features] * (num_layers - 1) + [w_dim]
        for i in range(num_layers):
            setattr(self, f"fc{i}", FullyConnectedLayer(feats[i], feats[i + 1], activation=activation,
                                                        lr_multiplier=lr_multiplier))
        if num_ws is not None and w_avg_beta is not None:     # a discriminator's label mapping has none
            self.register_buffer("w_avg", torch.zeros([w_dim]))

    def forward(self, z: torch.Tensor, c: Optional[torch.Tensor] = None, truncation_psi: float = 1,
                truncation_cutoff: Optional[int] = None, update_emas: bool = False) -> torch.Tensor:
        z = check_latents(z, c, self.z_dim, self.c_dim)
        parts = []
        if self.z_dim:
            parts.append(normalize_2nd_moment(z.to(torch.float32)))
        if self.c_dim:
            parts.append(normalize_2nd_moment(self.embed(c.to(device=z.device, dtype=torch.float32))))
        x = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        if update_emas and self.w_avg_beta is not None and hasattr(self, "w_avg"):   # training: track mean w
            self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        if self.num_ws is not None:
            x = x.unsqueeze(1).repeat([1, self.num_ws, 1])
        if truncation_psi != 1:
            x = truncate(x, self.w_avg, truncation_psi, truncation_cutoff)
        return x


def truncate(ws: torch.Tensor, w_avg: torch.Tensor, psi: float,
             cutoff: Optional[int] = None) -> torch.Tensor:
    """Move ws towards w_avg by psi: all layers, or only ws[:, :cutoff]."""
    if cutoff is None or ws.ndim == 2:
        return w_avg.lerp(ws, psi)
    ws = ws.clone()
    ws[:, :cutoff] = w_avg.lerp(ws[:, :cutoff], psi)
    return ws


def check_latents(z: torch.Tensor, c: Optional[torch.Tensor], z_dim: int, c_dim: int) -> torch.Tensor:
    """Shape checks with messages that name the shapes (a wrong z or missing c is a user error)."""
    if not isinstance(z, torch.Tensor):
        z = torch.as_tensor(z)
    if z.ndim != 2 or z.shape[1] != z_dim:
        raise ValueError(f"z must have shape [N, {z_dim}], got {list(z.shape)}")
    if c_dim:
        if c is None or c.numel() == 0:
            raise ValueError(f"this network is conditional: c must have shape [N, {c_dim}], got none")
        if c.ndim != 2 or c.shape[1] != c_dim or c.shape[0] != z.shape[0]:
            raise ValueError(f"c must have shape [{z.shape[0]}, {c_dim}], got {list(c.shape)}")
    elif c is not None and c.numel() != 0:
        raise ValueError(f"this network is unconditional (c_dim=0), got c of shape {list(c.shape)}")
    return z
