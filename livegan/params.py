"""The parameter registry and the commands that change parameters.

Every parameter is declared once, here: name, type, range, default, slew time and what a change
costs.  Keys, OSC, MIDI, presets, the HUD and the control log refer to parameters by name and
change them only through `Command`s applied by the main thread, which then publishes one frozen
`FrameParams` per display frame.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Iterable, Mapping, Optional

from . import triggers

# What a change costs: a shader uniform only; new ws (timeline); a network reload.
UNIFORM, WS, NETWORK = "uniform", "ws", "network"
MAX_CLASS = 1023.0                    # classes 0..1023 (a network's own c_dim bounds it further)
MAX_NOISE_LAYERS = 18                 # StyleGAN2 at 1024 px has 17 noisy layers


@dataclass(frozen=True)
class Param:
    name: str
    kind: str                   # 'float', 'int' or 'bool'
    default: float
    lo: float = 0.0
    hi: float = 1.0
    slew: float = 0.0           # seconds to glide to a new value (0: jump)
    cost: str = UNIFORM
    doc: str = ""
    group: str = ""             # where a control surface shows it (set from GROUPS below)
    unit: str = ""

    def clamp(self, v: float) -> tuple[float, bool]:
        """(value in range and of the right type, whether it had to be clamped)."""
        if self.kind == "bool":
            return float(bool(v)), False
        c = min(max(float(v), self.lo), self.hi)
        if self.kind == "int":
            c = float(int(round(c)))
        return c, c != float(v)

    def to_norm(self, v: float) -> float:
        return 0.0 if self.hi == self.lo else (v - self.lo) / (self.hi - self.lo)

    def from_norm(self, x: float) -> float:
        return self.lo + min(max(float(x), 0.0), 1.0) * (self.hi - self.lo)


_PARAMS: tuple[Param, ...] = (
    # Timeline
    Param("speed", "float", 0.25, 0.0, 4.0, 0.3, WS, "keyframes per second (or per beat with tempo sync)"),
    Param("psi", "float", 0.7, -1.0, 2.0, 0.2, WS, "truncation: 0 = average image, 1 = untruncated"),
    Param("truncation_cutoff", "int", 0, 0, 32, 0.0, WS, "truncate only the first N layers (0 = all)"),
    Param("mix_layer", "int", 32, 0, 32, 0.0, WS, "style mixing: layers from this index take the mix source"),
    Param("mix_amount", "float", 1.0, 0.0, 1.0, 0.2, WS, "how much of the mix source the mixed layers take"),
    Param("rotate", "float", 0.0, -360.0, 360.0, 0.2, WS, "StyleGAN3 input rotation, degrees"),
    Param("translate_x", "float", 0.0, -4.0, 4.0, 0.2, WS, "StyleGAN3 input translation, x"),
    Param("translate_y", "float", 0.0, -4.0, 4.0, 0.2, WS, "StyleGAN3 input translation, y"),
    Param("zoom", "float", 1.0, 0.25, 4.0, 0.2, WS, "StyleGAN3 input zoom"),
    Param("noise", "float", 1.0, 0.0, 2.0, 0.2, WS, "StyleGAN2 noise strength multiplier"),
    *(Param(f"noise/{k}", "float", 1.0, 0.0, 4.0, 0.2, WS,
            f"StyleGAN2 noise strength of noisy layer {k} (b4.conv1 is 0, then each block's conv0, conv1), times noise")
      for k in range(MAX_NOISE_LAYERS)),
    Param("noise_seed", "int", 0, 0, 65535, 0.0, WS,
          "StyleGAN2 noise: 0 the network's own stored noise; N the constant noise drawn from seed N"),
    Param("class", "float", 0.0, 0.0, MAX_CLASS, 0.0, WS,
          "class of a conditional network, for keyframes without their own (a fraction blends two)"),
    Param("loop", "bool", 1.0, 0.0, 1.0, 0.0, WS, "wrap around after the last keyframe"),
    Param("quantize", "bool", 0.0, 0.0, 1.0, 0.0, WS, "keyframe jumps wait for the next beat"),
    Param("bpm", "float", 120.0, 20.0, 300.0, 0.0, WS, "tempo"),
    Param("beat_sync", "bool", 0.0, 0.0, 1.0, 0.0, WS, "speed counts keyframes per beat instead of per second"),
    # StyleGAN-Canvas conditions (livegan/conditions)
    Param("cond_mode", "int", 0, 0, 2, 0.0, WS, "condition preprocessing: 0 as it is, 1 Gaussian blur, 2 edge map"),
    Param("cond_blur", "float", 21.0, 0.5, 64.0, 0.0, WS, "condition blur sigma, in pixels of a 256-high picture"),
    Param("cond_ws", "int", 4, 0, 32, 0.0, WS, "StyleGAN-Canvas: how many ws (from the first) the condition gives"),
    # Playing the network itself (livegan/instrument)
    Param("mirror", "float", 0.0, 0.0, 1.0, 0.2, WS,
          "live mirror (--mirror): how far the ws are pulled toward the encoded input picture"),
    Param("mirror_smooth", "float", 0.8, 0.0, 0.99, 0.0, WS,
          "live mirror: per frame, the share of the way to a new picture still to go (0 jumps)"),
    Param("netmix", "float", 0.0, 0.0, 1.0, 0.0, WS,
          "model mixing: 0 the playing network, 1 network B (/livegan/netmix/network) in the chosen layers"),
    # Layer views (engine/layerview.py): a synthesis layer's maps on the monitor
    Param("layer_view", "int", -1, -1, 63, 0.0, WS, "layer view: the synthesis layer shown (livegan info numbers them); -1 off"),
    Param("layer_channel", "int", 0, 0, 1023, 0.0, WS, "layer view: the first channel shown"),
    Param("layer_mode", "int", 0, 0, 3, 0.0, WS, "layer view: 0 one channel, 1 three as RGB, 2 mean magnitude, 3 a grid of 16"),
    Param("layer_gain", "float", 1.0, 0.1, 16.0, 0.0, WS, "layer view: brightness gain over the maps' own peak"),
    Param("layer_fft", "bool", 0.0, 0.0, 1.0, 0.0, WS, "layer view: show each map's spectrum (log magnitude)"),
    Param("layer_program", "bool", 0.0, 0.0, 1.0, 0.0, WS, "layer view: send it to the program instead of the picture"),
    # Display effects (shader uniforms)
    Param("crossfade", "float", 0.0, 0.0, 1.0, 0.0, UNIFORM, "blend of the previous frame into new ones"),
    Param("brightness", "float", 0.0, -1.0, 1.0, 0.1, UNIFORM, "added to every channel"),
    Param("contrast", "float", 1.0, 0.0, 3.0, 0.1, UNIFORM, "scales around mid grey"),
    Param("saturation", "float", 1.0, 0.0, 3.0, 0.1, UNIFORM, "colour intensity"),
    Param("hue", "float", 0.0, -180.0, 180.0, 0.1, UNIFORM, "hue rotation, degrees"),
    Param("feedback", "float", 0.0, 0.0, 0.98, 0.1, UNIFORM, "trails: share of the last output kept"),
    Param("kaleido", "int", 0, 0, 12, 0.0, UNIFORM, "kaleidoscope segments (0 off, 1 mirror)"),
    Param("view_zoom", "float", 1.0, 0.25, 8.0, 0.2, UNIFORM, "display zoom"),
    Param("view_x", "float", 0.0, -1.0, 1.0, 0.2, UNIFORM, "display pan, x"),
    Param("view_y", "float", 0.0, -1.0, 1.0, 0.2, UNIFORM, "display pan, y"),
    # Latent pad: the picture blends the first four keyframes by position (corners 0 1 / 2 3)
    Param("pad", "bool", 0.0, 0.0, 1.0, 0.0, WS, "latent pad on: the keyframes 0-3 blend by pad_x, pad_y"),
    Param("pad_x", "float", 0.0, 0.0, 1.0, 0.1, WS, "latent pad position, x (keyframe 0 at 0, keyframe 1 at 1)"),
    Param("pad_y", "float", 0.0, 0.0, 1.0, 0.1, WS, "latent pad position, y (keyframes 2, 3 at 1)"),
) + tuple(
    # Modulation slots: the route's amount, bipolar, as a share of its target's range (livegan/modulation).
    Param(f"mod/{k}", "float", 0.0, -1.0, 1.0, 0.0, WS,
          f"modulation route {k}: amount (set the route with /livegan/mod/{k}/route)") for k in range(8)
) + tuple(
    # Direction slots: the knob's amount in σ of the direction it holds (see livegan/directions).
    Param(f"direction/{k}", "float", 0.0, -5.0, 5.0, 0.15, WS,
          f"direction slot {k}: amount in σ (pick with /livegan/direction/{k}/pick)") for k in range(8)
) + tuple(
    # Bend slots: how much of the bent maps replaces the layer's own (livegan/instrument/bends.py).
    Param(f"bend/{k}", "float", 0.0, 0.0, 1.0, 0.0, WS,
          f"bend slot {k}: amount, 0 the layer as it is, 1 fully bent (set it with /livegan/bend/{k}/op)") for k in range(8)
)

# How control surfaces group the parameters (the control page's sections), and their units.
GROUPS = {
    "motion": ("speed", "loop", "quantize", "bpm", "beat_sync"),
    "latent": ("psi", "truncation_cutoff", "mix_layer", "mix_amount", "noise", "noise_seed", "class"),
    "noise layers": tuple(f"noise/{k}" for k in range(MAX_NOISE_LAYERS)),
    "transform": ("rotate", "translate_x", "translate_y", "zoom"),
    "pad": ("pad", "pad_x", "pad_y"),
    "canvas": ("cond_mode", "cond_blur", "cond_ws"),
    "instrument": ("netmix", "mirror", "mirror_smooth", *(f"bend/{k}" for k in range(8))),
    "layer view": ("layer_view", "layer_channel", "layer_mode", "layer_gain", "layer_fft", "layer_program"),
    "effects": ("crossfade", "brightness", "contrast", "saturation", "hue", "feedback", "kaleido"),
    "view": ("view_zoom", "view_x", "view_y"),
}
UNITS = {"speed": "keyframes/s", "bpm": "BPM", "rotate": "°", "hue": "°", "cond_blur": "px",
         **{f"direction/{k}": "σ" for k in range(8)}}


def _grouped(params: tuple) -> tuple:
    from dataclasses import replace

    where = {n: g for g, names in GROUPS.items() for n in names}
    slots = {"mod": "modulation", "direction": "directions"}          # mod/K, direction/K
    return tuple(replace(p, group=where.get(p.name) or slots[p.name.split("/")[0]], unit=UNITS.get(p.name, ""))
                 for p in params)


PARAMS: tuple[Param, ...] = _grouped(_PARAMS)

TRIGGERS = triggers.names()          # the command table (triggers.py): owner, cost, backlog of each


@dataclass(frozen=True)
class Command:
    """The only way anything changes: op is set, add, toggle, trigger or apply_preset."""
    op: str
    name: str
    value: Any = None
    source: str = ""            # 'osc', 'midi', 'key', 'preset', 'log' ...
    received: float = 0.0       # time.perf_counter() when it arrived (for latency)
    due: float = 0.0            # wall-clock time (time.time()) to apply it; 0 = at once


@dataclass(frozen=True)
class FrameParams:
    """One frozen snapshot of every parameter's current (smoothed) value."""
    values: Mapping[str, float]
    version: int                # bumps whenever a ws-affecting value changes

    def __getattr__(self, name: str) -> float:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None


