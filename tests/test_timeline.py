"""The timeline is pure, hits its keyframes, and interpolates smoothly."""
from __future__ import annotations

import numpy as np
import pytest

from livegan.params import Command, Registry
from livegan.presets import parse_preset
from livegan.show import Options
from livegan.show import Show
from livegan.show import make_bank
from livegan.timeline import frame_request, input_transform


@pytest.fixture(scope="module")
def bank(tiny):
    return make_bank(tiny)


def params(**kw):
    r = Registry()
    for k, v in kw.items():
        r.apply(Command("set", k, v))
    r.settle()
    return r.frozen()


def preset(interp="linear", **kw):
    return parse_preset(dict({"keyframes": [1, 2, 3, 4], "interpolation": interp}, **kw), "test.json")


@pytest.mark.parametrize("interp", ["linear", "slerp", "spline"])
def test_keyframes_are_hit_exactly(bank, interp):
    p, prm = preset(interp), params(psi=1.0)
    for i, k in enumerate(p.keyframes):
        req = frame_request(p, prm, float(i), bank)
        assert np.allclose(req.ws, bank.ws(k), atol=1e-6), (interp, i)
        assert req.keyframe == i


@pytest.mark.parametrize("interp", ["linear", "slerp", "spline"])
def test_interpolation_is_continuous(bank, interp):
    p, prm = preset(interp), params(psi=1.0)
    xs = np.linspace(0, 4, 801)                     # across the loop seam too
    ws = np.stack([frame_request(p, prm, x, bank).ws for x in xs])
    steps = np.abs(np.diff(ws, axis=0)).max(axis=(1, 2))
    assert steps.max() < 0.05 * np.abs(ws).max()


def _derivative(p, prm, bank, x, side, h=1e-4):
    a = frame_request(p, prm, x + side * h, bank).ws.astype(np.float64)
    b = frame_request(p, prm, x, bank).ws.astype(np.float64)
    return (a - b) / (side * h)


def test_spline_is_c1_at_keyframes_and_across_the_loop_seam(bank):
    p, prm = preset("spline"), params(psi=1.0)
    for x in [1.0, 2.0, 3.0, 4.0]:                  # 4.0 is the seam back to keyframe 0
        left, right = _derivative(p, prm, bank, x, -1), _derivative(p, prm, bank, x, +1)
        scale = np.abs(left).max()
        assert scale > 1e-3
        assert np.abs(left - right).max() < 0.02 * scale, x
    # Linear interpolation is not C1 (the test above can fail).
    lin = preset("linear")
    left, right = _derivative(lin, prm, bank, 1.0, -1), _derivative(lin, prm, bank, 1.0, +1)
    assert np.abs(left - right).max() > 0.1 * np.abs(left).max()


def test_mix_layer_changes_exactly_the_layers_from_k(bank, tiny):
    base = preset("linear")
    mixed = preset("linear", mix={"layer": 5, "source": {"seed": 99}})
    for k in [0, 3, 5, 8]:
        prm = params(mix_layer=k, psi=0.8)
        a = frame_request(base, prm, 1.3, bank).ws
        b = frame_request(mixed, prm, 1.3, bank).ws
        assert np.array_equal(a[:k], b[:k])
        assert (np.abs(a[k:] - b[k:]).max(axis=1) > 1e-3).all()
    prm = params(mix_layer=tiny.num_ws)
    assert np.array_equal(frame_request(base, prm, 1.3, bank).ws, frame_request(mixed, prm, 1.3, bank).ws)


def test_psi_zero_is_w_avg_and_never_reruns_mapping(tiny):
    calls = []
    b = make_bank(tiny)
    inner = b.mapper
    b.mapper = lambda z, c=None: calls.append(1) or inner(z, c)
    p = preset("spline")
    for psi in (1.0, 0.5, 0.0):
        for x in np.linspace(0, 3, 7):
            req = frame_request(p, params(psi=psi), x, b)
    assert len(calls) == 4                          # once per keyframe
    assert np.allclose(req.ws, np.broadcast_to(tiny.mapping.w_avg.numpy(), req.ws.shape), atol=1e-6)
    cut = frame_request(p, params(psi=0.0, truncation_cutoff=3), 0.0, b).ws
    assert np.allclose(cut[:3], tiny.mapping.w_avg.numpy(), atol=1e-6)
    assert not np.allclose(cut[3:], tiny.mapping.w_avg.numpy(), atol=1e-3)


def test_pure_same_inputs_same_request(bank):
    p, prm = preset("slerp"), params(rotate=30, translate_x=0.1)
    a, b = frame_request(p, prm, 2.37, bank), frame_request(p, prm, 2.37, bank)
    assert np.array_equal(a.ws, b.ws) and np.array_equal(a.transform, b.transform)


def test_input_transform_matches_the_official_construction():
    # gen_images.py --rotate=30 --translate=0.1,-0.05 builds m and stores inv(m) (golden case e).
    t = np.radians(30)
    m = np.array([[np.cos(t), np.sin(t), 0.1], [-np.sin(t), np.cos(t), -0.05], [0, 0, 1]])
    assert np.allclose(input_transform(30, 0.1, -0.05, 1.0), np.linalg.inv(m), atol=1e-6)


