"""MIDI controller maps (presets/midi/*.json): which control drives which parameter or trigger,
how (absolute, 14-bit, relative encoders; curves) -- checked when loaded, one line per mistake --
and the curves and encoder arithmetic the mapper applies."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from ..boundary import json_text, number
from ..params import PARAMS, TRIGGERS

MAP_DIR = Path(__file__).resolve().parents[2] / "presets" / "midi"
MODES = ("absolute", "14bit", "relative_twos", "relative_signed", "relative_offset")
CURVES = ("linear", "exp", "log", "smooth")
PICKUP = 0.03            # soft takeover: a knob within 3% of the value picks it up


class MidiMapError(ValueError):
    pass


@dataclass
class Control:
    """One CC -> parameter mapping."""
    param: str
    cc: int
    channel: int = 0
    mode: str = "absolute"
    cc_lsb: Optional[int] = None          # 14-bit: the LSB controller (default cc + 32)
    curve: str = "linear"
    lo: Optional[float] = None            # range on the parameter (default: its whole range)
    hi: Optional[float] = None
    step: float = 1.0 / 128               # relative modes: share of the range per tick
    takeover: bool = True
    picked: bool = False                  # soft takeover state
    last: Optional[float] = None          # last knob position (normalised)
    sent: Optional[float] = None          # the value this knob last set

    def to_json(self) -> dict:
        d = {"cc": self.cc, "channel": self.channel, "param": self.param, "mode": self.mode}
        if self.mode == "14bit":
            d["cc_lsb"] = self.lsb()
        for k in ("curve", "lo", "hi"):
            if getattr(self, k) not in (None, "linear"):
                d[k] = getattr(self, k)
        if self.mode.startswith("relative") and self.step != 1.0 / 128:
            d["step"] = self.step
        if not self.takeover:
            d["takeover"] = False
        return d

    def lsb(self) -> int:
        return self.cc_lsb if self.cc_lsb is not None else self.cc + 32


@dataclass
class NoteTrigger:
    note: int
    trigger: str
    channel: int = 0
    value: object = None


@dataclass
class MidiMap:
    name: str
    controls: list[Control] = field(default_factory=list)
    notes: list[NoteTrigger] = field(default_factory=list)
    buttons: list[NoteTrigger] = field(default_factory=list)   # CC buttons: press (>= 64) triggers
    port: Optional[str] = None
    feedback: bool = False
    path: Optional[Path] = None

    def to_json(self) -> dict:
        return {"name": self.name, "port": self.port, "feedback": self.feedback,
                "controls": [c.to_json() for c in self.controls],
                "notes": [{"note": n.note, "channel": n.channel, "trigger": n.trigger,
                           **({"value": n.value} if n.value is not None else {})} for n in self.notes],
                "buttons": [{"cc": n.note, "channel": n.channel, "trigger": n.trigger,
                             **({"value": n.value} if n.value is not None else {})} for n in self.buttons]}

    def save(self, path: Optional[Path] = None) -> Path:
        """Atomic write (a crash never leaves half a map file)."""
        path = Path(path or self.path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        os.replace(tmp, path)
        return path


def _int_in(v, lo: int, hi: int, where: str, path: str) -> int:
    try:
        return number(v, f"{path}: {where}", lo, hi, integer=True)
    except ValueError as e:
        raise MidiMapError(str(e)) from None


def _num_in(v, lo: float, hi: float, where: str, path: str) -> float:
    try:
        return number(v, f"{path}: {where}", lo, hi)
    except ValueError as e:
        raise MidiMapError(str(e)) from None


def _list(data: dict, key: str, path: str) -> list:
    v = data.get(key, [])
    if not isinstance(v, list) or len(v) > 1024:
        raise MidiMapError(f"{path}: {key}: must be a list (of at most 1024 entries)")
    return v


def parse_map(data: dict, path: str = "<map>") -> MidiMap:
    """Every field checked at load, one line naming file and field: a map that loads never
    crashes the show later."""
    params = {p.name: p for p in PARAMS}
    if not isinstance(data, dict):
        raise MidiMapError(f"{path}: top level: expected a JSON object")
    for key, kinds in (("name", str), ("port", (str, type(None))), ("feedback", bool)):
        if key in data and not isinstance(data[key], kinds):
            raise MidiMapError(f"{path}: {key}: wrong type ({type(data[key]).__name__})")
    m = MidiMap(name=str(data.get("name", Path(path).stem)), port=data.get("port"),
                feedback=bool(data.get("feedback", False)), path=Path(path))
    for i, c in enumerate(_list(data, "controls", path)):
        w = f"controls[{i}]"
        if not isinstance(c, dict) or not isinstance(c.get("param"), str) or c["param"] not in params:
            raise MidiMapError(f"{path}: {w}.param: unknown parameter {c.get('param') if isinstance(c, dict) else c!r}")
        p = params[c["param"]]
        span = max(abs(p.lo), abs(p.hi), 1.0) * 4
        lo = None if c.get("lo") is None else _num_in(c["lo"], -span, span, f"{w}.lo", path)
        hi = None if c.get("hi") is None else _num_in(c["hi"], -span, span, f"{w}.hi", path)
        if lo is not None and hi is not None and lo == hi:
            raise MidiMapError(f"{path}: {w}: lo and hi must differ")
        lsb = None if c.get("cc_lsb") is None else _int_in(c["cc_lsb"], 0, 127, f"{w}.cc_lsb", path)
        step = _num_in(c.get("step", 1.0 / 128), 1e-6, 1.0, f"{w}.step", path)
        if not isinstance(c.get("takeover", True), bool):
            raise MidiMapError(f"{path}: {w}.takeover: must be true or false")
        mode = c.get("mode", "absolute")
        if mode not in MODES:
            raise MidiMapError(f"{path}: {w}.mode: must be one of {', '.join(MODES)}")
        curve = c.get("curve", "linear")
        if curve not in CURVES:
            raise MidiMapError(f"{path}: {w}.curve: must be one of {', '.join(CURVES)}")
        m.controls.append(Control(param=c["param"], cc=_int_in(c.get("cc"), 0, 127, f"{w}.cc", path),
                                  channel=_int_in(c.get("channel", 0), 0, 15, f"{w}.channel", path), mode=mode,
                                  cc_lsb=lsb, curve=curve, lo=lo, hi=hi, step=step,
                                  takeover=c.get("takeover", True)))
    for group, key, out in (("notes", "note", m.notes), ("buttons", "cc", m.buttons)):
        for i, n in enumerate(_list(data, group, path)):
            w = f"{group}[{i}]"
            if not isinstance(n, dict) or not isinstance(n.get("trigger"), str) or n["trigger"] not in TRIGGERS:
                raise MidiMapError(f"{path}: {w}.trigger: must be one of {', '.join(TRIGGERS)}")
            v = n.get("value")
            if not (v is None or isinstance(v, (int, str)) and not isinstance(v, bool)
                    and (not isinstance(v, str) or len(v) <= 1024) and (not isinstance(v, int) or 0 <= v < 2 ** 32)):
                raise MidiMapError(f"{path}: {w}.value: must be an integer 0..2**32-1 or a short string")
            out.append(NoteTrigger(_int_in(n.get(key), 0, 127, f"{w}.{key}", path), n["trigger"],
                                   _int_in(n.get("channel", 0), 0, 15, f"{w}.channel", path), n.get("value")))
    return m


def load_map(ref: str | os.PathLike, folder: Path = MAP_DIR) -> MidiMap:
    p = Path(ref)
    if not p.suffix and not p.exists():
        p = folder / f"{ref}.json"
    from ..safeio import read_regular

    if not p.exists():
        have = ", ".join(sorted(q.stem for q in folder.glob("*.json"))) if folder.is_dir() else "none"
        raise MidiMapError(f"{p}: no such MIDI map (available: {have})")
    try:
        return parse_map(json_text(read_regular(p, 1 << 20, "MIDI map").decode("utf-8"), str(p)), str(p))
    except json.JSONDecodeError as e:
        raise MidiMapError(f"{p}: not valid JSON (line {e.lineno}: {e.msg})") from None
    except UnicodeDecodeError:
        raise MidiMapError(f"{p}: not valid JSON (not UTF-8 text)") from None
    except MidiMapError:
        raise
    except (OSError, ValueError) as e:
        raise MidiMapError(str(e)) from None


def curve(x: float, kind: str) -> float:
    if kind == "exp":
        return x * x
    if kind == "log":
        return x ** 0.5
    if kind == "smooth":
        return x * x * (3 - 2 * x)
    return x


def inverse_curve(y: float, kind: str) -> float:
    if kind == "exp":
        return max(y, 0.0) ** 0.5
    if kind == "log":
        return y * y
    if kind == "smooth":                          # invert smoothstep by bisection (rarely used)
        lo, hi = 0.0, 1.0
        for _ in range(30):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if curve(mid, "smooth") < y else (lo, mid)
        return (lo + hi) / 2
    return y


def relative_delta(v: int, mode: str) -> int:
    """Encoder ticks from a relative CC value."""
    if mode == "relative_twos":
        return v if v < 64 else v - 128
    if mode == "relative_signed":
        return -(v & 63) if v & 64 else v & 63
    return v - 64                                  # relative_offset (binary offset)