class Registry:
    """Parameter table plus the current targets and smoothed values (owned by the main thread)."""

    def __init__(self, params: Iterable[Param] = PARAMS):
        self.params = {p.name: p for p in params}
        self.target = {p.name: float(p.default) for p in self.params.values()}
        self.value = dict(self.target)
        self.clamped = 0                # out-of-range values clamped, counted
        self.version = 0
        self.changed: list[str] = []    # names changed since the last `take_changed`

    def __contains__(self, name: str) -> bool:
        return name in self.params

    def get(self, name: str) -> float:
        return self.value[name]

    def apply(self, cmd: Command) -> Optional[Command]:
        """Apply set/add/toggle to the targets; returns triggers and presets for the caller."""
        if cmd.op in ("trigger", "apply_preset"):
            return cmd
        p = self.params.get(cmd.name)
        if p is None:
            raise KeyError(f"unknown parameter {cmd.name!r}")
        if cmd.op == "set":
            v = float(cmd.value)
        elif cmd.op == "add":
            v = self.target[p.name] + float(cmd.value)
        elif cmd.op == "toggle":
            v = 0.0 if self.target[p.name] else 1.0
        else:
            raise ValueError(f"unknown command {cmd.op!r}")
        if not math.isfinite(v):
            raise ValueError(f"{p.name}: value {cmd.value!r} is not a finite number")
        v, clamped = p.clamp(v)
        self.clamped += clamped
        if v != self.target[p.name]:
            self.target[p.name] = v
            if p.slew <= 0:
                self._set_value(p, v)
            self.changed.append(p.name)
        return None

    def _set_value(self, p: Param, v: float) -> None:
        if self.value[p.name] != v:
            self.value[p.name] = v
            if p.cost != UNIFORM:
                self.version += 1

    def step(self, dt: float) -> None:
        """Glide smoothed values towards their targets (see `glide`)."""
        new = glide(self.params, self.value, self.target, dt)
        for name, v in new.items():
            if v != self.value[name]:
                self._set_value(self.params[name], v)

    def settle(self) -> None:
        """Jump every value to its target (offline rendering of a preset's start state)."""
        for name, tgt in self.target.items():
            self._set_value(self.params[name], tgt)

    def frozen(self) -> FrameParams:
        return FrameParams(MappingProxyType(dict(self.value)), self.version)

    def take_changed(self) -> list[str]:
        out, self.changed = self.changed, []
        return out


def glide(params: Mapping[str, Param], value: Mapping[str, float], target: Mapping[str, float],
          dt: float) -> dict[str, float]:
    """One smoothing step, pure: exponential approach with time constant slew/4 (within 2% after
    `slew` seconds), snapping when within 1e-4 of the range.  The live loop and the look-ahead
    prediction use this same function, so predicted frames equal the ones later ticks make."""
    out = dict(value)
    for name, tgt in target.items():
        cur = value[name]
        if cur == tgt:
            continue
        p = params[name]
        if p.slew <= 0:
            out[name] = tgt
            continue
        nxt = cur + (tgt - cur) * (1.0 - math.exp(-4.0 * max(dt, 0.0) / p.slew))
        if abs(nxt - tgt) <= 1e-4 * max(p.hi - p.lo, 1e-9):
            nxt = tgt
        out[name] = nxt
    return out
