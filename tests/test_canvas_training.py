"""StyleGAN-Canvas training (seed 003): the condition is made from each real picture by the show's
own preprocessing, the encoder learns from the target loss, and the result plays with --input."""
from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from test_training import ROOT, train


def _circles(folder: Path, n=8, size=128) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size]
    for i in range(n):
        a = np.zeros((size, size, 3), np.uint8)
        cx, cy, r = rng.integers(30, 98, 2).tolist() + [int(rng.integers(15, 30))]
        a[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.integers(60, 255, 3)
        a[..., 2] = np.maximum(a[..., 2], (xx * 2 // 3).astype(np.uint8))
        Image.fromarray(a).save(folder / f"{i}.png")
    return folder


def test_canvas_fine_tuning_learns_the_target_and_plays_with_input(tmp_path):
    from livegan.conditions.prep import prepare
    from livegan.training.dataset import make_dataset
    from livegan.training.loop import Trainer, TrainOptions

    pics = _circles(tmp_path / "pics")
    make_dataset([str(pics)], tmp_path / "ds.zip", 128, progress=False)
    o = TrainOptions(data=str(tmp_path / "ds.zip"), outdir=str(tmp_path / "run"), cfg="canvas-t", batch=4, gamma=1,
                     kimg=1, tick=1, cbase=1024, cmax=32, fp32=True, aug="noaug", resume="builtin:canvas-tiny",
                     euclidean=10.0, cond="blur", cond_blur=21.0)
    t = Trainer(o, log=lambda m: None)
    reals = torch.from_numpy(np.stack([t.data.image(i) for i in range(8)]).astype(np.float32)) / 127.5 - 1
    cond = t.condition(reals)
    # the show's own preprocessing: its blur at the show's sigma for this condition size
    want = prepare(torch.nn.functional.interpolate(reals, size=(144, 144), mode="bilinear", align_corners=False),
                   1, 21.0 * 144 / 256)
    assert torch.equal(cond, want)

    def l2(G):
        with torch.no_grad():
            return float((G.eval()(torch.zeros(8, G.z_dim), None, cond, noise_mode="const") - reals).square().mean())
    before = l2(copy.deepcopy(t.G))
    for _ in range(8):
        t.step()
    after = l2(copy.deepcopy(t.G))
    assert after < 0.85 * before, (before, after)              # the target loss pulls G(cond(real)) to the real
    assert t.loss.reports.get("Loss/G/target")
    # its snapshot plays with --input
    t.out.mkdir(parents=True)
    t.snapshot()
    net = sorted((tmp_path / "run").glob("network-*.safetensors"))[-1]
    out = tmp_path / "played.png"
    r = subprocess.run([sys.executable, "-m", "livegan", "generate", "--network", str(net), "--input",
                        str(pics / "0.png"), "--seeds", "0", "--out", str(out)], cwd=ROOT, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert np.asarray(Image.open(out)).shape == (128, 128, 3)


def test_canvas_perceptual_term_and_bad_input_are_one_line(tmp_path):
    from livegan.training.dataset import make_dataset
    from livegan.training.perceptual import VGGFeatures

    pics = _circles(tmp_path / "pics", n=4)
    make_dataset([str(pics)], tmp_path / "ds.zip", 128, progress=False)
    torch.manual_seed(0)
    torch.save(VGGFeatures().state_dict(), tmp_path / "vgg19.pth")        # a VGG19 of random weights: the plumbing
    base = ["--data", tmp_path / "ds.zip", "--cfg", "canvas-t", "--batch", "4", "--kimg", "0.004", "--tick", "0.004",
            "--cbase", "1024", "--cmax", "32", "--fp32"]
    r = train(*base, "--outdir", tmp_path / "p", "--resume", "builtin:canvas-tiny", "--vgg", tmp_path / "vgg19.pth",
              "--cond", "edges")
    assert r.returncode == 0 and "target" in r.stdout, r.stdout + r.stderr
    (tmp_path / "bad.pth").write_bytes(b"not weights")
    make_dataset([str(_circles(tmp_path / "small", n=4, size=64))], tmp_path / "ds64.zip", 64, progress=False)
    for extra, words in ((["--vgg", tmp_path / "nowhere.pth"], "no such file"),
                         (["--vgg", tmp_path / "bad.pth"], "unreadable"),
                         (["--resume", "builtin:tiny"], "not a StyleGAN-Canvas network"),
                         (["--cfg", "canvas-r", "--resume", "builtin:canvas-tiny"], "a Canvas-T network"),
                         (["--data", tmp_path / "ds64.zip"], "geometry")):
        r = train(*base, "--outdir", tmp_path / "bad", *extra)
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and words in r.stderr, (extra, r.stderr)


def test_canvas_r_trains_a_new_r_network_that_loads_and_plays(tmp_path):
    """--cfg canvas-r: a new network in the R configuration (1x1 convolutions, radial filters,
    twice the channels, the skips and condition sized for them), D's blur as StyleGAN3-R; a step
    moves it, and its snapshot loads as a Canvas-R network that draws from a condition."""
    from stylegan3 import load_network

    from livegan.training.dataset import make_dataset
    from livegan.training.loop import Trainer, TrainOptions
    from livegan.training.networks import is_canvas_r

    make_dataset([str(_circles(tmp_path / "pics", n=4))], tmp_path / "ds.zip", 128, progress=False)
    o = TrainOptions(data=str(tmp_path / "ds.zip"), outdir=str(tmp_path / "run"), cfg="canvas-r", batch=4, gamma=1,
                     kimg=1, tick=1, cbase=1024, cmax=32, fp32=True, aug="noaug")
    t = Trainer(o, log=lambda m: None)
    assert is_canvas_r(t.G) and t.G.init_kwargs["conv_kernel"] == 1 and t.loss.opts.blur_init_sigma == 10
    before = {k: v.clone() for k, v in t.G.state_dict().items()}
    t.step()
    moved = [k for k, v in t.G.state_dict().items() if not torch.equal(v, before[k])]
    assert any(k.startswith("appended_net.") for k in moved) and any(k.startswith("synthesis.") for k in moved)
    t.out.mkdir(parents=True)
    t.snapshot()
    G = load_network(str(sorted((tmp_path / "run").glob("network-*.safetensors"))[-1]))
    assert is_canvas_r(G) and G.cond_shape == (3, 128, 128)
    reals = torch.from_numpy(np.stack([t.data.image(i) for i in range(2)]).astype(np.float32)) / 127.5 - 1
    with torch.no_grad():
        img = G(torch.zeros(2, G.z_dim), None, t.condition(reals), noise_mode="const")
    assert img.shape == (2, 3, 128, 128) and torch.isfinite(img).all() and float(img[0].std()) > 0
