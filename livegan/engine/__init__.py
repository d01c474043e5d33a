"""The engine stage: frame requests in, finished frames out, on its own thread (core.py); the device
and precision it runs at (devices.py), CUDA-graph capture (cuda_graphs.py) and the thread plan the
generator shares the cores by (threads.py).  `Engine` and friends load on first use: importing
`livegan.engine.threads` stays light."""
from __future__ import annotations

_CORE = ("Engine", "EngineStats", "Frame", "canvas_for")


def __getattr__(name: str):
    if name in _CORE:
        from . import core
        return getattr(core, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = list(_CORE)
