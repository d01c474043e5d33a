#!/usr/bin/env python3
"""Training speed: s/kimg and images/s per configuration on this machine's device, with and
without augmentation (ADA, DiffAugment), at batch sizes, in one run (median of the ticks after the first).

    python bench/train.py [--res 32] [--cbase 2048] [--cmax 64] [--ticks 4] [--device cpu]
    python bench/train.py --phases 16 --augs noaug --batches 8     # where one iteration's time goes

A synthetic dataset of --res pictures is made in a temporary folder; every variant trains from the
same start for --ticks ticks of --tick-kimg.  The GPU kit runs it at 256 and 512 px.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "vendor")]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--res", type=int, default=32, help="picture size, a power of two (default: %(default)s)")
    ap.add_argument("--cbase", type=int, default=2048, help="channel base (default: %(default)s)")
    ap.add_argument("--cmax", type=int, default=64, help="most channels (default: %(default)s)")
    ap.add_argument("--w-dim", type=int, default=64, help="z and w size (default: %(default)s)")
    ap.add_argument("--ticks", type=int, default=4, help="ticks per variant, the first is warm-up (default: %(default)s)")
    ap.add_argument("--tick-kimg", type=float, default=0.064, help="kimg per tick (default: %(default)s)")
    ap.add_argument("--batches", default="8,16", help="batch sizes (default: %(default)s)")
    ap.add_argument("--cfgs", default="stylegan2,stylegan3-t,stylegan3-r", help="configurations (default: %(default)s)")
    ap.add_argument("--augs", default="noaug,ada,diffaug",
                    help="augmentations: noaug, ada (its pipeline at a fixed p = 0.2, a typical running value), "
                         "diffaug (default: %(default)s)")
    ap.add_argument("--device", default="cpu", help="torch device (default: %(default)s)")
    ap.add_argument("--phases", type=int, default=0,
                    help="instead of ticks: this many iterations (16: every phase due at least once), timed per "
                         "phase into forward, backward (backward passes and autograd.grad) and optimiser step")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads; 0 = livegan's plan, the cores minus one (default: %(default)s)")
    ap.add_argument("--no-heap", action="store_true", help="leave glibc's malloc as it is (every livegan command tunes it)")
    ap.add_argument("--reference-grad", action="store_true",
                    help="StyleGAN3 gradients through the reference filtered lrelu, not the fast passes' transposes")
    args = ap.parse_args()

    import torch

    from livegan.engine import threads
    torch.set_num_threads(args.threads or threads.plan().generator)
    if not args.no_heap:
        from livegan.engine.devices import keep_freed_memory
        keep_freed_memory()                              # as every livegan command runs

    import numpy as np
    from PIL import Image

    from livegan.training.dataset import make_dataset
    from livegan.training.loop import Trainer, TrainOptions

    tmp = Path(tempfile.mkdtemp())
    rng = np.random.default_rng(0)
    (tmp / "src").mkdir()
    for i in range(64):
        Image.fromarray(rng.integers(0, 255, (args.res, args.res, 3), np.uint8)).save(tmp / "src" / f"{i}.png")
    make_dataset([str(tmp / "src")], tmp / "ds.zip", args.res, progress=False)
    print(f"training speed on {args.device}: {args.res} px, cbase {args.cbase}, cmax {args.cmax}, w {args.w_dim}; "
          f"median of ticks 2..{args.ticks} ({args.tick_kimg} kimg each); {torch.get_num_threads()} CPU threads")
    print(f"{'cfg':12s} {'aug':8s} {'batch':>5s} {'s/kimg':>8s} {'img/s':>7s}")
    for cfg in args.cfgs.split(","):
        for aug in args.augs.split(","):
            for batch in (int(b) for b in args.batches.split(",")):
                o = TrainOptions(data=str(tmp / "ds.zip"), outdir=str(tmp / f"{cfg}-{aug}-{batch}"), cfg=cfg, batch=batch,
                                 gamma=1.0, kimg=1e6, tick=args.tick_kimg, snap=10 ** 6, aug="fixed" if aug == "ada" else aug, p=0.2, cbase=args.cbase,
                                 cmax=args.cmax, w_dim=args.w_dim, map_depth=2, device=args.device)
                t = Trainer(o, log=lambda line: None)
                for m in t.G.modules() if args.reference_grad else ():
                    if hasattr(m, "fast_grad"):
                        m.fast_grad = False
                if args.phases:
                    print_phases(cfg, aug, batch, t, args.phases)
                    continue
                times = []
                for _ in range(args.ticks):
                    start, n0 = time.perf_counter(), t.cur_nimg
                    while t.cur_nimg < n0 + args.tick_kimg * 1000:
                        t.step()
                    times.append((time.perf_counter() - start) / ((t.cur_nimg - n0) / 1000))
                s = statistics.median(times[1:]) if len(times) > 1 else times[0]
                print(f"{cfg:12s} {aug:8s} {batch:5d} {s:8.1f} {1000 / s:7.1f}", flush=True)
    return 0


def print_phases(cfg: str, aug: str, batch: int, t, iterations: int) -> None:
    """One row per phase (Gmain, Greg, Dmain, Dreg): calls, and ms per call in forward, backward and
    the optimiser step, over `iterations` whole iterations after one warm-up iteration."""
    import torch

    spent: dict = {}
    phase = ["?"]

    def add(kind: str, dt: float) -> None:
        spent.setdefault(phase[0], {"calls": 0, "forward": 0.0, "backward": 0.0, "optimiser": 0.0})[kind] += dt

    def timed(fn, kind):
        def wrapper(*a, **k):
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                add(kind, time.perf_counter() - t0)
        return wrapper
    accumulate = t.loss.accumulate_gradients

    def accumulate_timed(name, *a, **k):
        phase[0] = name
        before = spent.get(name, {}).get("backward", 0.0)
        t0 = time.perf_counter()
        accumulate(name, *a, **k)
        took = time.perf_counter() - t0
        add("forward", took - (spent[name]["backward"] - before) if name in spent else took)
    t.step()                                            # warm-up: allocations, kernels
    backward, grad = torch.Tensor.backward, torch.autograd.grad
    torch.Tensor.backward = timed(backward, "backward")
    torch.autograd.grad = timed(grad, "backward")
    t.loss.accumulate_gradients = accumulate_timed
    steps = {}                                          # per optimiser (a main and its lazy regularisation share one)
    for p in t.phases:
        if id(p.opt) not in steps:
            steps[id(p.opt)] = (p.opt, p.opt.step)
            p.opt.step = timed(p.opt.step, "optimiser")     # charged to the phase whose gradients it applies
    counted = set()
    try:
        start = time.perf_counter()
        for _ in range(iterations):
            for p in t.phases:                           # a phase's calls: once per iteration it is due
                if t.batch_idx % p.interval == 0:
                    counted.add(p.name)
                    spent.setdefault(p.name, {"calls": 0, "forward": 0.0, "backward": 0.0, "optimiser": 0.0})["calls"] += 1
            t.step()
        whole = time.perf_counter() - start
    finally:
        torch.Tensor.backward, torch.autograd.grad = backward, grad
        t.loss.accumulate_gradients = accumulate
        for opt, step in steps.values():
            opt.step = step
    print(f"{cfg} {aug} batch {batch}: {iterations} iterations in {whole:.2f} s ({whole / iterations * 1000:.0f} ms each)")
    print(f"  {'phase':8s} {'calls':>5s} {'forward ms':>11s} {'backward ms':>12s} {'optimiser ms':>13s}")
    every = 0.0
    for name, v in spent.items():
        n = max(1, v["calls"])
        every += (v["forward"] + v["backward"] + v["optimiser"]) * 1000 / n
        print(f"  {name:8s} {v['calls']:5d} {v['forward'] * 1000 / n:11.1f} {v['backward'] * 1000 / n:12.1f} "
              f"{v['optimiser'] * 1000 / n:13.1f}")
    # The official loop's batch index 0: every phase due at once (the shape of issue 35's comparison).
    print(f"  one iteration with every phase due: {every:.0f} ms")


if __name__ == "__main__":
    sys.exit(main())
