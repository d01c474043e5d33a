"""The networks a run trains, as the official train.py configures them for --cfg: G and D of our
own classes (StyleGAN2, StyleGAN3-T/R), and StyleGAN-Canvas (a network to fine-tune, or
builtin:canvas-tiny's geometry, in its R configuration for canvas-r)."""
from __future__ import annotations

import copy

from .options import TrainOptions


def build_networks(o: TrainOptions, res: int, channels: int, c_dim: int = 0) -> tuple:
    """G and D as the official train.py configures them for --cfg (our classes); `c_dim`: the
    labels' length for a conditional run (both mappings take them)."""
    from stylegan3 import build_generator

    common = dict(z_dim=o.w_dim, c_dim=c_dim, w_dim=o.w_dim, img_resolution=res, img_channels=channels,
                  channel_base=o.cbase, channel_max=o.cmax, num_fp16_res=0 if o.fp32 else 4,
                  conv_clamp=None if o.fp32 else 256,
                  mapping_kwargs={"num_layers": o.map_depth or (8 if o.cfg == "stylegan2" else 2)})
    if o.cfg == "stylegan2":
        G = build_generator("stylegan2", common)
    else:
        kw = dict(common, magnitude_ema_beta=0.5 ** (o.batch / 20e3))
        if o.cfg == "stylegan3-r":
            kw.update(conv_kernel=1, channel_base=o.cbase * 2, channel_max=o.cmax * 2, use_radial_filters=True)
        G = build_generator("stylegan3", kw)
    return G.train().requires_grad_(False), build_d(o, res, channels, c_dim)


def build_d(o: TrainOptions, res: int, channels: int, c_dim: int = 0):
    from stylegan3.discriminator import build_discriminator

    D = build_discriminator({"c_dim": c_dim, "img_resolution": res, "img_channels": channels, "channel_base": o.cbase,
                             "channel_max": o.cmax, "num_fp16_res": 0 if o.fp32 else 4,
                             "conv_clamp": None if o.fp32 else 256, "block_kwargs": {"freeze_layers": o.freezed},
                             "mapping_kwargs": {}, "epilogue_kwargs": {"mbstd_group_size": o.mbstd_group}})
    return D.train().requires_grad_(False)


def canvas_r_geometry(kw: dict) -> dict:
    """The R configuration of a Canvas geometry, as StyleGAN3-R is of T (the official train.py):
    1x1 convolutions, radial filters, twice the channels; the encoder's channels double with the
    synthesis it feeds (its deepest map is the synthesis input, its skips join their layers).
    A 1x1 convolution keeps its input's size where a 3x3 one (padded by 2) adds 2, so the skips
    must be 2 samples smaller: the bottleneck shrinks by 2 and the condition with it (the official
    Canvas-R: 256 px conditions into a 16-sample bottleneck)."""
    kw = copy.deepcopy(kw)
    factor = kw["projecting_img_dim"][1] // kw["bottleneck_size"]
    bottleneck = kw["bottleneck_size"] - 2
    kw.update(conv_kernel=1, use_radial_filters=True, channel_base=kw["channel_base"] * 2,
              channel_max=kw["channel_max"] * 2, input_channels=kw["input_channels"] * 2,
              skip_channels=[c * 2 for c in kw["skip_channels"]], bottleneck_size=bottleneck,
              projecting_img_dim=[kw["projecting_img_dim"][0], bottleneck * factor, bottleneck * factor])
    blocks, res = [], bottleneck * factor
    for i, b in enumerate(kw["encoder_blocks"]):
        res = -(-res // b["stride"])
        blocks.append(dict(b, name=f"AL{i}_R{res}_C{b['out'] * 2}_{b['connect_to']}",
                           **{"in": b["in"] if i == 0 else b["in"] * 2}, mid=b["mid"] * 2, out=b["out"] * 2))
    kw["encoder_blocks"] = blocks
    return kw


def is_canvas_r(G) -> bool:
    return bool(getattr(G, "init_kwargs", {}).get("use_radial_filters"))


def canvas_generator(o: TrainOptions, res: int, channels: int):
    """StyleGAN-Canvas G: the network a --resume names (a Canvas .pkl, .safetensors or builtin:,
    fine-tuned on these pictures), or a new one with builtin:canvas-tiny's 128 px geometry (in its
    R configuration for --cfg canvas-r)."""
    from stylegan3 import build_generator, load_network
    from stylegan3.builtin import _SPECS

    r = o.cfg == "canvas-r"
    if o.resume and not o.resume.endswith(".pt"):
        try:
            G = load_network(o.resume)
        except Exception as e:
            raise ValueError(f"--resume {o.resume}: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
        if getattr(G, "family", "") != "stylegan3-canvas":
            raise ValueError(f"--resume {o.resume}: not a StyleGAN-Canvas network (--cfg {o.cfg} fine-tunes one)")
        if is_canvas_r(G) != r:
            raise ValueError(f"--resume {o.resume}: a Canvas-{'R' if is_canvas_r(G) else 'T'} network; "
                             f"--cfg canvas-{'r' if is_canvas_r(G) else 't'} fine-tunes it")
        if G.img_resolution != res or G.img_channels != channels:
            raise ValueError(f"--resume {o.resume}: a {G.img_resolution} px network; the data is {res} px "
                             f"(`livegan dataset --res {G.img_resolution}`)")
        return G.train().requires_grad_(False)
    kw = dict(_SPECS["canvas-tiny"]["init_kwargs"])
    if res != kw["img_resolution"] or channels != 3:
        raise ValueError(f"--cfg {o.cfg} builds builtin:canvas-tiny's {kw['img_resolution']} px geometry; for "
                         f"{res} px pictures fine-tune a Canvas network of that size (--resume NETWORK)")
    kw["magnitude_ema_beta"] = 0.5 ** (o.batch / 20e3)         # as train.py sets it for every StyleGAN3
    if r:
        kw = canvas_r_geometry(kw)
    return build_generator("stylegan3-canvas", kw).train().requires_grad_(False)
