#!/usr/bin/env python3
"""Unsupervised directions' CPU cost: GANSpace (mapping samples + PCA) and SeFa, per network.

    python bench/directions.py [--network builtin:sg3t-1024] [--samples 50000]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "vendor")]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--network", action="append", help="(default: builtin:sg3t-1024 and builtin:tiny)")
    ap.add_argument("--samples", type=int, default=50_000)
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    import torch

    from livegan.directions.unsupervised import ganspace, sefa
    from stylegan3 import load_network

    if a.threads:
        torch.set_num_threads(a.threads)
    print(f"# torch {torch.__version__}, CPU, {torch.get_num_threads()} threads")
    print(f"{'network':<22} {'GANSpace samples':>16} {'GANSpace s':>10} {'SeFa s':>7} {'w_dim':>6}")
    for net in a.network or ["builtin:sg3t-1024", "builtin:tiny"]:
        G = load_network(net, device="cpu")
        t = time.perf_counter()
        comps, sigma = ganspace(G, a.samples)
        tg = time.perf_counter() - t
        t = time.perf_counter()
        vecs, vals = sefa(G)
        ts = time.perf_counter() - t
        print(f"{net:<22} {a.samples:>16} {tg:>10.2f} {ts:>7.3f} {G.w_dim:>6}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
