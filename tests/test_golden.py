"""Our networks reproduce the official implementation's outputs (tolerances of golden/README.md)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import golden_limits
from stylegan3 import build_generator, load_network

pytestmark = pytest.mark.exactness            # run again under each CPU kernel set (test_kernel_sets)
# Both generator fixtures state the same limits; each is read from its cases.json.
LIMITS = {name: golden_limits(name) for name in ("sg3t-tiny", "sg2-tiny")}
assert len({(v["img_rel_l2"], v["ws_rel_l2"]) for v in LIMITS.values()}) == 1, LIMITS
IMG_TOL, WS_TOL = LIMITS["sg3t-tiny"]["img_rel_l2"], LIMITS["sg3t-tiny"]["ws_rel_l2"]


def rel_l2(out, ref) -> float:
    out = np.asarray(torch.as_tensor(out).detach(), np.float64)
    ref = np.asarray(ref, np.float64)
    assert out.shape == ref.shape, (out.shape, ref.shape)
    return float(np.linalg.norm(out - ref) / np.linalg.norm(ref))


@pytest.fixture(scope="module", params=["sg3t-tiny", "sg2-tiny"])
def net(request, golden):
    d = golden / request.param
    return request.param, load_network(d / "network.pkl"), np.load(d / "cases.npz")


def t(a):
    return torch.from_numpy(np.asarray(a))


def test_plain_and_truncation(net):
    name, G, c = net
    for case, psi, cutoff in [("a_plain", 1, None), ("b_trunc", 0.6, None), ("c_trunc_cutoff", 0.5, 4)]:
        ws = G.mapping(t(c[f"{case}.z"]), t(c[f"{case}.c"]), truncation_psi=psi, truncation_cutoff=cutoff)
        assert rel_l2(ws, c[f"{case}.ws"]) < WS_TOL, (name, case)
        img = G.synthesis(ws, noise_mode="const")
        assert rel_l2(img, c[f"{case}.img"]) < IMG_TOL, (name, case)
    # The three-line forward equals mapping + synthesis.
    img = G(t(c["a_plain.z"]), t(c["a_plain.c"]), truncation_psi=1, noise_mode="const")
    assert rel_l2(img, c["a_plain.img"]) < IMG_TOL


def test_style_mix(net):
    name, G, c = net
    k = int(c["d_style_mix.k"])
    ws_a = G.mapping(t(c["d_style_mix.z_a"]), t(c["d_style_mix.c"]), truncation_psi=0.7)
    ws_b = G.mapping(t(c["d_style_mix.z_b"]), t(c["d_style_mix.c"]), truncation_psi=0.7)
    assert rel_l2(ws_a, c["d_style_mix.ws_a"]) < WS_TOL and rel_l2(ws_b, c["d_style_mix.ws_b"]) < WS_TOL
    mixed = ws_a.clone()
    mixed[:, k:] = ws_b[:, k:]
    assert rel_l2(mixed, c["d_style_mix.ws_mixed"]) < WS_TOL
    assert rel_l2(G.synthesis(mixed, noise_mode="const"), c["d_style_mix.img"]) < IMG_TOL


def test_torgb_clamp(net):
    name, G, c = net
    img = G.synthesis(t(c["h_torgb_clamp.ws"]), noise_mode="const")
    assert rel_l2(img, c["h_torgb_clamp.img"]) < IMG_TOL


def test_sg2_noise_none(golden):
    G = load_network(golden / "sg2-tiny" / "network.pkl")
    c = np.load(golden / "sg2-tiny" / "cases.npz")
    img = G.synthesis(t(c["g_noise_none.ws"]), noise_mode="none")
    assert rel_l2(img, c["g_noise_none.img"]) < IMG_TOL
    # const noise really is different from none (the case would pass trivially otherwise).
    assert rel_l2(G.synthesis(t(c["g_noise_none.ws"]), noise_mode="const"), c["g_noise_none.img"]) > 1e-3


def test_sg3_input_transform_buffer_and_per_sample(golden):
    G = load_network(golden / "sg3t-tiny" / "network.pkl")
    c = np.load(golden / "sg3t-tiny" / "cases.npz")
    ws, ref = t(c["e_input_transform.ws"]), c["e_input_transform.img"]
    buf = t(c["e_input_transform.transform_buffer"])
    # Official way: write the inverse transform into the buffer.
    G.synthesis.input.transform.copy_(buf)
    assert rel_l2(G.synthesis(ws), ref) < IMG_TOL
    G.synthesis.input.transform.copy_(torch.eye(3))
    # Our extension: a per-sample transform; rows with identity must equal the plain case.
    per = torch.stack([buf, torch.eye(3), buf])
    img = G.synthesis(ws, transform=per)
    assert rel_l2(img[[0, 2]], ref[[0, 2]]) < IMG_TOL
    assert rel_l2(img[1:2], c["a_plain.img"][1:2]) < IMG_TOL


def test_batch_rows_are_independent(golden):
    G = load_network(golden / "sg3t-tiny" / "network.pkl")
    c = np.load(golden / "sg3t-tiny" / "cases.npz")
    ws = t(c["a_plain.ws"])
    one = G.synthesis(ws[1:2])
    assert rel_l2(one, c["a_plain.img"][1:2]) < IMG_TOL


MANIFESTS = ["stylegan3-t-1024", "stylegan3-r-1024", "stylegan3-t-512", "stylegan3-t-256",
             "stylegan2-1024", "stylegan2-256"]


@pytest.mark.parametrize("config", MANIFESTS)
def test_manifest_state_dict_names_and_shapes(golden, config):
    m = json.loads((golden / "manifests" / f"{config}.json").read_text())
    family = "stylegan2" if config.startswith("stylegan2") else "stylegan3"
    G = build_generator(family, m["init_kwargs"], device="meta")
    ours = [(k, list(v.shape)) for k, v in G.state_dict().items()]
    theirs = [(e["name"], e["shape"]) for e in m["state_dict"]]
    assert ours == theirs
    assert G.num_ws == m["num_ws"]
    assert sum(p.numel() for p in G.parameters()) == m["num_parameters"]
    # None-registered buffers (single-tap filters) match too.
    nones = {f"{mod}.{n}" for e in m["none_entries"] for mod, n in [(e["module"], x) for x in e["names"]]}
    ours_none = {f"{mn}.{bn}" for mn, mod in G.named_modules() for bn, b in mod._buffers.items() if b is None}
    assert ours_none == nones
