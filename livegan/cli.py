"""`livegan` command line: perform, generate, morph, convert, info, demo."""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

DEFAULT_NETWORK = "builtin:tiny"


def _network_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--network", "-n", default=DEFAULT_NETWORK,
                   help="network: .pkl, .safetensors, http(s) URL, or builtin:NAME (default: %(default)s)")
    p.add_argument("--device", default="auto", help="torch device: auto, cpu, cuda, cuda:1 (default: %(default)s)")
    p.add_argument("--dtype", default="auto", choices=["auto", "fp32", "fp16", "bf16"],
                   help="synthesis precision: auto = fp16 where the checkpoint says, CUDA only (default: %(default)s)")


def _load(args):
    from stylegan3 import load_network

    from .devices import resolve_device

    dev = resolve_device(args.device)
    return load_network(args.network, device=dev, precision=args.dtype), dev


def cmd_generate(args) -> int:
    from .explore import seed_grid, truncation_sheet
    from .imaging import parse_grid, save_png
    from .latents import parse_floats, parse_seeds

    seeds, psis = parse_seeds(args.seeds), parse_floats(args.psi, "psi")
    G, dev = _load(args)
    kw = dict(cutoff=args.trunc_cutoff, class_idx=args.class_idx, noise_mode=args.noise_mode, device=dev)
    if len(psis) > 1:
        image = truncation_sheet(G, seeds, psis, **kw)
        what = f"truncation sheet: {len(seeds)} seeds x psi {', '.join(map(str, psis))}"
    else:
        cols, rows = parse_grid(args.grid) if args.grid else (math.ceil(math.sqrt(len(seeds))),) * 2
        if not args.grid:
            rows = math.ceil(len(seeds) / cols)
        image = seed_grid(G, seeds, cols, rows, psi=psis[0], **kw)
        what = f"{cols}x{rows} grid of {min(len(seeds), cols * rows)} seeds at psi {psis[0]}"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    save_png(args.out, image)
    print(f"wrote {args.out} ({what}, {image.shape[1]}x{image.shape[0]})")
    return 0


def cmd_morph(args) -> int:
    from .explore import morph_frames
    from .latents import parse_seeds
    from .media import write_video

    seeds = parse_seeds(args.seeds)
    if len(seeds) < 2:
        raise ValueError("--seeds needs at least two seeds to morph between, e.g. 3,7")
    G, dev = _load(args)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    n = write_video(args.out, morph_frames(G, seeds, args.frames, space=args.space, psi=args.psi,
                                           class_idx=args.class_idx, loop=args.loop, device=dev), fps=args.fps)
    print(f"wrote {args.out} ({n} frames at {args.fps} fps)")
    return 0


def cmd_convert(args) -> int:
    from stylegan3 import load_network, save_safetensors

    G = load_network(args.src)
    save_safetensors(G, args.dst)
    print(f"wrote {args.dst} ({G.family}, {G.img_resolution}px, "
          f"{sum(p.numel() for p in G.parameters()):,} parameters)")
    return 0


def cmd_info(args) -> int:
    G, dev = _load(args)
    n = sum(p.numel() for p in G.parameters())
    print(f"{args.network}: {G.family}, {G.img_resolution}x{G.img_resolution}x{G.img_channels}, "
          f"z_dim {G.z_dim}, c_dim {G.c_dim}, w_dim {G.w_dim}, num_ws {G.num_ws}, {n:,} parameters")
    return 0


