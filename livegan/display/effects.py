"""The table of display effects: one shader file each, its uniforms, and the parameters that
drive them.  Defaults live in the parameter registry; an effect whose parameters are all at their
defaults is skipped (it would be the identity)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

from ..params import PARAMS


@dataclass(frozen=True)
class Effect:
    name: str
    shader: str                                   # file in shaders/
    uniforms: Mapping[str, Callable]              # uniform -> f(params) -> value
    params: tuple[str, ...]                       # parameters that drive it
    textures: tuple[str, ...] = ()                # extra inputs: prev_frame, prev_output


def _p(name: str) -> Callable:
    return lambda v: v[name]


# Chain order: crossfade, view (zoom/pan), kaleidoscope, colour, feedback.
EFFECTS: tuple[Effect, ...] = (
    Effect("crossfade", "crossfade.frag", {"amount": _p("crossfade")}, ("crossfade",), ("prev_frame",)),
    Effect("view", "view.frag", {"zoom": _p("view_zoom"), "pan": lambda v: (v["view_x"], v["view_y"])},
           ("view_zoom", "view_x", "view_y")),
    Effect("kaleido", "kaleido.frag", {"segments": lambda v: int(v["kaleido"])}, ("kaleido",)),
    Effect("color", "color.frag", {"brightness": _p("brightness"), "contrast": _p("contrast"),
                                   "saturation": _p("saturation"), "hue": _p("hue")},
           ("brightness", "contrast", "saturation", "hue")),
    Effect("feedback", "feedback.frag", {"amount": _p("feedback")}, ("feedback",), ("prev_output",)),
)

_DEFAULTS = {p.name: p.default for p in PARAMS}


def active(effect: Effect, values: Mapping[str, float]) -> bool:
    return any(values[p] != _DEFAULTS[p] for p in effect.params)
