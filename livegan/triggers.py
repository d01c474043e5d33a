"""The command table, beside the parameter registry (params.py): every trigger a control can send
and every kind of line a control log replays, with who carries it out and what it costs.

- owner `show`: it changes what is rendered (transport, preset, network, seeds, directions,
  modulation, the condition input); the show's main-thread step handles it (`Show.HANDLERS`).
- owner `app`: it acts on the window or writes files (snapshot, record, HUD, full screen, MIDI
  learn, feedback sync, save as preset); the app handles it after the frame (`App.HANDLERS`).
- `rate` (per second, burst): how often it may run, refusals counted (each loads or writes files,
  so a flood cannot fill the disk or the memory); `backlog`: how many may wait in the intake.
- `replayed`: a render re-runs it from the control log (the others leave their own lines there,
  such as the preset or the network they loaded)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

SHOW, APP = "show", "app"


@dataclass(frozen=True)
class Trigger:
    name: str
    owner: str
    rate: Optional[tuple[float, float]] = None     # (per second, burst); None: no limit
    backlog: int = 32                             # commands of this kind that may wait in the intake
    replayed: bool = False


TABLE: dict[str, Trigger] = {t.name: t for t in (
    Trigger("keyframe_next", SHOW, replayed=True),
    Trigger("keyframe_prev", SHOW, replayed=True),
    Trigger("keyframe_goto", SHOW, replayed=True),
    Trigger("seed", SHOW, replayed=True),
    Trigger("pad_corner", SHOW, replayed=True),
    Trigger("tap", SHOW),
    Trigger("preset", SHOW, backlog=4),
    Trigger("network", SHOW, rate=(0.5, 1), backlog=2),
    Trigger("netmix_network", SHOW, rate=(0.5, 1), backlog=2),
    Trigger("netmix_layers", SHOW, backlog=4),
    Trigger("netmix_frame", SHOW, backlog=4),
    Trigger("netmix_mapping", SHOW, backlog=4),
    Trigger("input", SHOW, backlog=2),
    Trigger("bend_op", SHOW),
    Trigger("direction_pick", SHOW),
    Trigger("direction_zone", SHOW),
    Trigger("mod_route", SHOW),
    Trigger("mod_clear", SHOW),
    Trigger("lfo", SHOW),
    Trigger("audio_trigger", SHOW),
    Trigger("snapshot", APP, rate=(4.0, 8), backlog=8),
    Trigger("record", APP, rate=(2.0, 2), backlog=2),
    Trigger("save_preset", APP, rate=(1.0, 3), backlog=2),
    Trigger("feedback_sync", APP, rate=(2.0, 2)),
    Trigger("hud", APP),
    Trigger("fullscreen", APP),
    Trigger("learn", APP),
)}

# The triggers a render re-runs from a control log.
REPLAYED = frozenset(name for name, t in TABLE.items() if t.replayed)

# What a control log holds besides commands from controls: the show's own record of what it did
# (a preset or network it loaded, a direction slot's state, the condition and modulation a frame
# used).  Each replays through the show.
LOGGED_OPS = ("apply_preset", "apply_network", "apply_netmix", "apply_direction", "apply_bend", "apply_mirror",
              "condition", "mod")


def names() -> tuple[str, ...]:
    return tuple(TABLE)


def backlog(name: str, default: int) -> int:
    t = TABLE.get(name)
    return t.backlog if t is not None else default
