"""The show's eight bend slots (network bending, vendor/stylegan3/bending.py).

A slot holds an operation on one synthesis layer's feature maps with its argument and a channel
selection; its amount is the registry parameter `bend/<k>` (0..1), and only slots whose amount is
not 0 go into a frame's request (timeline.frame_request), so a slot at rest costs nothing.  Every
change calls `changed(slot)`: the show starts a new generation and logs the slot's whole state,
its resolved channel list included, so a replay needs no clusters.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np

SLOTS = 8
OFF = ("", "none", "off")


@dataclass(frozen=True)
class Bend:
    op: str
    layer: int
    channels: str                     # as given: all, A-B, random:F[:SEED], cluster:K
    arg: float
    spec: object                      # stylegan3.bending.BendSpec, resolved

    def state(self, amount: float) -> dict:
        return {"op": self.op, "layer": self.layer, "channels": self.channels, "arg": self.arg, "amount": amount}


def check_bend(raw) -> tuple[str, int, str, Optional[float]]:
    """(op, layer, channels, arg or None) from a preset's dict or OSC's [OP, LAYER, CHANNELS, ARG];
    ValueError (one line) when malformed.  The network checks the layer and channels later."""
    from stylegan3.bending import OPS

    if isinstance(raw, dict):
        unknown = set(raw) - {"slot", "op", "layer", "channels", "arg", "amount"}
        if unknown:
            raise ValueError(f"unknown bend field(s) {', '.join(sorted(unknown))}")
        raw = [raw.get("op"), raw.get("layer"), raw.get("channels", "all"), raw.get("arg")]
    if not isinstance(raw, (list, tuple)) or not 2 <= len(raw) <= 4:
        raise ValueError("a bend is OP LAYER [CHANNELS [ARG]]")
    op, layer = raw[0], raw[1]
    channels = raw[2] if len(raw) > 2 else "all"
    arg = raw[3] if len(raw) > 3 else None
    if not isinstance(op, str) or op not in OPS:
        raise ValueError(f"bend op {str(op)[:20]!r}: choose from {', '.join(OPS)}")
    if isinstance(layer, bool) or not isinstance(layer, (int, float)) or layer != int(layer) or not 0 <= layer < 1024:
        raise ValueError(f"bend layer {str(layer)[:20]!r}: expected a layer index (livegan info lists them)")
    if not isinstance(channels, str) or not 0 < len(channels) <= 40:
        raise ValueError(f"bend channels {str(channels)[:20]!r}: expected all, A-B, random:F[:SEED] or cluster:K")
    if arg is not None:
        from ..boundary import number
        _, lo, hi, _ = OPS[op]
        arg = number(arg, f"{op} argument", lo, hi)
    return op, int(layer), channels.strip().lower(), arg


def preset_bends(raw) -> list[dict]:
    """A preset's "bends": [{"slot": k, "op", "layer", "channels", "arg", "amount"}], checked
    (ValueError, one line); each comes back whole, the amount kept for the slot's parameter."""
    if raw is None:
        return []
    if not isinstance(raw, list) or len(raw) > SLOTS:
        raise ValueError(f"expected a list of at most {SLOTS} bends")
    out, seen = [], set()
    for i, d in enumerate(raw):
        if not isinstance(d, dict):
            raise ValueError(f"bends[{i}]: expected {{\"slot\": k, \"op\": OP, \"layer\": L, \"channels\": C, \"arg\": A}}")
        k = d.get("slot", i)
        if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < SLOTS or k in seen:
            raise ValueError(f"bends[{i}].slot: must be a distinct integer 0..{SLOTS - 1}")
        seen.add(k)
        try:
            op, layer, channels, arg = check_bend(d)
        except ValueError as e:
            raise ValueError(f"bends[{i}]: {e}") from None
        b = {"slot": k, "op": op, "layer": layer, "channels": channels}
        if arg is not None:
            b["arg"] = arg
        if "amount" in d:
            b["amount"] = d["amount"]
        out.append(b)
    return out


def resolve_channels(spec: str, count: int, labels: Optional[np.ndarray]) -> Optional[tuple[int, ...]]:
    """A channel selection -> channel indices (None: all of them)."""
    s = spec.strip().lower()
    if s == "all":
        return None
    kind, _, rest = s.partition(":")
    if kind == "random" and rest:
        frac, _, seed = rest.partition(":")
        try:
            f, sd = float(frac), int(seed or 0)
        except ValueError:
            raise ValueError(f"channels {spec!r}: random:FRACTION[:SEED]") from None
        if not 0 < f <= 1 or not 0 <= sd < 2 ** 31:
            raise ValueError(f"channels {spec!r}: the fraction is in (0, 1], the seed 0..2**31-1")
        n = max(1, int(round(f * count)))
        return tuple(sorted(int(c) for c in np.random.RandomState(sd).permutation(count)[:n]))
    if kind == "cluster" and rest:
        if labels is None:
            raise LookupError("clusters not ready")
        if not rest.isdigit() or int(rest) > labels.max():
            raise ValueError(f"channels {spec!r}: this layer has clusters 0..{int(labels.max())}")
        return tuple(int(c) for c in np.flatnonzero(labels == int(rest)))
    lo, sep, hi = s.partition("-")
    if lo.isdigit() and (hi.isdigit() if sep else True):
        a, b = int(lo), int(hi) if sep else int(lo)
        if a <= b < count:
            return tuple(range(a, b + 1))
    raise ValueError(f"channels {spec!r}: expected all, A-B (0..{count - 1}), random:F[:SEED] or cluster:K")


