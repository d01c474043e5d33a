"""Keyboard bindings -> commands (one table; the window backend only translates key names)."""
from __future__ import annotations

from typing import Optional

from ..params import Command

# key name (pyglet symbol string, lower case) -> (op, name, value)
BINDINGS: dict[str, tuple[str, str, object]] = {
    "space": ("trigger", "keyframe_next", None),
    "backspace": ("trigger", "keyframe_prev", None),
    "s": ("trigger", "snapshot", None),
    "r": ("trigger", "record", None),
    "f": ("trigger", "fullscreen", None),
    "h": ("trigger", "hud", None),
    "t": ("trigger", "tap", None),
    "l": ("trigger", "learn", None),
    "i": ("trigger", "input", None),          # the next --input (StyleGAN-Canvas)
}
# Digit keys select presets in presets/ by file name order, as the keyboard reads: 1 is the first,
# 9 the ninth, 0 the tenth (`perform.py` prints the list at start).
for _d in range(1, 10):
    BINDINGS[f"_{_d}"] = ("trigger", "preset", _d - 1)
BINDINGS["_0"] = ("trigger", "preset", 9)

NUDGE = {"up": 1, "down": -1, "right": 1, "left": -1}     # arrows nudge the selected parameter
SELECT = {"bracketright": 1, "bracketleft": -1}          # [ and ] choose what the arrows nudge


def selection(key: str, names: list[str], selected: str) -> Optional[str]:
    """The parameter [ or ] moves the selection to (None: not a selection key)."""
    step = SELECT.get(key.lower())
    if step is None:
        return None
    return names[(names.index(selected) + step) % len(names)]


def command_for(key: str, selected: str, step: float, now: float) -> Optional[Command]:
    key = key.lower()
    if key in BINDINGS:
        op, name, value = BINDINGS[key]
        return Command(op, name, value, "key", now)
    if key in NUDGE:
        return Command("add", selected, NUDGE[key] * step, "key", now)
    return None
