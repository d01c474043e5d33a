"""Ableton Link (aalink): the show joins the session on the local network; the session's tempo
becomes the show's (a logged `set bpm`), and a tempo the show sets (tap, MIDI clock, OSC) goes to
the peers.  aalink runs on asyncio, so the Link object lives on its own thread's event loop; the
show only reads and writes its tempo, which Link makes safe from any thread."""
from __future__ import annotations

import asyncio
import threading
from typing import Callable, Optional

from ..params import Command


class LinkClock:
    def __init__(self, bpm: float = 120.0):
        self._ready = threading.Event()
        self._stop: Optional[asyncio.Event] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self.link = None
        self.error: Optional[str] = None
        self._sent = bpm                       # the last tempo either side agreed on
        self._thread = threading.Thread(target=self._run, args=(bpm,), name="livegan-link", daemon=True)
        self._thread.start()
        if not self._ready.wait(5) or self.link is None:
            raise ValueError(f"Ableton Link could not start ({self.error or 'timeout'})")

    def _run(self, bpm: float) -> None:
        async def main():
            from aalink import Link

            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            try:
                self.link = Link(bpm)
                self.link.enabled = True
            except Exception as e:
                self.error = f"{type(e).__name__}: {e}"
            self._ready.set()
            await self._stop.wait()
            if self.link is not None:
                self.link.enabled = False
        try:
            asyncio.run(main())
        except Exception as e:                 # no network at all, a broken binding
            self.error = f"{type(e).__name__}: {e}"
            self._ready.set()

    @property
    def tempo(self) -> float:
        return float(self.link.tempo)

    @property
    def peers(self) -> int:
        return int(self.link.num_peers)

    @property
    def beat(self) -> float:
        return float(self.link.beat)

    def follow(self, show_bpm: float, post: Callable[[Command], None]) -> None:
        """Once per frame: a tempo change in the session becomes the show's."""
        t = self.tempo
        if abs(t - self._sent) > 1e-3 and abs(t - show_bpm) > 1e-3 and 20 <= t <= 300:
            self._sent = t
            post(Command("set", "bpm", round(t, 3), "link"))

    def send(self, bpm: float) -> None:
        if abs(bpm - self._sent) > 1e-3:
            self._sent = bpm
            self.link.tempo = float(bpm)

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=2)
