"""A headless show that streams its program (`--stream udp://...`) ends cleanly every time.

Reported on another machine: one such show in four ended in glibc's `free(): corrupted unsorted
chunks` (SIGABRT).  A crash that one quiet run does not show needs repetition: SHOWS runs, two at a
time (each loads the other's cores), each with an empty cache so the background direction threads
run beside the generator, the encoder and the GL read-back, as on a fresh machine.  The receiver
must decode frames; how many depends on the machine's load, so the show's own count of frames
sent is what is checked against what it rendered.  Where glibc's
malloc debugging library is present, every free checks the heap (MALLOC_CHECK_=3), so a corruption
aborts at the first bad free rather than maybe later.  At the reported rate (one in four), 8 runs
all passing would happen by chance with probability 0.75^8 = 10% (one run of the suite; every CI
run repeats it, and about 200 runs here never aborted)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

from conftest import ROOT

SHOWS = 8
MALLOC_DEBUG = Path("/lib/x86_64-linux-gnu/libc_malloc_debug.so.0")
RECEIVER = """
import av, sys
n = 0
try:
    # started when the show says it streams: a read waiting 3 s in vain means it has ended
    with av.open(f"udp://127.0.0.1:{sys.argv[1]}?timeout=3000000", format="mpegts", timeout=30) as c:
        for f in c.decode(video=0):
            n += 1
except Exception:
    pass
print(n)
"""


def free_udp_ports(n: int) -> list[int]:
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def one_show(k: int, tmp: Path, results: dict) -> None:
    stream, osc = free_udp_ports(2)
    env = dict(os.environ, LIVEGAN_CACHE=str(tmp / f"cache{k}"), PYTHONFAULTHANDLER="1")
    if MALLOC_DEBUG.exists():
        env.update(LD_PRELOAD=str(MALLOC_DEBUG), MALLOC_CHECK_="3")
    show = subprocess.Popen([sys.executable, "perform.py", "--headless", "--network", "builtin:tiny", "--duration", "4",
                             "--video", "", "--stream", f"udp://127.0.0.1:{stream}", "--osc-port", str(osc),
                             "--no-oscquery", "--out", str(tmp / f"out{k}")],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out, recv = [], None
    for line in show.stdout:                     # the receiver starts when the show says it streams
        out.append(line)
        if "streaming the program" in line:
            recv = subprocess.Popen([sys.executable, "-c", RECEIVER, str(stream)], stdout=subprocess.PIPE, text=True)
            break
    out.append(show.communicate(timeout=300)[0])
    received = -1
    if recv is not None:
        try:
            received = int((recv.communicate(timeout=60)[0] or "0").strip() or 0)
        except subprocess.TimeoutExpired:
            recv.kill()
    text = "".join(out)
    crash = text.find("Fatal Python error")          # faulthandler's stacks: what a failure must show
    results[k] = (show.returncode, received, text[crash:crash + 8000] if crash >= 0 else text[-2600:])


def test_a_streaming_show_ends_cleanly_every_time(tmp_path):
    results: dict = {}
    for first in range(0, SHOWS, 2):
        pair = [threading.Thread(target=one_show, args=(k, tmp_path, results)) for k in (first, first + 1)]
        for t in pair:
            t.start()
        for t in pair:
            t.join()
    import re

    for k, (rc, received, tail) in sorted(results.items()):
        assert rc == 0, f"show {k} ended with {rc} (received {received} frames):\n{tail}"
        assert "corrupt" not in tail and "Fatal Python error" not in tail, tail
        # Every frame the show rendered went to the stream or was counted as dropped; how many of
        # those the receiver saw depends on when it started and on loopback UDP under load, so the
        # stream is proved by frames decoded at the other end, not by their number.
        m = re.search(r"rendered (\d+) frames .*stream: (\d+) frames sent, (\d+) dropped", tail)
        assert m, tail
        rendered, sent, dropped = map(int, m.groups())
        assert sent >= 1 and sent + dropped <= rendered and 1 <= received <= sent, (received, m.group(0))
    assert len(results) == SHOWS
