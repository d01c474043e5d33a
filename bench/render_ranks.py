#!/usr/bin/env python3
"""`livegan render --gpus N`: frames per second of a recording's re-render with 1, 2, ... processes
(gloo on the CPU: the processes share the machine's cores; one per GPU on CUDA).  A session of
--frames frames is recorded first (offline, every frame its own picture); each render is a whole
`livegan render` command, timed from start to exit, alternating over rounds; medians.

    python bench/render_ranks.py                                  # builtin:tiny, 1 and 2 processes
    python bench/render_ranks.py --network builtin:sg3t-1024 --gpus 1,2,4 --device cuda
"""
from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "vendor")]


def record(network: str, frames: int, folder: Path) -> Path:
    from livegan.app import App
    from livegan.params import Command
    from livegan.presets import parse_preset
    from livegan.record import LOG_NAME
    from livegan.show import Options, Show
    from livegan.store import Store

    show = Show(Options(network=network, fps=30), parse_preset({"keyframes": [1, 2, 3, 4], "speed": 1.0}, "b.json"))
    events = {1: Command("trigger", "record", 1, "bench"), frames + 1: Command("trigger", "record", 0, "bench")}
    App(show, folder, hud=False, codec="ffv1").run_headless(frames + 3, realtime=False,
                                                            on_tick=lambda i, s, d: s.post(events[i]) if i in events else None)
    (walk,) = Store(folder).walks("recording")
    return folder / str(walk["id"]) / LOG_NAME


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--network", default="builtin:tiny", help="(default: %(default)s)")
    ap.add_argument("--frames", type=int, default=60, help="frames recorded and rendered (default: %(default)s)")
    ap.add_argument("--gpus", default="1,2", help="process counts to compare (default: %(default)s)")
    ap.add_argument("--device", default="cpu", help="(default: %(default)s)")
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds (default: %(default)s)")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="livegan-bench-ranks-"))
    log = record(args.network, args.frames, tmp)
    counts = [int(g) for g in args.gpus.split(",")]
    times: dict = {g: [] for g in counts}
    shares: dict = {}
    for r in range(args.rounds):
        for g in counts:
            out = tmp / f"r{r}-g{g}.mkv"
            t0 = time.perf_counter()
            res = subprocess.run([sys.executable, "-m", "livegan.cli", "render", str(log), "--out", str(out), "--codec",
                                  "ffv1", "--quiet", "--device", args.device, "--gpus", str(g)],
                                 cwd=ROOT, capture_output=True, text=True)
            if res.returncode != 0:
                raise SystemExit(res.stderr[-2000:])
            times[g].append(time.perf_counter() - t0)
            m = re.search(r"frames rendered by rank: ([\d, ]+)", res.stdout)
            shares[g] = m.group(1) if m else str(args.frames)
    print(f"{args.network}, {args.frames} frames, {args.device}; whole commands, medians of {args.rounds}")
    print(f"{'processes':>9s} {'seconds':>8s} {'frames/s':>9s} {'vs 1':>6s}  frames by rank")
    base = statistics.median(times[counts[0]])
    for g in counts:
        s = statistics.median(times[g])
        print(f"{g:9d} {s:8.2f} {args.frames / s:9.2f} {base / s:6.2f}  {shares[g]}")


if __name__ == "__main__":
    main()
