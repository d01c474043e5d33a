#!/usr/bin/env python3
"""Network bending: what one bend slot costs per frame.  For each operation, the generator's
ms/frame with one slot bending a middle synthesis layer (half its channels, amount 0.5) against the
same frames unbent, interleaved over rounds (medians; the ratio is taken within the run).  The row
'rest' is an empty bender called at every layer: the show passes none when no slot is active, so
this is the most a slot at rest could cost.

    python bench/bend.py                                   # builtin:tiny and builtin:twemoji, CPU
    python bench/bend.py --networks builtin:sg3t-1024 --device cuda --rounds 20
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "vendor")]
from bench.interleave import interleaved_medians  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--networks", default="builtin:tiny,builtin:twemoji", help="comma-separated networks")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (default: %(default)s)")
    ap.add_argument("--ops", default="all", help="comma-separated ops, or all (default: %(default)s)")
    ap.add_argument("--batch", type=int, default=1, help="frames per batch (default: %(default)s)")
    ap.add_argument("--rounds", type=int, default=7, help="interleaved rounds (default: %(default)s)")
    args = ap.parse_args()

    import torch
    from stylegan3 import load_network
    from stylegan3.bending import OPS, Bender, BendSpec
    from stylegan3.layers import layer_channels, synthesis_layers

    ops = list(OPS) if args.ops == "all" else args.ops.split(",")
    print(f"{'network':18s} {'device':6s} {'layer':>14s} {'op':10s} {'plain ms':>9s} {'bent ms':>9s} {'ratio':>6s} {'+ms':>6s}")
    for name in args.networks.split(","):
        G = load_network(name, device=args.device).eval()
        layers, chans = synthesis_layers(G), layer_channels(G)
        layer = len(layers) // 2
        half = tuple(range(0, chans[layer], 2))
        g = torch.Generator().manual_seed(0)
        with torch.inference_mode():
            ws = G.mapping(torch.randn(args.batch, G.z_dim, generator=g).to(args.device), None, truncation_psi=0.7)
        cache: dict = {}

        def run(variant):
            bend = None
            if variant == "rest":
                bend = Bender.for_batch([[]] * args.batch, args.device, taps=(), cache=cache) or Bender({}, cache=cache)
            elif variant != "plain":
                bend = Bender.for_batch([[(BendSpec(variant, layer, half, OPS[variant][0]), 0.5)]] * args.batch,
                                        args.device, cache=cache)
            with torch.inference_mode():
                t0 = time.perf_counter()
                G.synthesis(ws, bend=bend)
                if args.device.startswith("cuda"):
                    torch.cuda.synchronize()
            return {"ms": (time.perf_counter() - t0) * 1000 / args.batch}

        run("plain")
        for op in ops:                                   # warm-up: grids, kernels, caches
            run(op)
        res = interleaved_medians(["plain", "rest", *ops], args.rounds, run)
        base = res["plain"]["ms"]
        for v in ["rest", *ops]:
            ms = res[v]["ms"]
            print(f"{name:18s} {args.device:6s} {f'{layer} {layers[layer]}'[:14]:>14s} {v:10s} {base:9.2f} {ms:9.2f} "
                  f"{ms / base:6.3f} {ms - base:6.2f}")


if __name__ == "__main__":
    main()
