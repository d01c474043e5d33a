"""livegan: a real-time StyleGAN visualiser for live performance.

Importing the package is cheap; torch and the network code load on first use.
"""
from __future__ import annotations

from typing import Any

__all__ = ["load_network", "Walk", "RandomWalk", "CustomWalk", "VideoManager", "sample_latents", "Store"]


def __getattr__(name: str) -> Any:
    if name == "load_network":
        from stylegan3 import load_network
        return load_network
    if name in ("Walk", "RandomWalk", "CustomWalk", "VideoManager", "sample_latents"):
        from .offline import walks
        return getattr(walks, name)
    if name == "Store":
        from .store import Store
        return Store
    raise AttributeError(f"module 'livegan' has no attribute {name!r}")
