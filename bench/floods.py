#!/usr/bin/env python3
"""Control floods from 1, 10 and 40 source addresses against a running show (builtin:tiny, headless,
real time, OSC and the control page on loopback): display fps before, during and after each flood,
and the performer's psi latency during and after it, measured as the performer sees it: from
sending `/livegan/psi v` (OSC, from 127.0.0.1) to receiving `/livegan/psi v` back as feedback
(--osc-out).  The floods and the performer run in processes of their own (their own CPU and GIL,
as peers on the network would); sources are distinct loopback addresses (127.0.0.10 and up).

    python bench/floods.py [--seconds 5] [--after 3] [--sources 1,10,40] [--floods osc,patterns,sync,page]

Floods, per source:
  osc       bundles of 40 `/livegan/hue` sets and 5 `/livegan/seed`s, every 4 ms
  patterns  bundles of 25 wildcard patterns with 220-character literals, every 4 ms
  sync      bundles of 120 `/livegan/status/sync`, every 4 ms
  page      12 control-page websockets, each sending `/livegan/hue` at 240 a second
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import random
import socket
import statistics
import struct
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "vendor")]

FLOODS = ("osc", "patterns", "sync", "page")


def _pad(b: bytes) -> bytes:
    return b + b"\x00" * (4 - len(b) % 4)


def _msg(address: str, tags: str = "", args: bytes = b"") -> bytes:
    return _pad(address.encode()) + _pad(("," + tags).encode()) + args


def _bundle(msgs: list[bytes]) -> bytes:
    out = b"#bundle\x00" + (1).to_bytes(8, "big")
    for m in msgs:
        out += len(m).to_bytes(4, "big") + m
    return out[:8192]


def flood(kind: str, addrs: list[str], osc_port: int, query_port: int, seconds: float) -> None:
    """One flooding process: every source in `addrs` sends its flood until `seconds` pass."""
    rng = random.Random(len(addrs))
    end = time.monotonic() + seconds
    if kind == "page":
        _page_flood(addrs, query_port, end)
        return
    socks = []
    for a in addrs:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((a, 0))
        s.setblocking(False)
        socks.append(s)
    target = ("127.0.0.1", osc_port)
    if kind == "osc":
        data = [_bundle([_msg("/livegan/hue", "f", struct.pack(">f", rng.random() * 100)) for _ in range(40)]
                        + [_msg("/livegan/seed", "i", struct.pack(">i", rng.randrange(1 << 30))) for _ in range(5)])
                for _ in range(8)]
    elif kind == "sync":
        data = [_bundle([_msg("/livegan/status/sync")] * 120)]
    else:
        data = None
    nxt = time.monotonic()
    while time.monotonic() < end:
        for s in socks:
            if kind == "patterns":
                d = _bundle([_msg("/*/{" + "".join(rng.choice("abcdefgh") for _ in range(220)) + ",hue}",
                                  "f", struct.pack(">f", 1.0)) for _ in range(25)])
            else:
                d = data[rng.randrange(len(data))]
            try:
                s.sendto(d, target)
            except OSError:                 # the socket's buffer is full: the flood goes on
                pass
        nxt += 0.004
        time.sleep(max(0.0, nxt - time.monotonic()))


def _page_flood(addrs: list[str], query_port: int, end: float) -> None:
    from websockets.sync.client import connect

    conns = []
    for a in addrs:
        for _ in range(12):
            try:
                s = socket.create_connection(("127.0.0.1", query_port), timeout=5, source_address=(a, 0))
                ws = connect(f"ws://127.0.0.1:{query_port}/control/ws", sock=s, open_timeout=5).__enter__()
                conns.append(ws)
            except Exception:               # refused: the show's limits at work
                continue
    k, nxt = 0, time.monotonic()
    while time.monotonic() < end and conns:
        for ws in list(conns):
            try:
                ws.send(json.dumps({"address": "/livegan/hue", "args": [k % 360]}))
                while True:                 # read what the page is sent, as a page does
                    ws.recv(timeout=0)
            except TimeoutError:
                pass
            except Exception:
                conns.remove(ws)
        k += 1
        nxt += 1 / 240
        time.sleep(max(0.0, nxt - time.monotonic()))
    for ws in conns:
        try:
            ws.close()
        except Exception:
            pass


def performer(osc_port: int, feedback: socket.socket, start: float, seconds: float, q) -> None:
    """Sends a new psi four times a second from 127.0.0.1 and times its feedback."""
    from pythonosc.osc_message import OscMessage
    from pythonosc.osc_message_builder import OscMessageBuilder

    out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    feedback.settimeout(0.01)
    sent: dict = {}
    got = []
    k, nxt = 0, start
    end = start + seconds
    while time.time() < end:
        if time.time() >= nxt:
            k += 1
            v = round(0.1 + 0.001 * k, 3)
            m = OscMessageBuilder("/livegan/psi")
            m.add_arg(v)
            sent[v] = time.time()
            out.sendto(m.build().dgram, ("127.0.0.1", osc_port))
            nxt += 0.25
        try:
            data = feedback.recv(65536)
        except (socket.timeout, BlockingIOError):
            continue
        if not data.startswith(b"/livegan/psi\x00"):
            continue
        try:
            v = round(float(OscMessage(data).params[0]), 3)
        except Exception:
            continue
        if v in sent:
            got.append((sent[v] - start, (time.time() - sent.pop(v)) * 1000))
            for old in [o for o in sent if o < v]:        # sent before it, applied in the same frame:
                sent.pop(old)                             # the newest wins (fed back once), not lost
    q.put({"got": got, "lost": [t - start for t in sent.values()]})


def run(kind: str, sources: int, seconds: float, after: float) -> dict:
    from livegan.app import App
    from livegan.control.surfaces import ControlOptions, Controls
    from livegan.presets import parse_preset
    from livegan.show import Options, Show

    fb = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    fb.bind(("127.0.0.1", 0))
    show = Show(Options(fps=30), parse_preset({"keyframes": [1, 2, 3], "speed": 0.3}, "bench.json"))
    ctl = Controls(show, ControlOptions(osc_host="127.0.0.1", osc_port=0, oscquery_port=0, mdns=False,
                                        osc_out=f"127.0.0.1:{fb.getsockname()[1]}"), log=lambda m: None).start()
    lead = 1.0
    start = time.time() + 2.0                      # the show runs a moment before the performer starts
    flood_at, flood_end = start + lead, start + lead + seconds
    total = lead + seconds + after
    q = mp.Queue()
    perf = mp.Process(target=performer, args=(ctl.osc.port, fb, start, total, q), daemon=True)
    perf.start()
    procs = []
    if kind != "quiet":
        addrs = [f"127.0.0.{10 + i}" for i in range(sources)]
        groups = [addrs[i::2] for i in range(min(2, sources))]
        for g in groups:
            procs.append(mp.Process(target=_delayed_flood, args=(kind, g, ctl.osc.port, ctl.query.port, seconds,
                                                                 flood_at), daemon=True))
            procs[-1].start()
    ticks: list = []

    def on_tick(i, s, d):
        ticks.append(time.time())
    app = App(show, Path(tempfile.mkdtemp()), hud=True, controls=ctl)
    frames = int((start - time.time() + total + 0.5) * 30)
    app.run_headless(frames, realtime=True, on_tick=on_tick)
    res = q.get(timeout=30)
    perf.join(5)
    for p in procs:
        p.join(5)
        p.kill()
    ctl.stop()
    show.stop()
    fb.close()

    def fps(a, b):
        n = sum(1 for t in ticks if a <= t < b)
        return n / (b - a) if b > a else 0.0

    def lat(a, b):
        xs = [ms for t, ms in res["got"] if a <= start + t < b]
        lost = sum(1 for t in res["lost"] if a <= start + t < b - 1.0)   # not back within the run
        return (statistics.median(xs) if xs else float("inf")), (max(xs) if xs else float("inf")), lost
    during, after_ = lat(flood_at, flood_end), lat(flood_end, flood_end + after)
    return {"fps_before": fps(start, flood_at), "fps_during": fps(flood_at, flood_end),
            "fps_after": fps(flood_end, flood_end + after),
            "psi_during_ms": during[0], "psi_during_max": during[1], "lost_during": during[2],
            "psi_after_ms": after_[0], "psi_after_max": after_[1], "lost_after": after_[2],
            "coalesced": getattr(show, "intake", None) and show.intake.coalesced or 0}


def _delayed_flood(kind, addrs, osc_port, query_port, seconds, at):
    time.sleep(max(0.0, at - time.time()))
    flood(kind, addrs, osc_port, query_port, seconds)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5.0, help="each flood's length (default: %(default)s)")
    ap.add_argument("--after", type=float, default=3.0, help="measured after each flood (default: %(default)s)")
    ap.add_argument("--sources", default="1,10,40", help="source addresses per flood (default: %(default)s)")
    ap.add_argument("--floods", default=",".join(FLOODS), help="which, comma separated (default: all)")
    a = ap.parse_args()
    mp.set_start_method("fork")
    kinds = [k for k in a.floods.split(",") if k in FLOODS]
    counts = [int(n) for n in a.sources.split(",")]
    print(f"Run: builtin:tiny, real time at 30 fps; each flood {a.seconds:g} s, then {a.after:g} s after it; "
          "the performer's psi four times a second, latency to its OSC feedback "
          "(lost: neither it nor a later value fed back)")
    print("| flood | sources | fps before | during | after | psi ms during (median / max) | lost | "
          "psi ms after (median / max) | lost |")
    print("|---|---|---|---|---|---|---|---|---|")
    rows = [("quiet", 0)] + [(k, n) for k in kinds for n in counts]
    for kind, n in rows:
        r = run(kind, n, a.seconds, a.after)
        print(f"| {kind} | {n} | {r['fps_before']:.1f} | {r['fps_during']:.1f} | {r['fps_after']:.1f} | "
              f"{r['psi_during_ms']:.0f} / {r['psi_during_max']:.0f} | {r['lost_during']} | "
              f"{r['psi_after_ms']:.0f} / {r['psi_after_max']:.0f} | {r['lost_after']} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
