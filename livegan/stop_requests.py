"""Ctrl-C and SIGTERM taken between frames, never in the middle of one.

A KeyboardInterrupt raised by the signal lands on whatever bytecode the main thread runs: inside a
`queue.Queue.put` to the recorder (its lock taken, the waiting encoder never woken, and the show
hung at the join that finishes the file), inside a lock's `with`, half-way through writing a
file.  So while the loop runs, a stop signal only records the request and the loop takes it at
the next frame boundary; while it finishes the files, further signals wait for it (one line says
so).  A second signal while the first has waited STUCK_S seconds untaken (a frame stuck
somewhere) stops at once, as the handler it replaced would: the way out of a hang.  A second
press sooner (an impatient double Ctrl-C) is the same request.
"""
from __future__ import annotations

import os
import signal
import threading
import time
from typing import Optional

_WHY = {"SIGINT": "Ctrl-C"}
# A frame longer than this (a big network on the CPU takes seconds) is taken to be stuck.
STUCK_S = 5.0


class Stopped(KeyboardInterrupt):
    """A stop asked for from outside (a signal): the show finishes its files and says why."""

    def __init__(self, why: str = "Ctrl-C", code: int = 130):
        super().__init__(why)
        self.why, self.code = why, code


class StopRequests:
    """`with StopRequests() as stops:` defers SIGINT and SIGTERM (where a Python handler would
    raise them; an ignored or default signal stays as it was) until `stops.take()`; after
    `stops.finishing()` they are only acknowledged.  Outside the main thread it changes nothing."""

    def __init__(self) -> None:
        self.asked: Optional[Stopped] = None
        self._asked_at = 0.0
        self._finishing = False
        self._before: dict = {}

    def __enter__(self) -> "StopRequests":
        if threading.current_thread() is threading.main_thread():
            for name in ("SIGINT", "SIGTERM"):
                sig = getattr(signal, name, None)
                old = signal.getsignal(sig) if sig is not None else None
                if callable(old):
                    self._before[sig] = signal.signal(sig, self._handler(name, old))
        return self

    def __exit__(self, *exc) -> None:
        for sig, old in self._before.items():
            signal.signal(sig, old)
        self._before.clear()

    def _handler(self, name: str, old):
        def on_signal(signum, frame):
            if self._finishing:
                # os.write, not print: the main thread may be inside a write to the same stream.
                os.write(2, b"livegan: finishing the files first (kill -9 abandons them)\n")
            elif self.asked is None:
                self.asked, self._asked_at = Stopped(_WHY.get(name, name), 128 + int(signum)), time.monotonic()
            elif time.monotonic() - self._asked_at >= STUCK_S:   # the first still waits: a frame is stuck
                old(signum, frame)
        return on_signal

    def take(self) -> None:
        """At a frame boundary: raise the request, if one came."""
        if self.asked is not None:
            self._finishing = True
            raise self.asked

    def finishing(self) -> None:
        """From here on signals only wait for the files to be finished."""
        self._finishing = True


__all__ = ["Stopped", "StopRequests"]