def test_non_looping_clamps_at_the_ends(bank):
    p, prm = preset("linear", loop=False), params(psi=1.0, loop=0)
    assert np.allclose(frame_request(p, prm, 7.5, bank).ws, bank.ws(p.keyframes[-1]), atol=1e-6)
    assert np.allclose(frame_request(p, prm, -2.0, bank).ws, bank.ws(p.keyframes[0]), atol=1e-6)


def test_slerp_between_stored_w_keys_turns_around_the_average_w(bank):
    """Curated presets store w: slerp there is per layer around w_avg, not a silent lerp."""
    from dataclasses import replace

    from livegan.presets import Keyframe

    wa, wb = bank.ws(preset().keyframes[0]), bank.ws(preset().keyframes[1])
    keys = (Keyframe(w=wa.astype(np.float32), w_file="a.npy"), Keyframe(w=wb.astype(np.float32), w_file="b.npy"))
    lin, sl = (replace(preset(kind), keyframes=keys) for kind in ("linear", "slerp"))
    wa, wb = bank.ws(keys[0]), bank.ws(keys[1])
    prm = params(psi=1.0)
    for x in (0.0, 1.0):                              # keys are still hit exactly
        assert np.allclose(frame_request(sl, prm, x, bank).ws, frame_request(lin, prm, x, bank).ws, atol=1e-6)
    a, b = frame_request(lin, prm, 0.5, bank).ws, frame_request(sl, prm, 0.5, bank).ws
    assert np.abs(a - b).max() > 1e-3, "slerp on w keys equals linear"
    c = bank.w_avg
    # the slerp midpoint keeps (about) the keys' distance from w_avg; the chord's midpoint is nearer
    da, dl, ds = (np.linalg.norm(v - c, axis=1) for v in (wa, a, b))
    db = np.linalg.norm(wb - c, axis=1)
    assert np.all(ds >= dl - 1e-4) and np.allclose(ds, (da + db) / 2, rtol=1e-3)


def test_latent_pad_blends_the_four_corner_keyframes_in_w(bank, tiny):
    from livegan.show import Options, Show

    p = preset()
    corners = [bank.ws(k) for k in p.keyframes]
    for (x, y), want in (((0, 0), corners[0]), ((1, 0), corners[1]), ((0, 1), corners[2]), ((1, 1), corners[3]),
                         ((0.5, 0.5), sum(corners) / 4),
                         ((0.25, 0.0), 0.75 * corners[0] + 0.25 * corners[1])):
        req = frame_request(p, params(psi=1.0, pad=1, pad_x=x, pad_y=y), 2.7, bank)   # the position is ignored
        assert np.allclose(req.ws, want, atol=1e-5), (x, y)
    assert frame_request(p, params(psi=1.0, pad=1, pad_x=0.9, pad_y=0.8), 0.0, bank).keyframe == 3
    off = frame_request(p, params(psi=1.0, pad=0, pad_x=0.9, pad_y=0.8), 2.0, bank)
    assert np.allclose(off.ws, corners[2], atol=1e-6)                                 # off: the timeline again
    one = parse_preset({"keyframes": [7]}, "one.json")                                  # fewer keys repeat
    assert np.allclose(frame_request(one, params(psi=1.0, pad=1, pad_x=0.3, pad_y=0.6), 0.0, bank).ws,
                       bank.ws(one.keyframes[0]), atol=1e-5)
    # A corner's seed from a surface: the preset grows to four keyframes, that corner changes.
    show = Show(Options(fps=30), one, G=tiny)
    show.post(Command("trigger", "pad_corner", [3, 42], "page"))
    while not show.intake.empty():
        show.tick(0.0)
    assert [k.seed for k in show.preset.keyframes] == [7, 7, 7, 42] and show.transport.n == 4
    show.post(Command("trigger", "pad_corner", [4, 1], "page"))
    show.tick(0.0)
    assert any("pad corner: must be an integer 0..3, got '4'" in e for e in show.errors)


def test_save_preset_requests_are_rate_limited(tiny):
    from livegan.show import Options, Show

    show = Show(Options(fps=30), preset(), G=tiny)
    for i in range(10):                          # two a frame: each gets through the intake...
        show.post(Command("trigger", "save_preset", f"p{2 * i}", "page"))
        show.post(Command("trigger", "save_preset", f"p{2 * i + 1}", "page"))
        show.tick(0.0)
    assert len([t for t in show.triggers if t.name == "save_preset"]) == 3     # ... the rate limit does not
    assert any("too many save_preset requests" in e for e in show.errors)
    # twenty in one frame: the intake keeps the newest two waiting (a costly kind), counted
    show = Show(Options(fps=30), preset(), G=tiny)
    for i in range(20):
        show.post(Command("trigger", "save_preset", f"p{i}", "page"))
    show.tick(0.0)
    assert [t.value for t in show.triggers if t.name == "save_preset"] == ["p18", "p19"]
    assert show.intake.dropped["trigger:save_preset"] == 18


def test_keyframe_goto_out_of_range_is_refused_not_wrapped(tiny):
    show = Show(Options(fps=30), parse_preset({"keyframes": [1, 2, 3], "speed": 0.0}, "g.json"), G=tiny)
    show.post(Command("trigger", "keyframe_goto", 99, "osc"))
    show.tick(0.0)
    assert show.transport.position == 0.0 and any("keyframe (this preset has" in e and "got '99'" in e for e in show.errors)
