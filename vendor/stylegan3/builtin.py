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
    # StyleGAN-Canvas at 128x128 steered by a 144x144 condition: the encoder's skips join L1 and
    # L2 (the layers whose conv output is 18 + 2 x 10 wide), its deepest map replaces the input.
    "canvas-tiny": dict(family="stylegan3-canvas", seed=7, torgb_damping=0.5, init_kwargs=dict(
        z_dim=64, w_dim=64, c_dim=0, img_resolution=128, img_channels=3,
        mapping_kwargs=dict(num_layers=2), channel_base=1024, channel_max=32, num_layers=7,
        projecting_img_dim=[3, 144, 144], bottleneck_size=18, cond_channels=3, in_proj_channels=4,
        input_channels=32, skip_channels=[0, 16, 16, 0, 0, 0, 0, 0],
        encoder_blocks=[
            dict(name="AL0_R72_C16_0", **{"in": 4}, mid=8, out=16, stride=2, fp16=True, connect_to=0),
            dict(name="AL1_R36_C16_0", **{"in": 16}, mid=16, out=16, stride=2, fp16=True, connect_to=0),
            dict(name="AL2_R18_C16_3", **{"in": 16}, mid=16, out=16, stride=2, fp16=False, connect_to=3),
            dict(name="AL3_R18_C16_2", **{"in": 16}, mid=16, out=16, stride=1, fp16=False, connect_to=2),
            dict(name="AL4_R18_C32_1", **{"in": 16}, mid=16, out=32, stride=1, fp16=False, connect_to=1),
            dict(name="AL5_R9_C32_0", **{"in": 32}, mid=32, out=32, stride=2, fp16=False, connect_to=0),
            dict(name="AL6_R5_C32_0", **{"in": 32}, mid=32, out=32, stride=2, fp16=False, connect_to=0)])),
    # StyleGAN-Canvas R at the official sizes (encoder channels 64..1024, a 256x256 condition,
    # synthesis channel_base 65536 / max 1024) at 512 px, for GPU benchmarks.  At 512 px only L1 and
    # L2 take a conv output of 16 + 2 x 10, so the skips go there.
    "canvas-r-512": dict(family="stylegan3-canvas", seed=512, torgb_damping=1.0, init_kwargs=dict(
        z_dim=512, w_dim=512, c_dim=0, img_resolution=512, img_channels=3,
        mapping_kwargs=dict(num_layers=2), channel_base=65536, channel_max=1024, conv_kernel=1,
        use_radial_filters=True, magnitude_ema_beta=0.5 ** (32 / 20000),
        projecting_img_dim=[3, 256, 256], bottleneck_size=16, cond_channels=3, in_proj_channels=32,
        input_channels=1024, skip_channels=[0, 512, 512] + [0] * 12,
        encoder_blocks=[dict(name=f"AL{i}_R{r}_C{c}_{k}", **{"in": cin}, mid=mid, out=c, stride=st, fp16=r >= 32,
                             connect_to=k)
                        for i, (r, cin, mid, c, st, k) in enumerate([
                            (128, 32, 64, 256, 2, 0), (64, 256, 256, 512, 2, 0), (32, 512, 512, 512, 2, 0),
                            (32, 512, 512, 512, 1, 0), (16, 512, 512, 512, 2, 0), (16, 512, 512, 512, 1, 3),
                            (16, 512, 512, 512, 1, 2), (16, 512, 512, 1024, 1, 1), (8, 1024, 1024, 1024, 2, 0),
                            (4, 1024, 1024, 1024, 2, 0)])])),
}

