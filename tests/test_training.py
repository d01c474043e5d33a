"""Training against the official trainer's own results (../shared/golden/train-sg2-tiny): our
discriminator, each loss phase's gradients, the step's optimiser half; the check command's verdicts;
an official training snapshot through the restricted unpickler; discriminator options."""
from __future__ import annotations

import json
import pickle
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import ROOT

SEPARABLE = ["d_forward", "d_forward_blur3", "g_main", "d_main", "d_reg", "g_reg", "step_d"]


def check(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "livegan", "train", "check", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=600)


def test_every_separable_case_of_the_official_fixture_is_within_its_limit(golden):
    args = [golden / "train-sg2-tiny"] + [a for c in SEPARABLE for a in ("--case", c)]
    r = check(*args)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith(("ok", "FAIL"))]
    assert [ln.split()[1] for ln in lines] == SEPARABLE and all(ln.startswith("ok") for ln in lines), r.stdout
    for ln in lines:                                     # each error printed is below its printed limit
        err, limit = float(ln.split("relative error ")[1].split()[0]), float(ln.split("limit ")[1].split(";")[0])
        assert 0 <= err <= limit


def test_the_check_fails_a_wrong_result_and_a_case_it_cannot_run(golden, tmp_path):
    fx = tmp_path / "train-sg2-tiny"
    shutil.copytree(golden / "train-sg2-tiny", fx)
    shutil.copytree(golden / "sg2-tiny", tmp_path / "sg2-tiny")
    fx.chmod(0o755)
    arrays = dict(np.load(fx / "cases.npz"))
    arrays["d_forward.logits"] = arrays["d_forward.logits"] * 1.001      # 1e-3 off: above 1e-5
    (fx / "cases.npz").chmod(0o644)
    np.savez(fx / "cases.npz", **arrays)
    meta = json.loads((fx / "cases.json").read_text())
    meta["cases"]["d_backward_twice"] = "a case no runner knows"
    (fx / "cases.json").chmod(0o644)
    (fx / "cases.json").write_text(json.dumps(meta))
    r = check(fx, "--case", "d_forward", "--case", "d_forward_blur3", "--case", "d_backward_twice")
    assert r.returncode == 1, r.stdout
    out = r.stdout
    assert "FAIL  d_forward " in out and "ok    d_forward_blur3" in out
    assert "FAIL  d_backward_twice" in out and "could not run" in out
    (tmp_path / "sg2-tiny" / "network.pkl").chmod(0o644)
    (tmp_path / "sg2-tiny" / "network.pkl").write_bytes(b"not a pickle")       # G cannot be built
    r = check(fx, "--case", "g_main")
    assert r.returncode == 1 and "FAIL  g_main" in r.stdout and "could not run" in r.stdout, r.stdout
    r = check(tmp_path / "nowhere")
    assert r.returncode == 1 and "could not run" in r.stdout
    r = check(fx, "--case", "nope")
    assert r.returncode == 1 and "FAIL  nope" in r.stdout and "not a case of this fixture" in r.stdout


def test_an_official_training_snapshot_loads_without_running_its_code(golden, tmp_path):
    from stylegan3 import CheckpointError
    from stylegan3.checkpoints import load_training_snapshot

    snap = load_training_snapshot(golden / "train-sg2-tiny" / "snapshot.pkl")
    assert snap["augment_p"] == pytest.approx(0.23)
    assert snap["training_set_kwargs"]["resolution"] == 32
    want = np.load(golden / "train-sg2-tiny" / "D_state_dict.npz")
    got = snap["D"].state_dict()
    assert set(got) == set(want.files) and all(np.array_equal(got[k].numpy(), want[k]) for k in want.files)
    g = np.load(golden / "sg2-tiny" / "state_dict.npz")
    assert all(np.array_equal(snap["G_ema"].state_dict()[k].numpy(), g[k]) for k in g.files)
    real = torch.from_numpy(np.load(golden / "train-sg2-tiny" / "cases.npz")["d_forward.real"])
    assert torch.isfinite(snap["D"].train()(real)).all()

    class Evil:
        def __reduce__(self):
            return (subprocess.call, (["touch", str(tmp_path / "pwned")],))
    bad = tmp_path / "evil.pkl"
    bad.write_bytes(pickle.dumps({"G": Evil(), "D": Evil(), "G_ema": Evil()}))
    with pytest.raises(CheckpointError, match="refused"):
        load_training_snapshot(bad)
    assert not (tmp_path / "pwned").exists()
    net_only = golden / "sg2-tiny" / "network.pkl"                   # a network pickle has no D
    with pytest.raises(CheckpointError, match="not a training snapshot"):
        load_training_snapshot(net_only)


def test_discriminator_options_conditional_frozen_and_skip():
    from stylegan3.discriminator import Discriminator

    torch.manual_seed(0)
    x = torch.randn(4, 3, 16, 16)
    D = Discriminator(c_dim=5, img_resolution=16, img_channels=3, channel_base=256, channel_max=32)
    c = torch.nn.functional.one_hot(torch.tensor([0, 1, 2, 3]), 5).float()
    assert D(x, c).shape == (4, 1) and "mapping.w_avg" not in D.state_dict()   # label mapping: no w_avg
    assert not torch.allclose(D(x, c), D(x, c.roll(1, 0)))                        # the labels count
    free = Discriminator(0, 16, 3, channel_base=256, channel_max=32)
    frozen = Discriminator(0, 16, 3, channel_base=256, channel_max=32, block_kwargs={"freeze_layers": 2})
    assert set(free.state_dict()) == set(frozen.state_dict())                    # same names: resumable
    names = {n for n, _ in frozen.named_parameters()}
    assert "b16.fromrgb.weight" not in names and "b16.conv0.weight" not in names and "b16.conv1.weight" in names
    frozen.requires_grad_(True)                                                  # cannot wake a frozen layer
    assert not frozen.b16.fromrgb.weight.requires_grad
    skip = Discriminator(0, 16, 3, architecture="skip", channel_base=256, channel_max=32)
    assert skip(x).shape == (4, 1) and hasattr(skip.b4, "fromrgb")
    with pytest.raises(ValueError, match="minibatch-std groups of 4"):
        free(torch.randn(6, 3, 16, 16))


def test_update_emas_tracks_w_avg_and_stylegan3_magnitudes_only_when_asked():
    from stylegan3 import build_generator

    G = build_generator("stylegan3", {"z_dim": 8, "c_dim": 0, "w_dim": 8, "img_resolution": 16, "img_channels": 3,
                                      "channel_base": 256, "channel_max": 16, "magnitude_ema_beta": 0.5})
    layer = getattr(G.synthesis, G.synthesis.layer_names[0])
    z = torch.randn(2, 8)
    before = (G.mapping.w_avg.clone(), layer.magnitude_ema.clone())
    G(z)
    assert torch.equal(G.mapping.w_avg, before[0]) and torch.equal(layer.magnitude_ema, before[1])
    G(z, update_emas=True)
    assert not torch.equal(G.mapping.w_avg, before[0]) and not torch.equal(layer.magnitude_ema, before[1])
