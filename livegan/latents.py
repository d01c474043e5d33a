"""Seeds, latents and interpolation (no torch at import time)."""
from __future__ import annotations

import math
from typing import Optional


import numpy as np


MAX_SEEDS = 10_000


def parse_seeds(spec: str, limit: int = MAX_SEEDS) -> list[int]:
    """'0-3,7,10-11' -> [0, 1, 2, 3, 7, 10, 11] (seeds are 0 .. 2**32-1, as numpy takes them;
    at most `limit` of them, checked before any list is built)."""
    out: list[int] = []
    try:
        for part in (p.strip() for p in str(spec).split(",")):
            if not part:
                continue
            lo, _, hi = part.partition("-")
            lo_i, hi_i = int(lo), int(hi) if hi else int(lo)
            if lo_i < 0 or hi_i < lo_i or hi_i >= 2 ** 32:
                raise ValueError
            if len(out) + hi_i - lo_i + 1 > limit:
                raise OverflowError
            out.extend(range(lo_i, hi_i + 1))
    except OverflowError:
        raise ValueError(f"bad seed list {spec[:40]!r}: more than {limit} seeds") from None
    except ValueError:
        raise ValueError(f"bad seed list {spec[:40]!r}: expected seeds and ranges like 0-15,20") from None
    if not out:
        raise ValueError(f"bad seed list {spec!r}: no seeds")
    return out


def parse_floats(spec: str, what: str = "value", lo: float = -1e3, hi: float = 1e3, limit: int = 64) -> list[float]:
    try:
        vals = [float(v) for v in str(spec).split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"bad {what} list {spec[:40]!r}: expected numbers like 0.5,0.7") from None
    if not vals:
        raise ValueError(f"bad {what} list {spec[:40]!r}: empty")
    if len(vals) > limit or not all(math.isfinite(v) and lo <= v <= hi for v in vals):
        raise ValueError(f"bad {what} list {spec[:40]!r}: at most {limit} finite numbers in {lo:g}..{hi:g}")
    return vals


def z_from_seed(seed: int, z_dim: int) -> np.ndarray:
    """The latent the official tools draw for a seed: RandomState(seed).randn(1, z_dim)."""
    return np.random.RandomState(seed).randn(1, z_dim)


def slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Spherical interpolation (of directions, with linearly interpolated length) for Z."""
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na < 1e-12 or nb < 1e-12:                   # no direction to turn from: a straight line
        return a + (b - a) * t
    ua, ub = a / na, b / nb
    omega = np.arccos(np.clip(np.dot(ua.ravel(), ub.ravel()), -1.0, 1.0))
    if omega < 1e-6:
        d = (1 - t) * ua + t * ub
    else:
        d = (np.sin((1 - t) * omega) * ua + np.sin(t * omega) * ub) / np.sin(omega)
    return d * ((1 - t) * na + t * nb)


def lerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    return a + (b - a) * t


def smoothstep(t: float) -> float:
    return t * t * (3 - 2 * t)


def class_vector(c_dim: int, cls: float):
    """A conditional network's c for class `cls`: [1, c_dim], one-hot; a fraction blends class K
    and K+1 (a knob sweeps through the classes).  None for an unconditional network (c_dim 0)."""
    if not c_dim:
        return None
    cls = min(max(float(cls), 0.0), float(c_dim - 1))
    k = int(math.floor(cls))
    f = cls - k
    c = np.zeros((1, c_dim), np.float32)
    c[0, k] = 1.0 - f
    if f > 0:
        c[0, k + 1] = f
    return c


def classes_for(G, n: int, cls: Optional[float] = None, rng: Optional[np.random.RandomState] = None):
    """c for `n` samples of a conditional network, as a tensor on G's device: class `cls` for all
    (a fraction blends two), or else classes drawn uniformly by `rng` (sampling the whole W: the
    directions, a walk without a class).  None for an unconditional network."""
    c_dim = int(getattr(G, "c_dim", 0) or 0)
    if not c_dim:
        return None
    import torch

    if cls is not None:
        c = np.repeat(class_vector(c_dim, cls), n, axis=0)
    else:
        c = np.eye(c_dim, dtype=np.float32)[(rng or np.random.RandomState(0)).randint(c_dim, size=n)]
    return torch.from_numpy(c).to(next(G.parameters()).device)
