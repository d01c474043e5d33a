"""Work the main thread must never wait for: background loads where the newest request wins,
and rate limits for heavy triggers (snapshots, recordings, network loads)."""
from __future__ import annotations

import queue
import threading
import time
from typing import Any, Callable, Optional


class LatestLoader:
    """Runs one load at a time on a worker thread; a request made while one runs replaces any
    waiting request (the superseded one is counted, never run).  The main thread collects results
    with `poll()`: (key, value, None) or (key, None, exception)."""

    def __init__(self, name: str):
        self.name = name
        self._lock = threading.Lock()
        self._pending: Optional[tuple[Any, Callable[[], Any]]] = None
        self._running = False
        self._results: "queue.SimpleQueue" = queue.SimpleQueue()
        self._outstanding = 0            # results not yet collected by poll()
        self.superseded = 0

    @property
    def busy(self) -> bool:
        """A result is still to come (or waiting to be polled): what the main thread must wait for."""
        with self._lock:
            return self._outstanding > 0

    def submit(self, key: Any, fn: Callable[[], Any]) -> None:
        with self._lock:
            if self._pending is not None:
                self.superseded += 1
            else:
                self._outstanding += 1
            self._pending = (key, fn)
            if self._running:
                return
            self._running = True
        threading.Thread(target=self._work, name=f"livegan-{self.name}", daemon=True).start()

    def _work(self) -> None:
        while True:
            with self._lock:
                job, self._pending = self._pending, None
                if job is None:
                    self._running = False
                    return
            key, fn = job
            try:
                self._results.put((key, fn(), None))
            except BaseException as e:           # any failure becomes data for the main thread
                self._results.put((key, None, e))

    def poll(self) -> list[tuple]:
        out = []
        while True:
            try:
                out.append(self._results.get_nowait())
            except queue.Empty:
                break
        with self._lock:
            self._outstanding -= len(out)
        return out


class RateLimit:
    """Token bucket: `allow()` at most `rate` per second on average, `burst` at once; refusals are
    counted in `dropped`."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic, cost: bool = False):
        self.rate, self.burst, self.clock = rate, float(burst), clock
        self.tokens, self.t = float(burst), clock()
        self.dropped = 0
        self.cost = cost                 # tokens are measured costs (seconds): `spend` after the work

    def allow(self, need: float = 1.0) -> bool:
        """Take `need` tokens if there are (with `need` 0, a cost bucket asks only whether it is
        out of debt: the work's cost is `spend`-ed after it)."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.t) * self.rate)
        self.t = now
        if self.tokens >= need and self.tokens > 0:
            self.tokens -= need
            return True
        self.dropped += 1
        return False

    def spend(self, amount: float) -> None:
        self.tokens -= amount


def leave_spawned() -> None:
    """A spawned rank whose work is done (its files written, its group destroyed) leaves without
    the interpreter's teardown: there torch's gloo threads once aborted a finished rank ("terminate
    called without an active exception", SIGABRT; about one suite run in six)."""
    import os
    import sys

    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
