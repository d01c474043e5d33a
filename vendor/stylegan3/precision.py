"""Which dtype a layer computes in, from the network's precision mode."""
from __future__ import annotations

import torch

PRECISIONS = ("auto", "fp32", "fp16", "bf16")


def compute_dtype(precision: str, layer_fp16: bool, device: torch.device) -> torch.dtype:
    """'auto': fp16 where the checkpoint says (its fp16 layers) and only on CUDA, as the official
    code does; 'fp32': everywhere fp32; 'fp16'/'bf16': every synthesis layer in that type (opt-in)."""
    if precision == "auto":
        return torch.float16 if layer_fp16 and device.type == "cuda" else torch.float32
    if precision == "fp32":
        return torch.float32
    if precision == "fp16":
        return torch.float16
    if precision == "bf16":
        return torch.bfloat16
    raise ValueError(f"unknown precision {precision!r}; expected one of {', '.join(PRECISIONS)}")
