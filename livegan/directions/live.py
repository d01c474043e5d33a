"""The show's direction knobs: what each slot holds, picks waiting for pca/sefa to be computed,
and the catalog they are picked from.  The show (show/core.py) owns one and passes it its network's
shape; every change calls `changed(slot)` so the show can start a new generation and log the
slot's whole state (vector included) for exact replay."""
from __future__ import annotations

from typing import Callable, Optional

from .catalog import Catalog
from .model import Direction
from .slots import SLOTS, Slot, make_slot

OFF = ("", "none", "off")


class DirectionKnobs:
    def __init__(self, changed: Callable[[int], None], error: Callable[[str, str], None],
                 network: Callable[[], tuple], catalog: Optional[Catalog] = None):
        """`network()` -> (G, source, num_ws, w_dim) of the playing network."""
        self.changed, self.error, self.network = changed, error, network
        self.slots: list[Optional[Slot]] = [None] * SLOTS
        self.catalog = catalog or Catalog(log=lambda m: print(m, flush=True))
        self.catalog.load_folder(wait=True)              # small files, before the show starts
        self.pending: dict[int, tuple[str, str]] = {}   # slot -> (ref, zone) waiting for pca/sefa

    @staticmethod
    def slot_arg(value) -> tuple[int, str]:
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise ValueError("expected (slot, value)")
        k, v = value
        if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < SLOTS:
            raise ValueError(f"no direction slot {k!r} (0..{SLOTS - 1})")
        return k, str(v)

    def command(self, name: str, value) -> None:
        """direction_pick (slot, NAME|pca:K|sefa:K|none) or direction_zone (slot, zone)."""
        k, v = self.slot_arg(value)
        cur = self.slots[k]
        if name == "direction_zone":
            if cur is not None:
                self._set(k, cur.direction, v)
            elif k in self.pending:
                self.pending[k] = (self.pending[k][0], v)
            else:
                raise ValueError(f"slot {k} holds no direction: pick one first")
            return
        zone = cur.zone if cur is not None else "all"
        if v in OFF:
            self.slots[k] = None
            self.pending.pop(k, None)
            self.changed(k)
            return
        kind = v.split(":")[0]
        if kind in ("pca", "sefa") and not self.catalog.ready(v):
            if self.catalog.status[kind] == "not started":
                self.start_unsupervised()
            if "computing" in self.catalog.status[kind]:
                self.pending[k] = (v, zone)             # picked as soon as it is computed
                self.error("direction", f"slot {k}: {v} is being computed; it takes effect when ready")
                return
        self._set(k, self.catalog.resolve(v), zone)

    def start_unsupervised(self) -> None:
        from ..store import network_identity

        G, source, _, _ = self.network()
        self.catalog.network_changed(G, network_identity(source))

    def _set(self, k: int, direction: Direction, zone: str) -> None:
        _, _, num_ws, w_dim = self.network()
        self.slots[k] = make_slot(direction, zone, num_ws, w_dim)
        self.pending.pop(k, None)
        self.changed(k)

    def logged(self, k: int) -> dict:
        """Slot k's whole state for a control log (the replay needs no file or cache)."""
        s = self.slots[k]
        return {"slot": k, "direction": None if s is None else s.direction.to_log(), "zone": None if s is None else s.zone}

    def header(self) -> list:
        return [None if s is None else self.logged(k) for k, s in enumerate(self.slots)]

    def apply_logged(self, value: dict) -> None:
        """A logged slot state (replay): set as it was, no catalog involved."""
        k = int(value["slot"])
        d = value.get("direction")
        _, _, num_ws, w_dim = self.network()
        self.slots[k] = None if d is None else make_slot(Direction.from_log(d), value["zone"], num_ws, w_dim)

    def retry(self) -> None:
        for k, (ref, zone) in list(self.pending.items()):
            if self.catalog.ready(ref):
                try:
                    self._set(k, self.catalog.resolve(ref), zone)
                except Exception as e:
                    self.pending.pop(k, None)
                    self.error("direction", f"slot {k}: {e}")

    def pick_preset(self, preset) -> None:
        for d in preset.directions:                      # the preset's knobs: pick what it names
            try:
                self.command("direction_pick", [d["slot"], d["pick"]])
                self.command("direction_zone", [d["slot"], d["zone"]])
            except Exception as e:
                self.error("direction", f"preset {preset.name}: slot {d['slot']}: {e}")

    def network_switched(self, w_dim: int, eager: bool) -> None:
        """pca/sefa slots were the old network's: cleared; others take the new layer count."""
        for k, slot in enumerate(self.slots):
            if slot is None:
                continue
            if slot.direction.name.split(":")[0] in ("pca", "sefa") or slot.direction.w_dim != w_dim:
                self.slots[k] = None
                self.error("direction", f"slot {k}: {slot.direction.name} was the previous network's; pick again")
                self.changed(k)
            else:
                self._set(k, slot.direction, slot.zone)
        if eager or self.catalog.status["pca"] != "not started":
            self.start_unsupervised()

    def state(self, values) -> list[dict]:
        return [dict(s.state(float(values[f"direction/{k}"])), slot=k) for k, s in enumerate(self.slots)
                if s is not None]
