#!/usr/bin/env python3
"""Control-to-photon latency: a change sent from the control page's socket against the same change
sent as an OSC packet, in one run, interleaved (builtin:tiny, headless, real time, loopback).

Latency is from the moment the message leaves the sender to the end of the first presented frame
whose program shows the new value (`kaleido`, which takes effect without a glide, toggled 0 <-> 4
so every change is visible).  The page's side is what the page's script sends (a JSON text frame on
/control/ws); the browser's own event handling is not in it.

    python bench/control.py [--changes 40] [--fps 60]
"""
from __future__ import annotations

import argparse
import json
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "vendor")]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--changes", type=int, default=40, help="changes per path (default: %(default)s)")
    ap.add_argument("--fps", type=float, default=60.0, help="display rate (default: %(default)s)")
    args = ap.parse_args()

    from pythonosc.osc_message_builder import OscMessageBuilder
    from stylegan3 import load_network
    from websockets.sync.client import connect

    from livegan.app import App
    from livegan.control.surfaces import ControlOptions, Controls
    from livegan.presets import parse_preset
    from livegan.show import Options, Show

    show = Show(Options(fps=args.fps), parse_preset({"keyframes": [1], "speed": 0.0}, "bench.json"),
                G=load_network("builtin:tiny"))
    ctl = Controls(show, ControlOptions(osc_port=0, oscquery_port=0, mdns=False), log=lambda m: None).start()
    app = App(show, Path(tempfile.mkdtemp()), hud=False, controls=ctl)
    want = {"value": None, "sent": 0.0}
    seen: list = []
    stop = threading.Event()
    ready = threading.Event()

    def tick(i, s, d):
        ready.set()
        v = want["value"]
        if v is not None and s.registry.value["kaleido"] == v:     # presented with the new value
            seen.append(time.perf_counter() - want["sent"])
            want["value"] = None
        if stop.is_set():
            raise KeyboardInterrupt
    th = threading.Thread(target=lambda: app.run_headless(10 ** 7, size=(256, 256), realtime=True, on_tick=tick),
                          daemon=True)
    th.start()
    ready.wait(60)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    osc_addr = ("127.0.0.1", ctl.osc.port)
    results = {"page": [], "osc": []}
    with connect(f"ws://127.0.0.1:{ctl.query.port}/control/ws", open_timeout=10) as ws:
        ws.recv(timeout=10)                                   # the page's first values
        value = 4
        for k in range(2 * args.changes):
            path = ("page", "osc")[k % 2]
            value = 0 if value == 4 else 4
            seen.clear()
            want["value"], want["sent"] = float(value), time.perf_counter()
            if path == "page":
                ws.send(json.dumps({"address": "/livegan/kaleido", "args": [value]}))
            else:
                m = OscMessageBuilder("/livegan/kaleido")
                m.add_arg(value)
                udp.sendto(m.build().dgram, osc_addr)
            end = time.perf_counter() + 5
            while not seen and time.perf_counter() < end:
                try:
                    ws.recv(timeout=0.005)                    # keep the page's socket drained, as a page does
                except TimeoutError:
                    pass
            if seen:
                results[path].append(seen[0] * 1000)
            time.sleep(0.05 + (k % 7) * 0.003)                # not locked to the frame clock
    stop.set()
    th.join(30)
    ctl.stop()
    print(f"control-to-photon latency, builtin:tiny at {args.fps:g} fps (frame period {1000 / args.fps:.1f} ms), "
          f"{args.changes} changes each, interleaved")
    print(f"{'path':6s} {'median ms':>10s} {'p90 ms':>8s} {'n':>4s}")
    for path, xs in results.items():
        xs = sorted(xs)
        print(f"{path:6s} {statistics.median(xs):10.1f} {xs[int(len(xs) * 0.9)]:8.1f} {len(xs):4d}")
    ratio = statistics.median(results["page"]) / statistics.median(results["osc"])
    print(f"page / osc median: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
