"""The exploration commands, run as a user would run them."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

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
    from livegan import threads

    monkeypatch.setenv("LIVEGAN_THREADS", "3")
    assert threads.plan().generator == 3 and threads.plan(2).generator == 2      # --threads wins
    monkeypatch.setenv("LIVEGAN_THREADS", "")
    assert threads.plan().generator == max(1, threads.cores() - 1)
    r = subprocess.run([sys.executable, "-m", "livegan", "generate", "--seeds", "0"], capture_output=True, text=True,
                       env={**os.environ, "LIVEGAN_THREADS": "lots"})
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "LIVEGAN_THREADS=lots" in r.stderr, r.stderr


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
