#!/usr/bin/env python3
"""Generator speed: ms/frame and frames/s (medians after warm-up) per network, device, dtype, batch.

    python bench/generator.py                       # built-ins on this machine's best device
    python bench/generator.py --network net.pkl --batches 1,4,8 --dtypes fp32,fp16
    python bench/generator.py --reference           # also time the plain reference ops (ratio)

Synthesis only (mapping is cached per keyframe in the live loop).  On CUDA, --cuda-graphs adds rows
replayed from a captured CUDA graph.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "vendor")]


def timed(fn, sync, repeats: int, warmup: int) -> float:
    for _ in range(warmup):
        fn()
    sync()
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        sync()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--network", action="append", help="network(s) to time (default: builtin:tiny, plus builtin:sg3t-1024 on CUDA)")
    ap.add_argument("--device", default="auto", help="auto, cpu, cuda (default: %(default)s)")
    ap.add_argument("--dtypes", default=None, help="comma list of auto,fp32,fp16,bf16 (default: fp32 on CPU; auto,fp16 on CUDA)")
    ap.add_argument("--batches", default="1,4,8", help="comma list of batch sizes (default: %(default)s)")
    ap.add_argument("--repeats", type=int, default=20, help="timed runs per row (default: %(default)s)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed runs first (default: %(default)s)")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: all cores)")
    ap.add_argument("--reference", action="store_true", help="also time the plain reference filtered lrelu")
    ap.add_argument("--cuda-graphs", action="store_true", help="also time CUDA-graph replay (CUDA only)")
    ap.add_argument("--channels-last", action="store_true", help="also time NHWC and NCHW convolutions, each forced")
    ap.add_argument("--compile", action="store_true",
                    help="also time torch.compile(G.synthesis) (inductor; its compile is in the warm-up), once: "
                         "the first network and batch size at the last dtype")
    ap.add_argument("--json", default=None, help="also write the rows to this JSON file (rewritten after each row)")
    ap.add_argument("--budget", type=float, default=0.0,
                    help="seconds: stop starting new rows after this long, 0 = no limit (default: %(default)s)")
    args = ap.parse_args()
    t_start = time.perf_counter()
    rows: list[dict] = []

    def emit(row: dict) -> None:
        rows.append(row)
        if args.json:
            import json
            Path(args.json).write_text(json.dumps(rows, indent=1))
    from livegan.engine.devices import keep_freed_memory
    keep_freed_memory()                       # as the app does

    import torch
    from stylegan3 import load_network
    from livegan.engine.devices import resolve_device

    if args.threads:
        torch.set_num_threads(args.threads)
    dev = resolve_device(args.device)
    cuda = dev.type == "cuda"
    nets = args.network or (["builtin:tiny", "builtin:sg3t-1024"] if cuda else ["builtin:tiny"])
    dtypes = (args.dtypes or ("auto,fp16" if cuda else "fp32")).split(",")
    batches = [int(b) for b in args.batches.split(",")]
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    name = torch.cuda.get_device_name(dev) if cuda else f"cpu ({torch.get_num_threads()} threads)"
    print(f"# torch {torch.__version__}, {name}; median of {args.repeats} after {args.warmup} warm-up runs")
    print(f"{'network':<22} {'device':<6} {'dtype':<6} {'variant':<10} {'batch':>5} {'ms/frame':>9} {'frames/s':>9} {'ms/batch':>9}")
    for net in nets:
        if args.budget and time.perf_counter() - t_start > args.budget:
            emit({"network": net, "skipped": f"time budget of {args.budget:g} s spent"})
            continue
        G = load_network(net, device=dev)
        for dtype in dtypes:
            from stylegan3.checkpoints import set_precision
            set_precision(G, dtype)
            for b in batches:
                ws = G.mapping(torch.randn(b, G.z_dim, device=dev), None)
                variants = [("fast", None)]
                if args.reference:
                    variants.append(("reference", "ref"))
                if args.cuda_graphs and cuda:
                    variants.append(("cudagraph", "graph"))
                if args.channels_last:             # both layouts forced ("fast" is the shipped choice)
                    variants += [("nhwc", "nhwc"), ("nchw", "nchw")]
                if args.compile and net == nets[0] and dtype == dtypes[-1] and b == batches[0]:
                    variants.append(("compile", "compile"))      # one compile: the last row of its group
                for label, kind in variants:
                    if args.budget and time.perf_counter() - t_start > args.budget:
                        emit({"network": net, "dtype": dtype, "variant": label, "batch": b,
                              "skipped": f"time budget of {args.budget:g} s spent"})
                        continue
                    with torch.inference_mode():
                        for m in G.modules():
                            if hasattr(m, "reference_ops"):
                                m.reference_ops = kind == "ref"
                                m.channels_last = {"nhwc": True, "nchw": False}.get(kind)
                        fn = lambda: G.synthesis(ws)
                        if kind == "graph":
                            from livegan.engine.cuda_graphs import GraphedSynthesis
                            fn = GraphedSynthesis(G, ws.shape).bound(ws)
                        if kind == "compile":
                            compiled = torch.compile(G.synthesis, dynamic=False)
                            fn = lambda: compiled(ws)
                        try:
                            t = timed(fn, sync, args.repeats, max(1, args.warmup))   # (warm-up compiles)
                        except Exception as e:                   # a compiler missing, a graph break
                            if kind != "compile":
                                raise
                            emit({"network": net, "dtype": dtype, "variant": label, "batch": b,
                                  "skipped": f"torch.compile failed: {str(e).splitlines()[0][:200]}"})
                            continue
                    print(f"{net:<22} {dev.type:<6} {dtype:<6} {label:<10} {b:>5} {t / b * 1e3:>9.2f} {b / t:>9.1f} {t * 1e3:>9.1f}",
                          flush=True)
                    emit({"network": net, "device": name, "dtype": dtype, "variant": label, "batch": b,
                          "ms_per_frame": t / b * 1e3, "images_per_s": b / t, "ms_per_batch": t * 1e3})
            for m in G.modules():
                if hasattr(m, "reference_ops"):
                    m.reference_ops = False
                    m.channels_last = None
    return 0


if __name__ == "__main__":
    sys.exit(main())
