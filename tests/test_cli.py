"""The exploration commands, run as a user would run them."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import ROOT, livegan
from livegan.media import read_video


def run(*args, ok=True):
    r = subprocess.run([sys.executable, "-m", "livegan", *args], capture_output=True, text=True)
    assert (r.returncode == 0) == ok, r.stderr
    return r


def test_generate_grid_matches_the_network(tmp_path, tiny):
    out = tmp_path / "grid.png"
    run("generate", "--seeds", "0-3", "--psi", "0.7", "--grid", "2x2", "--out", str(out))
    img = np.asarray(Image.open(out))
    assert img.shape == (512, 512, 3)
    z = torch.from_numpy(np.random.RandomState(3).randn(1, tiny.z_dim)).float()
    with torch.inference_mode():
        ref = (tiny(z, None, truncation_psi=0.7) * 127.5 + 128).clamp(0, 255).to(torch.uint8)[0].permute(1, 2, 0).numpy()
    cell = img[256:, 256:]                                 # seed 3: row 1, column 1
    assert np.abs(cell.astype(int) - ref.astype(int)).max() <= 1


def test_truncation_sheet_layout(tmp_path):
    out = tmp_path / "sheet.png"
    run("generate", "--seeds", "5,6", "--psi", "0,0.5,1", "--out", str(out))
    img = np.asarray(Image.open(out)).astype(int)
    assert img.shape == (22 + 2 * 256, 3 * 256, 3)          # a strip of psi labels on top
    img = img[22:]
    # psi 0 gives w_avg for every seed: both rows' first column are the same picture.
    assert np.abs(img[:256, :256] - img[256:, :256]).max() <= 1
    assert np.abs(img[:256, 512:] - img[256:, 512:]).mean() > 5


def test_morph_mp4_and_gif(tmp_path):
    mp4, gif = tmp_path / "m.mp4", tmp_path / "m.gif"
    run("morph", "--seeds", "1,2", "--frames", "8", "--out", str(mp4))
    frames = read_video(mp4)
    assert len(frames) == 9 and frames[0].shape == (256, 256, 3)
    d = [np.abs(frames[i + 1].astype(int) - frames[i].astype(int)).mean() for i in range(8)]
    assert min(d) > 0 and np.abs(frames[-1].astype(int) - frames[0].astype(int)).mean() > max(d)
    run("morph", "--seeds", "1,2,3", "--frames", "4", "--loop", "--out", str(gif))
    assert Image.open(gif).n_frames == 12


def test_errors_are_one_line(tmp_path):
    r = run("generate", "--network", str(tmp_path / "missing.pkl"), ok=False)
    assert r.stderr.strip().count("\n") == 0 and "no such network file" in r.stderr
    r = run("generate", "--seeds", "x-y", ok=False)
    assert "bad seed list" in r.stderr and "Traceback" not in r.stderr


def test_livegan_threads_sets_the_default_share_and_a_bad_value_is_one_line(monkeypatch):
    from livegan.engine import threads

    monkeypatch.setenv("LIVEGAN_THREADS", "3")
    assert threads.plan().generator == 3 and threads.plan(2).generator == 2      # --threads wins
    monkeypatch.setenv("LIVEGAN_THREADS", "")
    assert threads.plan().generator == max(1, threads.cores() - 1)
    r = subprocess.run([sys.executable, "-m", "livegan", "generate", "--seeds", "0"], capture_output=True, text=True,
                       env={**os.environ, "LIVEGAN_THREADS": "lots"})
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "LIVEGAN_THREADS='lots'" in r.stderr, r.stderr


SETTINGS = ("LIVEGAN_MAX_NETWORK_GB", "LIVEGAN_DOWNLOAD_S", "LIVEGAN_FIRST_FRAME_S", "LIVEGAN_THREADS",
            "LIVEGAN_ENCODER_THREADS", "LP_NUM_THREADS", "LIVEGAN_PCA_SAMPLES")


@pytest.mark.hostile
@pytest.mark.parametrize("name", SETTINGS)
def test_every_number_from_the_environment_is_checked_at_the_start(monkeypatch, capsys, name):
    # 'nan' meant no download deadline, 'inf' an OverflowError inside a network's size check,
    # junk a traceback at the first download or recording: each is the command's one line now
    from livegan.commands import main

    for value in ("nan", "inf", "-1", "lots", "1e400", "0.5e9"):
        monkeypatch.setenv(name, value)
        assert main(["networks"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"livegan networks: error: {name}={value!r}: must be"), err
    monkeypatch.setenv(name, "")                      # empty is unset: the default
    assert main(["networks"]) == 0


@pytest.mark.parametrize("ext", [".mov", ".mkv"])
def test_prores_and_lossless_codecs(tmp_path, ext):
    from livegan.media import write_video
    rng = np.random.RandomState(0)
    frames = [rng.randint(0, 256, (64, 96, 3), np.uint8) for _ in range(5)]
    write_video(tmp_path / f"v{ext}", frames, 30, fragmented=True)
    back = read_video(tmp_path / f"v{ext}")
    assert len(back) == 5 and back[0].shape == (64, 96, 3)
    if ext == ".mkv":                                   # FFV1 is lossless (up to RGB<->YUV444)
        assert np.abs(back[2].astype(int) - frames[2]).mean() < 2




def test_perform_help_names_perform_py():
    res = subprocess.run([sys.executable, str(ROOT / "perform.py"), "--help"], capture_output=True, text=True,
                         timeout=60, cwd=ROOT)
    assert res.returncode == 0 and res.stdout.startswith("usage: perform.py")
    text = " ".join(res.stdout.split())                     # argparse wraps lines
    assert "screen's refresh rate" in text and "CUDA only: on the CPU it is off" in text


def test_cpu_notes_for_cuda_options():
    from livegan.engine.devices import precision_notes
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


def test_times_read_as_a_person_reads_them():
    from livegan.console import duration

    assert [duration(s) for s in (0.4, 40, 185, 7620, 3 * 86400 + 4 * 3600, float("inf"), -1)] == \
        ["0 s", "40 s", "3 min 05 s", "2 h 07 min", "3 d 4 h", "?", "?"]


def test_networks_are_described_lightest_first_with_training_runs(tmp_path):
    run = tmp_path / "recordings" / "training" / "my-run"
    run.mkdir(parents=True)
    (run / "network-00000.064kimg.safetensors").write_bytes(b"")
    (run / "network-00000.128kimg.safetensors").write_bytes(b"")
    r = subprocess.run([sys.executable, "-m", "livegan", "networks"], cwd=tmp_path, capture_output=True, text=True,
                       timeout=120, env={**__import__("os").environ, "PYTHONPATH": str(ROOT) + ":" + str(ROOT / "vendor")})
    assert r.returncode == 0, r.stderr
    from stylegan3 import builtin
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("  builtin:")]
    assert [ln.split()[0] for ln in lines] == [f"builtin:{n}" for n in builtin.names()]
    assert all(len(ln.split(None, 1)) == 2 and len(ln.split(None, 1)[1]) > 20 for ln in lines), lines   # each described
    assert builtin.names().index("tiny") < builtin.names().index("sg3t-1024")
    assert builtin.names().index("canvas-tiny") < builtin.names().index("canvas-r-512")
    assert re.search(r"run:my-run\s+2 snapshots, newest network-00000\.128kimg\.safetensors", r.stdout), r.stdout
    from livegan.control.page import ControlPage, PageAccess
    menu = ControlPage(lambda c: None, PageAccess([]), []).networks()
    assert menu[0] == "builtin:twemoji" and menu[-1] in ("builtin:sg3t-1024", "builtin:canvas-r-512")




@pytest.mark.parametrize("args,words", [
    (["directions", "sheet", "--range", "-3,3", "--steps", "1"], "--steps"),
    (["morph", "--out", "x.txt"], "x.txt"),
    (["generate", "--psi"], "--psi"),
    (["perform", "--headless", "--output-screen", "1"], "--output-screen"),
    (["perform", "--duration", "3"], "--duration"),
    (["render", "--fps", "abc", "1"], "--fps"),
])
def test_command_line_errors_are_one_line(tmp_path, args, words):
    r = livegan(*args, ok=False, cwd=tmp_path)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0] and ": error: " in lines[0], r.stderr
    assert "usage:" not in r.stderr and "Traceback" not in r.stderr


def test_a_negative_range_is_a_value(tmp_path):
    out = tmp_path / "sheet.png"
    r = livegan("directions", "sheet", "--directions", "sefa:0", "--range", "-2,2", "--steps", "3", "--out", str(out))
    assert out.exists() and "-2..+2" in r.stdout


def test_status_lines_from_many_threads_stay_whole():
    """Threads printing status lines at once (the recorder's "recording to" beside the main
    thread's lines): every line arrives whole on a pipe, as a script reading lines needs."""
    code = ("import threading\nfrom livegan.console import say\n"
            "def run(k):\n    for i in range(3000): say(f'livegan: thread {k} line {i} ' + 'x' * 40)\n"
            "ts = [threading.Thread(target=run, args=(k,)) for k in range(4)]\n"
            "[t.start() for t in ts]; [t.join() for t in ts]\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, PYTHONUNBUFFERED="1")).stdout.splitlines()
    assert len(out) == 12000
    assert all(ln.startswith("livegan: thread ") and ln.endswith("x" * 40) and ln.count("livegan") == 1 for ln in out)
