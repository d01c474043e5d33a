"""Generator ms/frame of a real-time headless show, with and without --record, with and without a
competing CPU-bound process (issue: the show must degrade, not collapse, under CPU contention).

Each configuration is a fresh `perform.py --headless` process on builtin:tiny; the number is the
median generator time it reports.  Runs are interleaved, so a busy host hits every variant alike.

    python bench/contention.py [--duration 6] [--threads 0,2] [--rounds 2]
"""
from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BURN = "import itertools\nfor _ in itertools.count(): pass"


def run(threads: int, record: bool, loaded: bool, duration: float) -> float:
    burner = subprocess.Popen([sys.executable, "-c", BURN]) if loaded else None
    try:
        with tempfile.TemporaryDirectory() as out:
            cmd = [sys.executable, str(ROOT / "perform.py"), "--headless", "--duration", str(duration),
                   "--no-osc", "--out", out, "--threads", str(threads), "--video", "perform.mp4" if record else ""]
            if record:
                cmd.append("--record")
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
            m = re.search(r"generator ([0-9.]+) ms/frame", res.stdout)
            if res.returncode or not m:
                raise RuntimeError(f"{' '.join(cmd)} failed: {res.stderr[-400:]}")
            return float(m.group(1))
    finally:
        if burner is not None:
            burner.kill()
            burner.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=6.0)
    ap.add_argument("--threads", default="0,2", help="generator threads to compare; 0 = auto (default: %(default)s)")
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()
    variants = [(int(t), rec, load) for t in a.threads.split(",") for rec in (False, True) for load in (False, True)]
    got: dict = {v: [] for v in variants}
    for _ in range(a.rounds):
        for v in variants:
            got[v].append(run(*v, a.duration))
    print("| threads | record | competing process | generator ms/frame (median) | vs quiet, same threads |")
    print("|---|---|---|---|---|")
    for t, rec, load in variants:
        med = statistics.median(got[(t, rec, load)])
        quiet = statistics.median(got[(t, False, False)])
        print(f"| {t or 'auto'} | {'yes' if rec else 'no'} | {'yes' if load else 'no'} | {med:.1f} | {med / quiet:.2f}x |")


if __name__ == "__main__":
    main()
