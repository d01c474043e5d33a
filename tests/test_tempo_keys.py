"""Tempo (tap, quantised jumps, beat sync) and the keyboard table."""
from __future__ import annotations

import pytest

from livegan.clock import Tempo, Transport
from livegan.control.keys import BINDINGS, command_for
from livegan.presets import list_presets
from livegan.presets import parse_preset
from livegan.show import Options
from livegan.show import Show


def test_tap_tempo_and_reset_after_a_pause():
    t = Tempo()
    for i in range(5):
        bpm = t.tap(10.0 + i * 0.5)
    assert bpm == pytest.approx(120.0)
    t.tap(20.0)                                  # long pause: a new sequence
    assert t.tap(20.4) == pytest.approx(150.0)


def test_quantised_jump_waits_for_the_beat():
    tr = Transport(4)
    tr.advance(0.1, 0.0, 120.0, False, True)     # beat 0.2
    tr.next(quantize=True)
    assert tr.position == 0.0
    for _ in range(3):                           # up to beat 0.8
        tr.advance(0.1, 0.0, 120.0, False, True)
    assert tr.position == 0.0
    tr.advance(0.1, 0.0, 120.0, False, True)     # crosses beat 1
    assert tr.position == 1.0 and tr.jumps == 1


def test_beat_sync_speed_is_keyframes_per_beat():
    tr = Transport(8)
    tr.advance(1.0, 0.25, 120.0, True, True)     # 2 beats at 1/4 keyframe per beat
    assert tr.position == pytest.approx(0.5)
    tr2 = Transport(8)
    tr2.advance(1.0, 0.25, 120.0, False, True)
    assert tr2.position == pytest.approx(0.25)


def test_keys_map_to_commands():
    assert command_for("space", "psi", 0.1, 0).name == "keyframe_next"
    assert command_for("backspace", "psi", 0.1, 0).name == "keyframe_prev"
    assert command_for("s", "psi", 0.1, 0).name == "snapshot"
    up = command_for("up", "zoom", 0.05, 0)
    assert (up.op, up.name, up.value) == ("add", "zoom", 0.05)
    assert command_for("_3", "psi", 0.1, 0).value == 2           # 1 is the first preset
    assert command_for("q", "psi", 0.1, 0) is None
    assert {"r", "f", "h", "t", "l"} <= set(BINDINGS)


def test_brackets_choose_what_the_arrows_nudge_and_wrap():
    from livegan.control.keys import selection

    names = ["speed", "psi", "zoom"]
    assert selection("bracketright", names, "psi") == "zoom"
    assert selection("bracketright", names, "zoom") == "speed"               # wraps around
    assert selection("bracketleft", names, "speed") == "zoom"
    assert selection("up", names, "psi") is None                            # not a selection key


def test_osc_docs_are_generated_from_the_registry():
    from livegan.docs import DOCS, osc_markdown
    assert (DOCS / "osc.md").read_text() == osc_markdown(), "run: python -m livegan.docs"


def test_digit_keys_follow_the_keyboard_and_say_what_is_missing(tiny):
    assert command_for("_1", "psi", 0.1, 0.0).value == 0 and command_for("_0", "psi", 0.1, 0.0).value == 9
    show = Show(Options(fps=30), parse_preset({"keyframes": [1, 2]}, "k.json"), G=tiny)
    n = len(list_presets())
    show.post(command_for(f"_{n + 1}", "psi", 0.1, 0.0))
    show.tick(0.0)
    msg = " ".join(show.errors)
    assert f"no preset {n + 1}" in msg and f"there are {n}" in msg and list_presets()[0].stem in msg