# Output of `python -m stylegan3.builtin NAME` (tests/test_builtin.py checks they still hold).
_CALIBRATION: dict[str, dict] = {
    'tiny': {"magnitude_ema": {"L0_40_32": 0.557909, "L1_40_32": 0.664989, "L2_72_32": 0.921245, "L3_136_16": 1.229209, "L4_264_8": 0.834593, "L5_264_4": 0.944794, "L6_256_4": 0.512671, "L7_256_3": 1.414424}, "torgb_bias_shift": [1.015699, 0.247233, -0.18578], "w_avg": [-0.209874, -0.070776, 0.615128, 0.090597, 0.150344, -0.026484, -0.073382, 0.614288, 0.287575, 0.820543, 0.17063, 0.917311, 0.526212, 0.353451, 0.932611, 0.097363, 0.265978, 0.189747, 0.577168, 0.253304, 0.483295, 0.291367, 0.231343, 0.81994, 1.181283, -0.094839, 0.066777, 0.499051, 0.024271, 0.348189, -0.054669, 0.388825, 0.586553, 0.583789, 0.253485, 0.708032, 1.569476, 0.570617, 0.430404, -0.114109, 0.753891, -0.130301, 1.173322, 0.476222, 1.330524, 0.139813, 0.506247, 0.345702, 0.348109, 0.19071, 0.255813, 0.338526, 0.106404, 0.673489, 0.069201, 1.493561, 0.994625, -0.073576, -0.012641, 0.016512, 0.514053, 0.359003, 0.598759, 0.255182], "output_scale": 0.898713},
    'canvas-tiny': {"batch_norm": {"AL0_R72_C16_0": [[0.087875, 0.101063, 0.213732, 0.120437], [0.024422, 0.030311, 0.177291, 0.069058]], "AL1_R36_C16_0": [[0.110455, 0.019563, 0.362819, 0.072148, 0.134414, 0.35741, 0.153154, 0.120663, 0.283291, 0.187358, 0.035853, 0.199523, 0.456462, 0.215103, 0.286057, 0.453806], [0.171211, 0.045382, 0.644626, 0.099366, 0.081811, 0.13357, 0.05372, 0.085151, 0.543126, 0.05919, 0.02319, 0.071397, 0.154867, 0.224046, 0.523116, 0.900441]], "AL2_R18_C16_3": [[0.36339, 0.065157, 0.312891, 0.304247, 0.241595, 0.311437, 0.113891, 0.405242, 0.257041, 0.154033, 0.12425, 0.399491, 0.6102, 0.092626, 0.36437, 0.376348], [0.365233, 0.061749, 0.24522, 0.323734, 0.492644, 0.363699, 0.107427, 0.525357, 0.261552, 0.079957, 0.23233, 0.493601, 0.413516, 0.146154, 0.217322, 0.36504]], "AL3_R18_C16_2": [[0.267681, 0.058817, 0.188036, 0.247918, 0.396713, 0.107854, 0.224875, 0.291559, 0.418989, 0.144109, 0.059448, 0.634797, 0.392129, 0.490568, 0.175537, 0.542352], [0.224217, 0.089024, 0.247525, 0.201959, 0.2898, 0.145921, 0.307724, 0.38515, 0.288304, 0.086265, 0.104063, 0.62846, 0.306538, 0.226026, 0.147951, 1.03542]], "AL4_R18_C32_1": [[0.461731, 0.122696, 0.201602, 0.050138, -0.066524, 0.260198, 0.406758, 0.029117, 0.42931, 0.572644, 0.28988, 0.173961, 0.393081, 0.375793, 0.429347, 0.345652], [0.541651, 0.138737, 0.216072, 0.120114, 0.117404, 0.34622, 0.310989, 0.110908, 0.480835, 0.634154, 0.240499, 0.187877, 0.335601, 0.36908, 0.502175, 0.29932]], "AL5_R9_C32_0": [[0.359291, 0.263968, 0.09067, 0.422253, 0.222585, 0.208394, 0.263797, 0.158013, 0.318844, 0.057475, 0.359426, 0.289784, 0.197076, 0.450754, 0.17111, 0.432816, 0.21032, 0.129706, 0.139709, 0.333809, 0.318289, 0.277373, 0.288752, 0.167754, 0.101389, 0.067656, 0.256343, 0.114844, 0.591096, 0.038247, 0.318235, 0.238534], [0.437051, 0.260791, 0.206399, 0.272143, 0.144074, 0.204097, 0.2952, 0.178001, 0.222086, 0.168667, 0.333589, 0.420446, 0.168924, 0.365833, 0.245534, 0.702461, 0.15592, 0.220437, 0.209896, 0.265336, 0.486627, 0.283488, 0.310135, 0.326796, 0.171481, 0.137951, 0.190397, 0.084783, 0.918153, 0.125917, 0.696918, 0.262205]], "AL6_R5_C32_0": [[0.337529, 0.041619, 0.473689, 0.569606, 0.069113, 0.164725, 0.123614, 0.621709, 0.274022, 0.11985, 0.41133, 0.317741, 0.141421, 0.07285, 0.238811, 0.171066, 0.335958, 0.348855, 0.098875, 0.169391, 0.335751, 0.103698, 0.290754, 0.236474, 0.384079, 0.368105, 0.266109, 0.097438, 0.386321, 0.186012, 0.270972, 0.338352], [0.421969, 0.1414, 0.483425, 0.621621, 0.173863, 0.160284, 0.212713, 0.570962, 0.308644, 0.130382, 0.490475, 0.421399, 0.224183, 0.230238, 0.179741, 0.274826, 0.47782, 0.267989, 0.173507, 0.272123, 0.37478, 0.117034, 0.509689, 0.216505, 0.415223, 0.299116, 0.238958, 0.173541, 0.350332, 0.219562, 0.276281, 0.312736]]}, "magnitude_ema": {"L0_36_32": 0.135447, "L1_36_32": 0.428106, "L2_52_32": 0.757194, "L3_84_32": 0.850314, "L4_148_16": 0.995146, "L5_148_8": 0.967003, "L6_128_8": 0.609851, "L7_128_3": 1.269764}, "torgb_bias_shift": [0.224349, -0.083505, 0.01961], "w_avg": [0.106567, 0.558959, 0.550589, 0.158831, 0.032591, -0.009173, 0.105662, 0.776216, 0.001283, 0.414701, 0.232421, -0.238755, 1.006508, 1.044759, 0.535669, 0.538111, 0.57761, 1.120056, 0.668175, 0.002012, 1.300317, 0.240179, 0.965146, 0.364089, 0.41998, 0.643271, 1.199485, 0.308183, 0.277813, -0.037837, -0.152425, 0.576655, 1.052901, 0.6021, 0.947489, 0.433302, -0.099598, 1.019697, 0.155896, 0.445583, 0.180536, 1.26337, 0.606971, 1.183754, 0.432744, 0.290274, 0.212227, 0.45315, 0.290638, 0.318497, 1.21053, 0.563605, 0.585917, 0.136445, -0.019195, -0.134152, 1.091999, 0.196552, -0.101944, 0.122433, 0.745401, 0.42156, 0.965959, 0.140917], "output_scale": 1.231855},
}


