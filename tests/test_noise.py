"""StyleGAN2's noise as live parameters: `noise` scales it, `noise/K` each noisy layer's own strength,
`noise_seed` N swaps the network's stored noise for a constant texture drawn from seed N (0: the
stored one, bit for bit), the same every frame and in every show, and a recording replays it."""
from __future__ import annotations

import numpy as np
import pytest

from livegan.app import App
from livegan.params import Command
from livegan.presets import parse_preset
from livegan.show import Options, Show

PRESET = parse_preset({"keyframes": [5], "speed": 0, "psi": 1}, "noise.json")


@pytest.fixture(scope="module")
def sg2():
    from stylegan3 import load_network
    return load_network("builtin:twemoji")


def picture(G, preset=PRESET, **values) -> np.ndarray:
    show = Show(Options(fps=30), preset, G=G)
    for name, v in values.items():
        show.post(Command("set", name, v, "osc"))
    App(show, hud=False).run_headless(2, realtime=False)
    assert not show.errors, show.errors
    return show.current_image.astype(int)


def test_a_noise_seed_is_a_constant_texture_and_0_is_the_network_own(sg2):
    from livegan.offline.explore import render_seeds

    stored = picture(sg2)
    assert np.abs(stored - render_seeds(sg2, [5], psi=1.0).astype(int)[0]).max() <= 1   # 0: the stored noise
    seeded = picture(sg2, noise_seed=7)
    assert np.array_equal(seeded, picture(sg2, noise_seed=7))                 # the same in every show
    assert np.abs(seeded - stored).mean() > 0.5                               # another texture
    assert not np.array_equal(seeded, picture(sg2, noise_seed=8))
    quiet = parse_preset({"keyframes": [5], "speed": 0, "psi": 1, "params": {"noise": 0.0}}, "quiet.json")
    assert np.array_equal(picture(sg2, quiet, noise_seed=7), picture(sg2, quiet))          # no noise: no seed


def test_an_unsupported_network_ignores_it(tiny):
    assert picture(tiny, noise_seed=3).shape == picture(tiny).shape            # StyleGAN3 has no noise inputs


def test_a_noise_seed_change_replays(tmp_path, sg2):
    from conftest import assert_replays_exactly, record_and_render

    show = Show(Options(fps=30), parse_preset({"keyframes": [5, 9], "speed": 0.5}, "n.json"), G=sg2)
    events = {1: [Command("trigger", "record", 1, "key")], 6: [Command("set", "noise_seed", 42, "osc")],
              14: [Command("trigger", "record", 0, "key")]}
    run = record_and_render(App(show, tmp_path, hud=False, codec="ffv1"), 18, events, sg2)
    assert ("set", "noise_seed") in [(c.op, c.name) for v in run["cmds"].values() for c in v]
    assert_replays_exactly(run)


def test_each_noisy_layer_has_its_own_strength(sg2):
    """noise/K scales only layer K's noise: 0 on every layer is noise 0; one layer at 0 is exactly
    the synthesis with that layer's strength zeroed; a batch whose frames differ in it renders each
    as it would alone."""
    import copy

    import torch

    from livegan.imaging import to_uint8

    noisy = [m for m in sg2.synthesis.modules() if getattr(m, "use_noise", False)]
    assert len(noisy) == 7                                                    # b4.conv1, then conv0/conv1 per block
    def with_params(**params):                                                 # set at load: no glide
        return parse_preset({"keyframes": [5], "speed": 0, "psi": 1, "params": params}, "p.json")
    silent = with_params(**{f"noise/{k}": 0.0 for k in range(len(noisy))})
    assert np.array_equal(picture(sg2, silent), picture(sg2, with_params(noise=0.0)))
    one = picture(sg2, with_params(**{"noise/3": 0.0}))
    G = copy.deepcopy(sg2)
    with torch.no_grad():
        [m for m in G.synthesis.modules() if getattr(m, "use_noise", False)][3].noise_strength.zero_()
    show = Show(Options(fps=30), PRESET, G=sg2)
    App(show, hud=False).run_headless(2, realtime=False)
    with torch.inference_mode():
        ws = torch.from_numpy(show.current.ws[None])
        assert np.abs(one - to_uint8(G.synthesis(ws))[0].astype(int)).max() <= 1
        assert not np.array_equal(one, picture(sg2))                           # (a small change: one layer)
        per_sample = torch.ones(2, 64)
        per_sample[1, 3] = 0.0
        both = to_uint8(sg2.synthesis(ws.repeat(2, 1, 1), noise_gain=per_sample))
        alone = to_uint8(sg2.synthesis(ws, noise_gain=(1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0)))
    assert np.array_equal(both[1], alone[0]) and not np.array_equal(both[0], both[1])
