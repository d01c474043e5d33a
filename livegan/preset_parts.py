"""The parts of a preset that fill the show's slots: direction slots, modulation routes, LFOs and
audio triggers, model mixing (network bending's are in instrument/bends.py).  Checked as
strictly as the rest of the file (presets.parse_preset calls these)."""
from __future__ import annotations

from typing import Any


class PresetError(ValueError):
    """A preset (file, embedded preset, or one of its parts) that cannot play: one line."""


def fail(path: str, where: str, problem: str) -> PresetError:
    return PresetError(f"{path}: {where}: {problem}")


def check_netmix(raw: dict) -> dict:
    """A preset's model mix: network B (a string) and its layers (all, K or A-B)."""
    from stylegan3.layers import parse_layers

    net, layers = raw.get("network"), str(raw.get("layers", "all"))
    if not isinstance(net, str) or not 0 < len(net) <= 4096:
        raise ValueError("network must be a path, URL or builtin:NAME")
    parse_layers(layers, 1 << 20)                         # the form; the network's own count is checked on use
    frame, mapping = str(raw.get("frame", "a")).lower(), str(raw.get("mapping", "a")).lower()
    if frame not in ("a", "b") or mapping not in ("a", "b"):
        raise ValueError("frame and mapping must be a (the playing network's) or b (network B's)")
    return {"network": net, "layers": layers, **({"frame": frame} if frame == "b" else {}),
            **({"mapping": mapping} if mapping == "b" else {})}


def modulation_of(path: str, data: dict, registry) -> tuple[tuple, tuple, tuple]:
    """The preset's modulation routes, LFOs and audio triggers, checked (livegan/modulation)."""
    from .modulation.lfo import LFO
    from .modulation.matrix import NUM_LFOS, SLOTS, check_route, check_trigger

    out = []
    for field_, limit in (("modulation", SLOTS), ("lfos", NUM_LFOS), ("audio_triggers", 16)):
        raw = data.get(field_) or []
        if not isinstance(raw, list) or len(raw) > limit:
            raise fail(path, field_, f"expected a list of at most {limit}")
        items, seen = [], set()
        for i, d in enumerate(raw):
            try:
                if field_ == "modulation":
                    slot, route, amount = check_route(dict(d, slot=d.get("slot", i)) if isinstance(d, dict) else d,
                                                      registry)
                    if slot in seen:
                        raise ValueError(f"slot {slot} is used twice")
                    seen.add(slot)
                    items.append(dict(route.to_json(slot), amount=amount))
                elif field_ == "lfos":
                    items.append(LFO.from_json(d).to_json())
                else:
                    items.append(check_trigger(d))
            except (ValueError, TypeError) as e:
                raise fail(path, f"{field_}[{i}]", str(e)) from None
        out.append(tuple(items))
    return out[0], out[1], out[2]


def directions_of(path: str, raw: Any) -> tuple:
    """The preset's direction slots: [{"slot": k, "pick": "NAME|pca:K|sefa:K", "zone": "coarse"}];
    amounts are parameters (params: {"direction/k": amount})."""
    from .directions.slots import SLOTS, ZONES

    if raw is None:
        return ()
    if not isinstance(raw, list) or len(raw) > SLOTS:
        raise fail(path, "directions", f"expected a list of at most {SLOTS} slots")
    out, seen = [], set()
    for i, d in enumerate(raw):
        where = f"directions[{i}]"
        if not isinstance(d, dict) or set(d) - {"slot", "pick", "zone"} or "pick" not in d:
            raise fail(path, where, "expected {\"slot\": k, \"pick\": NAME|pca:K|sefa:K, \"zone\": coarse|middle|fine|all|A-B}")
        k = d.get("slot", i)
        if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < SLOTS or k in seen:
            raise fail(path, f"{where}.slot", f"must be a distinct integer 0..{SLOTS - 1}")
        pick, zone = d["pick"], d.get("zone", "all")
        if not isinstance(pick, str) or not 0 < len(pick) <= 100:
            raise fail(path, f"{where}.pick", "must be a direction name, pca:K or sefa:K")
        if not isinstance(zone, str) or (zone not in ZONES and not _range_like(zone)):
            raise fail(path, f"{where}.zone", f"must be one of {', '.join(ZONES)} or A-B")
        seen.add(k)
        out.append({"slot": k, "pick": pick, "zone": zone})
    return tuple(out)


def _range_like(z: str) -> bool:
    a, sep, b = z.partition("-")
    return bool(sep) and a.isdigit() and b.isdigit() and int(a) <= int(b)