def cmd_demo(args) -> int:
    """Render a looping keyframe walk without a display: the main job on a bare machine."""
    from .explore import morph_frames
    from .imaging import save_png
    from .latents import parse_seeds
    from .media import write_video

    seeds = parse_seeds(args.seeds)
    G, dev = _load(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    per = max(1, round(args.duration * args.fps / len(seeds)))
    frames = []
    t0 = time.perf_counter()
    video = out / "demo.mp4"

    def tap():
        for f in morph_frames(G, seeds, per, psi=args.psi, loop=True, device=dev):
            frames.append(f) if len(frames) == 0 else None
            yield f
    n = write_video(video, tap(), fps=args.fps)
    dt = time.perf_counter() - t0
    save_png(out / "demo.png", frames[0])
    print(f"wrote {video} ({n} frames, {n / args.fps:.1f} s at {args.fps} fps; rendered at {n / dt:.1f} frames/s "
          f"on {dev}) and {out / 'demo.png'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="livegan", description="Real-time StyleGAN visualiser: tools.")
    sub = ap.add_subparsers(dest="cmd", required=True)

    g = sub.add_parser("generate", help="render seeds to a PNG grid or a truncation sheet")
    _network_args(g)
    g.add_argument("--seeds", default="0-15", help="seeds and ranges, e.g. 0-15,42 (default: %(default)s)")
    g.add_argument("--psi", default="1.0",
                   help="truncation psi; several (0.3,0.5,1) make a sheet: seeds in rows (default: %(default)s)")
    g.add_argument("--trunc-cutoff", type=int, default=None, help="truncate only the first N ws (default: all)")
    g.add_argument("--grid", default=None, help="COLSxROWS, e.g. 4x4 (default: about square)")
    g.add_argument("--class", dest="class_idx", type=int, default=None, help="class index for conditional networks")
    g.add_argument("--noise-mode", default="const", choices=["const", "random", "none"],
                   help="StyleGAN2 noise inputs (default: %(default)s)")
    g.add_argument("--out", default="recordings/grid.png", help="output PNG (default: %(default)s)")
    g.set_defaults(func=cmd_generate)

    m = sub.add_parser("morph", help="interpolate between seeds into a .gif or .mp4")
    _network_args(m)
    m.add_argument("--seeds", default="0,1", help="keyframe seeds, e.g. 3,7,11 (default: %(default)s)")
    m.add_argument("--frames", type=int, default=60, help="frames per transition (default: %(default)s)")
    m.add_argument("--space", default="w", choices=["w", "z"], help="linear in W or slerp in Z (default: %(default)s)")
    m.add_argument("--psi", type=float, default=1.0, help="truncation psi (default: %(default)s)")
    m.add_argument("--class", dest="class_idx", type=int, default=None, help="class index for conditional networks")
    m.add_argument("--loop", action="store_true", help="return to the first seed at the end")
    m.add_argument("--fps", type=float, default=30, help="frame rate of the output (default: %(default)s)")
    m.add_argument("--out", default="recordings/morph.mp4", help="output .mp4, .mov, .mkv or .gif (default: %(default)s)")
    m.set_defaults(func=cmd_morph)

    c = sub.add_parser("convert", help="convert a network pickle to our .safetensors format")
    c.add_argument("src", help="network .pkl (or anything load_network takes)")
    c.add_argument("dst", help="output .safetensors")
    c.set_defaults(func=cmd_convert)

    i = sub.add_parser("info", help="describe a network")
    _network_args(i)
    i.set_defaults(func=cmd_info)

    d = sub.add_parser("demo", help="render a keyframe walk to DIR/demo.mp4 and DIR/demo.png (no display needed)")
    _network_args(d)
    d.add_argument("--seeds", default="1,3,6,7", help="keyframe seeds (default: %(default)s)")
    d.add_argument("--duration", type=float, default=8.0, help="seconds of video (default: %(default)s)")
    d.add_argument("--fps", type=float, default=30, help="frame rate (default: %(default)s)")
    d.add_argument("--psi", type=float, default=1.0, help="truncation psi (default: %(default)s)")
    d.add_argument("--out", default="recordings", help="output folder (default: %(default)s)")
    d.set_defaults(func=cmd_demo)
    return ap


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, OSError) as e:   # CheckpointError is a ValueError
        print(f"livegan {args.cmd}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
