"""`livegan render --gpus 2`: the generator frames shared by two gloo processes on this CPU give the
very video one process writes, frame for frame, with both ranks rendering; a recording that mixes
networks is refused in one line (its blends are made in the show, not in the log)."""
from __future__ import annotations

import subprocess
import sys

import numpy as np

from conftest import ROOT
from livegan.app import App
from livegan.params import Command
from livegan.presets import parse_preset
from livegan.show import Options, Show


def render(log, out, *more) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "livegan.cli", "render", str(log), "--out", str(out), "--codec", "ffv1",
                           "--quiet", "--device", "cpu", *more], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_two_processes_render_what_one_writes(tmp_path):
    from stylegan3 import load_network

    from livegan.media import read_video
    from livegan.record import LOG_NAME
    from livegan.store import Store

    G = load_network("builtin:twemoji")
    show = Show(Options(network="builtin:twemoji", fps=30),
                parse_preset({"keyframes": [3, 8, 5], "speed": 1.0}, "r.json"), G=G)
    events = {1: [Command("trigger", "record", 1, "key")],
              6: [Command("trigger", "bend_op", [0, ["rotate", 4, "all", 30]], "osc"), Command("set", "bend/0", 0.8, "osc")],
              12: [Command("set", "psi", 0.3, "osc"), Command("set", "layer_view", 2, "osc"),
                   Command("set", "layer_program", 1, "osc")],
              18: [Command("set", "layer_program", 0, "osc"), Command("set", "feedback", 0.6, "osc")],
              30: [Command("trigger", "record", 0, "key")]}
    app = App(show, tmp_path, hud=False, codec="ffv1")
    app.run_headless(34, realtime=False, on_tick=lambda i, s, d: [s.post(c) for c in events.get(i, ())])
    (walk,) = Store(tmp_path).walks("recording")
    log = tmp_path / str(walk["id"]) / LOG_NAME
    one, two = render(log, tmp_path / "one.mkv"), render(log, tmp_path / "two.mkv", "--gpus", "2")
    assert one.returncode == 0, one.stderr[-2000:]
    assert two.returncode == 0, two.stderr[-2000:]
    import re
    ranks = [int(n) for n in re.findall(r"frames rendered by rank: (\d+), (\d+)", two.stdout)[0]]
    a, b = read_video(tmp_path / "one.mkv"), read_video(tmp_path / "two.mkv")
    assert len(a) == len(b) >= 28
    assert all(np.array_equal(x, y) for x, y in zip(a, b)), "two processes wrote other frames than one"
    assert len(ranks) == 2 and ranks[1] > 0, two.stdout


def test_a_mixed_recording_renders_in_one_process(tmp_path):
    from livegan.record import LOG_NAME
    from livegan.store import Store

    show = Show(Options(fps=30), parse_preset({"keyframes": [3], "speed": 0,
                                                "netmix": {"network": "builtin:tiny", "amount": 0.5}}, "m.json"))
    events = {1: Command("trigger", "record", 1, "key"), 25: Command("trigger", "record", 0, "key")}
    App(show, tmp_path, hud=False, codec="ffv1").run_headless(
        28, realtime=False, on_tick=lambda i, s, d: s.post(events[i]) if i in events else None)
    assert show.netmix.amount == 0.5
    (walk,) = Store(tmp_path).walks("recording")
    res = render(tmp_path / str(walk["id"]) / LOG_NAME, tmp_path / "x.mkv", "--gpus", "2")
    assert res.returncode == 2 and "mixes networks" in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
