#!/usr/bin/env python3
"""Control floods against a running show (builtin:tiny, headless, real time, OSC and OSCQuery on
loopback): display fps, new generator frames per second and another sender's psi latency (sent ->
the show's target changed) under each flood, against the quiet run, interleaved over --rounds;
medians.  Each flood runs in its own process (its own CPU and GIL, as a peer would).

    python bench/floods.py [--seconds 6] [--rounds 2]

Floods (loopback only, bounded in count and time, stopping by themselves):
  sync      bundles of 250 /livegan/status/sync, every 10 ms
  patterns  bundles of 30 unique 250-character patterns (/*/*/ + literals)
  wire      200 x /livegan/hue f in one bundle, every 2 ms
  websocket 15 websocket clients sending 64 KB masked frames to OSCQuery
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "vendor")]

FLOODS = ("quiet", "sync", "patterns", "wire", "websocket")


def _bundle(msgs: list[bytes]) -> bytes:
    out = b"#bundle\x00" + (1).to_bytes(8, "big")
    for m in msgs:
        out += len(m).to_bytes(4, "big") + m
    return out


def _msg(address: str, tags: str = "", args: bytes = b"") -> bytes:
    def pad(b: bytes) -> bytes:
        return b + b"\x00" * (4 - len(b) % 4)
    return pad(address.encode()) + pad(("," + tags).encode()) + args


def flood(kind: str, osc_port: int, query_port: int, seconds: float) -> None:
    import random
    import struct

    end = time.monotonic() + seconds
    rng = random.Random(1)
    if kind == "websocket":
        import base64
        socks = []
        for _ in range(15):
            s = socket.create_connection(("127.0.0.1", query_port), timeout=5, source_address=("127.0.0.3", 0))
            key = base64.b64encode(os.urandom(16)).decode()
            s.sendall((f"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                       f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
            socks.append(s)
        payload, mask = os.urandom(65536), os.urandom(4)
        frame = bytes([0x82, 0x80 | 127]) + len(payload).to_bytes(8, "big") + mask + payload
        while time.monotonic() < end:
            for s in list(socks):
                try:
                    s.sendall(frame)
                except OSError:
                    socks.remove(s)                       # closed by the server: it refused the frame
            if not socks:
                time.sleep(0.05)
        return
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.2", 0))                              # the flooding peer
    target = ("127.0.0.1", osc_port)
    while time.monotonic() < end:
        if kind == "sync":
            s.sendto(_bundle([_msg("/livegan/status/sync")] * 250), target)
            time.sleep(0.01)
        elif kind == "patterns":
            msgs = [_msg("/*/*/" + "".join(rng.choice("abcdefgh") for _ in range(238)) + "x") for _ in range(30)]
            s.sendto(_bundle(msgs)[:8192], target)
        elif kind == "wire":
            s.sendto(_bundle([_msg("/livegan/hue", "f", struct.pack(">f", rng.random() * 100))] * 200)[:8192], target)
            time.sleep(0.002)


def run(kind: str, seconds: float) -> dict:
    from pythonosc.udp_client import SimpleUDPClient

    from livegan.app import App
    from livegan.control.surfaces import ControlOptions, Controls
    from livegan.params import Command  # noqa: F401  (the show's commands)
    from livegan.presets import parse_preset
    from livegan.show import Options, Show

    show = Show(Options(fps=30), parse_preset({"keyframes": [1, 2, 3], "speed": 0.3}, "bench.json"))
    ctl = Controls(show, ControlOptions(osc_host="127.0.0.1", osc_port=0, oscquery_port=0, mdns=False),
                   log=lambda m: None).start()
    proc = None
    other = SimpleUDPClient("127.0.0.1", ctl.osc.port)            # the other sender, on 127.0.0.1
    sent: dict = {}
    lat: list = []
    state = {"next": 1.0, "k": 0}
    t0 = [0.0]

    def on_tick(i, s, d):
        nonlocal proc
        now = time.perf_counter()
        if i == 0:
            t0[0] = now
            if kind != "quiet":
                proc = mp.Process(target=flood, args=(kind, ctl.osc.port, ctl.query.port, seconds + 1), daemon=True)
                proc.start()
        ctl.after_tick()
        for v, when in list(sent.items()):                     # psi arrived?
            if abs(s.registry.target["psi"] - v) < 1e-6:
                lat.append((now - when) * 1000)
                del sent[v]
        if now - t0[0] > state["next"]:                        # a psi twice a second
            state["next"] += 0.5
            state["k"] += 1
            v = round(0.3 + 0.01 * state["k"], 3)
            sent[v] = time.perf_counter()
            other.send_message("/livegan/psi", v)
    app = App(show, Path(tempfile.mkdtemp()), hud=True, controls=ctl)
    shown0 = show.stats.shown
    res = app.run_headless(int(seconds * 30), realtime=True, on_tick=on_tick)
    if proc is not None:
        proc.join(5)
        proc.kill()
    ctl.stop()
    missing = len(sent)
    return {"fps": res["display_fps"], "new_frames_s": (res["shown"] - shown0) / res["wall_s"],
            "psi_ms": statistics.median(lat) if lat else float("inf"), "psi_lost": missing}


def main() -> int:
    from interleave import interleaved_medians

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=6.0, help="each run's length (default: %(default)s)")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved rounds (default: %(default)s)")
    ap.add_argument("--floods", default=",".join(FLOODS), help="which, comma separated (default: all)")
    a = ap.parse_args()
    kinds = [k for k in a.floods.split(",") if k in FLOODS]
    if "quiet" not in kinds:
        kinds.insert(0, "quiet")
    med = interleaved_medians(kinds, a.rounds, lambda k: run(k, a.seconds))
    q = med["quiet"]
    print(f"Run: builtin:tiny, {a.seconds:g} s real time at 30 fps, {a.rounds} rounds interleaved, medians")
    print("| flood | display fps | vs quiet | new generator frames/s | vs quiet | other sender's psi latency ms |")
    print("|---|---|---|---|---|---|")
    for k in kinds:
        r = med[k]
        print(f"| {k} | {r['fps']:.1f} | {r['fps'] / q['fps']:.0%} | {r['new_frames_s']:.1f} | "
              f"{r['new_frames_s'] / q['new_frames_s']:.0%} | {r['psi_ms']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
