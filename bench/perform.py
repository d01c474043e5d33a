#!/usr/bin/env python3
"""End to end: display frames/s, generator frames shown per second, and control-to-photon latency.

Runs the real show headless (EGL) in real time for --seconds, injecting a parameter change
(psi) every --every seconds; latency is measured from the command's arrival to the first
presented frame that reflects it, in ms and in display frames.  Medians are reported.

    python bench/perform.py                                   # builtin:tiny on this machine
    python bench/perform.py --every 0.034                     # a new value every display frame: a knob turning
    python bench/perform.py --network builtin:sg3t-1024 --batches 1,2,4,8 --cuda-graphs both --fps 60
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "vendor")]


def run(network: str, batch: int, fps: float, seconds: float, every: float, graphs: bool, device: str):
    from livegan.app import App
    from livegan.params import Command
    from livegan.show import Options, Show

    opts = Options(network=network, fps=fps, batch=batch, device=device, cuda_graphs=graphs)
    show = Show(opts)
    app = App(show, Path("/tmp"), hud=False)
    flip = [0.3, 1.0]

    period = int(round(every * fps))

    def on_tick(i, s, d):
        if period > 0 and i > 0 and i % period == 0:
            s.post(Command("set", "psi", flip[(i // period) % 2], "bench", time.perf_counter()))
    res = app.run_headless(int(seconds * fps), realtime=True, on_tick=on_tick)
    lat = list(show.stats.latency_ms)
    latf = list(show.stats.latency_frames)
    return {
        "display_fps": res["display_fps"],
        "gen_fps": res["shown"] / res["wall_s"],
        "gen_ms": show.engine.stats.median_ms(),
        "lat_ms": statistics.median(lat) if lat else float("nan"),
        "lat_frames": statistics.median(latf) if latf else float("nan"),
        "dropped": res["dropped"],
        "repeated": res["repeated"],
        "device": str(show.device),
        "frames_path": app.frames_path or "host copy (CPU)",
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--network", default="builtin:tiny", help="network (default: %(default)s)")
    ap.add_argument("--batches", default="1", help="comma list of engine batch sizes (default: %(default)s)")
    ap.add_argument("--fps", type=float, default=30.0, help="display rate to hold (default: %(default)s)")
    ap.add_argument("--seconds", type=float, default=10.0, help="run length per row (default: %(default)s)")
    ap.add_argument("--every", type=float, default=1.0, help="seconds between injected psi changes; 0: none, the steady rate (default: %(default)s)")
    ap.add_argument("--cuda-graphs", default="off", choices=["off", "on", "both"], help="CUDA graph rows (default: %(default)s)")
    ap.add_argument("--device", default="auto", help="auto, cpu, cuda (default: %(default)s)")
    ap.add_argument("--json", default=None, help="also write the rows to this JSON file (rewritten after each row)")
    args = ap.parse_args()
    rows: list[dict] = []
    from livegan.engine.devices import keep_freed_memory
    keep_freed_memory()                       # as the app does
    graph_modes = {"off": [False], "on": [True], "both": [False, True]}[args.cuda_graphs]
    change = f"a psi change every {args.every:g} s" if args.every > 0 else "no injected changes"
    print(f"# {args.seconds:.0f} s per row, real time at {args.fps:g} fps, {change}; medians")
    print(f"{'network':<20} {'device':<6} {'batch':>5} {'graphs':>6} {'display fps':>11} {'shown fps':>9} "
          f"{'gen ms':>7} {'latency ms':>10} {'latency fr':>10} {'repeated':>8} {'dropped':>7}")
    for b in (int(x) for x in args.batches.split(",")):
        for g in graph_modes:
            r = run(args.network, b, args.fps, args.seconds, args.every, g, args.device)
            print(f"{args.network:<20} {r['device']:<6} {b:>5} {str(g):>6} {r['display_fps']:>11.1f} {r['gen_fps']:>9.1f} "
                  f"{r['gen_ms']:>7.1f} {r['lat_ms']:>10.0f} {r['lat_frames']:>10.0f} {r['repeated']:>8} {r['dropped']:>7}", flush=True)
            rows.append(dict(r, network=args.network, batch=b, graphs=g, fps=args.fps))
            if args.json:
                import json
                Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
