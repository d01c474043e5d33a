"""The one interface of a program output: its own thread, a bounded queue, its counters, and a retry
after a failure (a receiver that went away)."""
from __future__ import annotations

import time
from typing import Callable, Optional

import numpy as np

from ..worker import Worker


class Sink(Worker):
    """Subclasses implement `open(width, height)`, `send(frame)` and `close()`.  An error closes the
    sink, is kept in `error`, and it opens again `retry_s` later (a receiver that went away)."""

    name = "sink"
    retry_s = 2.0

    def __init__(self, fps: float, queue_size: int = 4):
        self.fps = fps
        self.sent = 0
        self.errors = 0
        self.error: Optional[str] = None
        # Where errors go besides `error` (the app passes the show's HUD/log): (kind, message).
        self.report: Optional[Callable[[str, str], None]] = None
        self._open = False
        self._next_try = 0.0
        super().__init__(queue_size)

    @property
    def title(self) -> str:
        return f"{self.name} output"

    # -- subclass interface --------------------------------------------------------------------
    def open(self, width: int, height: int) -> None:
        raise NotImplementedError

    def send(self, frame: np.ndarray) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass

    # -- the app's side ------------------------------------------------------------------------
    def put(self, frame: np.ndarray, block: bool = False) -> bool:
        return super().put(frame, block)

    def stop(self) -> None:
        """The end of the show: frames still queued are dropped, the one being sent finishes."""
        self.end(discard=True)

    def status(self) -> str:
        err = f", {self.error[:60]}" if self.error else ""
        return f"{self.name}: sent {self.sent}, dropped {self.dropped}{err}"

    def counters(self) -> dict:
        """For OSC feedback: /livegan/status/output/NAME/{sent,dropped,error}."""
        return {"sent": self.sent, "dropped": self.dropped, "error": self.error or ""}

    # -- the sink's thread ---------------------------------------------------------------------
    def handle(self, frame: np.ndarray) -> None:
        if not self._open:
            if time.monotonic() < self._next_try:
                self.dropped += 1
                return
            try:
                self.open(frame.shape[1] // 2 * 2, frame.shape[0] // 2 * 2)
                self._open, self.error = True, None
            except Exception as e:
                self._failed(e)
                return
        try:
            self.send(frame)
            self.sent += 1
        except Exception as e:
            self._failed(e)

    def work(self, items) -> None:
        super().work(items)
        if self._open:
            try:
                self.close()
            except Exception:
                pass

    def _failed(self, e: Exception) -> None:
        self.errors += 1
        msg = f"{type(e).__name__}: {' '.join(str(e).split())[:200]}"
        if self.report is not None and msg != self.error:
            self.report(f"output:{self.name}:{type(e).__name__}", f"{self.name} output: {msg}")
        self.error = msg
        self._next_try = time.monotonic() + self.retry_s
        if self._open:
            self._open = False
            try:
                self.close()
            except Exception:
                pass
