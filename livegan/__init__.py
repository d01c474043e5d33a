"""livegan: a real-time StyleGAN visualiser for live performance.

Importing the package is cheap; torch and the network code load on first use.
"""
from __future__ import annotations

from typing import Any

__all__ = ["load_network"]


def __getattr__(name: str) -> Any:
    if name == "load_network":
        from stylegan3 import load_network
        return load_network
    raise AttributeError(f"module 'livegan' has no attribute {name!r}")
