"""Device choice, resolved once at start-up (no literal 'cuda' scattered through the code)."""
from __future__ import annotations


def resolve_device(name: str = "auto"):
    """'auto' -> CUDA when available, else CPU; anything else is passed to torch.device."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available on this machine")
    return dev
