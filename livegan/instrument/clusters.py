"""Channel clusters for network bending (`cluster:K` channel selections).

As in Broad et al.'s Network Bending, a layer's channels are grouped by what they draw: each
channel's feature maps over a few sample pictures (pooled to at most 16x16), standardised, and
clustered with k-means (scikit-learn); cluster 0 is the largest group.  Computed once per network
in the background, from the network's own copy loaded on that thread (the engine owns the playing
one), and cached by the network's identity beside the direction cache.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable, Optional

import numpy as np

SAMPLES = 8
MAX_CLUSTERS = 8
POOL = 16


def clusters_for(channels: int) -> int:
    """How many clusters a layer of this many channels is split into."""
    return max(1, min(MAX_CLUSTERS, channels // 2))


def compute(G, samples: int = SAMPLES, seed: int = 0) -> list[np.ndarray]:
    """Cluster labels [C] per synthesis layer of G."""
    import torch
    import torch.nn.functional as F
    from sklearn.cluster import KMeans
    from stylegan3.bending import Bender

    from ..latents import classes_for

    rng = np.random.RandomState(seed)
    dev = next(G.parameters()).device
    feats: dict[int, list] = {}
    with torch.inference_mode():
        for _ in range(samples):                         # one at a time: a 1024 network's maps are big
            z = torch.from_numpy(rng.randn(1, G.z_dim).astype(np.float32)).to(dev)
            ws = G.mapping(z, classes_for(G, 1, rng=rng), truncation_psi=0.7)
            b = Bender({}, all_taps=True)
            kw = {"transform": torch.eye(3, device=dev)[None]} if G.family == "stylegan3" else {}
            if G.family == "stylegan3-canvas":
                raise ValueError("channel clusters: StyleGAN-Canvas networks are not clustered (use all, A-B or random:)")
            G.synthesis(ws, bend=b, **kw)
            for i, x in b.tapped.items():
                h, w = x.shape[-2:]
                feats.setdefault(i, []).append(F.adaptive_avg_pool2d(x.float(), (min(h, POOL), min(w, POOL))).cpu())
    out = []
    for i in sorted(feats):
        x = torch.cat(feats[i]).transpose(0, 1).reshape(feats[i][0].shape[1], -1).numpy().astype(np.float64)
        x = (x - x.mean(1, keepdims=True)) / (x.std(1, keepdims=True) + 1e-8)
        k = clusters_for(x.shape[0])
        if k == 1:
            out.append(np.zeros(x.shape[0], np.int32))
            continue
        raw = KMeans(n_clusters=k, n_init=4, random_state=seed).fit_predict(x)
        order = np.argsort(-np.bincount(raw, minlength=k), kind="stable")       # largest first
        out.append(np.argsort(order)[raw].astype(np.int32))
    return out


def cache_path(network_id: str) -> Path:
    from stylegan3.download import cache_dir

    return cache_dir() / "clusters" / f"{network_id}-s{SAMPLES}-k{MAX_CLUSTERS}.npz"


def cached(G, network_id: str) -> list[np.ndarray]:
    from ..safeio import atomic_write, load_npz, read_regular

    path = cache_path(network_id)
    if path.is_file():
        try:
            z = load_npz(read_regular(path, 64 << 20, "cluster cache"), 64 << 20, f"cache {path.name}")
            return [np.asarray(z[f"layer{i}"], np.int32) for i in range(len(z))]
        except Exception:
            pass                                         # unreadable: made again
    labels = compute(G)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: np.savez(f, **{f"layer{i}": v for i, v in enumerate(labels)}))
    return labels


class Clusters:
    """The playing network's channel clusters: `start()` computes (or reads) them on a thread;
    `status` is 'not started', 'computing', 'ready' or 'failed: ...'."""

    def __init__(self, load: Callable[[str], object], log: Callable[[str], None] = print):
        self.load, self.log = load, log                  # load(source) -> a network of its own
        self._lock = threading.Lock()
        self._gen = 0
        self._source = self._id = ""
        self._labels: Optional[list[np.ndarray]] = None
        self.status = "not started"
        self._thread: Optional[threading.Thread] = None

    def network_changed(self, source: str, network_id: str) -> None:
        with self._lock:
            self._gen += 1
            self._source, self._id, self._labels, self.status = source, network_id, None, "not started"

    def start(self) -> None:
        with self._lock:
            if self.status != "not started":
                return
            self.status, gen, source, nid = "computing", self._gen, self._source, self._id

        def work():
            try:
                labels = cached(self.load(source), nid)
                with self._lock:
                    if gen == self._gen:
                        self._labels, self.status = labels, "ready"
            except Exception as e:
                with self._lock:
                    if gen == self._gen:
                        self.status = f"failed: {e}"
        self._thread = threading.Thread(target=work, name="livegan-clusters", daemon=True)
        self._thread.start()

    def labels(self, layer: int) -> Optional[np.ndarray]:
        with self._lock:
            return None if self._labels is None or layer >= len(self._labels) else self._labels[layer]

    def stop(self, timeout: float = 30.0) -> None:
        """Wait for a computation in flight (a thread inside torch at exit can abort the process)."""
        if self._thread is not None:
            self._thread.join(timeout)
