"""Replay is exact, always: a session with a preset switch, psi, a keyframe jump, rotation, tap
tempo, a network switch and a wide canvas, recorded with the HUD on in a letterboxed output; the
live program frames, the session video and two replays are the same frames, frame for frame."""
from __future__ import annotations

import time

import numpy as np
import pytest

from livegan.app import App
from livegan.media import read_video
from livegan.params import Command
from livegan.presets import parse_preset
from livegan.recorder import LOG_NAME, read_log
from livegan.replay import render_log
from livegan.show import Options, Show
from livegan.store import Store

PRESET = parse_preset({"keyframes": [1, 2, 3], "speed": 0.5}, "replay.json")


def test_record_and_replay_twice_are_identical(tmp_path, tiny, golden):
    other = str(golden / "sg3t-tiny" / "network.pkl")
    show = Show(Options(fps=30, canvas="16:9"), PRESET, G=tiny)
    app = App(show, tmp_path, hud=True, codec="ffv1")
    live: dict[int, np.ndarray] = {}
    start: dict = {}
    events = {
        8: Command("set", "psi", 0.4, "osc"),
        14: Command("trigger", "preset", "cuts", "key"),
        24: Command("trigger", "keyframe_next", None, "key"),
        30: Command("set", "rotate", 30.0, "osc"),
        34: Command("trigger", "tap", None, "key", 100.0),
        35: Command("trigger", "tap", None, "key", 100.5),
        36: Command("trigger", "tap", None, "key", 101.0),
        40: Command("trigger", "network", other, "key"),
        60: Command("set", "contrast", 1.5, "osc"),
    }

    def on_tick(i, s, d):
        if i == 4:
            s.post(Command("trigger", "record", 1, "key"))
        if i in events:
            s.post(events[i])
        if i == 80:
            s.post(Command("trigger", "record", 0, "key"))
        if app.recording and app.recorder._start_tick is not None:
            start.setdefault("tick", app.recorder._start_tick)
        live[s.tick_index] = d.renderer.read_program()
    # the output is a letterboxed 400x300 view with the HUD: neither may reach the recording
    app.run_headless(90, size=(400, 300), realtime=False, on_tick=on_tick)
    assert not [e for e in show.errors if "network" in e], show.errors
    assert show.network == other and show.registry.value["bpm"] == pytest.approx(120.0)
    (walk,) = Store(tmp_path).walks("recording")
    assert walk["status"] == "done", walk
    log = tmp_path / str(walk["id"]) / LOG_NAME
    header, cmds, end = read_log(log)
    ops = [(c.op, c.name) for v in cmds.values() for c in v]
    assert ("apply_network", "network") in ops and ("apply_preset", "preset") in ops and ("set", "bpm") in ops
    first = start["tick"] + 1
    session = read_video(tmp_path / str(walk["id"]) / "session.mkv")
    assert end == len(session) == 81 - first     # every frame presented while recording (stopped at tick 81)
    w, h = session[0].shape[1], session[0].shape[0]
    assert (w, h) == (456, 256)                                 # the canvas, not the 400x300 view
    replays = []
    for k in range(2):
        frames = {}
        out = tmp_path / f"replay{k}.mkv"
        res = render_log(log, out, progress=False, G=tiny, on_frame=lambda i, req, img: frames.__setitem__(i, img))
        assert res["written"] == end and not [e for e in res["errors"] if "failed" in e]
        replays.append((frames, read_video(out)))
    for i in range(end):
        lv = live[first + i]
        for frames, _ in replays:
            assert np.array_equal(frames[i], lv), f"replay frame {i} differs from live tick {first + i}"
    # the encoded session equals the encoded replays, frame for frame (same pictures, same encoder)
    for _, video in replays:
        assert len(video) == len(session)
        for i, (a, b) in enumerate(zip(session, video)):
            assert np.array_equal(a, b), f"video frame {i}"
    # no HUD and no letterbox in the program: its left column is picture, not black bars
    assert session[10][:, :4].mean() > 5 and session[10][:40, :200].std() > 3