# Built-ins livegan trained itself (one file each, in trained/, shipped with the package): name ->
# file, and the credit its training images ask for.  `make twemoji` retrains it (docs/training.md).
_TRAINED: dict[str, dict] = {
    "twemoji": dict(file="trained/twemoji-32.safetensors",
                    credit="trained by livegan on the 3,786 Twemoji 16.0 graphics (CC-BY 4.0, Twitter/X and "
                           "contributors, https://github.com/jdecked/twemoji) from the npm package "
                           "emoji-datasource-twitter 16.0.0; 32x32 px, StyleGAN2"),
}


# What each built-in is, lightest first: the order a menu offers them in (the heavy ones are for
# GPU benchmarks and would stall a CPU show).
_ABOUT: dict[str, str] = {
    "twemoji": "StyleGAN2, 32 px, trained on emoji; real time anywhere",
    "tiny": "StyleGAN3-T, 256 px, seeded (untrained) weights calibrated to look rich; real time on a 2-core CPU (the default)",
    "canvas-tiny": "StyleGAN-Canvas T, 128 px steered by a 144 px condition picture (--input); real time on a CPU",
    "sg3t-1024": "the official StyleGAN3-T 1024 px architecture (22.3 M parameters), seeded weights: for GPU benchmarks",
    "canvas-r-512": "StyleGAN-Canvas R at the official sizes, 512 px, seeded weights: for GPU benchmarks",
}


def names() -> list[str]:
    """Every built-in, lightest first."""
    known = [n for n in _ABOUT if n in _SPECS or n in _TRAINED]
    return known + sorted(n for n in [*_SPECS, *_TRAINED] if n not in known)


def describe(name: str) -> str:
    """One line on what the built-in is and what it is for."""
    return _ABOUT.get(name, "")


def credit(name: str) -> str | None:
    """Where a trained built-in's pictures come from (None for the seeded ones)."""
    t = _TRAINED.get(name)
    return t["credit"] if t else None


def build(name: str, calibrated: bool = True) -> nn.Module:
    """The built-in network `name`, built deterministically on the CPU."""
    from .checkpoints import build_generator
    from .pickle_safe import CheckpointError

    if name in _TRAINED:
        from pathlib import Path

        from .checkpoints import load_safetensors
        return load_safetensors(Path(__file__).with_name("trained") / Path(_TRAINED[name]["file"]).name)
    spec = _SPECS.get(name)
    if spec is None:
        raise CheckpointError(f"builtin:{name}: unknown built-in network; choose from "
                              f"{', '.join('builtin:' + n for n in names())}")
    with torch.random.fork_rng(devices=[]):                 # leave the caller's RNG untouched
        torch.manual_seed(spec["seed"])
        G = build_generator(spec["family"], spec["init_kwargs"])
    torgb = getattr(G.synthesis, G.synthesis.layer_names[-1]) if spec["family"] != "stylegan2" else None
    if torgb is not None:
        torgb.affine.weight.mul_(spec["torgb_damping"])
    cal = _CALIBRATION.get(name) if calibrated else None
    if cal:
        for block, (mean, var) in cal.get("batch_norm", {}).items():
            bn = getattr(G.appended_net, block).batch_norm
            bn.running_mean.copy_(torch.tensor(mean))
            bn.running_var.copy_(torch.tensor(var))
        for layer_name, mag in cal["magnitude_ema"].items():
            getattr(G.synthesis, layer_name).magnitude_ema.fill_(mag)
        torgb.bias.sub_(torch.tensor(cal["torgb_bias_shift"]))
        G.mapping.w_avg.copy_(torch.tensor(cal["w_avg"]))
        G.synthesis.output_scale = cal["output_scale"]
        G.init_kwargs["output_scale"] = cal["output_scale"]
    return G


