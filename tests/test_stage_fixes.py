"""Small things a performer trips over: each with the behaviour that was wrong."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from livegan.app import App
from livegan.control.keys import command_for
from livegan.params import Command
from livegan.presets import list_presets, parse_preset
from livegan.show import Options, Show

ROOT = Path(__file__).resolve().parents[1]


def test_digit_keys_follow_the_keyboard_and_say_what_is_missing(tiny):
    assert command_for("_1", "psi", 0.1, 0.0).value == 0 and command_for("_0", "psi", 0.1, 0.0).value == 9
    show = Show(Options(fps=30), parse_preset({"keyframes": [1, 2]}, "k.json"), G=tiny)
    n = len(list_presets())
    show.post(command_for(f"_{n + 1}", "psi", 0.1, 0.0))
    show.tick(0.0)
    msg = " ".join(show.errors)
    assert f"no preset {n + 1}" in msg and f"there are {n}" in msg and list_presets()[0].stem in msg


def test_keyframe_goto_out_of_range_is_refused_not_wrapped(tiny):
    show = Show(Options(fps=30), parse_preset({"keyframes": [1, 2, 3], "speed": 0.0}, "g.json"), G=tiny)
    show.post(Command("trigger", "keyframe_goto", 99, "osc"))
    show.tick(0.0)
    assert show.transport.position == 0.0 and any("no keyframe 99" in e for e in show.errors)


def test_headless_single_frame_is_a_picture(tmp_path):
    res = subprocess.run([sys.executable, str(ROOT / "perform.py"), "--headless", "--frames", "1", "--no-osc",
                          "--out", str(tmp_path)], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert res.returncode == 0, res.stderr[-1000:]
    from PIL import Image
    img = np.asarray(Image.open(tmp_path / "perform.png"))
    assert img.std() > 10                                    # not a black frame
    assert "frames to GL:" in res.stdout                      # the frame path, on every device
    assert "--dtype auto on the CPU" in res.stdout


def test_perform_help_names_perform_py():
    res = subprocess.run([sys.executable, str(ROOT / "perform.py"), "--help"], capture_output=True, text=True,
                         timeout=60, cwd=ROOT)
    assert res.returncode == 0 and res.stdout.startswith("usage: perform.py")
    text = " ".join(res.stdout.split())                     # argparse wraps lines
    assert "screen's refresh rate" in text and "CUDA only: on the CPU it is off" in text


def test_cpu_notes_for_cuda_options():
    from livegan.devices import precision_notes
    notes = precision_notes("cpu", "fp16", True)
    assert any("--cuda-graphs is CUDA only" in n for n in notes) and any("float16" in n for n in notes)
    assert precision_notes(SimpleNamespace(type="cuda"), "auto", True) == []


def test_info_names_the_configuration(golden, capsys):
    from livegan.cli import main
    from stylegan3 import describe_config

    assert main(["info", "--network", "builtin:tiny"]) == 0
    assert "StyleGAN3-T" in capsys.readouterr().out
    assert main(["info", "--network", str(golden / "sg2-tiny" / "network.pkl")]) == 0
    assert "StyleGAN2" in capsys.readouterr().out
    assert describe_config(SimpleNamespace(family="stylegan3", init_kwargs={"conv_kernel": 1,
                                                                             "use_radial_filters": True})) == "StyleGAN3-R"


def test_truncation_sheet_labels_its_psi_columns(tiny):
    from livegan.explore import truncation_sheet

    sheet = truncation_sheet(tiny, [0, 1], [0.3, 1.0])
    assert sheet.shape == (2 * 256 + 22, 2 * 256, 3)
    strip = sheet[:22]
    for col in (strip[:, :256], strip[:, 256:]):              # a label over each column
        assert (col > 128).sum() > 20


def test_walk_is_an_abstract_base():
    from livegan.walks import CustomWalk, RandomWalk, Walk

    with pytest.raises(TypeError):
        Walk([np.zeros(4), np.ones(4)])
    assert RandomWalk(8, keyframes=2, steps=4).kind == "random" and issubclass(CustomWalk, Walk)


def test_headless_video_is_the_program_not_the_view(tmp_path, tiny):
    from livegan.media import read_video

    show = Show(Options(fps=30), parse_preset({"keyframes": [1, 2], "speed": 0.5}, "v.json"), G=tiny)
    shown = []
    res = App(show, tmp_path, hud=True).run_headless(
        12, size=(400, 300), realtime=False, video=tmp_path / "v.mp4",
        on_tick=lambda i, s, d: shown.append(d.renderer.read_program()))
    frames = read_video(tmp_path / "v.mp4")
    assert res["video_frames"] == len(frames) == 12
    assert frames[0].shape == (256, 256, 3)                  # the canvas, not the 400x300 letterboxed view
    # H.264 of the program, not of the HUD: close to the program frame everywhere, HUD corner included
    assert np.abs(frames[5].astype(int) - shown[5].astype(int)).mean() < 4
    assert np.abs(frames[5][:60, :200].astype(int) - shown[5][:60, :200].astype(int)).mean() < 6
