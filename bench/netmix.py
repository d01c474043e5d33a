#!/usr/bin/env python3
"""Model mixing: what one change of the netmix knob costs (a blended copy of the synthesis weights,
made on the loader thread, never per frame), and the generator's ms/frame with A alone and with a
blend (the same architecture: the same work per frame).  Medians.

    python bench/netmix.py                                  # builtin:tiny and builtin:sg3t-1024, CPU
    python bench/netmix.py --networks builtin:sg3t-1024 --device cuda
"""
from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "vendor")]


def frame_ms(G, ws, runs: int) -> float:
    import torch

    times = []
    with torch.inference_mode():
        G.synthesis(ws, noise_mode="const")                     # warm-up
        for _ in range(runs):
            t0 = time.perf_counter()
            G.synthesis(ws, noise_mode="const")
            if ws.device.type == "cuda":
                torch.cuda.synchronize()
            times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--networks", default="builtin:tiny,builtin:sg3t-1024", help="comma-separated networks")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (default: %(default)s)")
    ap.add_argument("--changes", type=int, default=9, help="knob changes timed (default: %(default)s)")
    ap.add_argument("--frames", type=int, default=5, help="frames timed per variant (default: %(default)s)")
    args = ap.parse_args()

    import torch
    from stylegan3 import load_network

    from livegan.instrument.netmix import blend

    print(f"{'network':20s} {'device':6s} {'change ms':>10s} {'A ms/frame':>11s} {'mix ms/frame':>13s} {'ratio':>6s}")
    for name in args.networks.split(","):
        A = load_network(name, device=args.device).eval()
        B = copy.deepcopy(A)
        with torch.no_grad():
            for p in B.synthesis.parameters():
                p.mul_(1.01)
        changes = []
        for k in range(args.changes):
            t0 = time.perf_counter()
            M = blend(A, B, (k + 1) / (args.changes + 1))
            if args.device == "cuda":
                torch.cuda.synchronize()
            changes.append((time.perf_counter() - t0) * 1000)
        ws = A.mapping.w_avg.reshape(1, 1, -1).repeat(1, A.num_ws, 1).to(args.device)
        a, m = frame_ms(A, ws, args.frames), frame_ms(M, ws, args.frames)
        print(f"{name:20s} {args.device:6s} {statistics.median(changes):10.1f} {a:11.1f} {m:13.1f} {m / a:6.3f}")


if __name__ == "__main__":
    main()
