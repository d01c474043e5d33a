"""Built-in networks: deterministic, calibrated, and good-looking enough to perform with."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from stylegan3 import builtin
from livegan.latents import z_from_seed


def _digest(G) -> str:
    h = hashlib.sha256()
    for k, v in G.state_dict().items():
        h.update(k.encode())
        h.update(v.contiguous().numpy().tobytes())
    return h.hexdigest()


def test_builds_are_identical_and_leave_the_global_rng_alone():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = builtin.build("tiny")
    after = torch.rand(1)
    b = builtin.build("tiny")
    assert torch.equal(before, after)
    assert _digest(a) == _digest(b)


@pytest.mark.exactness                       # stored on another CPU: held under each kernel set
@pytest.mark.parametrize("name", ["tiny", "canvas-tiny"])
def test_stored_calibration_still_holds(name):
    fresh = builtin.calibrate(builtin.build(name, calibrated=False))
    stored = builtin._CALIBRATION[name]
    for block, (mean, var) in stored.get("batch_norm", {}).items():
        assert np.allclose(fresh["batch_norm"][block][0], mean, atol=1e-3)
        assert np.allclose(fresh["batch_norm"][block][1], var, rtol=1e-3, atol=1e-4)
    for k, v in stored["magnitude_ema"].items():
        assert fresh["magnitude_ema"][k] == pytest.approx(v, rel=1e-3)
    assert fresh["output_scale"] == pytest.approx(stored["output_scale"], rel=1e-3)
    assert np.allclose(fresh["w_avg"], stored["w_avg"], atol=1e-4)


def test_tiny_is_a_256px_stylegan3(tiny):
    assert tiny.family == "stylegan3" and tiny.img_resolution == 256 and tiny.num_ws == 9


def test_tiny_images_are_rich_and_change_smoothly(tiny):
    z = torch.from_numpy(np.concatenate([z_from_seed(s, tiny.z_dim) for s in range(8)])).float()
    with torch.inference_mode():
        img = tiny(z, None)
    assert torch.isfinite(img).all()
    per_channel = img.std(dim=[0, 2, 3])
    assert (per_channel > 0.15).all(), per_channel        # colour, not grey
    per_image = img.std(dim=[1, 2, 3])
    assert (per_image > 0.1).all() and (per_image < 1.5).all(), per_image  # structure, not mush or noise
    assert float((img.abs() > 1).float().mean()) < 0.1    # not saturated
    # Colour differs between channels (not a grey image with a tint).
    assert float((img[:, 0] - img[:, 1]).std()) > 0.1
    # Smooth along an interpolation: neighbouring frames differ little, and about evenly.
    with torch.inference_mode():
        ws = tiny.mapping(z[:2], None)
        steps = torch.linspace(0, 1, 17)
        frames = tiny.synthesis(torch.stack([ws[0] + (ws[1] - ws[0]) * t for t in steps]))
    d = (frames[1:] - frames[:-1]).abs().mean(dim=[1, 2, 3])
    total = (frames[-1] - frames[0]).abs().mean()
    assert float(d.max()) < 0.35 * float(total), (d, total)
    assert float(d.max()) < 4 * float(d.median())


def test_psi_zero_gives_w_avg(tiny):
    ws = tiny.mapping(torch.randn(3, tiny.z_dim), None, truncation_psi=0)
    assert torch.allclose(ws, tiny.mapping.w_avg.expand_as(ws))


def test_sg3t_1024_has_the_official_architecture(golden):
    import json
    m = json.loads((golden / "manifests" / "stylegan3-t-1024.json").read_text())
    G = builtin.build("sg3t-1024", calibrated=False)
    assert [(k, list(v.shape)) for k, v in G.state_dict().items()] == [(e["name"], e["shape"]) for e in m["state_dict"]]


def test_canvas_tiny_follows_its_condition_in_real_time_sizes():
    from stylegan3.builtin import calibration_conditions

    G = builtin.build("canvas-tiny")
    assert G.family == "stylegan3-canvas" and G.img_resolution == 128 and G.cond_shape == (3, 144, 144)
    conds = calibration_conditions(2, G.cond_shape, seed=3)
    z = torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        a, b = G(z, None, conds[:1]), G(z, None, conds[1:])
        wide = G(z, None, torch.cat([conds[:1], conds[1:]], dim=3))      # a 2:1 condition
    assert 0.3 < float(a.std()) < 2.0                                   # calibrated: a visible picture
    assert float((a - b).abs().mean()) > 0.1                            # the condition steers it
    assert wide.shape[-1] == G.output_width(288) > 2 * 128 - 16


def test_canvas_r_512_has_the_official_sizes():
    G = builtin.build("canvas-r-512", calibrated=False)
    assert G.family == "stylegan3-canvas" and G.img_resolution == 512 and G.cond_shape == (3, 256, 256)
    assert sum(p.numel() for p in G.parameters()) > 90_000_000
    L1 = G.synthesis.L1_36_1024
    assert L1.bias.shape[0] == 1024 + 512 and L1.conv_kernel == 1 and L1.down_radial
    enc = G.appended_net
    assert [getattr(enc, n).conv2.weight.shape[0] for n in enc.block_names] == [256, 512, 512, 512, 512, 512, 512, 1024, 1024, 1024]
    assert [getattr(enc, n).fp16 for n in enc.block_names] == [True] * 4 + [False] * 6


def test_twemoji_is_a_trained_network_whose_pictures_look_like_emoji():
    """Trained by livegan on Twemoji (alpha over black): a coloured figure in the middle of a black
    square, a different one for each z; shipped small, credited in `livegan networks`."""
    import subprocess
    import sys
    from pathlib import Path

    path = Path(builtin.__file__).with_name("trained") / "twemoji-32.safetensors"
    assert path.stat().st_size <= 20 << 20
    G = builtin.build("twemoji")
    with torch.no_grad():
        x = ((G(torch.randn(64, G.z_dim, generator=torch.Generator().manual_seed(0)), None).clamp(-1, 1) + 1) * 127.5)
    border = torch.cat([x[..., :2, :].flatten(2), x[..., -2:, :].flatten(2), x[..., :, :2].flatten(2),
                        x[..., :, -2:].flatten(2)], 2)
    centre = x[..., 10:22, 10:22]
    assert border.mean() < 40 and centre.mean() > 2.5 * border.mean()          # black around, a figure inside
    colour = (centre.amax(1) - centre.amin(1)).mean()
    assert colour > 40                                                         # coloured, not grey
    assert x.std(0).mean() > 30                                                # and not one picture for all
    out = subprocess.run([sys.executable, "-m", "livegan", "networks"], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parents[1])
    assert "builtin:twemoji" in out.stdout and "CC-BY 4.0" in out.stdout