def calibration_conditions(n: int, shape: tuple, seed: int = 0) -> torch.Tensor:
    """n smooth synthetic condition pictures in [-1, 1] (low-resolution noise, upsampled)."""
    gen = torch.Generator().manual_seed(seed)
    c, h, w = shape
    low = torch.randn([n, c, 6, 6], generator=gen)
    return torch.tanh(torch.nn.functional.interpolate(low, size=(h, w), mode="bicubic", align_corners=False))


@torch.inference_mode()
def calibrate(G: nn.Module, n: int = 32, seed: int = 0, target_std: float = 0.8) -> dict:
    """Measure what training's running averages would hold, on n random latents (and, for a
    Canvas network, n synthetic conditions): w_avg, each layer's input mean square
    (magnitude_ema), the encoder's BatchNorm statistics; then centre the ToRGB output and pick
    the output scale that gives it a standard deviation of `target_std`."""
    gen = torch.Generator().manual_seed(seed)
    w_avg = G.mapping(torch.randn([4096, G.z_dim], generator=gen), None)[:, 0].mean(dim=0)
    ws = G.mapping(torch.randn([n, G.z_dim], generator=gen), None)
    mags: dict[str, float] = {}
    hooks = []
    extra: dict = {}
    skips = None
    if G.family == "stylegan3-canvas":
        stats: dict = {}
        for block in G.appended_net.block_names:
            def bn_pre(mod, args, block=block):       # the block's input is what its BatchNorm sees
                x = args[0].to(torch.float16 if mod.fp16 else torch.float32).float()
                mean, var = x.mean(dim=[0, 2, 3]), x.var(dim=[0, 2, 3])
                mod.batch_norm.running_mean.copy_(mean)
                mod.batch_norm.running_var.copy_(var)
                stats[block] = ([round(float(v), 6) for v in mean], [round(float(v), 6) for v in var])
            hooks.append(getattr(G.appended_net, block).register_forward_pre_hook(bn_pre))
        try:
            ws_enc, skips = G.encoder(calibration_conditions(n, G.cond_shape, seed))
        finally:
            for h in hooks:
                h.remove()
        hooks = []
        for block, (mean, var) in stats.items():           # the rounded values, as build() loads them
            bn = getattr(G.appended_net, block).batch_norm
            bn.running_mean.copy_(torch.tensor(mean))
            bn.running_var.copy_(torch.tensor(var))
        ws_enc, skips = G.encoder(calibration_conditions(n, G.cond_shape, seed))
        ws = G.combine(ws, ws_enc, 4)
        extra["batch_norm"] = stats
    for name in G.synthesis.layer_names:
        def pre(mod, args, name=name):
            mags[name] = float(args[0].square().mean())
            mod.magnitude_ema.fill_(mags[name])              # later layers see normalised inputs
        hooks.append(getattr(G.synthesis, name).register_forward_pre_hook(pre))
    try:
        G.synthesis.output_scale = 1.0
        img = G.synthesis(ws) if skips is None else G.synthesis(ws, skips)
    finally:
        for h in hooks:
            h.remove()
    mean = img.mean(dim=[0, 2, 3])
    scale = target_std / float((img - mean[None, :, None, None]).std())
    return {**extra, "magnitude_ema": {k: round(v, 6) for k, v in mags.items()},
            "torgb_bias_shift": [round(float(m), 6) for m in mean],
            "w_avg": [round(float(v), 6) for v in w_avg],
            "output_scale": round(scale, 6)}


if __name__ == "__main__":
    import json
    import sys

    for n in sys.argv[1:] or ["tiny"]:
        print(f"    {n!r}: {json.dumps(calibrate(build(n, calibrated=False)))},")
