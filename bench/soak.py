#!/usr/bin/env python3
"""A night's churn in minutes: what hours of a show do to its process.

Starts the real show (`perform.py --headless --record`) and plays it from outside for --minutes,
as the people around a show do: OSC values on every ranged parameter, control pages that open,
listen, send and leave (four in ten without a goodbye, as a phone that sleeps), OSCQuery and page
requests, half-open connections, snapshots, keyframe jumps, seeds, presets saved and recalled,
direction picks, bends, LFOs, layer views, recordings started and stopped, and network swaps
(builtin:tiny and builtin:twemoji, two frame sizes) with a netmix network B. Every --every
seconds it samples the process: resident memory, open files, threads and memory mappings.

It reports the growth per hour of each (a least-squares slope over the samples after the first
quarter, the warm-up) and what the show said: generator failures, and the longest time the
generator's frame number stood still while snapshots were taken (a frozen picture).

    python bench/soak.py                       # 15 minutes
    python bench/soak.py --minutes 60 --seed 2 --network builtin:twemoji
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import http.client
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NETWORKS = ("builtin:tiny", "builtin:twemoji")


def osc_message(address: str, *values) -> bytes:
    def pad(b: bytes) -> bytes:
        return b + b"\0" * (4 - len(b) % 4)
    tags, data = ",", b""
    for v in values:
        if isinstance(v, int):
            tags, data = tags + "i", data + struct.pack(">i", v)
        elif isinstance(v, float):
            tags, data = tags + "f", data + struct.pack(">f", v)
        else:
            tags, data = tags + "s", data + pad(str(v).encode())
    return pad(address.encode()) + pad(tags.encode()) + data


def sample(pid: int) -> dict:
    status = Path(f"/proc/{pid}/status").read_text()
    field = lambda name: int(status.split(name + ":")[1].split()[0])   # noqa: E731
    return {"rss_mb": field("VmRSS") / 1024, "threads": field("Threads"),
            "files": len(os.listdir(f"/proc/{pid}/fd")),
            "maps": sum(1 for _ in open(f"/proc/{pid}/maps"))}


def slope_per_hour(points: list[tuple[float, float]]) -> float:
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    if len(xs) < 3 or max(xs) == min(xs):
        return 0.0
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return 3600 * sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


class Player:
    """The people around the show, one call of `step` at a time."""

    def __init__(self, rng: random.Random, osc: int, query: int, params: list, networks: list):
        self.rng, self.osc, self.query, self.params, self.networks = rng, osc, query, params, networks
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.half_open: list = []
        self.counts = {"osc": 0, "pages": 0, "pages_gone": 0, "http": 0, "failed": 0}

    def send(self, address: str, *values) -> None:
        self.sock.sendto(osc_message(address, *values), ("127.0.0.1", self.osc))
        self.counts["osc"] += 1

    def value(self):
        address, kind, lo, hi = self.rng.choice(self.params)
        return address, (self.rng.uniform(lo, hi) if kind == "f" else self.rng.randrange(int(lo), int(hi) + 1))

    def page(self) -> None:
        from websockets.sync.client import connect
        try:
            with connect(f"ws://127.0.0.1:{self.query}/control/ws", open_timeout=5, close_timeout=2) as ws:
                for _ in range(self.rng.randrange(1, 6)):
                    address, v = self.value()
                    ws.send(json.dumps({"address": address, "args": [v]}))
                    try:
                        ws.recv(timeout=0.05)
                    except TimeoutError:
                        pass
                if self.rng.random() < 0.4:                  # gone without a close frame
                    ws.socket.close()
                    self.counts["pages_gone"] += 1
            self.counts["pages"] += 1
        except Exception:
            self.counts["pages"] += 1                        # the abrupt leave ends the context in error

    def requests(self) -> None:
        for path in self.rng.sample(["/", "/control", "/control/state", "/livegan/psi?VALUE", "/?HOST_INFO"], 3):
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.query, timeout=5)
                c.request("GET", path)
                c.getresponse().read()
                c.close()
                self.counts["http"] += 1
            except OSError:
                self.counts["failed"] += 1
        if self.rng.random() < 0.2:                          # a connection that never finishes its request
            s = socket.create_connection(("127.0.0.1", self.query))
            s.send(b"GET / HTTP/1.1\r\n")
            self.half_open.append(s)
            if len(self.half_open) > 5:
                self.half_open.pop(0).close()

    def step(self, i: int) -> None:
        r = self.rng
        for _ in range(5):
            self.send(*self.value())
        every = [
            (3, self.page), (4, self.requests),
            (15, lambda: self.send("/livegan/snapshot")),
            (20, lambda: self.send("/livegan/keyframe/next")),
            (25, lambda: self.send("/livegan/seed", r.randrange(1000))),
            (27, lambda: (self.send("/livegan/layer_view", r.randrange(-1, 12)),
                          self.send("/livegan/layer_mode", r.randrange(0, 4)))),
            (29, lambda: self.send("/livegan/keyframe/goto", r.randrange(0, 8))),
            (31, lambda: (self.send(f"/livegan/direction/{r.randrange(8)}/value", r.uniform(-3, 3)),
                          self.send(f"/livegan/bend/{r.randrange(8)}/value", r.random()))),
            (35, lambda: self.send(f"/livegan/lfo/{r.randrange(4)}", r.choice(["sine", "square", "saw", "random"]))),
            (40, lambda: self.send("/livegan/save_preset", f"soak{i}")),
            (45, lambda: self.send("/livegan/preset", r.choice(["default", f"soak{i // 40 * 40}"]))),
            (50, lambda: self.send(f"/livegan/direction/{r.randrange(8)}/pick", r.choice(["pca:0", "pca:3", "sefa:1", "none"]))),
            (55, lambda: self.send(f"/livegan/bend/{r.randrange(8)}/op",
                                   r.choice(["none", "rotate 2", "scale 3 0-7", "erode 1", "ablate 2 0-3", "noise 3"]))),
            (60, lambda: self.send("/livegan/record", i // 60 % 2)),
            (70, lambda: (self.send("/livegan/netmix/network", r.choice(self.networks)),
                          self.send("/livegan/netmix/value", r.random()))),
            (90, lambda: self.send("/livegan/network", self.networks[i // 90 % len(self.networks)])),
        ]
        for n, act in every:
            if i % n == 0:
                act()


def drain(sock: socket.socket) -> None:
    while True:
        try:
            sock.recv(65536)
        except OSError:
            return


def ranged_parameters(tree: dict) -> list:
    out = []

    def walk(node: dict) -> None:
        path, rng = node.get("FULL_PATH", ""), (node.get("RANGE") or [{}])[0]
        if node.get("ACCESS") == 3 and "MIN" in rng and "/norm/" not in path and "layer" not in path:
            out.append((path, node["TYPE"], rng["MIN"], rng["MAX"]))
        for child in node.get("CONTENTS", {}).values():
            walk(child)
    walk(tree)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=15.0, help="how long to play (default 15)")
    ap.add_argument("--every", type=float, default=15.0, help="seconds between samples (default 15)")
    ap.add_argument("--seed", type=int, default=1, help="the players' random seed (default 1)")
    ap.add_argument("--network", action="append", help="networks swapped in turn (repeatable; default: "
                    + ", ".join(NETWORKS) + ")")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    networks = a.network or list(NETWORKS)
    tmp = Path(tempfile.mkdtemp(prefix="livegan-soak-"))
    (tmp / "presets").mkdir()
    osc, query = 21000 + rng.randrange(500), 21600 + rng.randrange(300)
    feedback = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    feedback.bind(("127.0.0.1", 0))
    threading.Thread(target=drain, args=(feedback,), daemon=True).start()   # --osc-out has a listener
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "vendor")]))
    show = subprocess.Popen(
        [sys.executable, str(ROOT / "perform.py"), "--headless", "--record", "--video", "", "--network", networks[0],
         "--duration", str(a.minutes * 60 + 40), "--osc-port", str(osc), "--oscquery-port", str(query),
         "--osc-out", f"127.0.0.1:{feedback.getsockname()[1]}", "--store", str(tmp / "store"),
         "--preset-dir", str(tmp / "presets"), "--load-dir", str(tmp / "presets")],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(show.stdout), daemon=True).start()
    for _ in range(600):
        try:
            c = http.client.HTTPConnection("127.0.0.1", query, timeout=2)
            c.request("GET", "/")
            tree = json.loads(c.getresponse().read())
            break
        except (OSError, ValueError):
            time.sleep(0.2)
    else:
        sys.exit("the show did not start: " + "".join(lines)[-2000:])
    player = Player(rng, osc, query, ranged_parameters(tree), networks)
    samples, t0, i, next_sample = [], time.monotonic(), 0, 0.0
    while time.monotonic() - t0 < a.minutes * 60 and show.poll() is None:
        i += 1
        player.step(i)
        time.sleep(0.2)
        if time.monotonic() >= next_sample:
            next_sample = time.monotonic() + a.every
            samples.append((time.monotonic() - t0, sample(show.pid)))
            s = samples[-1][1]
            print(f"{samples[-1][0]:6.0f} s  RSS {s['rss_mb']:6.0f} MB  files {s['files']:3d}  threads {s['threads']:3d}"
                  f"  maps {s['maps']:5d}", flush=True)
    for s in player.half_open:
        s.close()
    alive = show.poll() is None
    show.wait(180)
    text = "".join(lines)
    after = [(t, s) for t, s in samples if t >= samples[-1][0] / 4]
    print(f"\n{a.minutes:g} min, seed {a.seed}, networks {', '.join(networks)}: the show "
          f"{'played to the end' if alive and show.returncode == 0 else f'ENDED EARLY (rc {show.returncode})'}; "
          f"{player.counts}")
    print("| measure | first sample | last | growth per hour (after warm-up) |\n|---|---|---|---|")
    for key, unit in (("rss_mb", "MB"), ("files", ""), ("threads", ""), ("maps", "")):
        first, last = samples[0][1][key], samples[-1][1][key]
        print(f"| {key} | {first:.0f} {unit} | {last:.0f} {unit} | {slope_per_hour([(t, s[key]) for t, s in after]):+.1f} {unit} |")
    failures = [ln for ln in text.splitlines() if "generator:" in ln]
    frames = [int(m.group(1)) for m in re.finditer(r"snap-\d+-\d+-(\d+)-\d+\.png", text)]
    run, longest = 1, 1
    for before, now in zip(frames, frames[1:]):
        run = run + 1 if before == now else 1
        longest = max(longest, run)
    print(f"generator failures said: {len(failures)} {failures[:3]}")
    print(f"snapshots: {len(frames)}; most in a row on one generator frame (a frozen picture): {longest}")
    summary = [ln for ln in text.splitlines() if ln.startswith("rendered ")]
    print(summary[-1] if summary else "no summary line: " + text[-800:])


if __name__ == "__main__":
    main()
