"""The modulation matrix: routes `source -> parameter` with a bipolar amount (the registry
parameter mod/K, so MIDI-mappable and learnable), a curve, attack/release smoothing and an optional
range.  Modulation adds to the parameter's knob value (the knob stays the centre) and is clamped to
the route's range and the parameter's own; clamps are counted.

Sources: the audio analysis (level, bass, mid, high; onset and beat as pulses the release shapes)
and four LFOs.  Like conditions, a frame keeps the offsets it was first planned with, and each
assignment is logged with the source values behind it, so a replay reproduces a music-driven
session exactly without the audio.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping, Optional

from .lfo import LFO

SLOTS = 8
NUM_LFOS = 4
AUDIO_SOURCES = ("level", "bass", "mid", "high", "onset", "beat")
SOURCES = AUDIO_SOURCES + tuple(f"lfo{i}" for i in range(NUM_LFOS))
CURVES = {"linear": lambda x: x, "square": lambda x: x * x, "sqrt": lambda x: math.sqrt(x),
          "invert": lambda x: 1.0 - x}
TRIGGER_EVENTS = ("onset", "beat")
TRIGGER_COMMANDS = ("keyframe_next", "keyframe_prev", "snapshot", "seed")


@dataclass(frozen=True)
class Route:
    source: str
    target: str
    curve: str = "linear"
    attack: float = 0.0              # seconds to rise to a new source value
    release: float = 0.1             # seconds to fall (onset/beat pulses decay with this)
    lo: Optional[float] = None       # the parameter values this route may reach (default: its range)
    hi: Optional[float] = None

    def to_json(self, slot: int) -> dict:
        d = {"slot": slot, "source": self.source, "target": self.target, "curve": self.curve,
             "attack": self.attack, "release": self.release}
        if self.lo is not None:
            d["range"] = [self.lo, self.hi]
        return d


def check_route(d: Mapping, params: Mapping) -> tuple[int, Route, Optional[float]]:
    """(slot, route, amount or None) from a preset/OSC description; ValueError (one line) if wrong."""
    if not isinstance(d, Mapping):
        raise ValueError(f"a modulation route is an object like {{\"source\": \"bass\", \"target\": \"psi\"}}, got {str(d)[:40]}")
    unknown = set(d) - {"slot", "source", "target", "amount", "curve", "attack", "release", "range"}
    if unknown:
        raise ValueError(f"modulation route: unknown field(s) {', '.join(sorted(unknown))}")
    slot = int(d.get("slot", 0))
    if not 0 <= slot < SLOTS:
        raise ValueError(f"modulation slot must be 0..{SLOTS - 1}, got {slot}")
    src, tgt = str(d.get("source", "")), str(d.get("target", ""))
    if src not in SOURCES:
        raise ValueError(f"modulation source {src[:40]!r} is unknown; choose from {', '.join(SOURCES)}")
    p = params.get(tgt)
    if p is None or p.kind == "bool" or tgt.startswith("mod/"):
        raise ValueError(f"modulation target {tgt[:40]!r} is not a number parameter (e.g. psi, zoom, hue, direction/0)")
    curve = str(d.get("curve", "linear"))
    if curve not in CURVES:
        raise ValueError(f"modulation curve {curve!r}: expected one of {', '.join(CURVES)}")
    attack, release = float(d.get("attack", 0.0)), float(d.get("release", 0.1))
    if not (0 <= attack <= 30 and 0 <= release <= 30):
        raise ValueError("modulation attack and release must be 0..30 s")
    lo = hi = None
    if d.get("range") is not None:
        r = d["range"]
        if not isinstance(r, (list, tuple)) or len(r) != 2 or not float(r[0]) < float(r[1]):
            raise ValueError(f"modulation range must be [lo, hi] with lo < hi, got {str(r)[:40]}")
        lo, hi = max(float(r[0]), p.lo), min(float(r[1]), p.hi)
    amount = d.get("amount")
    if amount is not None and not -1 <= float(amount) <= 1:
        raise ValueError(f"modulation amount must be -1..1, got {amount}")
    return slot, Route(src, tgt, curve, attack, release, lo, hi), None if amount is None else float(amount)


class ModMatrix:
    def __init__(self, params: Mapping, log: Optional[Callable[[int, dict], None]] = None):
        self.params = params
        self.routes: list[Optional[Route]] = [None] * SLOTS
        self.lfos: list[LFO] = [LFO("sine", 1.0, True), LFO("triangle", 4.0, True), LFO("saw", 2.0), LFO("random", 1.0)]
        self.env = [0.0] * SLOTS                           # each route's smoothed source value
        self.sources: dict[str, float] = {s: 0.0 for s in SOURCES}
        self.seconds = self.beats = 0.0
        self.assigned: dict[int, dict] = {}               # frame -> {param: offset}
        self.log = log
        self.replaying = False
        self.clamped = 0

    @property
    def active(self) -> bool:
        return any(r is not None for r in self.routes)

    # -- configuration --------------------------------------------------------------------------
    def set_route(self, slot: int, route: Optional[Route]) -> None:
        self.routes[slot] = route
        self.env[slot] = 0.0

    def set_lfo(self, i: int, lfo: LFO) -> None:
        if not 0 <= i < NUM_LFOS:
            raise ValueError(f"LFO index must be 0..{NUM_LFOS - 1}, got {i}")
        self.lfos[i] = lfo.check()

    def describe_routes(self) -> list[dict]:
        return [r.to_json(k) for k, r in enumerate(self.routes) if r is not None]

    # -- every display frame --------------------------------------------------------------------
    def step(self, dt: float, bpm: float, audio: Optional[Mapping[str, float]]) -> None:
        """Advance the LFO clock and the envelopes by one frame with this frame's source values
        (audio: level/bass/mid/high in 0..1, onset/beat as event counts since the last frame)."""
        self.seconds += dt
        self.beats += dt * bpm / 60.0
        s = self.sources
        if audio is not None:
            for k in ("level", "bass", "mid", "high"):
                s[k] = float(audio.get(k, 0.0))
            s["onset"] = 1.0 if audio.get("onset") else 0.0
            s["beat"] = 1.0 if audio.get("beat") else 0.0
        for i, lfo in enumerate(self.lfos):
            s[f"lfo{i}"] = lfo.value(self.seconds, self.beats)
        for k, r in enumerate(self.routes):
            if r is None:
                continue
            x = min(1.0, max(0.0, s[r.source]))
            tau = r.attack if x > self.env[k] else r.release
            self.env[k] = x if tau <= 0 else self.env[k] + (x - self.env[k]) * (1 - math.exp(-dt / tau))

    def offsets(self, amounts: Mapping[str, float]) -> dict[str, float]:
        """param -> offset from every route now (amount x curve(envelope) x the param's span)."""
        out: dict[str, float] = {}
        for k, r in enumerate(self.routes):
            a = float(amounts.get(f"mod/{k}", 0.0))
            if r is None or a == 0.0:
                continue
            p = self.params[r.target]
            out[r.target] = out.get(r.target, 0.0) + a * CURVES[r.curve](self.env[k]) * (p.hi - p.lo)
        return out

    def for_frame(self, frame: int, amounts: Mapping[str, float]) -> dict[str, float]:
        """The offsets frame `frame` uses: assigned (and logged) when it is first asked for."""
        got = self.assigned.get(frame)
        if got is not None:
            return got
        if self.replaying:                                 # replay: the latest logged assignment
            earlier = [f for f in self.assigned if f < frame]
            return self.assigned[max(earlier)] if earlier else {}
        off = self.offsets(amounts)
        self.assigned[frame] = off
        if self.log is not None and (off or self.active):
            used = {r.source for r in self.routes if r is not None}
            self.log(frame, {"for": frame, "offsets": off, "sources": {k: round(self.sources[k], 6) for k in sorted(used)}})
        if len(self.assigned) > 512:
            for f in sorted(self.assigned)[:-256]:
                del self.assigned[f]
        return off

    def apply_logged(self, value: Mapping) -> None:
        self.assigned[int(value["for"])] = {str(k): float(v) for k, v in dict(value.get("offsets") or {}).items()}

    def modulated(self, values: Mapping[str, float], offsets: Mapping[str, float], count: bool = False) -> dict:
        """values + offsets, each clamped to its route's range and the parameter's own."""
        if not offsets:
            return dict(values)
        out = dict(values)
        ranges: dict[str, tuple[float, float]] = {}
        for r in self.routes:
            if r is not None and r.lo is not None:
                lo, hi = ranges.get(r.target, (r.lo, r.hi))
                ranges[r.target] = (max(lo, r.lo), min(hi, r.hi))
        for name, off in offsets.items():
            p = self.params[name]
            lo, hi = ranges.get(name, (p.lo, p.hi))
            v = float(values[name]) + off
            c = min(max(v, lo), hi)
            if p.kind == "int":
                c = float(int(round(c)))
            if count and c != v:
                self.clamped += 1
            out[name] = c
        return out


def check_trigger(d: Mapping) -> dict:
    """An audio trigger {"on": "onset"|"beat", "command": ..., "every": N}; ValueError if wrong."""
    if not isinstance(d, Mapping):
        raise ValueError(f"an audio trigger is an object like {{\"on\": \"beat\", \"command\": \"keyframe_next\"}}, got {str(d)[:40]}")
    on, cmd, every = str(d.get("on", "")), str(d.get("command", "")), int(d.get("every", 1))
    if on not in TRIGGER_EVENTS:
        raise ValueError(f"audio trigger 'on' must be one of {', '.join(TRIGGER_EVENTS)}, got {on[:20]!r}")
    if cmd not in TRIGGER_COMMANDS:
        raise ValueError(f"audio trigger command must be one of {', '.join(TRIGGER_COMMANDS)}, got {cmd[:20]!r}")
    if not 1 <= every <= 64:
        raise ValueError(f"audio trigger 'every' must be 1..64, got {every}")
    return {"on": on, "command": cmd, "every": every}


__all__ = ["ModMatrix", "Route", "check_route", "check_trigger", "SOURCES", "SLOTS"]
