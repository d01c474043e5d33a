"""Background loads (newest wins, busy until the main thread has the result) and rate limits."""
from __future__ import annotations

import threading
import time

from livegan.jobs import LatestLoader, RateLimit


def test_latest_loader_runs_the_newest_and_stays_busy_until_polled():
    gate = threading.Event()
    ran = []
    loader = LatestLoader("test")

    def job(k):
        def run():
            if k == 0:
                gate.wait(5)
            ran.append(k)
            if k == 3:
                raise ValueError("bad file")
            return k * 10
        return run
    loader.submit(0, job(0))
    loader.submit(1, job(1))            # waits behind 0 ...
    loader.submit(2, job(2))            # ... and is replaced by 2
    assert loader.busy and loader.superseded == 1
    gate.set()
    end = time.time() + 30                # both results handed over (a busy machine may take long)
    while loader._results.qsize() < 2 and time.time() < end:
        time.sleep(0.01)
    assert ran == [0, 2]
    assert loader.busy                  # finished, but the main thread has not taken the results
    got = loader.poll()
    assert [(k, v) for k, v, e in got] == [(0, 0), (2, 20)] and not loader.busy
    loader.submit(3, job(3))
    while not loader.busy or not loader._results.qsize():
        time.sleep(0.01)
    (key, value, err), = loader.poll()
    assert key == 3 and value is None and isinstance(err, ValueError) and not loader.busy


def test_rate_limit_counts_refusals():
    t = [0.0]
    lim = RateLimit(2.0, 3, clock=lambda: t[0])
    assert [lim.allow() for _ in range(5)] == [True, True, True, False, False]
    t[0] += 1.0                         # two more tokens a second later
    assert [lim.allow() for _ in range(3)] == [True, True, False]
    assert lim.dropped == 3
