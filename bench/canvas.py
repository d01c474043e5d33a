#!/usr/bin/env python3
"""StyleGAN-Canvas live: condition-to-photon latency and frame rates.

Runs the real show headless (EGL) in real time on a Canvas network with a condition source the
bench feeds itself: every --every seconds it swaps the condition picture (black <-> a pattern)
and measures from that moment to the first presented frame rendered from the new picture, in ms
and display frames.  Also: display fps, generator frames shown per second, generator ms/frame.
Medians over the swaps; variants run interleaved over --rounds.

    python bench/canvas.py                                            # builtin:canvas-tiny, CPU
    python bench/canvas.py --network canvas.pkl --device cuda --fps 60  # on a GPU
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "vendor")]


def run(network: str, fps: float, seconds: float, every: float, device: str, batch: int, lookahead: int) -> dict:
    import numpy as np

    from livegan.app import App
    from livegan.conditions import pattern
    from livegan.show import Options, Show

    show = Show(Options(network=network, fps=fps, device=device, batch=batch, live_lookahead=lookahead,
                        inputs=("feedback",)))
    src = show.conditioner.source                     # a push source: the bench is the camera
    w, h = show.conditioner.size
    pictures = [np.zeros((h, w, 3), np.uint8), pattern((w, h))]
    period = max(1, int(round(every * fps)))
    pushed: dict = {}                                 # condition key -> perf_counter when it arrived
    lat_ms, lat_frames = [], []
    show.conditioner.feedback = lambda program: None  # the bench, not the program, feeds it

    def on_tick(i, s, d):
        if i > 0 and i % period == 0:
            src.push(pictures[(i // period) % 2])
            pushed[src.latest().key] = (time.perf_counter(), i)
        cur = s.current
        if cur is not None and cur.cond is not None and cur.cond.key in pushed:
            t, tick = pushed.pop(cur.cond.key)
            lat_ms.append((time.perf_counter() - t) * 1000)
            lat_frames.append(i - tick)
    res = App(show, Path("/tmp"), hud=False).run_headless(int(seconds * fps), realtime=True, on_tick=on_tick)
    return {"display_fps": res["display_fps"], "shown_fps": res["shown"] / res["wall_s"],
            "gen_ms": show.engine.stats.median_ms(),
            "lat_ms": statistics.median(lat_ms) if lat_ms else float("nan"),
            "lat_frames": statistics.median(lat_frames) if lat_frames else float("nan"), "swaps": len(lat_ms)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--network", default="builtin:canvas-tiny")
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--every", type=float, default=0.5, help="seconds between condition swaps")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--batches", default="1", help="comma-separated generator batch sizes to compare")
    ap.add_argument("--lookaheads", default="2,0", help="comma-separated frames planned ahead with a moving input (the show's default is 0)")
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()
    from livegan.engine import threads
    threads.apply(threads.plan())
    from interleave import interleaved_medians

    variants = [(int(b), int(k)) for b in a.batches.split(",") for k in a.lookaheads.split(",")]
    med = interleaved_medians(variants, a.rounds, lambda v: run(a.network, a.fps, a.seconds, a.every, a.device, *v))
    print(f"# {a.network}, {a.seconds:g} s real time at {a.fps:g} fps, condition swapped every {a.every:g} s, "
          f"{a.rounds} rounds interleaved, medians")
    print("| batch | lookahead | display fps | generator frames shown/s | generator ms/frame | condition-to-photon ms | frames | swaps |")
    print("|---|---|---|---|---|---|---|---|")
    for v, m in med.items():
        print(f"| {v[0]} | {v[1]} | {m['display_fps']:.1f} | {m['shown_fps']:.1f} | {m['gen_ms']:.1f} | {m['lat_ms']:.0f} | "
              f"{m['lat_frames']:.0f} | {m['swaps']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
