"""Built-in networks: generated from a fixed seed, so no file and no download is needed.

The weights are random (untrained) but calibrated the way training would leave them where it
matters for looks: each layer's `magnitude_ema` holds the mean square of its input (so every layer
sees unit-power features) and `output_scale` gives images a spread of about +-1.  The calibration
constants are stored here, not recomputed, so every machine builds bit-identical weights.
"""
from __future__ import annotations

import torch
from torch import nn

# name -> family, constructor kwargs, seed, and how much to damp the ToRGB styles (less
# sample-to-sample colour swing; trained networks learn that balance, random ones do not).
_SPECS: dict[str, dict] = {
    # Real time on a 2-core CPU at 256x256: 7 layers, narrow channels, small margin, and a wider
    # first band (first_cutoff 4) so the Fourier input already carries structure.
    "tiny": dict(family="stylegan3", seed=1, torgb_damping=0.5, init_kwargs=dict(
        z_dim=64, w_dim=64, c_dim=0, img_resolution=256, img_channels=3,
        mapping_kwargs=dict(num_layers=2), channel_base=1024, channel_max=32,
        num_layers=7, margin_size=4, first_cutoff=4, first_stopband=2 ** 3.1)),
    # The official StyleGAN3-T 1024 architecture (22.3 M parameters), for GPU benchmarks.
    "sg3t-1024": dict(family="stylegan3", seed=1024, torgb_damping=1.0, init_kwargs=dict(
        z_dim=512, w_dim=512, c_dim=0, img_resolution=1024, img_channels=3,
        mapping_kwargs=dict(num_layers=2), channel_base=32768, channel_max=512,
        magnitude_ema_beta=0.5 ** (32 / 20000))),
}

# Output of `python -m stylegan3.builtin NAME` (tests/test_builtin.py checks they still hold).
_CALIBRATION: dict[str, dict] = {
    'tiny': {"magnitude_ema": {"L0_40_32": 0.557909, "L1_40_32": 0.664989, "L2_72_32": 0.921245, "L3_136_16": 1.229209, "L4_264_8": 0.834593, "L5_264_4": 0.944794, "L6_256_4": 0.512671, "L7_256_3": 1.414424}, "torgb_bias_shift": [1.015699, 0.247233, -0.18578], "w_avg": [-0.209874, -0.070776, 0.615128, 0.090597, 0.150344, -0.026484, -0.073382, 0.614288, 0.287575, 0.820543, 0.17063, 0.917311, 0.526212, 0.353451, 0.932611, 0.097363, 0.265978, 0.189747, 0.577168, 0.253304, 0.483295, 0.291367, 0.231343, 0.81994, 1.181283, -0.094839, 0.066777, 0.499051, 0.024271, 0.348189, -0.054669, 0.388825, 0.586553, 0.583789, 0.253485, 0.708032, 1.569476, 0.570617, 0.430404, -0.114109, 0.753891, -0.130301, 1.173322, 0.476222, 1.330524, 0.139813, 0.506247, 0.345702, 0.348109, 0.19071, 0.255813, 0.338526, 0.106404, 0.673489, 0.069201, 1.493561, 0.994625, -0.073576, -0.012641, 0.016512, 0.514053, 0.359003, 0.598759, 0.255182], "output_scale": 0.898713},
}


def names() -> list[str]:
    return sorted(_SPECS)


def build(name: str, calibrated: bool = True) -> nn.Module:
    """The built-in network `name`, built deterministically on the CPU."""
    from .checkpoints import build_generator
    from .pickle_safe import CheckpointError

    spec = _SPECS.get(name)
    if spec is None:
        raise CheckpointError(f"builtin:{name}: unknown built-in network; choose from "
                              f"{', '.join('builtin:' + n for n in names())}")
    with torch.random.fork_rng(devices=[]):                 # leave the caller's RNG untouched
        torch.manual_seed(spec["seed"])
        G = build_generator(spec["family"], spec["init_kwargs"])
    torgb = getattr(G.synthesis, G.synthesis.layer_names[-1]) if spec["family"] == "stylegan3" else None
    if torgb is not None:
        torgb.affine.weight.mul_(spec["torgb_damping"])
    cal = _CALIBRATION.get(name) if calibrated else None
    if cal:
        for layer_name, mag in cal["magnitude_ema"].items():
            getattr(G.synthesis, layer_name).magnitude_ema.fill_(mag)
        torgb.bias.sub_(torch.tensor(cal["torgb_bias_shift"]))
        G.mapping.w_avg.copy_(torch.tensor(cal["w_avg"]))
        G.synthesis.output_scale = cal["output_scale"]
        G.init_kwargs["output_scale"] = cal["output_scale"]
    return G


@torch.inference_mode()
def calibrate(G: nn.Module, n: int = 32, seed: int = 0, target_std: float = 0.8) -> dict:
    """Measure what training's running averages would hold, on n random latents: w_avg, each
    layer's input mean square (magnitude_ema); then centre the ToRGB output and pick the output
    scale that gives it a standard deviation of `target_std`."""
    gen = torch.Generator().manual_seed(seed)
    w_avg = G.mapping(torch.randn([4096, G.z_dim], generator=gen), None)[:, 0].mean(dim=0)
    ws = G.mapping(torch.randn([n, G.z_dim], generator=gen), None)
    mags: dict[str, float] = {}
    hooks = []
    for name in G.synthesis.layer_names:
        def pre(mod, args, name=name):
            mags[name] = float(args[0].square().mean())
            mod.magnitude_ema.fill_(mags[name])              # later layers see normalised inputs
        hooks.append(getattr(G.synthesis, name).register_forward_pre_hook(pre))
    try:
        G.synthesis.output_scale = 1.0
        img = G.synthesis(ws)
    finally:
        for h in hooks:
            h.remove()
    mean = img.mean(dim=[0, 2, 3])
    scale = target_std / float((img - mean[None, :, None, None]).std())
    return {"magnitude_ema": {k: round(v, 6) for k, v in mags.items()},
            "torgb_bias_shift": [round(float(m), 6) for m in mean],
            "w_avg": [round(float(v), 6) for v in w_avg],
            "output_scale": round(scale, 6)}


if __name__ == "__main__":
    import json
    import sys

    for n in sys.argv[1:] or ["tiny"]:
        print(f"    {n!r}: {json.dumps(calibrate(build(n, calibrated=False)))},")
