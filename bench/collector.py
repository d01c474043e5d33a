#!/usr/bin/env python3
"""The cycle collector's pauses during a live show, with the startup objects frozen for the loop
(livegan/collector.py, what the show does) and without (every collection of the oldest
generation walks them all).

Runs the real show headless (EGL) in real time for --seconds a round, loading a network (OSC's
command, builtin:twemoji and builtin:tiny in turn) every --every seconds, and half-way between
two loads timing one full collection (`gc.collect()`, what the interpreter runs when it judges
the oldest generation has grown enough: when is its own count, so the bench takes one on cue);
the collector's callbacks count and time the collections it ran by itself.  The two variants
alternate, --rounds each, in one process.

    python bench/collector.py
    python bench/collector.py --seconds 30 --every 5 --rounds 3
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import statistics
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "vendor")]


def one(frozen: bool, fps: float, seconds: float, every: float) -> dict:
    from livegan import loop
    from livegan.app import App
    from livegan.params import Command
    from livegan.show import Options, Show

    show = Show(Options(network="builtin:tiny", fps=fps))
    app = App(show, Path("/tmp"), hud=False)
    pauses: list[tuple[int, float]] = []
    began: list[float] = []
    full: list[float] = []
    running = [False]

    def timer(phase: str, info: dict) -> None:
        if phase == "start":
            began[:] = [time.perf_counter()]
        elif running[0] and began:
            pauses.append((info["generation"], (time.perf_counter() - began[0]) * 1e3))

    names, period = ["builtin:twemoji", "builtin:tiny"], max(1, int(round(every * fps)))

    def on_tick(i, s, d):
        running[0] = True
        if i > 0 and i % period == 0:
            s.limits["network"].allow = lambda: True        # this bench's loads, not the rate limit
            s.post(Command("trigger", "network", names[(i // period - 1) % 2], "bench"))
        if i % period == period // 2:
            running[0] = False                              # not the collector's own
            t = time.perf_counter()
            gc.collect()
            full.append((time.perf_counter() - t) * 1e3)
            running[0] = True
    saved = loop.startup_frozen
    if not frozen:
        loop.startup_frozen = contextlib.nullcontext
    gc.callbacks.append(timer)
    try:
        res = app.run_headless(int(seconds * fps), realtime=True, on_tick=on_tick)
    finally:
        gc.callbacks.remove(timer)
        loop.startup_frozen = saved
    oldest = [ms for g, ms in pauses if g == 2]
    return {"full_ms": statistics.median(full), "full_max": max(full), "collections": len(pauses), "oldest": len(oldest), "max_ms": max((ms for _, ms in pauses), default=0.0),
            "dropped": res["dropped"], "repeated": res["repeated"], "errors": len(res["errors"])}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fps", type=float, default=30.0, help="display rate to hold, 1..240 (default: %(default)s)")
    ap.add_argument("--seconds", type=float, default=20.0, help="length of a round, 2..600 s (default: %(default)s)")
    ap.add_argument("--every", type=float, default=4.0, help="seconds between network loads, 1..60 (default: %(default)s)")
    ap.add_argument("--rounds", type=int, default=2, help="rounds of each variant, 1..20 (default: %(default)s)")
    args = ap.parse_args()
    for name, v, lo, hi in (("--fps", args.fps, 1, 240), ("--seconds", args.seconds, 2, 600),
                            ("--every", args.every, 1, 60), ("--rounds", args.rounds, 1, 20)):
        if not lo <= v <= hi:
            ap.error(f"{name} {v:g}: out of range {lo:g}..{hi:g}")
    from livegan.engine.devices import keep_freed_memory
    keep_freed_memory()                                     # as the app does
    print(f"# {args.seconds:g} s a round, real time at {args.fps:g} fps, a network load every {args.every:g} s")
    print(f"{'startup objects':<16} {'round':>5} {'full collection ms':>18} {'max':>6} {'by itself':>9} "
          f"{'oldest gen':>10} {'longest ms':>10} {'repeated':>8} {'dropped':>7}")
    for r in range(args.rounds):
        for frozen in ((True, False) if r % 2 else (False, True)):
            x = one(frozen, args.fps, args.seconds, args.every)
            print(f"{'frozen' if frozen else 'walked':<16} {r + 1:>5} {x['full_ms']:>18.1f} {x['full_max']:>6.1f} "
                  f"{x['collections']:>9} {x['oldest']:>10} {x['max_ms']:>10.1f} {x['repeated']:>8} {x['dropped']:>7}"
                  + (f"  ({x['errors']} errors)" if x["errors"] else ""), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
