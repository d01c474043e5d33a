"""A class-conditional network plays: a keyframe's own class, the `class` parameter for the others
(a fraction blends two classes), the official G(z, onehot(K)) at psi 1, the class in snapshots, the
store's filter and the control log, and a recording replays exactly."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from livegan.app import App
from livegan.latents import class_vector, z_from_seed
from livegan.params import Command
from livegan.presets import PresetError, parse_preset
from livegan.show import Options, Show

C_DIM = 5


@pytest.fixture(scope="module")
def cond_net(tiny):
    """A StyleGAN3 network with 5 classes, made by our own code (seeded weights; its w_avg is the
    mean w over random z and classes, as training would leave it)."""
    from stylegan3 import build_generator

    torch.manual_seed(5)
    G = build_generator(tiny.family, {**tiny.init_kwargs, "c_dim": C_DIM}).eval()
    with torch.no_grad():
        z = torch.randn(512, G.z_dim)
        c = torch.nn.functional.one_hot(torch.arange(512) % C_DIM, C_DIM).float()
        G.mapping.w_avg.copy_(G.mapping(z, c)[:, 0].mean(0))
    return G


def mapped(G, seed: int, c: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        z = torch.from_numpy(z_from_seed(seed, G.z_dim).reshape(1, -1)).float()
        return G.mapping(z, torch.from_numpy(c), truncation_psi=1)[0].numpy()


def one_frame(G, preset, **values) -> Show:
    show = Show(Options(fps=30), preset, G=G)
    for name, v in values.items():
        show.post(Command("set", name, v, "osc"))
    App(show, hud=False).run_headless(2, realtime=False)
    return show


def test_class_vectors_blend_neighbours_and_stay_in_range():
    assert class_vector(0, 3) is None                                       # unconditional: no c
    assert class_vector(5, 2).tolist() == [[0, 0, 1, 0, 0]]
    assert np.allclose(class_vector(5, 2.25), [[0, 0, 0.75, 0.25, 0]])
    assert class_vector(5, 99).tolist() == [[0, 0, 0, 0, 1]]                # a network's own last class


def test_seed_and_class_at_psi_1_is_the_official_call(cond_net):
    from livegan.offline.explore import render_seeds

    show = one_frame(cond_net, parse_preset({"keyframes": [{"seed": 7, "class": 3}], "speed": 0, "psi": 1}, "c.json"))
    assert not show.errors, show.errors
    want = mapped(cond_net, 7, class_vector(C_DIM, 3))
    assert np.allclose(show.current.ws, want, atol=1e-5)
    official = render_seeds(cond_net, [7], psi=1.0, class_idx=3)[0]            # G(z_7, onehot(3))
    assert np.abs(show.current_image.astype(int) - official.astype(int)).max() <= 1
    other = mapped(cond_net, 7, class_vector(C_DIM, 1))
    assert not np.allclose(want, other, atol=1e-3)                             # the class matters


def test_the_class_parameter_sweeps_keyframes_without_their_own(cond_net):
    preset = parse_preset({"keyframes": [{"seed": 7}], "speed": 0, "psi": 1, "class": 1}, "c.json")
    show = one_frame(cond_net, preset)
    assert np.allclose(show.current.ws, mapped(cond_net, 7, class_vector(C_DIM, 1)), atol=1e-5)
    show = one_frame(cond_net, preset, **{"class": 2.5})                      # a blend of 2 and 3
    assert np.allclose(show.current.ws, mapped(cond_net, 7, np.array([[0, 0, .5, .5, 0]], np.float32)), atol=1e-5)
    own = parse_preset({"keyframes": [{"seed": 7, "class": 4}], "speed": 0, "psi": 1}, "c.json")
    show = one_frame(cond_net, own, **{"class": 2})                           # a keyframe's own class wins
    assert np.allclose(show.current.ws, mapped(cond_net, 7, class_vector(C_DIM, 4)), atol=1e-5)


def test_keyframe_classes_are_checked_and_survive_the_preset_forms(tmp_path):
    from livegan.presets import preset_from, preset_json, save_state_preset

    for bad, word in (({"seed": 1, "class": -1}, "class"), ({"seed": 1, "class": "x"}, "class"),
                      ({"seed": 1, "klass": 2}, "klass"), ({"w": [0.0] * 4, "class": 1}, "class goes with a seed")):
        with pytest.raises(PresetError, match=word):
            parse_preset({"keyframes": [bad]}, "bad.json")
    p = parse_preset({"keyframes": [{"seed": 1, "class": 2}, 5], "class": 3}, "c.json")
    assert [k.cls for k in p.keyframes] == [2, None] and p.params["class"] == 3
    assert [k.cls for k in preset_from(preset_json(p)).keyframes] == [2, None]           # the control log's form
    path = save_state_preset(tmp_path, "saved", p, {"class": 3.0})
    again = parse_preset(__import__("json").loads(path.read_text()), str(path), base=tmp_path)
    assert [k.cls for k in again.keyframes] == [2, None] and again.params["class"] == 3


def test_an_unconditional_network_plays_with_a_class_set(tiny):
    show = one_frame(tiny, parse_preset({"keyframes": [{"seed": 7, "class": 3}], "speed": 0}, "c.json"),
                     **{"class": 2})
    assert show.current is not None and not show.errors, show.errors


def test_the_class_goes_into_snapshots_the_filter_and_a_replay(tmp_path, cond_net):
    from conftest import assert_replays_exactly, record_and_render
    from livegan.gallery.filters import parse_filters
    from livegan.media import read_video
    from livegan.store import Store

    preset = parse_preset({"keyframes": [{"seed": 3, "class": 4}, 8, 9], "speed": 0.6, "psi": 1}, "classes.json")
    show = Show(Options(fps=30), preset, G=cond_net)
    events = {2: [Command("trigger", "record", 1, "key")], 10: [Command("set", "class", 1.5, "osc")],
              16: [Command("trigger", "snapshot", None, "key")], 30: [Command("trigger", "record", 0, "key")]}
    run = record_and_render(App(show, tmp_path, hud=False, codec="ffv1"), 36, events, cond_net)
    assert not show.errors, show.errors
    st = Store(tmp_path)
    (snap,) = [im for w in st.walks("session") for im in st.images(w["id"])]
    assert snap["state"]["class"] in (1.5, 4.0)                  # the class that frame's keyframe used
    for cls, count in ((int(snap["state"]["class"]), 1), (0, 0)):               # the studio's class filter
        _, n = st.query_images(*parse_filters({"class": str(cls)}).where())
        assert n == count
    assert ("set", "class") in [(c.op, c.name) for v in run["cmds"].values() for c in v]
    assert run["header"]["preset"]["keyframes"][0] == {"seed": 3, "class": 4}
    assert run["result"]["written"] == run["end"] == len(read_video(run["video"]))
    assert_replays_exactly(run)                                  # frame for frame, the class change included


def test_a_run_conditioned_on_labels_plays_its_classes(tmp_path):
    """`livegan dataset` keeps a folder's labels; `train --cond labels` conditions G and D on them
    (both mappings take c, as the official run does); the network it writes plays each class."""
    import json
    import subprocess
    import sys

    from PIL import Image
    from stylegan3 import load_network

    from conftest import ROOT
    from livegan.training.dataset import make_dataset
    from livegan.training.imageset import ImageSet

    pics = tmp_path / "pics"
    pics.mkdir()
    for i in range(12):                                           # class k: the picture's colour channel
        a = np.zeros((16, 16, 3), np.uint8)
        a[..., i % 3] = 220
        Image.fromarray(a).save(pics / f"{i:02d}.png")
    (pics / "dataset.json").write_text(json.dumps({"labels": [[f"{i:02d}.png", i % 3] for i in range(12)]}))
    make_dataset([str(pics)], tmp_path / "ds.zip", 16, progress=False)
    data = ImageSet(str(tmp_path / "ds.zip"), labels=True)
    assert data.labels.shape == (12, 3) and data.labels.sum(1).tolist() == [1.0] * 12
    run = [sys.executable, "-m", "livegan", "train", "--data", str(tmp_path / "ds.zip"), "--store", "",
           "--cfg", "stylegan2", "--batch", "4", "--kimg", "0.008", "--tick", "0.004", "--snap", "1",
           "--cbase", "256", "--cmax", "32", "--w-dim", "32", "--map-depth", "2", "--aug", "noaug"]
    r = subprocess.run(run + ["--out", str(tmp_path / "run"), "--cond", "labels"], cwd=ROOT, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    G = load_network(str(sorted((tmp_path / "run").glob("network-*.safetensors"))[-1]))
    assert G.c_dim == 3
    for k in range(3):
        show = one_frame(G, parse_preset({"keyframes": [{"seed": 1, "class": k}], "speed": 0, "psi": 1}, "c.json"))
        assert not show.errors and show.current_image is not None, show.errors
    plain = tmp_path / "plain"                                    # no labels: one line, nothing trained
    make_dataset([str(_unlabelled(tmp_path / "unlabelled"))], plain, 16, progress=False)
    r = subprocess.run(run[:5] + [str(plain)] + run[6:] + ["--out", str(tmp_path / "bad"), "--cond", "labels"],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "labels" in r.stderr, r.stderr


def _unlabelled(folder):
    from PIL import Image

    folder.mkdir()
    for i in range(4):
        Image.fromarray(np.full((16, 16, 3), 40 * i, np.uint8)).save(folder / f"{i}.png")
    return folder


def test_walks_and_directions_take_a_conditional_network(cond_net):
    from livegan.directions.unsupervised import OwnedCopy, ganspace
    from livegan.offline.walks import RandomWalk

    walk = RandomWalk(cond_net.z_dim, keyframes=2, steps=3, seed=1)
    walk.cls = 2
    keys = walk.mapped_keys(cond_net)
    with torch.no_grad():
        z = torch.from_numpy(walk.keys[0].reshape(1, -1))
        want = cond_net.mapping(z, torch.from_numpy(class_vector(C_DIM, 2)))[0].numpy()
    assert np.allclose(keys[0], want, atol=1e-5)
    comps, sigma = ganspace(OwnedCopy(cond_net), samples=256, batch=128)    # W sampled over every class
    assert np.isfinite(comps).all() and (sigma > 0).all()
