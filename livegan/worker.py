"""One bounded worker: a thread taking items from a bounded queue, so whoever puts never waits
(live: a full queue drops the item and counts it) unless it asks to (offline rendering).  The file
writer, the program outputs and the video encoder are workers."""
from __future__ import annotations

import queue
import threading
from typing import Iterator

_END = object()                      # the end marker: nothing comes after it


class Worker:
    """Subclasses implement `handle(item)`, or `work(items)` to consume the items themselves (an
    encoder pulling frames).  `put` never blocks unless asked; `end` lets the thread finish."""

    name = "worker"
    STOP_WAIT_S = 10.0               # then the wait is said, and goes on: native code is never abandoned

    def __init__(self, capacity: int, name: str = ""):
        self.capacity = capacity
        self.queue: "queue.Queue" = queue.Queue(maxsize=capacity)
        self.dropped = 0
        self._ended = False                              # the thread has read the end marker
        self.failure: str | None = None                  # what stopped the thread early, if anything
        self._thread = threading.Thread(target=self._main, name=f"livegan-{name or self.name}", daemon=True)
        self._thread.start()

    # -- the producer's side ---------------------------------------------------------------------
    def put(self, item, block: bool = False) -> bool:
        try:
            self.queue.put(item, block=block)
            return True
        except queue.Full:
            self.dropped += 1
            return False

    def drain(self) -> None:
        """Wait until everything put so far is handled."""
        self.queue.join()

    def end(self, discard: bool = False) -> None:
        """Let the thread finish what is queued (or, with `discard`, drop it: a live output at the
        end of the show) and wait for it."""
        if discard:
            while True:
                try:
                    self.queue.put_nowait(_END)
                    break
                except queue.Full:
                    try:
                        self.queue.get_nowait()
                        self.queue.task_done()
                    except queue.Empty:
                        pass
        else:
            self.queue.put(_END)
        self._thread.join(timeout=self.STOP_WAIT_S)
        if self._thread.is_alive():
            # Inside native code (an encoder, a network send): leaving it running into the
            # interpreter's teardown can corrupt the heap, so it is waited for, loudly.
            from .console import say
            say(f"livegan: waiting for the {self.title} to finish...")
            self._thread.join()

    @property
    def title(self) -> str:
        return self.name

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    # -- the worker's thread ---------------------------------------------------------------------
    def items(self) -> Iterator:
        """Items as they come, until the end marker."""
        while True:
            item = self.queue.get()
            try:
                if item is _END:
                    self._ended = True
                    return
                yield item
            finally:
                self.queue.task_done()

    def discard_rest(self) -> None:
        """After a failure: take and drop items until the end marker, so producers never block."""
        if not self._ended:
            for _ in self.items():
                pass

    def work(self, items: Iterator) -> None:
        for item in items:
            self.handle(item)

    def handle(self, item) -> None:
        raise NotImplementedError

    def _main(self) -> None:
        try:
            self.work(self.items())
        except Exception as e:          # a bug in a handler: said once, and producers never block
            from .console import say
            self.failure = f"{type(e).__name__}: {str(e)[:120]}"
            say(f"livegan: the {self.title} stopped: {self.failure}")
            self.discard_rest()
