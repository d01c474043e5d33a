#!/usr/bin/env python3
"""Stalls of the main thread in a show played hard: what a performer's night does to it.

Runs the real show headless (EGL) in real time for --seconds while this script plays it the way
a performer does, through the show's command path: a fader moving every display frame (psi), a
keyframe jump every 20 frames, a snapshot every 50, a new seed every 90, the preset again every
120, recording toggled every 200 and a network load (builtin:twemoji and builtin:tiny in turn)
every 300.  It times each frame's work on the main thread (the show's tick and the present; the
first frame, which waits for the first picture, is left out) and,
while a frame runs past --budget ms, samples the main thread's stack: the sites it was in are
counted, so a stall says where it came from.

    python bench/stalls.py
    python bench/stalls.py --seconds 60 --budget 12
"""
from __future__ import annotations

import argparse
import collections
import statistics
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "vendor")]

NETWORKS = ("builtin:twemoji", "builtin:tiny")


def play(show, app, i: int) -> None:
    """The performer's hands at display frame i."""
    from livegan.params import Command

    now = time.perf_counter()
    show.post(Command("set", "psi", 0.5 + 0.4 * ((i % 60) / 30.0 - 1.0) ** 2, "midi", now))
    every = {20: ("trigger", "keyframe_next", None), 50: ("trigger", "snapshot", None),
             90: ("trigger", "seed", i % 1000), 120: ("trigger", "preset", "default"),
             200: ("trigger", "record", (i // 200) % 2), 300: ("trigger", "network", NETWORKS[(i // 300) % 2])}
    for period, (op, name, value) in every.items():
        if i and i % period == 0:
            if name in show.limits:
                show.limits[name].allow = lambda: True      # the bench's own pace, not the rate limits
            show.post(Command(op, name, value, "midi", now))


class Sampler:
    """Samples the main thread's stack while a frame runs past the budget."""

    def __init__(self, budget_s: float):
        self.budget_s, self.started = budget_s, None
        self.sites: collections.Counter = collections.Counter()
        self._main = threading.main_thread().ident
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stall-sampler", daemon=True)

    def start(self) -> "Sampler":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.002):
            t = self.started
            if t is None or time.perf_counter() - t < self.budget_s:
                continue
            frame = sys._current_frames().get(self._main)
            if frame is not None:
                self.sites[_site(traceback.extract_stack(frame))] += 1


def _site(stack) -> str:
    """The innermost place in livegan, and what it called (a library's function) if anything."""
    ours = [i for i, f in enumerate(stack) if "/livegan/" in f.filename or "/stylegan3/" in f.filename]
    if not ours:
        return f"{Path(stack[-1].filename).name}:{stack[-1].name}"
    f = stack[ours[-1]]
    where = f"{Path(f.filename).parent.name}/{Path(f.filename).name}:{f.lineno} {f.name}"
    if ours[-1] + 1 < len(stack):
        g = stack[-1]
        where += f" -> {Path(g.filename).name}:{g.name}"
    return where


def run(seconds: float, fps: float, budget_ms: float) -> dict:
    from livegan.app import App
    from livegan.show import Options, Show

    with tempfile.TemporaryDirectory(prefix="livegan-stalls-") as out:
        show = Show(Options(network="builtin:tiny", fps=fps))
        app = App(show, Path(out), hud=True)
        sampler = Sampler(budget_ms / 1000.0).start()
        took: list[float] = []
        tick, present = show.tick, app.present

        def timed_tick(now, wait=False):
            sampler.started = time.perf_counter()
            return tick(now, wait=wait)

        def timed_present(display, frame):
            try:
                present(display, frame)
            finally:
                if sampler.started is not None:
                    took.append((time.perf_counter() - sampler.started) * 1e3)
                sampler.started = None
        show.tick, app.present = timed_tick, timed_present
        try:
            res = app.run_headless(int(seconds * fps), realtime=True, on_tick=lambda i, s, d: play(s, app, i))
        finally:
            sampler.stop()
    took = sorted(took[1:])                                 # the first waits for the first picture
    return {"frames": res["frames"], "shown": res["shown"], "repeated": res["repeated"], "dropped": res["dropped"],
            "p50": statistics.median(took), "p99": took[int(0.99 * (len(took) - 1))], "max": took[-1],
            "over": sum(1 for t in took if t > budget_ms), "errors": len(res["errors"]), "sites": sampler.sites}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=40.0, help="length of the show, 5..600 s (default: %(default)s)")
    ap.add_argument("--fps", type=float, default=30.0, help="display rate, 1..240 (default: %(default)s)")
    ap.add_argument("--budget", type=float, default=None,
                    help="a frame's main-thread work above this many ms is a stall and is sampled, 1..1000 "
                         "(default: half the frame period)")
    args = ap.parse_args()
    budget = args.budget if args.budget is not None else 500.0 / args.fps
    for name, v, lo, hi in (("--seconds", args.seconds, 5, 600), ("--fps", args.fps, 1, 240), ("--budget", budget, 1, 1000)):
        if not lo <= v <= hi:
            ap.error(f"{name} {v:g}: out of range {lo:g}..{hi:g}")
    from livegan.engine.devices import keep_freed_memory
    keep_freed_memory()                                     # as the app does
    r = run(args.seconds, args.fps, budget)
    print(f"# {args.seconds:g} s at {args.fps:g} fps, played hard; main-thread work per frame (tick + present)")
    print(f"frames {r['frames']}   shown {r['shown']}   repeated {r['repeated']}   dropped {r['dropped']}   "
          f"problems {r['errors']}")
    print(f"main thread ms: median {r['p50']:.1f}   99th percentile {r['p99']:.1f}   max {r['max']:.1f}   "
          f"over {budget:g} ms: {r['over']}")
    if r["sites"]:
        print("where the stalls were (samples every 2 ms while a frame ran over):")
        for site, n in r["sites"].most_common(10):
            print(f"  {n:5d}  {site}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
