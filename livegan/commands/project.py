"""`livegan project IMAGE... --network NET --out W.npy`: the ws that draw each picture (a keyframe
`{"w": "W.npy"}` plays it), the picture they draw as W.png beside it, optionally a video of the
search; each projection goes into the store (the target, the result, its ws and settings) and so
into the gallery."""
from __future__ import annotations

import sys
from pathlib import Path

from ..argtypes import number
from .options import network_options


def outputs_for(out: str, images: list[str]) -> list[Path]:
    """One image: OUT itself; several: OUT's stem with each image's stem (W-face.npy, W-venue.npy)."""
    base = Path(out)
    if base.suffix != ".npy":
        raise ValueError(f"--out {out}: name a .npy file (the ws; the picture goes beside it as .png)")
    if len(images) == 1:
        return [base]
    stems = [Path(i).stem for i in images]
    if len(set(stems)) != len(stems):
        raise ValueError("two images have the same name; project them one at a time")
    return [base.with_name(f"{base.stem}-{s}.npy") for s in stems]


def perceptual_kind(s: str) -> str:
    import argparse

    if s in ("auto", "d", "pixels") or (s.startswith("vgg:") and len(s) > 4):
        return s
    raise argparse.ArgumentTypeError(f"{s!r}: expected auto, d, pixels or vgg:PATH")


def cmd_project(args) -> int:
    import numpy as np

    from ..conditions.sources import read_image
    from ..console import say
    from ..imaging import save_png
    from ..projection.distance import distance_for
    from ..projection.search import project
    from ..safeio import atomic_write
    from .options import load

    outs = outputs_for(args.out, args.images)
    G, dev = load(args)
    if not hasattr(G, "mapping") or getattr(G, "family", "") == "stylegan3-canvas":
        raise ValueError(f"{args.network}: a StyleGAN-Canvas network draws from a condition, it has no w space to search")
    size = (G.img_resolution, G.img_resolution)
    targets = [read_image(i, size, "picture to project") for i in args.images]        # every picture read before any search
    start = None
    if args.encoder:
        from ..projection.encoder import load_encoder
        enc = load_encoder(args.encoder, G)
    for path, image, out in zip(args.images, targets, outs):
        frames = []
        if args.encoder:
            start = enc.guess(image)
        every = max(1, args.steps // 20)

        def step(i, loss, img, path=path):
            if args.video and i % max(1, args.steps // 120) == 0:
                from ..imaging import to_uint8
                frames.append(to_uint8(img.detach())[0])
            if i % every == 0 or i == args.steps - 1:
                bar = "#" * int(20 * (i + 1) / args.steps)
                sys.stderr.write(f"\r{Path(path).name[:30]}: [{bar:<20s}] step {i + 1}/{args.steps} loss {loss:.4f}")
                sys.stderr.flush()
        res = project(G, image, distance_for(args.perceptual, args.network, G, image), steps=args.steps, seed=args.seed,
                      noise=args.optimise_noise, start=start, on_step=step)
        if args.steps:
            sys.stderr.write("\n")
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(out, lambda f: np.save(f, res.ws))
        save_png(out.with_suffix(".png"), res.image)
        if args.video and frames:
            from ..media import write_video
            write_video(out.with_suffix(".mp4"), frames, fps=30)
        res.settings.update(network=args.network, image=str(path), encoder=args.encoder or None)
        if args.store:
            from ..projection.store import keep
            keep(Path(args.store), res, out, args.network)
        say(f"{out}: PSNR {res.psnr:.1f} dB (the average picture: {res.psnr_average:.1f} dB), "
            f"{res.settings['loss']}; play it with a keyframe {{\"w\": \"{out}\"}}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("project", help="find the ws that draw a picture (a keyframe plays them)")
    p.add_argument("images", nargs="+", help="pictures to project (PNG, JPEG...; cropped to the network's square)")
    network_options(p)
    p.add_argument("--out", required=True, help="W.npy: the ws [num_ws, w_dim]; W.png the picture they draw "
                                                "(several images: W-IMAGENAME.npy each)")
    p.add_argument("--steps", type=number(0, 100_000, integer=True), default=300,
                   help="search steps, 0..100000 (0 with --encoder: its guess alone; default: %(default)s)")
    p.add_argument("--perceptual", default="auto", type=perceptual_kind, metavar="auto|d|pixels|vgg:PATH",
                   help="the distance: d = the file's own discriminator (official .pkl), pixels = pixels and "
                        "multi-scale SSIM, vgg:PATH = a VGG16 TorchScript file you name (NVIDIA's vgg16.pt; read "
                        "without running its code); auto: d when the file has one (default: %(default)s)")
    p.add_argument("--encoder", default=None, help="ENC.safetensors from `livegan train encoder`: start from its guess")
    p.add_argument("--optimise-noise", action="store_true",
                   help="StyleGAN2: search the noise maps too (the show plays the stored ones; the .png uses them)")
    p.add_argument("--seed", type=number(0, 2 ** 31 - 1, integer=True), default=0, help="(default: %(default)s)")
    p.add_argument("--video", action="store_true", help="also write W.mp4: the search, frame by frame")
    p.add_argument("--store", default="recordings",
                   help="the store the projection goes into (gallery); '' for none (default: %(default)s)")
    p.set_defaults(func=cmd_project)
