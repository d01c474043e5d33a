#!/usr/bin/env python3
"""Audio-in to photon: how long from a click arriving from the audio device to the first presented
frame that shows its effect (a route onset -> psi), in ms and display frames; and what the
analysis thread costs per second of audio.  The real show runs headless (EGL) in real time on
builtin:tiny; the bench is the sound card: it delivers blocks at the audio rate, with a click every
--every seconds.  Medians; block sizes compared in one run, interleaved over --rounds.

    python bench/audio.py [--seconds 8] [--blocks 128,256,512]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "vendor")]


def run(G, block: int, seconds: float, every: float, fps: float) -> dict:
    import numpy as np

    from livegan.app import App
    from livegan.audio.analysis import AnalysisSettings
    from livegan.audio.input import RATE, AudioSource
    from livegan.presets import parse_preset
    from livegan.show import Options, Show

    clicks: list = []                                  # perf_counter when each click's block arrived

    class Card(AudioSource):
        """Blocks at the audio rate; a 1 kHz click at the start of a block every `every` s."""
        def _open(self):
            threading.Thread(target=self._play, daemon=True).start()

        def _play(self):
            n = np.arange(block)
            click = (0.8 * np.sin(2 * np.pi * 1000 * n / RATE) * np.exp(-n / 200)).astype(np.float32)
            silence = np.zeros(block, np.float32)
            t0, i, period = time.perf_counter(), 0, int(every * RATE / block)
            while not self._stop.is_set():
                delay = t0 + (i + 1) * block / RATE - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                hit = i > 0 and i % period == 0
                self._feed(click if hit else silence)
                if hit:
                    clicks.append(time.perf_counter())
                i += 1

    preset = parse_preset({"keyframes": [1, 2], "speed": 0.0, "psi": 0.5, "modulation": [
        {"source": "onset", "target": "psi", "amount": 0.4, "attack": 0.0, "release": 0.2}]}, "bench.json")
    show = Show(Options(fps=fps), preset, G=G)
    card = show.mod.audio = Card(AnalysisSettings(block=block)).start()
    lat_ms, lat_frames, pending = [], [], []

    def on_tick(i, s, d):
        while clicks:
            pending.append((clicks.pop(0), i))
        cur = s.current
        if pending and cur is not None and s.mod.matrix.assigned.get(cur.frame, {}).get("psi", 0.0) > 0.6:   # half the full swing
            t, tick = pending.pop(0)
            lat_ms.append((time.perf_counter() - t) * 1000)
            lat_frames.append(i - tick)
            pending.clear()
    res = App(show, Path("/tmp"), hud=False).run_headless(int(seconds * fps), realtime=True, on_tick=on_tick)
    card.stop()
    return {"display_fps": res["display_fps"], "lat_ms": statistics.median(lat_ms) if lat_ms else float("nan"),
            "lat_frames": statistics.median(lat_frames) if lat_frames else float("nan"), "clicks": len(lat_ms),
            "cpu_ms_per_s": 1000 * card.analysis_s / max(card.audio_s, 1e-9)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--every", type=float, default=0.5, help="seconds between clicks")
    ap.add_argument("--blocks", default="128,256,512", help="analysis block sizes to compare")
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()
    from livegan.engine import threads
    from stylegan3 import load_network

    threads.apply(threads.plan())
    G = load_network("builtin:tiny")
    from interleave import interleaved_medians

    blocks = [int(b) for b in a.blocks.split(",")]
    med = interleaved_medians(blocks, a.rounds, lambda b: run(G, b, a.seconds, a.every, a.fps))
    print(f"# builtin:tiny, {a.seconds:g} s real time at {a.fps:g} fps, a click every {a.every:g} s, "
          f"{a.rounds} rounds interleaved, medians; latency from the click's block arriving to the frame presented")
    print("| block (samples at 48 kHz) | display fps | audio-to-photon ms | frames | clicks | analysis CPU ms per s of audio |")
    print("|---|---|---|---|---|---|")
    for b, m in med.items():
        print(f"| {b} | {m['display_fps']:.1f} | {m['lat_ms']:.0f} | {m['lat_frames']:.0f} | {m['clicks']:.0f} | "
              f"{m['cpu_ms_per_s']:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
