"""LFOs: sine, triangle, saw, square and random-smooth, free-running in Hz or synced to the show's
tempo in beats, with a phase.  Values are pure functions of the show's frame-locked time and beat
position, so they are the same live and in a replay."""
from __future__ import annotations

import math
from dataclasses import dataclass

SHAPES = ("sine", "triangle", "saw", "square", "random")


def _noise(i: int, seed: int) -> float:
    """A fixed pseudo-random value in [0, 1] for integer i (a hash, no state)."""
    x = (i * 0x9E3779B1 + seed * 0x85EBCA77) & 0xFFFFFFFF
    x ^= x >> 15
    x = (x * 0x2C1B3C6D) & 0xFFFFFFFF
    x ^= x >> 12
    x = (x * 0x297A2D39) & 0xFFFFFFFF
    x ^= x >> 15
    return x / 0xFFFFFFFF


@dataclass(frozen=True)
class LFO:
    shape: str = "sine"
    rate: float = 1.0            # cycles per second, or (sync) beats per cycle
    sync: bool = False           # rate counts beats per cycle of the show's tempo
    phase: float = 0.0           # 0..1, added to the cycle position
    seed: int = 0                # random-smooth: which random sequence

    def check(self) -> "LFO":
        if self.shape not in SHAPES:
            raise ValueError(f"LFO shape {self.shape!r}: expected one of {', '.join(SHAPES)}")
        if not (0.001 <= self.rate <= 1000) or not math.isfinite(self.rate):
            raise ValueError(f"LFO rate must be 0.001..1000 ({'beats per cycle' if self.sync else 'Hz'}), got {self.rate}")
        if not 0 <= self.phase <= 1:
            raise ValueError(f"LFO phase must be 0..1, got {self.phase}")
        return self

    def value(self, seconds: float, beats: float) -> float:
        """In [0, 1] at show time `seconds` / beat position `beats`."""
        cycles = beats / self.rate if self.sync else seconds * self.rate
        c = cycles + self.phase
        p = c - math.floor(c)
        if self.shape == "sine":
            return 0.5 - 0.5 * math.cos(2 * math.pi * p)
        if self.shape == "triangle":
            return 1 - abs(2 * p - 1)
        if self.shape == "saw":
            return p
        if self.shape == "square":
            return 1.0 if p < 0.5 else 0.0
        i = math.floor(c)                               # random-smooth: eased steps between random values
        a, b = _noise(i, self.seed), _noise(i + 1, self.seed)
        e = p * p * (3 - 2 * p)
        return a + (b - a) * e

    @classmethod
    def from_json(cls, d: dict) -> "LFO":
        if not isinstance(d, dict):
            raise ValueError(f"an LFO is an object like {{\"shape\": \"sine\", \"rate\": 0.5}}, got {str(d)[:40]}")
        unknown = set(d) - {"shape", "rate", "sync", "phase", "seed"}
        if unknown:
            raise ValueError(f"LFO: unknown field(s) {', '.join(sorted(unknown))}")
        return cls(str(d.get("shape", "sine")), float(d.get("rate", 1.0)), bool(d.get("sync", False)),
                   float(d.get("phase", 0.0)), int(d.get("seed", 0))).check()

    def to_json(self) -> dict:
        return {"shape": self.shape, "rate": self.rate, "sync": self.sync, "phase": self.phase, "seed": self.seed}
