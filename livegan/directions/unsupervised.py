"""Directions found in the network itself, no labels:

- GANSpace: PCA of W over many mapping-network samples; components by variance, each with its σ
  (std of the projection), so a knob's ±1 is ±1σ;
- SeFa: closed form, the top eigenvectors of AᵀA over the style affine weights of the chosen
  layers (columns unit length; `eigh`, sorted descending; StyleGAN3's 4-output input affine left
  out, it takes no style).

Computed once per network and cached by its identity beside the network cache (see `cached`)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from ..latents import classes_for
from ..settings import PCA_SAMPLES as DEFAULT_SAMPLES
from .model import Direction, DirectionError

KEEP = 32                            # components kept


class OwnedCopy:
    """What the background computations need of a network, copied on the thread that hands the
    network over: the engine owns G and runs it while a show plays, so nothing here ever runs G's
    own modules beside it.  A CPU copy of the mapping network and the style affines' weights."""

    def __init__(self, G):
        import copy

        self.z_dim, self.c_dim = G.z_dim, int(getattr(G, "c_dim", 0) or 0)
        self.mapping = copy.deepcopy(G.mapping).to("cpu").float().eval()
        self.affines = style_affines(G)

    def parameters(self):
        return self.mapping.parameters()


def ganspace(G, samples: int = DEFAULT_SAMPLES, seed: int = 0, batch: int = 2000,
             progress: Optional[Callable[[float], None]] = None) -> tuple[np.ndarray, np.ndarray]:
    """(components [k, w_dim] unit rows by falling variance, σ [k]) from `samples` mapped z."""
    import torch
    from sklearn.decomposition import PCA

    if samples < 2 * KEEP:
        raise DirectionError(f"GANSpace needs at least {2 * KEEP} samples, got {samples}")
    rng = np.random.RandomState(seed)
    dev = next(G.parameters()).device
    ws = []
    with torch.inference_mode():
        for i in range(0, samples, batch):
            n = min(batch, samples - i)
            z = torch.from_numpy(rng.randn(n, G.z_dim).astype(np.float32)).to(dev)
            ws.append(G.mapping(z, classes_for(G, n, rng=rng))[:, 0].float().cpu().numpy())
            if progress is not None:
                progress((i + n) / samples)
    w = np.concatenate(ws).astype(np.float64)
    k = min(KEEP, w.shape[1])
    pca = PCA(n_components=k, svd_solver="full").fit(w)
    comps = pca.components_ / np.linalg.norm(pca.components_, axis=1, keepdims=True)
    sigma = np.sqrt(pca.explained_variance_)
    return comps, sigma


def style_affines(G, layers: Optional[Sequence[int]] = None) -> list[tuple[int, np.ndarray]]:
    """(ws index, affine weight [out, w_dim]) of every style-taking layer, optionally only those
    whose ws index is in `layers`."""
    if isinstance(G, OwnedCopy):
        return [(i, w) for i, w in G.affines if layers is None or i in layers]
    out = []
    for name, m in G.named_modules():
        if not name.endswith("affine") or not hasattr(m, "weight"):
            continue
        parts = name.split(".")
        if "input" in parts:                  # StyleGAN3's input affine: 4 outputs, a transform, no style
            continue
        idx = None
        for p in parts:                        # StyleGAN3 layers are L<k>_...: they take ws[k + 1]
            if p.startswith("L") and "_" in p and p[1:p.index("_")].isdigit():
                idx = int(p[1:p.index("_")]) + 1
        if idx is None:
            idx = len(out)                     # StyleGAN2: in order of the synthesis blocks
        if layers is None or idx in layers:
            out.append((idx, m.weight.detach().float().cpu().numpy().astype(np.float64)))
    return out


def sefa(G, layers: Optional[Sequence[int]] = None) -> tuple[np.ndarray, np.ndarray]:
    """(eigenvectors [k, w_dim] of AᵀA by falling eigenvalue, eigenvalues [k])."""
    aff = style_affines(G, layers)
    if not aff:
        raise DirectionError("no style layers in that range for SeFa")
    a = np.concatenate([w for _, w in aff], axis=0)
    a = a / np.maximum(np.linalg.norm(a, axis=0, keepdims=True), 1e-12)     # columns unit length
    vals, vecs = np.linalg.eigh(a.T @ a)
    order = np.argsort(vals)[::-1][:KEEP]
    return vecs[:, order].T.copy(), vals[order]


def cache_folder() -> Path:
    from stylegan3.download import cache_dir

    return cache_dir() / "directions"


def cached(G, network_id: str, kind: str, samples: int = DEFAULT_SAMPLES,
           progress: Optional[Callable[[float], None]] = None) -> list[Direction]:
    """pca or sefa directions of this network, from the cache or computed (and cached)."""
    from ..safeio import atomic_write

    if kind not in ("pca", "sefa"):
        raise DirectionError(f"unknown unsupervised kind {kind!r} (pca or sefa)")
    key = f"{network_id}-{kind}" + (f"-{samples}" if kind == "pca" else "")
    path = cache_folder() / f"{key}.npz"
    if path.is_file():
        try:
            from ..safeio import load_npz, read_regular
            z = load_npz(read_regular(path, 256 << 20, "direction cache"), 256 << 20, f"cache {path.name}")
            comps, sig = z["components"], z["sigma"]
        except Exception:
            comps = None
    else:
        comps = None
    if comps is None:
        if kind == "pca":
            comps, sig = ganspace(G, samples, progress=progress)
        else:
            comps, vals = sefa(G)
            # a SeFa knob's unit: the spread of typical w along that axis, from a small sample
            sig = _spread(G, comps)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda f: np.savez(f, components=comps, sigma=sig))
    return [Direction(f"{kind}:{i}", "linear", np.asarray(comps[i], np.float64), float(max(sig[i], 1e-6)),
                      meta={"method": kind, "index": i, "network_id": network_id}) for i in range(len(comps))]


def _spread(G, comps: np.ndarray, samples: int = 2000) -> np.ndarray:
    import torch

    rng = np.random.RandomState(1)
    with torch.inference_mode():
        z = torch.from_numpy(rng.randn(samples, G.z_dim).astype(np.float32)).to(next(G.parameters()).device)
        w = G.mapping(z, classes_for(G, samples, rng=rng))[:, 0].float().cpu().numpy().astype(np.float64)
    return (w @ comps.T).std(0)


def env_samples() -> int:
    from ..settings import pca_samples

    return pca_samples()
