#!/usr/bin/env python3
"""The cost of program outputs: display fps and generator frames shown with no sink, one stream
(H.264 MPEG-TS over UDP on 127.0.0.1, no receiver needed), one NDI source (discovery on loopback),
and three at once (stream + NDI + the session recorder); builtin:tiny headless in real time, rows
interleaved over --rounds; medians.

    python bench/outputs.py [--seconds 6] [--rounds 2]
"""
from __future__ import annotations

import argparse
import socket
import sys
import tempfile
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "vendor")]


def free_port() -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


VARIANTS = {"none": (), "stream": ("stream",), "ndi": ("ndi",), "stream+ndi+recorder": ("stream", "ndi", "recorder")}


def run(G, kinds: tuple, seconds: float, fps: float) -> dict:
    from livegan.app import App
    from livegan.outputs.ndi import NdiSink
    from livegan.outputs.stream import StreamSink
    from livegan.presets import parse_preset
    from livegan.show import Options, Show

    show = Show(Options(fps=fps), parse_preset({"keyframes": [1, 2, 3], "speed": 0.5}, "bench.json"), G=G)
    outs = [StreamSink(f"udp://127.0.0.1:{free_port()}", fps) if k == "stream" else NdiSink(f"bench-{free_port()}", fps)
            for k in kinds if k != "recorder"]
    with tempfile.TemporaryDirectory() as d:
        app = App(show, Path(d), hud=False, outputs=outs)
        if "recorder" in kinds:
            app.record(True)
        res = app.run_headless(int(seconds * fps), realtime=True)
        rec = app.recorder.frames if app.recorder is not None else 0
    return {"display_fps": res["display_fps"], "shown_fps": res["shown"] / res["wall_s"],
            "gen_ms": show.engine.stats.median_ms(), "sent": sum(o.sent for o in outs) + rec,
            "dropped": sum(o.dropped for o in outs)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--fps", type=float, default=30.0)
    a = ap.parse_args()
    from livegan.engine import threads
    from livegan.engine.devices import keep_freed_memory
    from stylegan3 import load_network

    keep_freed_memory()
    threads.apply(threads.plan())
    G = load_network("builtin:tiny")
    import json
    import os

    ndi_dir = tempfile.mkdtemp()                 # NDI discovery on loopback (see the README)
    Path(ndi_dir, "ndi-config.v1.json").write_text(json.dumps({"ndi": {"networks": {"ips": "127.0.0.1", "discovery": ""}}}))
    os.environ.setdefault("NDI_CONFIG_DIR", ndi_dir)
    from interleave import interleaved_medians

    med = interleaved_medians(VARIANTS, a.rounds, lambda n: run(G, VARIANTS[n], a.seconds, a.fps))
    print(f"# builtin:tiny, {a.seconds:g} s real time at {a.fps:g} fps, {a.rounds} rounds interleaved, medians")
    print("| sinks | display fps | generator frames shown/s | generator ms | frames sent | dropped by sinks |")
    print("|---|---|---|---|---|---|")
    for n, m in med.items():
        print(f"| {n} ({len(VARIANTS[n])}) | {m['display_fps']:.1f} | {m['shown_fps']:.1f} | {m['gen_ms']:.1f} | {m['sent']:.0f} | {m['dropped']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
