"""Direction slots: what each of the N live knobs holds (a direction and a layer zone).  The knob
amounts are registry parameters (`direction/<k>`, in σ); the timeline applies every slot whose
amount is not 0 to the zone's ws, after truncation and mixing (timeline.frame_request)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from .model import Direction, DirectionError

SLOTS = 8
ZONES = ("coarse", "middle", "fine", "all")


def zone_layers(zone: str, num_ws: int) -> tuple[int, int]:
    """[lo, hi) of ws a zone covers: thirds of the layers (coarse, middle, fine), all, or 'A-B'."""
    z = str(zone).strip().lower()
    a, b = math.ceil(num_ws / 3), math.ceil(2 * num_ws / 3)
    if z == "coarse":
        return 0, a
    if z == "middle":
        return a, b
    if z == "fine":
        return b, num_ws
    if z == "all":
        return 0, num_ws
    lo, sep, hi = z.partition("-")
    if sep and lo.isdigit() and hi.isdigit() and 0 <= int(lo) <= int(hi) < num_ws:
        return int(lo), int(hi) + 1
    raise DirectionError(f"zone must be coarse, middle, fine, all or A-B with 0 <= A <= B < {num_ws}, got {str(zone)[:20]!r}")


@dataclass(frozen=True)
class Slot:
    direction: Direction
    zone: str
    lo: int
    hi: int

    def state(self, amount: float) -> dict:
        return {"pick": self.direction.name, "zone": self.zone, "layers": [self.lo, self.hi - 1], "amount": amount}


def make_slot(direction: Direction, zone: str, num_ws: int, w_dim: int) -> Slot:
    if direction.w_dim != w_dim:
        raise DirectionError(f"{direction.name} is for w of {direction.w_dim} dims; this network's w has {w_dim}")
    lo, hi = zone_layers(zone, num_ws)
    return Slot(direction, zone, lo, hi)


def apply_slots(ws: np.ndarray, slots: Sequence[Optional[Slot]], values) -> np.ndarray:
    """ws [num_ws, w_dim] with every active slot applied (a slot at 0 costs nothing)."""
    out = ws
    for k, slot in enumerate(slots):
        if slot is None:
            continue
        a = float(values[f"direction/{k}"])
        if a == 0.0:
            continue
        if out is ws:
            out = ws.copy()
        out[slot.lo:slot.hi] = slot.direction.apply(out[slot.lo:slot.hi], a)
    return out
