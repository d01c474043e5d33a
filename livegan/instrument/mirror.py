"""The live mirror (`perform.py --mirror ENC --input SOURCE`): the knob `mirror` (0..1) pulls the
show's ws toward what the encoder (projection/encoder.py) makes of the input's newest picture,
smoothed, while the timeline, directions, bends and effects go on.

The encoder runs on the engine thread between batches (Engine.encode: the newest picture wins).
A finished encoding becomes a target that takes effect at the first tick no frame has been planned
for yet, so frames already planned or rendered stay valid (no new generation, nothing thrown away:
a camera at 30 pictures a second never starves the display).  From there the pulled-to ws glide
toward it: at tick t, `start + (target - start) * (1 - smooth ** (t - t0))`, a closed form of the
ticks since it took effect (not a running sum), so a frame planned ahead has exactly the ws its own
tick would give it.  Each target goes into the control log (apply_mirror, with the ws themselves
and when it takes effect), so `render` replays a mirrored session exactly, with no camera and no
encoder.
"""
from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np


@dataclass(frozen=True)
class Target:
    tick: int
    ws: np.ndarray                    # [num_ws, w_dim] float32: the encoder's picture
    start: np.ndarray                 # the pulled-to ws when it came
    smooth: float                     # per tick: the share of the way still to go

    def at(self, tick: int) -> np.ndarray:
        k = np.float32(self.smooth) ** max(0, tick - self.tick)
        return (self.ws + (self.start - self.ws) * k).astype(np.float32)

    def to_log(self, now: int) -> dict:
        """For the control log at tick `now`: its age in ticks (negative: it takes effect later),
        not its tick (a replay counts its ticks from the recording's start)."""
        return {"age": now - self.tick, "smooth": self.smooth, "shape": list(self.ws.shape),
                "ws": _b64(self.ws), "start": _b64(self.start)}

    @staticmethod
    def from_log(v: dict, now: int) -> "Target":
        if not isinstance(v, dict) or not {"age", "smooth", "shape", "ws", "start"} <= set(v):
            raise ValueError("apply_mirror: expected {age, smooth, shape, ws, start}")
        shape = tuple(int(s) for s in v["shape"])
        if len(shape) != 2 or not 0 < shape[0] * shape[1] <= 1 << 16:
            raise ValueError(f"apply_mirror: bad shape {shape}")
        smooth = float(v["smooth"])
        if not 0.0 <= smooth < 1.0:
            raise ValueError(f"apply_mirror: smooth {smooth} outside 0..1")
        age = int(v["age"])
        if not -(1 << 16) <= age < 1 << 31:
            raise ValueError(f"apply_mirror: bad age {age}")
        return Target(now - age, _unb64(v["ws"], shape), _unb64(v["start"], shape), smooth)


def _b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a, np.float32).tobytes()).decode("ascii")


def _unb64(s: str, shape: tuple) -> np.ndarray:
    raw = base64.b64decode(str(s).encode("ascii"), validate=True)
    if len(raw) != 4 * shape[0] * shape[1]:
        raise ValueError("apply_mirror: ws of the wrong size")
    return np.frombuffer(raw, np.float32).reshape(shape).copy()


class Mirror:
    def __init__(self, encoder, log: Callable[[int, dict], None]):
        self.encoder = encoder                     # projection.encoder.Encoder (the engine runs it)
        self.log = log                             # (tick, Target.to_log()) -> the control log
        self.targets: list[Target] = []            # by the tick each takes effect
        self.asked = None                          # the picture key last sent to the engine
        self.replaying = False
        self.encoded = 0

    @property
    def target(self) -> Optional[Target]:
        return self.targets[-1] if self.targets else None

    def _in_effect(self, tick: int) -> Optional[Target]:
        for t in reversed(self.targets):
            if t.tick <= tick:
                return t
        return None

    def tick(self, tick: int, picture, engine, values, planned_until: int) -> None:
        """Each tick (main thread): send the input's newest picture to the engine's encoder, and
        take a finished encoding as the target from the first tick not planned yet."""
        if self.replaying:
            return
        if values["mirror"] > 0 and picture is not None and picture.key != self.asked:
            engine.encode(picture.key, picture.pixels)
            self.asked = picture.key
        got = engine.take_encoding()
        if got is None:
            return
        ws = np.asarray(got[1], np.float32)
        start_tick = max(tick + 1, planned_until + 1)
        self.add(Target(start_tick, ws, self._pull(start_tick, ws), float(values["mirror_smooth"])), tick)
        self.encoded += 1
        self.log(tick, self.target.to_log(tick))

    def _pull(self, tick: int, default: np.ndarray) -> np.ndarray:
        cur = self._in_effect(tick)
        return cur.at(tick) if cur is not None else default

    def add(self, target: Target, now: int) -> None:
        """A target (live, or from the log); those no frame will use again are let go."""
        self.targets = [t for t in self.targets if t.tick < target.tick] + [target]
        keep = next((i for i in range(len(self.targets) - 1, -1, -1) if self.targets[i].tick <= now), 0)
        self.targets = self.targets[keep:]

    def apply_logged(self, value: dict, now: int) -> None:
        self.add(Target.from_log(value, now), now)

    def header(self, now: int) -> list:
        return [t.to_log(now) for t in self.targets]

    def for_tick(self, tick: int, values) -> Optional[tuple]:
        """(pulled-to ws, amount) for a frame at `tick`, or None (no pull)."""
        a = float(values.get("mirror", 0.0))
        cur = self._in_effect(tick) if a > 0.0 else None
        if cur is None:
            return None
        return cur.at(tick), a

    def status(self) -> str:
        return f"mirror: {self.encoded} pictures encoded" + ("" if self.targets else " (waiting for the input)")
