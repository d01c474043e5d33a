"""Clocks (live and fixed-step), tempo (tap, MIDI clock, set), and the transport that moves the
show along its keyframes.  The timeline reads the transport's position; it never reads a clock."""
from __future__ import annotations

import math
import time
from collections import deque
from typing import Optional


class LiveClock:
    """Wall-clock seconds since start (monotonic)."""

    def __init__(self):
        self._t0 = time.perf_counter()

    def now(self) -> float:
        return time.perf_counter() - self._t0


class FixedStepClock:
    """Exactly 1/fps per frame: offline rendering and replay produce the same times every run."""

    def __init__(self, fps: float):
        if not fps > 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.fps, self.frame = float(fps), 0

    def now(self) -> float:
        return self.frame / self.fps

    def advance(self) -> None:
        self.frame += 1


class Tempo:
    """BPM from taps (median of recent intervals), MIDI clock (24 pulses per quarter note), or set."""

    def __init__(self, bpm: float = 120.0):
        self.bpm = bpm
        self._taps: deque = deque(maxlen=8)
        self._pulses: deque = deque(maxlen=97)          # 4 beats of MIDI clock

    def tap(self, t: float) -> Optional[float]:
        """Register a tap at time t (seconds); a pause over 2 s starts a new tap sequence."""
        if self._taps and t - self._taps[-1] > 2.0:
            self._taps.clear()
        self._taps.append(t)
        if len(self._taps) >= 2:
            d = sorted(b - a for a, b in zip(self._taps, list(self._taps)[1:]))
            self.bpm = 60.0 / d[len(d) // 2]
            return self.bpm
        return None

    def midi_clock(self, t: float) -> Optional[float]:
        """One MIDI clock pulse at time t; the BPM follows once a beat's worth has arrived."""
        if self._pulses and t - self._pulses[-1] > 1.0:
            self._pulses.clear()
        self._pulses.append(t)
        n = len(self._pulses)
        if n >= 25:
            # Least-squares pulse period over the window: one pulse delivered late (a busy
            # scheduler, a port being listed) moves it far less than a first-to-last span would.
            mean_i, mean_t = (n - 1) / 2.0, sum(self._pulses) / n
            num = sum((i - mean_i) * (p - mean_t) for i, p in enumerate(self._pulses))
            den = sum((i - mean_i) ** 2 for i in range(n))
            period = num / den
            if period > 0:
                self.bpm = 60.0 / (24.0 * period)
                return self.bpm
        return None


class Transport:
    """Position along the keyframes (float: 2.5 = halfway from keyframe 2 to 3) and the beat.

    Advanced by dt each frame at `speed` keyframes per second (or per beat with beat sync).
    Jumps land on whole keyframes; with quantize they wait for the next beat.
    """

    def __init__(self, n_keyframes: int, position: float = 0.0):
        self.n = max(1, n_keyframes)
        self.position = position
        self.beat = 0.0                                   # beats since start
        self.jumps = 0                                    # count of discrete jumps (for staleness)
        self._pending: Optional[float] = None

    def advance(self, dt: float, speed: float, bpm: float, beat_sync: bool, loop: bool) -> None:
        beats = dt * bpm / 60.0
        crossed = math.floor(self.beat + beats) > math.floor(self.beat)
        self.beat += beats
        self.position = next_position(self.position, self.n, dt, speed, bpm, beat_sync, loop)
        if self._pending is not None and crossed:
            self._land(self._pending)

    def state(self) -> dict:
        return {"position": self.position, "beat": self.beat, "jumps": self.jumps, "pending": self._pending}

    def restore(self, st: dict) -> None:
        self.position, self.beat, self.jumps, self._pending = st["position"], st["beat"], st["jumps"], st["pending"]

    def jump(self, target: float, quantize: bool = False) -> None:
        if quantize:
            self._pending = target
        else:
            self._land(target)

    def _land(self, target: float) -> None:
        self.position, self._pending = float(target), None
        self.jumps += 1

    def next(self, quantize: bool = False) -> None:
        self.jump(math.floor(self.position + 1e-9) + 1, quantize)

    def prev(self, quantize: bool = False) -> None:
        cur = math.floor(self.position + 1e-9)
        self.jump(cur - 1 if abs(self.position - cur) < 1e-9 else cur, quantize)

    def goto(self, index: int, quantize: bool = False) -> None:
        self.jump(int(index) % self.n, quantize)

    def keyframe(self) -> int:
        return int(math.floor(self.position + 1e-9)) % self.n


def next_position(position: float, n: int, dt: float, speed: float, bpm: float, beat_sync: bool,
                  loop: bool) -> float:
    """One frame of travel along the keyframes (shared by the transport and look-ahead)."""
    position += speed * (dt * bpm / 60.0 if beat_sync else dt)
    return position if loop else min(max(position, 0.0), n - 1.0)
