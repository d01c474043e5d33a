"""Network bending: each operation does what it says on a map of known shape; a bend runs inside
the synthesis loop of StyleGAN2 and StyleGAN3, batched with each sample's own amount, and at rest
the picture is bit for bit the unbent one; channel selections (ranges, random, clusters of what a
channel draws) resolve; through the real show a bend is played over OSC, replays exactly from a
recording, and bad bends are one line while the show goes on."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import tick_until
from livegan.app import App
from livegan.params import Command
from livegan.presets import parse_preset
from livegan.show import Options, Show

PRESET = parse_preset({"keyframes": [3, 8], "speed": 0.4}, "bend.json")


def spike(h=8, w=8, y=2, x=3) -> torch.Tensor:
    t = torch.zeros(1, 1, h, w)
    t[0, 0, y, x] = 1.0
    return t


def test_each_op_on_a_known_map():
    from stylegan3.bending import OPS, BendSpec, apply_op

    c = {}
    moved = apply_op(BendSpec("translate", 0, None, 0.25), spike(), c)        # a quarter of 8 px: 2 px right
    assert moved[0, 0].argmax().item() == 2 * 8 + 5 and moved.max().item() == pytest.approx(1.0)
    turned = apply_op(BendSpec("rotate", 0, None, 90.0), spike(8, 8, 2, 3), c)
    assert turned.max().item() == pytest.approx(1.0, abs=1e-5)                # a quarter turn of the grid
    y, x = divmod(turned[0, 0].argmax().item(), 8)
    assert (y, x) != (2, 3) and abs((y - 3.5) ** 2 + (x - 3.5) ** 2 - ((2 - 3.5) ** 2 + (3 - 3.5) ** 2)) < 1e-6
    big = apply_op(BendSpec("scale", 0, None, 2.0), torch.ones(1, 1, 8, 8) * spike(8, 8, 4, 4), c)
    assert (big[0, 0] > 0).sum() > 1                                            # a 2x zoom spreads the point
    x = torch.randn(2, 3, 6, 10, generator=torch.Generator().manual_seed(0))
    assert torch.equal(apply_op(BendSpec("flip", 0, None, 0.0), x, c), x.flip(3))
    assert torch.equal(apply_op(BendSpec("flip", 0, None, 1.0), x, c), x.flip(2))
    inv = apply_op(BendSpec("invert", 0, None, 0.0), x, c)
    assert torch.allclose(apply_op(BendSpec("invert", 0, None, 0.0), inv, c), x, atol=1e-6)
    assert torch.allclose(inv.amax(dim=(2, 3)), x.amax(dim=(2, 3))) and torch.allclose(inv.amin(dim=(2, 3)), x.amin(dim=(2, 3)))
    assert torch.equal(apply_op(BendSpec("multiply", 0, None, -2.0), x, c), x * -2.0)
    th = apply_op(BendSpec("threshold", 0, None, 0.5), x, c)
    assert all(len(torch.unique(th[i, j])) == 2 for i in range(2) for j in range(3))
    ero, dil = (apply_op(BendSpec(op, 0, None, 3.0), x, c) for op in ("erode", "dilate"))
    assert (ero <= x).all() and (dil >= x).all() and (dil > x).any() and (ero < x).any()
    assert not apply_op(BendSpec("ablate", 0, None, 0.0), x, c).any()
    assert not apply_op(BendSpec("sobel", 0, None, 1.0), torch.full((1, 2, 5, 5), 3.0), c).any()   # flat: no edges
    ramp = torch.arange(8.0).repeat(8, 1)[None, None]                          # x gradient 1: sobel 8
    assert torch.allclose(apply_op(BendSpec("sobel", 0, None, 1.0), ramp, c)[0, 0, 2:6, 2:6], torch.full((4, 4), 8.0))
    n1 = apply_op(BendSpec("noise", 0, None, 1.0), x, c, noise=torch.ones(3, 6, 10))
    assert torch.allclose(n1 - x, x.std(dim=(2, 3), keepdim=True).expand_as(x))
    assert set(OPS) == {"translate", "rotate", "scale", "flip", "invert", "multiply", "threshold", "erode", "dilate",
                        "ablate", "sobel", "noise"}


@pytest.mark.parametrize("name", ["builtin:tiny", "builtin:twemoji"])
def test_bends_inside_synthesis_batched_with_their_own_amounts(name):
    """StyleGAN3 and StyleGAN2: an empty bender changes nothing; a batch bends each sample by its
    own amount (a sample at 0 is the unbent picture, bit for bit); amount 1 is the op itself."""
    from stylegan3 import load_network
    from stylegan3.bending import Bender, BendSpec

    G = load_network(name)
    with torch.inference_mode():
        ws = G.mapping(torch.randn(3, G.z_dim, generator=torch.Generator().manual_seed(1)), None, truncation_psi=0.7)
        plain = G.synthesis(ws)
        spec = BendSpec("rotate", 2, (0, 1, 2, 5), 60.0)
        b = Bender.for_batch([[(spec, 0.0)], [(spec, 0.5)], [(spec, 1.0)]], "cpu", cache={})
        bent = G.synthesis(ws, bend=b)
        whole = G.synthesis(ws[2:], bend=Bender.for_batch([[(spec, 1.0)]], "cpu"))
    assert Bender.for_batch([[], []], "cpu") is None
    assert torch.equal(bent[0], plain[0])
    assert (bent[1] - plain[1]).abs().max() > 1e-3 and (bent[2] - plain[2]).abs().max() > (bent[1] - plain[1]).abs().max() / 2
    assert torch.allclose(bent[2], whole[0], atol=1e-5)


def test_channel_selections_resolve():
    from livegan.instrument.bends import check_bend, resolve_channels

    assert resolve_channels("all", 16, None) is None
    assert resolve_channels("3-5", 16, None) == (3, 4, 5) and resolve_channels("7", 16, None) == (7,)
    r = resolve_channels("random:0.25:9", 16, None)
    assert len(r) == 4 and r == resolve_channels("random:0.25:9", 16, None) != resolve_channels("random:0.25:10", 16, None)
    labels = np.array([1, 0, 0, 2, 1, 0])
    assert resolve_channels("cluster:0", 6, labels) == (1, 2, 5) and resolve_channels("cluster:2", 6, labels) == (3,)
    with pytest.raises(LookupError):
        resolve_channels("cluster:0", 6, None)                                  # not computed yet
    for bad in ("12-40", "cluster:7", "random:2", "random:x", "odd", "5-3"):
        with pytest.raises(ValueError, match="channels"):
            resolve_channels(bad, 16, labels if bad.startswith("cluster") else None)
    assert check_bend(["rotate", 3, "cluster:2", 45]) == ("rotate", 3, "cluster:2", 45.0)
    assert check_bend({"op": "ablate", "layer": 1}) == ("ablate", 1, "all", None)
    for bad in (["spin", 1], ["rotate", -1], ["rotate", 1.5], ["rotate", 1, "all", 9999], ["rotate", 1, "all", float("nan")],
                {"op": "flip", "layer": 0, "colour": 1}, "rotate"):
        with pytest.raises(ValueError):
            check_bend(bad)


def test_clusters_group_channels_and_are_cached(tmp_path, monkeypatch):
    from stylegan3 import load_network
    from stylegan3.layers import layer_channels

    from livegan.instrument import clusters

    monkeypatch.setenv("LIVEGAN_CACHE", str(tmp_path))
    G = load_network("builtin:twemoji")
    labels = clusters.cached(G, "twemoji-test")
    assert [len(v) for v in labels] == layer_channels(G)
    for v, c in zip(labels, layer_channels(G)):
        sizes = np.bincount(v)
        assert len(sizes) == clusters.clusters_for(c) and (sizes > 0).all() and list(sizes) == sorted(sizes, reverse=True)
    assert clusters.cache_path("twemoji-test").is_file()
    monkeypatch.setattr(clusters, "compute", lambda *a, **k: pytest.fail("computed again"))
    again = clusters.cached(G, "twemoji-test")
    assert all(np.array_equal(a, b) for a, b in zip(labels, again))


def test_a_bend_played_over_osc_and_at_rest_bit_identical(tiny, osc_rig):
    from pythonosc.udp_client import SimpleUDPClient

    plain = Show(Options(fps=30, batch=2), parse_preset({"keyframes": [3], "speed": 0}, "still.json"), G=tiny)
    tick_until(plain, 2)
    show = Show(Options(fps=30, batch=2), parse_preset({"keyframes": [3], "speed": 0}, "still.json"), G=tiny)
    ctl, _ = osc_rig(show)
    osc = SimpleUDPClient("127.0.0.1", ctl.osc.port)
    osc.send_message("/livegan/bend/0/op", ["rotate", 3, "0-15", 90.0])
    osc.send_message("/livegan/bend/1/op", "sobel 5")                      # one string, as the README writes it
    tick_until(show, 2, until=lambda: show.bends.slots[1] is not None)
    assert np.array_equal(show.current_image, plain.current_image)           # slots set, amounts 0
    osc.send_message("/livegan/bend/0", 1.0)
    tick_until(show, 2, 100, until=lambda: show.registry.value["bend/0"] == 1.0)
    assert np.abs(show.current_image.astype(int) - plain.current_image.astype(int)).mean() > 2
    assert "bend 0:rotate@3" in " ".join(show.status.inputs) and not show.errors, show.errors
    osc.send_message("/livegan/bend/0", 0.0)
    tick_until(show, 2, 200, until=lambda: show.registry.value["bend/0"] == 0.0)
    assert np.array_equal(show.current_image, plain.current_image)


def test_cluster_bends_wait_for_the_clusters_then_play(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("LIVEGAN_CACHE", str(tmp_path))
    show = Show(Options(fps=30), PRESET, G=tiny)
    show.post(Command("trigger", "bend_op", [2, ["multiply", 4, "cluster:1", -1.0]], "osc"))
    show.post(Command("set", "bend/2", 1.0, "osc"))
    tick_until(show, 2, until=lambda: show.bends.slots[2] is not None)
    assert any("clusters are being computed" in e for e in show.errors)
    labels = show.clusters.labels(4)
    assert show.bends.slots[2].spec.channels == tuple(int(c) for c in np.flatnonzero(labels == 1))
    assert show.current.bends and show.current.bends[0][0].op == "multiply"


@pytest.mark.hostile
def test_bad_bends_are_one_line_and_the_show_goes_on(tiny):
    show = Show(Options(fps=30), PRESET, G=tiny)
    for k, bad in enumerate([["spin", 1], ["rotate", 99], ["rotate", 1, "0-999"], ["rotate", 1, "all", 1e9],
                             "nothing"]):
        show.post(Command("trigger", "bend_op", [k, bad], "osc"))
    show.post(Command("trigger", "bend_op", [8, ["flip", 1]], "osc"))
    tick_until(show, 2)
    lines = [e for e in show.errors if "bend" in e]                            # the HUD keeps the last 6
    assert len(lines) == 6 and all("\n" not in e for e in lines), lines
    assert "this network has layers 0..8" in " ".join(lines) and "no bend slot 8" in " ".join(lines)
    assert all(s is None for s in show.bends.slots) and show.current is not None


def test_a_preset_bends_and_the_recording_replays_frame_for_frame(tmp_path, tiny):
    from conftest import assert_replays_exactly, record_and_render
    from livegan.media import read_video
    from livegan.presets import PresetError, preset_from, preset_json, save_state_preset

    p = parse_preset({"keyframes": [3, 8], "speed": 0.4, "bends": [
        {"slot": 0, "op": "translate", "layer": 2, "channels": "random:0.5:3", "arg": 0.2, "amount": 0.7}]}, "b.json")
    assert p.params["bend/0"] == 0.7 and p.bends == ({"slot": 0, "op": "translate", "layer": 2,
                                                         "channels": "random:0.5:3", "arg": 0.2},)
    assert preset_from(preset_json(p)).bends == p.bends
    assert '"op": "translate"' in save_state_preset(tmp_path, "kept", p, {"bend/0": 0.7}).read_text()
    for bad in ([{"op": "spin", "layer": 1}], [{"slot": 9, "op": "flip", "layer": 0}], {"op": "flip"}):
        with pytest.raises(PresetError, match="bends"):
            parse_preset({"keyframes": [1], "bends": bad}, "bad.json")
    show = Show(Options(fps=30), p, G=tiny)
    events = {2: [Command("trigger", "record", 1, "key")],
              8: [Command("trigger", "bend_op", [3, ["noise", 5, "all", 2.0]], "osc"), Command("set", "bend/3", 0.5, "osc")],
              14: [Command("set", "bend/0", 0.0, "osc"), Command("trigger", "bend_op", [3, ["dilate", 6, "0-1", 5]], "osc")],
              20: [Command("trigger", "bend_op", [3, "none"], "osc")],
              26: [Command("trigger", "record", 0, "key")]}
    run = record_and_render(App(show, tmp_path, hud=False, codec="ffv1"), 30, events, tiny)
    assert not show.errors, show.errors
    assert run["header"]["bends"][0]["bend"]["op"] == "translate"
    assert len([c for v in run["cmds"].values() for c in v if c.op == "apply_bend"]) == 3
    assert run["result"]["written"] == run["end"] == len(read_video(run["video"]))
    assert_replays_exactly(run)


def test_layer_view_modes():
    from livegan.engine.layerview import fit_to, view_image

    x = torch.randn(20, 6, 8, generator=torch.Generator().manual_seed(2))
    one = view_image(x, 4, 0, 1.0, False)
    assert one.shape == (6, 8, 3) and (one[..., 0] == one[..., 1]).all()
    assert one[..., 0].max() == 255 or one[..., 0].min() <= 1                 # scaled to the map's own peak
    rgb = view_image(x, 4, 1, 1.0, False)
    assert np.array_equal(rgb[..., 0], one[..., 0]) and not np.array_equal(rgb[..., 0], rgb[..., 1])
    energy = view_image(x, 0, 2, 1.0, False)
    assert energy.max() == 255 and energy.shape == (6, 8, 3)
    grid = view_image(x, 0, 3, 1.0, False)
    assert grid.shape == (4 * 6 + 3, 4 * 8 + 3, 3)
    spec = view_image(x, 4, 0, 1.0, True)
    assert spec.shape == one.shape and not np.array_equal(spec, one)
    assert view_image(x, 999, 0, 1.0, False).shape == (6, 8, 3)                 # past the last channel: the last
    dim = view_image(x, 4, 0, 0.25, False).astype(int)
    assert np.abs(dim - 128).max() < np.abs(one.astype(int) - 128).max()
    assert fit_to(one, 12, 16).shape == (12, 16, 3) and np.array_equal(fit_to(one, 12, 16)[::2, ::2], one)


def test_a_layer_view_on_the_monitor_keeps_the_program_clean_and_can_be_sent_to_it(tmp_path, tiny):
    from conftest import assert_replays_exactly, record_and_render
    from livegan.engine.layerview import fit_to

    still = {"keyframes": [3], "speed": 0}

    def run(params, ticks=4):
        show = Show(Options(fps=30), parse_preset(dict(still, params=params), "v.json"), G=tiny)
        app = App(show, tmp_path / str(len(params)), hud=False, codec="ffv1")
        got = {}

        def on_tick(i, s, d):
            got["program"], got["monitor"] = d.renderer.read_program(), d.read()
        app.run_headless(ticks, realtime=False, on_tick=on_tick)
        return show, got

    plain, p = run({})
    viewed, v = run({"layer_view": 4, "layer_channel": 2, "layer_mode": 1})
    assert viewed.current_view is not None and viewed.current_view.shape == (136, 136, 3)   # L3_136_16's maps
    assert np.array_equal(v["program"], p["program"])                          # the program is clean
    h, w = v["monitor"].shape[:2]
    corner = (slice(h - h // 3, h - 8), slice(w - h // 3, w - 8))              # the lower right: the view
    assert np.abs(v["monitor"][corner].astype(int) - p["monitor"][corner].astype(int)).mean() > 5
    assert np.array_equal(v["monitor"][: h // 2, : w // 2], p["monitor"][: h // 2, : w // 2])
    sent, s = run({"layer_view": 4, "layer_channel": 2, "layer_mode": 1, "layer_program": 1})
    assert sent.current_view is None                                            # on the program, not twice
    assert np.array_equal(sent.current_image, fit_to(viewed.current_view, 256, 256))
    show = Show(Options(fps=30), parse_preset({"keyframes": [3, 8], "speed": 0.5}, "v.json"), G=tiny)
    events = {2: [Command("trigger", "record", 1, "key")],
              6: [Command("set", "layer_view", 2, "osc"), Command("set", "layer_program", 1, "osc")],
              12: [Command("set", "layer_fft", 1, "osc"), Command("set", "layer_mode", 3, "osc")],
              18: [Command("trigger", "record", 0, "key")]}
    assert_replays_exactly(record_and_render(App(show, tmp_path / "rec", hud=False, codec="ffv1"), 22, events, tiny))


def test_a_static_bender_takes_new_amounts_in_place_as_a_graph_needs():
    """What a CUDA graph captures: one bender per structure whose amounts change in place.  On the
    CPU, here: it gives the pictures fresh benders give for every set of amounts, 0 and 1 included
    (tests/cuda replays it in a captured graph)."""
    from stylegan3 import load_network
    from stylegan3.bending import Bender, BendSpec

    G = load_network("builtin:twemoji")
    a, b = BendSpec("rotate", 3, None, 40.0), BendSpec("sobel", 6, (0, 2, 4), 1.0)
    with torch.inference_mode():
        ws = G.mapping(torch.randn(2, G.z_dim, generator=torch.Generator().manual_seed(4)), None)
        batches = [[[(a, 1.0), (b, 0.5)], [(a, 0.25)]], [[(b, 1.0)], [(a, 0.0), (b, 0.0)]], [[(a, 0.7)], [(b, 0.3)]]]
        struct = Bender.structure(batches[0] + batches[1], taps=(5,))
        static = Bender.static(struct, 2, "cpu")
        for bends in batches:
            static.update(bends)
            got = G.synthesis(ws, bend=static)
            fresh = G.synthesis(ws, bend=Bender.for_batch([[(s, x) for s, x in smp if x] for smp in bends], "cpu")
                                or None)
            assert torch.allclose(got, fresh, atol=1e-6), bends
        assert 5 in static.tapped and static.tapped[5].shape[0] == 2


def test_the_engine_keeps_one_graph_per_bend_structure(tiny, monkeypatch):
    """The engine's CUDA-graph path with bends and a layer view, its graph stood in for by a plain
    call on the CPU (tests/cuda runs the real capture): one graph per structure, faders moved in
    place, the same pictures and views as the eager engine."""
    from stylegan3.bending import BendSpec

    from livegan.engine import Engine, cuda_graphs
    from livegan.timeline import FrameRequest

    class Stand:                                          # what GraphedSynthesis does, minus the capture
        def __init__(self, G, shape, with_transform=False, bend=None):
            self.G, self.bend = G, bend
            Stand.made += 1

        def __call__(self, ws, transform=None):
            return self.G.synthesis(ws, transform=transform, bend=self.bend)
    Stand.made = 0
    monkeypatch.setattr(cuda_graphs, "GraphedSynthesis", Stand)
    with torch.inference_mode():
        ws = tiny.mapping(torch.randn(2, tiny.z_dim, generator=torch.Generator().manual_seed(5)), None).numpy()
    spec = BendSpec("scale", 3, (0, 5, 9), 1.5)

    def reqs(amounts):
        return [FrameRequest(frame=i, generation=0, ws=ws[i], transform=np.eye(3, dtype=np.float32), keyframe=0,
                             position=0.0, bends=((spec, a),) if a else (), view=(2, 1, 3, 1.0, False, False))
                for i, a in enumerate(amounts)]
    graphed, eager = Engine(tiny, "cpu", batch=2), Engine(tiny, "cpu", batch=2)
    graphed.cuda_graphs = True
    for amounts in ((1.0, 0.5), (0.3, 0.6), (0.9, 0.2)):
        with torch.inference_mode():
            g, e = graphed.render(reqs(amounts)), eager.render(reqs(amounts))
        assert all(np.abs(a.astype(int) - b.astype(int)).max() <= 1 for a, b in zip(g, e)), amounts
        assert all(np.array_equal(a, b) for a, b in zip(graphed.last_views, eager.last_views))
    assert Stand.made == 1
