"""Directions: planted directions recovered, the Gaussian walk into a class, GANSpace and SeFa as
stated, clear errors, live slots that move only their zone's ws, exact replay, the CLI."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from livegan.app import App
from livegan.directions.fit import fit, kfold_accuracy
from livegan.directions.model import Direction, DirectionError
from livegan.directions.slots import zone_layers
from livegan.directions.unsupervised import ganspace, sefa, style_affines
from livegan.params import Command
from livegan.presets import parse_preset
from livegan.show import Options, Show

ROOT = Path(__file__).resolve().parents[1]


def planted(dim=64, n=200, sep=1.5, seed=0):
    rng = np.random.default_rng(seed)
    u = rng.normal(size=dim)
    u /= np.linalg.norm(u)
    base = rng.normal(size=(2 * n, dim))
    return u, base[:n] + sep * u, base[n:] - sep * u


def cli(*args, env=None, timeout=180):
    return subprocess.run([sys.executable, "-m", "livegan.cli", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env=dict(os.environ, **(env or {})))


@pytest.mark.parametrize("method", ["mean", "svm"])
def test_mean_and_svm_recover_a_planted_direction(method):
    u, pos, neg = planted()
    d = fit(method, "planted", pos, neg)
    assert abs(np.linalg.norm(d.vector) - 1) < 1e-9 and d.vector @ u >= 0.9
    assert d.meta["held_out_accuracy"] > 0.9 and d.meta["positives"] == 200 and d.sigma > 0


def test_mean_without_negatives_uses_the_global_mean():
    u, pos, neg = planted()
    d = fit("mean", "g", pos, None, background=np.concatenate([pos, neg]))
    assert d.vector @ u >= 0.9


def test_gaussian_walk_decreases_mahalanobis_and_stops_at_the_mean():
    rng = np.random.default_rng(1)
    dim = 16
    a = rng.normal(size=(dim, dim))
    cls = rng.normal(size=(300, dim)) @ (a * 0.3) + 4.0
    d = fit("gaussian", "cls", cls, rng.normal(size=(300, dim)))
    x = rng.normal(size=(1, dim))
    dists = [d.mahalanobis(d.apply(x, t)[0]) for t in np.arange(0, 60, 0.5)]
    assert all(b <= a + 1e-9 for a, b in zip(dists, dists[1:]))          # monotonically into the class
    assert dists[0] > 5 and dists[-1] == pytest.approx(0.0, abs=1e-6)     # ... and it stops at the mean
    assert np.allclose(d.apply(x, 200.0)[0], d.mean)                     # never past it
    assert d.meta["held_out_accuracy"] > 0.9


def test_too_few_one_class_or_singular_is_one_clear_line():
    _, pos, neg = planted()
    with pytest.raises(DirectionError, match="too few positive samples"):
        fit("svm", "x", pos[:2], neg)
    with pytest.raises(DirectionError, match="one class only"):
        fit("svm", "x", pos, None)
    with pytest.raises(DirectionError, match="too few negative"):
        fit("mean", "x", pos, neg[:1])
    with pytest.raises(DirectionError, match="singular"):
        fit("gaussian", "x", np.ones((10, 8)), None)
    with pytest.raises(DirectionError, match="same mean"):
        fit("mean", "x", pos, pos.copy())
    with pytest.raises(DirectionError, match="method"):
        fit("pca", "x", pos, neg)
    assert kfold_accuracy("mean", pos[:1], neg[:1]) is None


class PlantedG(nn.Module):
    """A mapping whose w varies most along one planted axis (σ 5, 2, 0.8, ...)."""

    def __init__(self, w_dim=32):
        super().__init__()
        self.z_dim, self.w_dim, self.num_ws = w_dim, w_dim, 4
        q, _ = np.linalg.qr(np.random.default_rng(3).normal(size=(w_dim, w_dim)))
        self.axes = q.T                                              # rows: orthonormal axes
        scales = 5.0 * 0.4 ** np.arange(w_dim)
        self.m = nn.Parameter(torch.from_numpy((self.axes.T * scales).T).float(), requires_grad=False)

    def mapping(self, z, c):
        return (z @ self.m)[:, None].repeat(1, self.num_ws, 1)


def test_ganspace_finds_the_planted_axis_with_sorted_variances():
    g = PlantedG()
    comps, sigma = ganspace(g, samples=5000, batch=1000)
    assert abs(comps[0] @ g.axes[0]) > 0.99 and abs(comps[1] @ g.axes[1]) > 0.95
    assert np.all(np.diff(sigma) <= 1e-9) and sigma[0] == pytest.approx(5.0, rel=0.05)
    assert np.allclose(np.linalg.norm(comps, axis=1), 1.0)


def test_sefa_directions_are_unit_eigenvectors_of_the_stated_matrix(tiny):
    vecs, vals = sefa(tiny)
    aff = style_affines(tiny)
    assert [i for i, _ in aff] == list(range(1, 9))              # L0..L7 take ws 1..8; the input's ws 0 is out
    a = np.concatenate([w for _, w in aff])
    a = a / np.linalg.norm(a, axis=0, keepdims=True)
    m = a.T @ a
    for v, lam in zip(vecs[:5], vals[:5]):
        assert np.linalg.norm(v) == pytest.approx(1.0) and np.allclose(m @ v, lam * v, atol=1e-8)
    assert np.all(np.diff(vals) <= 1e-9)


def test_zones():
    assert zone_layers("coarse", 16) == (0, 6) and zone_layers("middle", 16) == (6, 11)
    assert zone_layers("fine", 16) == (11, 16) and zone_layers("all", 9) == (0, 9) and zone_layers("2-4", 9) == (2, 5)
    for bad in ("everything", "5-2", "0-9", "a-b"):
        with pytest.raises(DirectionError):
            zone_layers(bad, 9)


def test_a_live_slot_moves_only_its_zone_and_changes_the_picture(tiny, tmp_path):
    show = Show(Options(fps=30), parse_preset({"keyframes": [5], "speed": 0.0}, "d.json"), G=tiny)
    u = np.zeros(tiny.w_dim)
    u[3] = 1.0
    show.knobs.catalog.add(Direction("knob", "linear", u, 2.0))
    show.post(Command("trigger", "direction_pick", [2, "knob"], "osc"))
    show.post(Command("trigger", "direction_zone", [2, "fine"], "osc"))
    seen = {}

    def on_tick(i, s, d):
        if i == 5:
            s.post(Command("set", "direction/2", 1.5, "osc"))
        seen[i] = (s.current.ws.copy(), s.current_image.copy())
    App(show, tmp_path, hud=False).run_headless(30, realtime=False, on_tick=on_tick)
    before, after = seen[3], seen[29]
    lo, hi = zone_layers("fine", tiny.num_ws)
    assert np.array_equal(before[0][:lo], after[0][:lo])                 # outside the zone: untouched
    assert np.allclose(after[0][lo:hi] - before[0][lo:hi], 1.5 * 2.0 * u, atol=1e-4)
    assert np.abs(before[1].astype(int) - after[1].astype(int)).mean() > 1   # the frames change
    assert show.direction_state() == [{"pick": "knob", "zone": "fine", "layers": [lo, hi - 1], "amount": 1.5,
                                       "slot": 2}]
    show.post(Command("trigger", "direction_pick", [9, "knob"], "osc"))
    show.post(Command("trigger", "direction_pick", [1, "nope"], "osc"))
    show.post(Command("trigger", "direction_zone", [2, "everything"], "osc"))
    show.tick(0.0)
    text = " ".join(show.errors)
    assert "no direction slot 9" in text and "no direction 'nope'" in text and "zone must be" in text
    assert show.knobs.slots[2].zone == "fine"                                  # a bad zone keeps the old one


def test_pca_pick_over_osc_and_replay_is_exact(tiny, tmp_path, monkeypatch):
    from livegan.record import LOG_NAME
    from livegan.offline.replay import render_log
    from livegan.store import Store

    monkeypatch.setenv("LIVEGAN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("LIVEGAN_PCA_SAMPLES", "2000")
    show = Show(Options(fps=30), parse_preset({"keyframes": [1, 2], "speed": 0.5}, "r.json"), G=tiny)
    app = App(show, tmp_path, hud=False)
    live = {}

    def on_tick(i, s, d):
        if i == 2:
            s.post(Command("trigger", "record", 1, "key"))
            s.post(Command("trigger", "direction_pick", [0, "pca:0"], "osc"))
            s.post(Command("set", "direction/0", 2.0, "osc"))
        if i == 40:
            s.post(Command("trigger", "direction_zone", [0, "coarse"], "osc"))
        if i == 60:
            s.post(Command("trigger", "record", 0, "key"))
        live[s.tick_index] = s.current.ws.copy()
    app.run_headless(64, realtime=False, on_tick=on_tick)
    assert show.knobs.slots[0] is not None and show.knobs.slots[0].zone == "coarse"
    (walk,) = Store(tmp_path).walks("recording")
    log = tmp_path / str(walk["id"]) / LOG_NAME
    assert "apply_direction" in log.read_text()
    replay = {}
    res = render_log(log, tmp_path / "r.mp4", progress=False, G=tiny,
                     on_frame=lambda i, req, img: replay.__setitem__(i, req.ws.copy()))
    assert res["written"] == len(replay) == 60 - 3
    for i, ws in replay.items():                                          # recording started at tick 3
        assert np.array_equal(ws, live[4 + i]), i
    assert not np.array_equal(live[10], live[50])


def test_fit_from_the_store_likes(tiny, tmp_path):
    from livegan.store import Store
    from test_gallery import make_store

    store = make_store(tmp_path / "store", tiny, snapshots=tuple(range(2, 22)), record=False)
    st = Store(store)
    rows = st.query_images("", ())[0]
    assert len(rows) >= 8                                   # (snapshots are rate-limited: not all 20)
    for r in rows[:4]:
        st.set_liked(r["id"], True)
    dest = tmp_path / "dirs"
    res = cli("directions", "fit", "--out", store, "--positive", "liked", "--method", "mean", "--name", "liked-look",
              "--dest", dest)
    assert res.returncode == 0, res.stderr
    meta = json.loads((dest / "liked-look.json").read_text())
    assert meta["method"] == "mean" and meta["positives"] == 4 and meta["negatives"] == len(rows) - 4
    assert meta["network_id"].startswith("builtin-") and "held_out_accuracy" in meta and "date" in meta
    assert Direction.load(dest / "liked-look.npz").w_dim == tiny.w_dim
    bad = cli("directions", "fit", "--out", store, "--positive", "tag:nothing", "--method", "svm", "--name", "x",
              "--dest", dest)
    assert bad.returncode == 2 and "too few positive" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


def test_labels_csv_of_seeds(tmp_path):
    csv = tmp_path / "labels.csv"
    csv.write_text("seed,fire\n" + "".join(f"{s},{1 if s % 2 else 0}\n" for s in range(40)))
    res = cli("directions", "fit", "--out", tmp_path / "none", "--positive", f"{csv}:fire", "--method", "svm",
              "--name", "odd", "--dest", tmp_path)
    assert res.returncode == 0, res.stderr
    meta = json.loads((tmp_path / "odd.json").read_text())
    assert meta["positives"] == 20 and meta["negatives"] == 20
    csv.write_text("seed,fire\n1,maybe\n")
    res = cli("directions", "fit", "--positive", f"{csv}:fire", "--name", "x", "--dest", tmp_path)
    assert res.returncode == 2 and "line 2" in res.stderr


def test_sheet_cli(tmp_path):
    out = tmp_path / "sheet.png"
    res = cli("directions", "sheet", "--network", "builtin:tiny", "--directions", "pca:0-1,sefa:0", "--seeds", "0",
              "--steps", "3", "--out", out, env={"LIVEGAN_CACHE": str(tmp_path / "cache"), "LIVEGAN_PCA_SAMPLES": "2000"})
    assert res.returncode == 0, res.stderr
    from PIL import Image
    im = np.asarray(Image.open(out))
    assert im.shape == (22 + 3 * 256, 120 + 3 * 256, 3)
    assert (im[:22, 120:] > 128).sum() > 30 and (im[22:, :120] > 128).sum() > 30     # labelled both ways


def test_a_rare_class_reports_balanced_accuracy_beside_the_majority_baseline():
    """3 positives among 129 random latents: plain accuracy looks high by answering 'negative';
    balanced accuracy shows the knob learnt nothing, and the baseline is reported beside it."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((129, 16))
    d = fit("mean", "rare", x[:3], x[3:])
    m = d.meta
    assert m["majority_baseline"] == pytest.approx(126 / 129)
    assert m["held_out_balanced_accuracy"] < 0.75 and m["held_out_balanced_accuracy"] < m["majority_baseline"]
    planted = x.copy()
    planted[:20, 0] += 6.0                            # a real class: balanced accuracy near 1
    m2 = fit("svm", "real", planted[:20], planted[20:]).meta
    assert m2["held_out_balanced_accuracy"] > 0.9 and m2["majority_baseline"] == pytest.approx(109 / 129)
