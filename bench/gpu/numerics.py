#!/usr/bin/env python3
"""Numerics at full size: checkpoint fp16 ('auto') and all-fp16 against fp32 (relative L2 of the
images), and CUDA-graph replay against eager (max abs difference), on one device.

    python bench/gpu/numerics.py --network builtin:sg3t-1024 --json out.json
    python bench/gpu/numerics.py --network builtin:tiny --device cpu      # plumbing on a CPU
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[2]), str(Path(__file__).resolve().parents[2] / "vendor")]

# Tolerances stated before measuring (what the CPU tests assert for the same comparisons).
TOL = {"auto": 1e-2, "fp16": 1e-2, "bf16": 6e-2, "graph": 1e-5}


def rel_l2(a, b) -> float:
    return float((a.float() - b.float()).norm() / b.float().norm().clamp_min(1e-12))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--network", default="builtin:sg3t-1024")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    import torch

    from livegan.engine.devices import resolve_device
    from stylegan3 import load_network
    from stylegan3.checkpoints import set_precision

    dev = resolve_device(args.device)
    cuda = dev.type == "cuda"
    G = load_network(args.network, device=dev, precision="fp32")
    torch.manual_seed(0)
    rows = []
    with torch.inference_mode():
        ws = G.mapping(torch.randn(args.batch, G.z_dim, device=dev), None, truncation_psi=0.7)
        ref = G.synthesis(ws)
        for prec in ("auto", "fp16") if cuda else ("bf16",):
            set_precision(G, prec)
            img = G.synthesis(ws)
            e = rel_l2(img, ref)
            rows.append({"check": f"{prec} vs fp32", "network": args.network, "rel_l2": e, "tolerance": TOL[prec],
                         "ok": bool(e < TOL[prec])})
        set_precision(G, "fp32")
        if cuda:
            from livegan.engine.cuda_graphs import GraphedSynthesis
            out = GraphedSynthesis(G, ws.shape).bound(ws)()
            d = float((out.float() - ref.float()).abs().max())
            rows.append({"check": "CUDA graph vs eager (fp32)", "network": args.network, "max_abs": d,
                         "tolerance": TOL["graph"], "ok": bool(d <= TOL["graph"])})
    for r in rows:
        val = r.get("rel_l2", r.get("max_abs"))
        print(f"{r['check']:<30} {val:.3e}  (tolerance {r['tolerance']:g})  {'ok' if r['ok'] else 'FAIL'}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