class BendSlots:
    def __init__(self, changed: Callable[[int], None], error: Callable[[str, str], None], clusters):
        self.changed, self.error, self.clusters = changed, error, clusters
        self.slots: list[Optional[Bend]] = [None] * SLOTS
        self.pending: dict[int, tuple] = {}              # slot -> (op, layer, channels, arg) awaiting clusters
        self.channels: list[int] = []                    # the playing network's channels per layer

    def network(self, channels: Sequence[int]) -> None:
        """A network starts playing: every slot resolved again against its layers (one line and an
        empty slot where it no longer fits; cluster selections wait for the new clusters)."""
        self.channels = list(channels)
        for k, b in enumerate(self.slots):
            if b is None:
                continue
            self.slots[k] = None                         # its channel indices were the old network's
            try:
                self._try(k, (b.op, b.layer, b.channels, b.arg))
            except ValueError as e:
                self.error("bend", f"{e}; the slot is empty")
            if self.slots[k] is None:
                self.changed(k)

    def command(self, value) -> None:
        """bend_op: (slot, [OP, LAYER, CHANNELS, ARG] or 'none')."""
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise ValueError("expected (slot, bend)")
        k, raw = value
        if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < SLOTS:
            raise ValueError(f"no bend slot {k!r} (0..{SLOTS - 1})")
        if isinstance(raw, str) or (isinstance(raw, (list, tuple)) and len(raw) == 1 and isinstance(raw[0], str)
                                    and raw[0].strip().lower() in OFF):
            if (raw if isinstance(raw, str) else raw[0]).strip().lower() not in OFF:
                raise ValueError("a bend is OP LAYER [CHANNELS [ARG]], or none")
            self.slots[k] = None
            self.pending.pop(k, None)
            self.changed(k)
            return
        self._try(k, check_bend(raw))

    def _try(self, k: int, bend: tuple) -> None:
        try:
            self._set(k, *bend)
        except LookupError:                              # clusters are computed first
            self.pending[k] = bend
            self.clusters.start()
            self.error("bend", f"slot {k}: channel clusters are being computed; it takes effect when ready")
        except ValueError as e:
            if self.slots[k] is not None:
                self.slots[k] = None
                self.changed(k)
            self.pending.pop(k, None)
            raise ValueError(f"bend slot {k}: {e}") from None

    def _set(self, k: int, op: str, layer: int, channels: str, arg: Optional[float], seed: int = -1) -> None:
        from stylegan3.bending import OPS, BendSpec

        if not 0 <= layer < len(self.channels):
            raise ValueError(f"layer {layer}: this network has layers 0..{len(self.channels) - 1} (livegan info)")
        labels = self.clusters.labels(layer) if channels.startswith("cluster:") else None
        if channels.startswith("cluster:") and labels is None and self.clusters.status.startswith("failed"):
            raise ValueError(f"channel clusters: {self.clusters.status}")
        idx = resolve_channels(channels, self.channels[layer], labels)
        arg = OPS[op][0] if arg is None else float(arg)
        spec = BendSpec(op, layer, idx, arg, seed=k if seed < 0 else seed)
        self.slots[k] = Bend(op, layer, channels, arg, spec)
        self.pending.pop(k, None)
        self.changed(k)

    def retry(self) -> None:
        for k, bend in list(self.pending.items()):
            if self.clusters.labels(bend[1]) is not None or self.clusters.status.startswith("failed"):
                try:
                    self._set(k, *bend)
                except Exception as e:
                    self.pending.pop(k, None)
                    self.error("bend", f"slot {k}: {e}")

    def pick_preset(self, preset) -> None:
        """The preset's bends: each slot it names set (the others empty)."""
        named = {int(b["slot"]): b for b in preset.bends}
        for k in range(SLOTS):
            try:
                if k in named:
                    self._try(k, check_bend(named[k]))
                elif self.slots[k] is not None or k in self.pending:
                    self.command((k, "none"))
            except ValueError as e:
                self.error("bend", f"preset {preset.name}: {e}")

    def active(self, values) -> tuple:
        """(spec, amount) of every slot whose amount is not 0: what a frame request carries."""
        return tuple((b.spec, a) for k, b in enumerate(self.slots)
                     if b is not None and (a := float(values[f"bend/{k}"])) != 0.0)

    # -- the control log: a slot's whole state, channels resolved ---------------------------------
    def logged(self, k: int) -> dict:
        b = self.slots[k]
        if b is None:
            return {"slot": k, "bend": None}
        s = b.spec
        return {"slot": k, "bend": {"op": b.op, "layer": b.layer, "channels": b.channels, "arg": b.arg,
                                    "indices": None if s.channels is None else list(s.channels), "seed": s.seed}}

    def header(self) -> list:
        return [None if b is None else self.logged(k) for k, b in enumerate(self.slots)]

    def apply_logged(self, value: dict) -> None:
        """A logged slot state (replay): set as it was, no clusters involved."""
        from stylegan3.bending import BendSpec

        k, b = int(value["slot"]), value.get("bend")
        if not 0 <= k < SLOTS:
            raise ValueError(f"no bend slot {k}")
        if b is None:
            self.slots[k] = None
            return
        idx = None if b["indices"] is None else tuple(int(c) for c in b["indices"])
        spec = BendSpec(str(b["op"]), int(b["layer"]), idx, float(b["arg"]), int(b["seed"]))
        self.slots[k] = Bend(spec.op, spec.layer, str(b["channels"]), spec.arg, spec)

    def state(self, values) -> list[dict]:
        return [dict(b.state(float(values[f"bend/{k}"])), slot=k) for k, b in enumerate(self.slots) if b is not None]
