"""StyleGAN-Canvas: our network reproduces the official outputs of golden/canvas-t-tiny within its
README's tolerances (encoder float16 steps included), loads through the restricted unpickler, and
refuses what a Canvas checkpoint never needs."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from stylegan3 import load_network
from stylegan3.canvas import blur_filter, preprocess
from conftest import golden_limits
from stylegan3.pickle_safe import CheckpointError, safe_load_pickle

pytestmark = pytest.mark.exactness            # run again under each CPU kernel set (test_kernel_sets)
# The fixture's limits (cases.json "tolerance", version 2): what passes through the encoder's
# float16 steps (skips, its ws, the train-mode BatchNorm image) is held to limits made from the
# spread of torch's float16 CPU kernels across instruction sets; the rest is unchanged.
_L = golden_limits("canvas-t-tiny")
IMG_TOL, WS_TOL, SKIP_TOL, PRE_TOL = _L["img_rel_l2"], _L["ws_rel_l2"], _L["skip_rel_l2"], _L["preprocess_rel_l2"]
WS_ENC_TOL, BN_TRAIN_TOL = _L.get("ws_encoder_rel_l2", WS_TOL), _L.get("bn_train_img_rel_l2", IMG_TOL)


def rel_l2(out, ref) -> float:
    out = np.asarray(torch.as_tensor(out).detach().float(), np.float64)
    ref = np.asarray(ref, np.float64)
    assert out.shape == ref.shape, (out.shape, ref.shape)
    return float(np.linalg.norm(out - ref) / np.linalg.norm(ref))


@pytest.fixture(scope="module")
def canvas(golden):
    d = golden / "canvas-t-tiny"
    return load_network(d / "network.pkl"), np.load(d / "cases.npz")


def t(a):
    return torch.from_numpy(np.asarray(a))


@pytest.mark.parametrize("case,psi,replace", [("a_plain", 1, 4), ("b_trunc", 0.7, 4), ("c_replace_w6", 1, 6),
                                              ("e_wide", 1, 4)])
def test_forward_cases(canvas, case, psi, replace):
    G, c = canvas
    cond = t(c[f"{case}.cond"] if f"{case}.cond" in c.files else c["a_plain.cond"])
    with torch.inference_mode():
        ws_enc, skips = G.encoder(cond)
        ws_map = G.mapping(t(c[f"{case}.z"]), None, truncation_psi=psi)
        ws = G.combine(ws_map, ws_enc, replace)
        img = G.synthesis(ws, skips, noise_mode="const")
        whole = G(t(c[f"{case}.z"]), t(c[f"{case}.c"]), cond, truncation_psi=psi, replace_w_num=replace)
    assert rel_l2(ws_map, c[f"{case}.ws_mapping"]) < WS_TOL
    assert rel_l2(ws_enc, c[f"{case}.ws_encoder"]) < WS_ENC_TOL
    assert rel_l2(ws, c[f"{case}.ws"]) < WS_TOL
    assert rel_l2(img, c[f"{case}.img"]) < IMG_TOL
    assert torch.equal(whole, img)
    if case == "e_wide":                                   # the expandable canvas
        assert img.shape[-1] == G.output_width(cond.shape[-1]) == 136


def test_encoder_alone_and_its_float16_steps(canvas):
    G, c = canvas
    with torch.inference_mode():
        ws, skips = G.encoder(t(c["a_plain.cond"]))
    assert rel_l2(ws, c["d_encoder.ws"]) < WS_ENC_TOL
    for j, s in enumerate(skips):
        assert rel_l2(s, c[f"d_encoder.skip{j}"].astype(np.float32)) < SKIP_TOL, j
    # The float16 blocks are what makes this exact: the encoder wholly in float32 misses.
    mods = [m for m in G.appended_net.modules() if hasattr(m, "fp16")]
    saved = [m.fp16 for m in mods]
    try:
        for m in mods:
            m.fp16 = False
        with torch.inference_mode():
            img32 = G(t(c["a_plain.z"]), None, t(c["a_plain.cond"]))
    finally:
        for m, f in zip(mods, saved):
            m.fp16 = f
    with torch.inference_mode():
        img = G(t(c["a_plain.z"]), None, t(c["a_plain.cond"]))
    assert rel_l2(img32, c["a_plain.img"]) > IMG_TOL > rel_l2(img, c["a_plain.img"])


def test_batchnorm_in_train_mode_uses_batch_statistics(canvas):
    G, c = canvas
    G.train()
    try:
        with torch.inference_mode():
            img = G(t(c["g_bn_train.z"]), None, t(c["a_plain.cond"]))
    finally:
        G.eval()
    assert rel_l2(img, c["g_bn_train.img"]) < BN_TRAIN_TOL
    assert rel_l2(img, c["a_plain.img"]) > 100 * BN_TRAIN_TOL  # and that differs from eval mode (2.8 apart)


def test_preprocess_is_the_training_transform(canvas):
    _, c = canvas
    assert rel_l2(blur_filter(21), c["f_preprocess.filter"]) < PRE_TOL
    assert rel_l2(preprocess(t(c["f_preprocess.img_in"])), c["f_preprocess.cond"]) < PRE_TOL


def test_architecture_comes_from_the_weights(canvas, golden):
    G, _ = canvas
    assert G.family == "stylegan3-canvas" and G.cond_shape == (3, 288, 288) and G.num_ws == 16
    sd = np.load(golden / "canvas-t-tiny" / "state_dict.npz")
    own = G.state_dict()
    assert set(own) == set(sd.files)                           # parameter for parameter
    for k in sd.files:
        if k != "synthesis.filter":                            # (one NaN tap, never used)
            assert np.array_equal(own[k].numpy(), sd[k]), k
    blocks = G.init_kwargs["encoder_blocks"]
    assert [b["fp16"] for b in blocks] == [True] * 3 + [False] * 7
    assert [b["connect_to"] for b in blocks] == [0, 0, 0, 5, 4, 3, 2, 1, 0, 0]
    assert G.init_kwargs["skip_channels"][:5] == [0, 16, 16, 16, 16]


def test_a_condition_of_the_wrong_shape_is_one_clear_error(canvas):
    G, c = canvas
    for bad in (torch.zeros(1, 1, 288, 288), torch.zeros(1, 3, 100, 288), torch.zeros(3, 288, 288)):
        with pytest.raises(ValueError, match="condition must be"):
            G.encoder(bad)


def test_unpickler_admits_only_the_torch_modules_canvas_needs(golden):
    data = (golden / "canvas-t-tiny" / "network.pkl").read_bytes()
    assert isinstance(safe_load_pickle(io.BytesIO(data), "net"), dict)
    # Any other torch.nn class (a module with code paths of its own) is refused by name.
    for module, name in (("torch.nn.modules.container", "Sequential"), ("torch.nn.modules.module", "Module"),
                         ("torch", "load"), ("torch.nn.modules.conv", "Conv3d")):
        blob = b"\x80\x04c" + module.encode() + b"\n" + name.encode() + b"\n)\x81."
        with pytest.raises(CheckpointError, match=f"refused to load.*{name}"):
            safe_load_pickle(io.BytesIO(blob), "net.pkl")


def test_storages_saved_on_cuda_load_on_the_cpu():
    """A GPU-built snapshot holds CUDA storages (Generator.z, mask_for_skip): they land on the CPU."""
    import pickle
    import warnings

    import torch.storage

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                        # TypedStorage is deprecated
        b = io.BytesIO()
        torch.save(torch.arange(4, dtype=torch.float64).storage(), b, _use_new_zipfile_serialization=False)
    raw = b.getvalue()
    assert raw.count(b"X\x03\x00\x00\x00cpu") == 1
    on_cuda = raw.replace(b"X\x03\x00\x00\x00cpu", b"X\x06\x00\x00\x00cuda:0")   # as a GPU run writes it

    class Stored:
        def __reduce__(self):
            return torch.storage._load_from_bytes, (on_cuda,)
    got = safe_load_pickle(io.BytesIO(pickle.dumps({"z": Stored()}, protocol=4)), "gpu.pkl")
    assert got["z"].device.type == "cpu" and list(got["z"]) == [0.0, 1.0, 2.0, 3.0]
