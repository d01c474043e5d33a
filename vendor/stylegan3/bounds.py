"""Sane bounds for the architecture a checkpoint asks us to build, checked before anything is built.

A checkpoint's constructor kwargs are data from a file: `num_layers: 100000` or a filter size of
1e7 would make the constructor run for minutes and take gigabytes before failing.  Every number is
checked against a range that covers every published configuration with room to spare, and the
memory the parameters would take is estimated (on the meta device, which allocates nothing) and
refused above a limit.
"""
from __future__ import annotations

import math
from typing import Any

from .pickle_safe import CheckpointError

# name -> (lo, hi); applies wherever the name occurs (top level or inside *_kwargs dicts).
BOUNDS: dict[str, tuple[float, float]] = {
    "z_dim": (1, 4096), "w_dim": (1, 4096), "c_dim": (0, 100_000), "img_resolution": (4, 4096),
    "img_channels": (1, 4), "channel_base": (1, 1 << 20), "channel_max": (1, 4096),
    "num_layers": (1, 64), "num_critical": (0, 16), "margin_size": (0, 256), "filter_size": (1, 64),
    "lrelu_upsampling": (1, 16), "conv_kernel": (1, 9), "num_fp16_res": (0, 16),
    "first_cutoff": (1e-3, 4096), "first_stopband": (1e-3, 8192), "last_stopband_rel": (1e-3, 64),
    "output_scale": (-1e3, 1e3), "layer_features": (1, 4096), "embed_features": (0, 4096),
    "lr_multiplier": (0, 1e3), "w_avg_beta": (0, 1), "magnitude_ema_beta": (0, 1),
    "conv_clamp": (0, 1e6), "num_ws": (1, 256), "kernel_size": (1, 9),
}
MAX_LIST = 64              # e.g. resample_filter taps
MAX_DEPTH = 4
MAX_KEYS = 256


def max_network_bytes() -> int:
    """LIVEGAN_MAX_NETWORK_GB (default 8): the largest network we agree to build."""
    from .settings import env_number

    return int(env_number("LIVEGAN_MAX_NETWORK_GB", 8, 0.01, 4096, meaning="GiB a network may take to run") * (1 << 30))


def check_kwargs(kwargs: Any, name: str, where: str = "init_kwargs", depth: int = 0) -> None:
    """Raise CheckpointError (one line naming file and field) for anything out of bounds."""
    if not isinstance(kwargs, dict):
        raise CheckpointError(f"{name}: {where} must be a mapping of constructor arguments, got {type(kwargs).__name__}")
    if depth > MAX_DEPTH or len(kwargs) > MAX_KEYS:
        raise CheckpointError(f"{name}: {where} is nested too deeply or has too many entries")
    for k, v in kwargs.items():
        field = f"{where}.{k}"
        if isinstance(v, dict):
            check_kwargs(v, name, field, depth + 1)
        elif isinstance(v, (list, tuple)) and v and all(isinstance(x, dict) for x in v):
            if len(v) > MAX_LIST:                              # e.g. StyleGAN-Canvas encoder blocks
                raise CheckpointError(f"{name}: {field}: more than {MAX_LIST} entries")
            for i, x in enumerate(v):
                check_kwargs(x, name, f"{field}[{i}]", depth + 1)
        elif isinstance(v, (list, tuple)):
            if len(v) > MAX_LIST or not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
                                            and abs(x) <= 1e6 for x in v):
                raise CheckpointError(f"{name}: {field}: expected at most {MAX_LIST} finite numbers")
        elif isinstance(v, bool) or v is None or isinstance(v, str):
            if isinstance(v, str) and len(v) > 256:
                raise CheckpointError(f"{name}: {field}: string too long")
        elif isinstance(v, (int, float)):
            if not math.isfinite(v):
                raise CheckpointError(f"{name}: {field}: {v} is not a finite number")
            lo, hi = BOUNDS.get(k, (-1e6, 1e6))
            if not lo <= v <= hi:
                raise CheckpointError(f"{name}: {field} = {v} is outside the sane range {lo:g}..{hi:g}")
        else:
            raise CheckpointError(f"{name}: {field}: unexpected value of type {type(v).__name__}")


def weight_bytes(G) -> int:
    return 4 * sum(t.numel() for t in list(G.parameters()) + list(G.buffers()))


def activation_bytes(G, batch: int = 1, extra: int = 0) -> int:
    """Peak bytes of one synthesis layer's tensors at `batch` (fp32), from the layer plan alone
    (works on the meta device): a StyleGAN3 layer's upsampled intermediate inside its filtered
    activation, with its input and output beside it; a StyleGAN2 layer's output at its resolution,
    with the transposed convolution's twice-as-large intermediate.  `extra` widens every layer by
    that many samples per side (a wide canvas)."""
    peak = 0
    for m in G.synthesis.modules():
        if hasattr(m, "up_factor") and hasattr(m, "in_size") and hasattr(m, "out_channels"):
            (iw, ih), (ow, oh) = (int(v) + 2 * extra for v in m.in_size), (int(v) + 2 * extra for v in m.out_size)
            tmp = (ow * m.down_factor + m.down_taps) * (oh * m.down_factor + m.down_taps)
            layer = m.out_channels * tmp + m.in_channels * iw * ih + m.out_channels * ow * oh
        elif hasattr(m, "resolution") and hasattr(m, "out_channels") and hasattr(m, "up"):
            r = int(m.resolution)
            layer = m.out_channels * r * r * (5 if m.up == 2 else 2) + m.in_channels * r * r
        else:
            continue
        peak = max(peak, layer)
    return 4 * peak * max(1, int(batch))


def runtime_bytes(G, batch: int = 1, extra: int = 0) -> int:
    """What running G takes: its weights and its largest layer's tensors at this batch."""
    return weight_bytes(G) + activation_bytes(G, batch, extra)


def check_size(G, name: str, batch: int = 1, extra: int = 0) -> None:
    """Refuse a network whose weights plus run-time tensors (at `batch`, canvas `extra`) would
    exceed the memory limit (fp32), before anything is built or run."""
    need, limit = runtime_bytes(G, batch, extra), max_network_bytes()
    if need > limit:
        w = weight_bytes(G)
        raise CheckpointError(f"{name}: running it would take {need / (1 << 30):.1f} GiB ({w / (1 << 30):.2f} GiB of "
                              f"weights, {(need - w) / (1 << 30):.1f} GiB for its largest layer at batch {batch}), "
                              f"more than the {limit / (1 << 30):.1f} GiB limit (LIVEGAN_MAX_NETWORK_GB)")
