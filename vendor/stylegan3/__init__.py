"""livegan's own StyleGAN2 + StyleGAN3 generators, compatible with official NVIDIA checkpoints.

Heavy imports (torch, scipy) happen on first use of an attribute, not at `import stylegan3`.
"""
from __future__ import annotations

from typing import Any

__all__ = ["load_network", "build_generator", "save_safetensors", "CheckpointError", "set_precision",
           "set_channels_last", "describe_config"]


def __getattr__(name: str) -> Any:
    if name in ("load_network", "build_generator", "save_safetensors", "set_precision", "set_channels_last",
                "describe_config"):
        from . import checkpoints
        return getattr(checkpoints, name)
    if name == "CheckpointError":
        from .pickle_safe import CheckpointError
        return CheckpointError
    raise AttributeError(f"module 'stylegan3' has no attribute {name!r}")
