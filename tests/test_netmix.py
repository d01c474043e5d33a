"""Model mixing through the real show: network B mixes into the playing network A by the `netmix`
knob, in a chosen layer range; 0 is A and 1 is B (with A's mapping) bit for bit; a blend replays at
the frame it took over; a network of another architecture is one line and the show goes on."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import tick_until
from livegan.app import App
from livegan.params import Command
from livegan.presets import parse_preset
from livegan.show import Options, Show

PRESET = parse_preset({"keyframes": [3, 8], "speed": 0.4}, "netmix.json")


@pytest.fixture(scope="module")
def network_b(tiny, tmp_path_factory):
    """B: A's architecture with other synthesis weights (A's mapping), as a file the show loads."""
    import copy

    from stylegan3 import save_safetensors

    B = copy.deepcopy(tiny)
    torch.manual_seed(11)
    with torch.no_grad():
        for name, p in B.synthesis.named_parameters():
            if p.ndim > 1:
                p.mul_(1.0 + 0.5 * torch.randn_like(p))
    path = tmp_path_factory.mktemp("netmix") / "b.safetensors"
    save_safetensors(B, path)
    return str(path), B


def synth(G, ws) -> np.ndarray:
    from livegan.imaging import to_uint8

    with torch.no_grad():
        return to_uint8(G.synthesis(torch.from_numpy(ws[None]), noise_mode="const"))[0]


def test_blend_ends_are_exact_and_a_range_mixes_only_its_layers(tiny, network_b):
    from stylegan3.layers import synthesis_layers

    from livegan.instrument.netmix import blend

    _, B = network_b
    assert blend(tiny, B, 0.0) is tiny                                            # 0 is A itself
    one = blend(tiny, B, 1.0)
    assert all(torch.equal(v, B.synthesis.state_dict()[k]) for k, v in one.synthesis.state_dict().items())
    assert all(torch.equal(v, tiny.mapping.state_dict()[k]) for k, v in one.mapping.state_dict().items())
    names = synthesis_layers(tiny)
    part = blend(tiny, B, 0.5, range(1, 3)).synthesis.state_dict()
    for k, v in part.items():
        inside = k.split(".")[0] in names[1:3]
        a, b = tiny.synthesis.state_dict()[k], B.synthesis.state_dict()[k]
        if not v.is_floating_point() or torch.equal(a, b):
            continue
        assert torch.equal(v, a) != inside, k                                     # only layers 1-2 moved
        if inside:
            assert torch.allclose(v, (a + b) / 2, atol=1e-6)


def test_the_knob_mixes_b_into_the_playing_network(tiny, network_b):
    path, B = network_b
    show = Show(Options(fps=30), PRESET, G=tiny)
    show.post(Command("trigger", "netmix_network", path, "key"))
    show.post(Command("set", "netmix", 1.0, "key"))
    tick_until(show, 3, what="the mix", until=lambda: show.netmix.amount == 1.0)
    assert not show.errors, show.errors
    assert np.abs(show.current_image.astype(int) - synth(B, show.current.ws).astype(int)).max() <= 1
    assert np.abs(show.current_image.astype(int) - synth(tiny, show.current.ws).astype(int)).max() > 8
    show = Show(Options(fps=30), PRESET, G=tiny)                                  # 0: A, bit for bit
    show.post(Command("trigger", "netmix_network", path, "key"))
    show.post(Command("set", "netmix", 0.0, "key"))
    tick_until(show, 3, what="the mix", until=lambda: show.netmix.b is not None)
    assert show.engine.G is tiny and np.array_equal(show.current_image, synth(tiny, show.current.ws))


def test_a_network_sharing_nothing_or_a_bad_range_is_one_line_and_the_show_goes_on(tiny, tmp_path):
    from stylegan3 import load_network, save_safetensors

    other = tmp_path / "other.safetensors"
    save_safetensors(load_network("builtin:twemoji"), other)
    show = Show(Options(fps=30), PRESET, G=tiny)
    show.post(Command("trigger", "netmix_network", str(other), "key"))
    show.post(Command("trigger", "netmix_layers", "3-99", "osc"))
    show.post(Command("set", "netmix", 0.5, "key"))
    tick_until(show, 2, what="the mix", until=lambda: any("netmix network" in e for e in show.errors))
    text = " | ".join(show.errors)
    assert ("shares no synthesis layer" in text or "dimensions" in text) and "this network has layers 0..8" in text
    assert show.netmix.b is None and show.engine.G is tiny and show.current is not None


def test_a_network_whose_picture_is_not_finite_never_mixes_in(tiny, tmp_path):
    # as a network taking over: B renders one finite frame before the knob can reach it
    import copy

    from stylegan3 import save_safetensors

    B = copy.deepcopy(tiny)
    with torch.no_grad():
        next(p for p in B.synthesis.parameters() if p.ndim > 1).fill_(float("nan"))
    path = tmp_path / "nan.safetensors"
    save_safetensors(B, path)
    show = Show(Options(fps=30), PRESET, G=tiny)
    show.post(Command("trigger", "netmix_network", str(path), "key"))
    show.post(Command("set", "netmix", 1.0, "key"))
    tick_until(show, 2, what="the refusal", until=lambda: any("netmix network" in e for e in show.errors))
    assert any("first frame is not finite" in e for e in show.errors), show.errors
    assert show.netmix.b is None and show.engine.G is tiny and show.current is not None


def test_another_architecture_mixes_where_the_layers_agree():
    """A 16 px StyleGAN2 and a 32 px one of the same channel plan share every layer up to 16 px
    (Autolume's per-layer A/B choice): those mix, the output stays 16 px; with fewer channels at
    16 px, B's 16 px layers differ in shape and stay A's, said in one line."""
    from stylegan3.layers import synthesis_layers
    from stylegan3.sg2 import Generator

    from livegan.instrument.netmix import NetMix, blend, shared_layers

    torch.manual_seed(0)
    A = Generator(z_dim=32, c_dim=0, w_dim=32, img_resolution=16, img_channels=3,
                  mapping_kwargs={"num_layers": 2}, channel_base=256, channel_max=32).eval()
    B = Generator(z_dim=32, c_dim=0, w_dim=32, img_resolution=32, img_channels=3,
                  mapping_kwargs={"num_layers": 2}, channel_base=256, channel_max=32).eval()
    narrow = Generator(z_dim=32, c_dim=0, w_dim=32, img_resolution=16, img_channels=3,
                       mapping_kwargs={"num_layers": 2}, channel_base=128, channel_max=32).eval()
    for G in (A, B, narrow):
        G.family = "stylegan2"                         # what the loader sets
    assert all(shared_layers(A, B)) and not all(shared_layers(A, narrow)) and any(shared_layers(A, narrow))
    M = blend(A, B, 1.0)
    for k, v in M.synthesis.state_dict().items():
        if v.is_floating_point():
            assert torch.equal(v, B.synthesis.state_dict()[k]), k
    ws = A.mapping(torch.randn(1, 32), None)
    with torch.no_grad():
        assert M.synthesis(ws).shape[-1] == 16 and not torch.equal(M.synthesis(ws), A.synthesis(ws))
    names, shared = synthesis_layers(A), shared_layers(A, narrow)
    N = blend(A, narrow, 1.0).synthesis.state_dict()
    for k, v in N.items():
        owner = next((i for i, n in enumerate(names) if k.startswith(n + ".")), None)
        if owner is not None and v.is_floating_point():
            assert torch.equal(v, (narrow if shared[owner] else A).synthesis.state_dict()[k]), k
    said = []
    mix = NetMix(A, lambda kind, msg: said.append(msg))
    assert mix._checked("narrow.pkl", narrow) is narrow
    assert len(said) == 1 and "stay the playing network's" in said[0] and "b16" in said[0]


def test_a_recorded_mix_replays_frame_for_frame(tmp_path, tiny, network_b):
    from conftest import assert_replays_exactly, finished, record_and_render
    from livegan.media import read_video

    path, _ = network_b
    show = Show(Options(fps=30), PRESET, G=tiny)
    events = {1: [Command("trigger", "netmix_network", path, "key"), Command("set", "netmix", 0.4, "key")],
              2: [lambda s: finished(s.netmix.loads)],       # B is there (a busy machine: late) ...
              3: [Command("trigger", "record", 1, "key")],
              5: [lambda s: finished(s.netmix.blends)],      # ... and its first blend made
              14: [Command("trigger", "netmix_layers", "0-4", "osc"), Command("set", "netmix", 0.9, "osc")],
              30: [Command("trigger", "record", 0, "key")]}
    run = record_and_render(App(show, tmp_path, hud=False, codec="ffv1"), 34, events, tiny)
    assert not show.errors, show.errors
    mixes = [c.value for v in run["cmds"].values() for c in v if c.op == "apply_netmix"]
    assert run["header"]["netmix"] or mixes, "no blend was recorded"
    assert run["result"]["written"] == run["end"] == len(read_video(run["video"]))
    assert_replays_exactly(run)


def test_a_preset_mixes_over_osc_addresses_and_the_forms_keep_it(tmp_path, tiny, network_b):
    from livegan.control.osc import address_table
    from livegan.presets import PresetError, preset_from, preset_json, save_state_preset

    path, B = network_b
    p = parse_preset({"keyframes": [3, 8], "speed": 0, "netmix": {"network": path, "amount": 1.0, "layers": "0-8"}},
                     "mix.json")
    assert p.netmix == {"network": path, "layers": "0-8"} and p.params["netmix"] == 1.0
    assert preset_from(preset_json(p)).netmix == p.netmix                       # the control log's form
    saved = save_state_preset(tmp_path, "kept", p, {"netmix": 0.25})
    assert '"amount": 0.25' in saved.read_text()
    for bad in ({"network": 3}, {"network": path, "layers": "9-2"}, {"network": path, "oops": 1}):
        with pytest.raises(PresetError, match="netmix"):
            parse_preset({"keyframes": [1], "netmix": bad}, "bad.json")
    show = Show(Options(fps=30), p, G=tiny)
    tick_until(show, 2, what="the mix", until=lambda: show.netmix.amount == 1.0)
    assert np.abs(show.current_image.astype(int) - synth(B, show.current.ws).astype(int)).max() <= 1
    paths = {a.path for a in address_table()}
    assert {"/livegan/netmix", "/livegan/netmix/network", "/livegan/netmix/layers"} <= paths


@pytest.mark.hostile
def test_a_special_file_and_a_fader_moved_fast(tiny, network_b):
    """B named by a device file is one line; a netmix fader swept through 300 values in a few frames
    lands on its last value (the newest request wins), with no problem reported and the show playing."""
    path, B = network_b
    show = Show(Options(fps=30), PRESET, G=tiny)
    show.post(Command("trigger", "netmix_network", "/dev/zero", "key"))
    tick_until(show, 1, what="the mix", until=lambda: any("netmix network /dev/zero" in e for e in show.errors))
    assert show.netmix.b is None and show.current is not None
    show = Show(Options(fps=30), PRESET, G=tiny)
    show.post(Command("trigger", "netmix_network", path, "key"))
    tick_until(show, 0, what="the mix", until=lambda: show.netmix.b is not None)
    show.start()
    try:
        for k in range(300):                                   # 100 values a frame for three frames
            show.post(Command("set", "netmix", (k % 100) / 100, "midi"))
            if k % 100 == 99:
                show.tick(k / 3000, wait=True)
        show.post(Command("set", "netmix", 0.75, "midi"))
        for i in range(400):
            show.tick(1 + i / 30, wait=True)
            if show.netmix.amount == 0.75:
                break
    finally:
        show.stop()
    assert show.netmix.amount == 0.75 and not show.errors, show.errors
    ws = show.current.ws
    from livegan.instrument.netmix import blend
    assert np.abs(show.current_image.astype(int) - synth(blend(tiny, B, 0.75), ws).astype(int)).max() <= 1


def test_in_bs_frame_a_larger_network_gives_its_larger_picture(tmp_path):
    """netmix frame b: the blend is built on B (a 32 px StyleGAN2 beside a 16 px one of the same
    channel plan): at 1 the show plays B's picture for its ws (the keyframes' ws extended to B's
    layers by their last w), at 0 A's weights in every layer they share with B's top block B's own;
    the recording replays it."""
    from conftest import assert_replays_exactly, record_and_render
    from stylegan3 import save_safetensors
    from stylegan3.checkpoints import build_generator

    from livegan.imaging import to_uint8

    kw = dict(z_dim=32, c_dim=0, w_dim=32, img_channels=3, mapping_kwargs={"num_layers": 2}, channel_base=256,
              channel_max=32)
    torch.manual_seed(1)
    A = build_generator("stylegan2", dict(kw, img_resolution=16))
    B = build_generator("stylegan2", dict(kw, img_resolution=32))
    with torch.no_grad():
        for G in (A, B):
            for p in G.parameters():
                p.normal_(0, 0.5)
    A.source = "a"
    save_safetensors(B, tmp_path / "b.safetensors")
    preset = parse_preset({"keyframes": [3, 8], "speed": 0.5, "netmix": {"network": str(tmp_path / "b.safetensors"),
                                                                        "amount": 1.0, "frame": "b"}}, "f.json")
    show = Show(Options(fps=30, load_roots=(str(tmp_path),)), preset, G=A)
    events = {1: [Command("trigger", "record", 1, "key")], 12: [Command("set", "netmix", 0.0, "osc")],
              22: [Command("trigger", "record", 0, "key")]}
    run = record_and_render(App(show, tmp_path, hud=False, codec="ffv1"), 26, events, A)
    assert not [e for e in show.errors if "netmix" in e], show.errors
    assert show.current_image.shape == (32, 32, 3)                             # B's frame: B's size
    M = show.engine.G
    ws = torch.from_numpy(show.current.ws[None])
    full = torch.cat([ws, ws[:, -1:].expand(-1, M.num_ws - ws.shape[1], -1)], dim=1)
    with torch.no_grad():
        assert np.array_equal(show.current_image, to_uint8(M.synthesis(full, noise_mode="const"))[0])
    a_state, m_state = A.synthesis.state_dict(), M.synthesis.state_dict()
    assert all(torch.equal(m_state[k], v) for k, v in a_state.items() if k in m_state and m_state[k].shape == v.shape
               and v.is_floating_point())                                       # at 0: A's weights where shared
    assert_replays_exactly(run)


def test_bs_mapping_makes_the_keyframes_when_chosen(tmp_path):
    """netmix mapping b: the keyframes' ws come from B's mapping (here B is the playing network with
    another mapping), so the show plays what B itself plays; a mapping of another shape is one line;
    the choice replays."""
    import copy

    from conftest import assert_replays_exactly, record_and_render
    from stylegan3 import load_network, save_safetensors

    A = load_network("builtin:twemoji")
    B = copy.deepcopy(A)
    torch.manual_seed(5)
    with torch.no_grad():
        for p in B.mapping.parameters():
            p.mul_(1.0 + 0.3 * torch.randn_like(p))
    save_safetensors(B, tmp_path / "b.safetensors")
    keys = {"keyframes": [3, 8], "speed": 0.5}
    alone = Show(Options(fps=30), parse_preset(keys, "alone.json"), G=load_network(str(tmp_path / "b.safetensors")))
    App(alone, tmp_path / "alone", hud=False).run_headless(12, realtime=False)
    preset = parse_preset(dict(keys, netmix={"network": str(tmp_path / "b.safetensors"), "amount": 0.0, "mapping": "b"}),
                          "m.json")
    show = Show(Options(fps=30, load_roots=(str(tmp_path),)), preset, G=A)
    events = {1: [Command("trigger", "record", 1, "key")], 9: [Command("trigger", "record", 0, "key")]}
    run = record_and_render(App(show, tmp_path, hud=False, codec="ffv1"), 12, events, A)
    assert not show.errors, show.errors
    assert np.allclose(show.current.ws, alone.current.ws, atol=1e-6)          # B's mapping made them
    assert np.abs(show.current_image.astype(int) - alone.current_image.astype(int)).max() <= 1
    assert_replays_exactly(run)
    from livegan.instrument.netmix import NetMix
    said = []
    mix = NetMix(A, lambda k, m: said.append(m))
    mix.b = load_network("builtin:tiny")
    with pytest.raises(ValueError, match="B's mapping takes"):
        mix.set_mapping("b")


def test_a_blend_or_a_b_asked_for_before_a_network_switch_never_reaches_the_next_network(tiny, monkeypatch):
    """Blends and B's loads run off the main thread: one finishing after a switch was made for the
    network before (a soak of an hour's show: a blend of a 128-wide network rendered the new
    64-wide network's ws, failed every frame, and the picture froze until the next switch)."""
    import threading

    from conftest import finished
    from livegan.instrument import netmix as nm
    from stylegan3 import load_network

    wide = load_network("builtin:twemoji")                  # w 128: tiny's ws never fit it
    assert wide.w_dim != tiny.w_dim
    errors = []
    mix = nm.NetMix(wide, lambda key, line: errors.append(line))
    gate = threading.Event()
    real = nm.blend
    monkeypatch.setattr(nm, "blend", lambda *a, **k: gate.wait(60) and real(*a, **k))
    mix.load("builtin:twemoji", lambda s: wide)
    finished(mix.loads)
    mix.follow(0.5)                                          # B taken; its blend asked for, held at the gate
    assert mix.b is wide and mix.blends.busy
    mix.network_switched(tiny)                               # B does not fit tiny: it goes
    gate.set()
    finished(mix.blends)
    assert mix.poll() is None and not mix.blends.busy        # the old blend was made, and dropped
    assert mix.b is None and any("does not fit the new network" in e for e in errors)

    # A B whose load was checked against the network before is checked again against this one.
    loading = threading.Event()
    mix2 = nm.NetMix(wide, lambda key, line: errors.append(line))
    mix2.load("builtin:twemoji", lambda s: loading.wait(60) and wide)
    mix2.network_switched(tiny)
    loading.set()
    finished(mix2.loads)
    mix2.follow(0.5)
    assert mix2.b is None and not mix2.blends.busy
    assert "netmix network builtin:twemoji: its w has 128 dimensions, the playing network's 64" in errors[-1]
