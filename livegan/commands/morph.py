"""`livegan morph`: interpolate between seeds into a video or a GIF."""
from __future__ import annotations

from ..argtypes import number
from .options import load, network_options
from .render import video_path


def run(args) -> int:
    from ..offline.explore import morph_frames
    from ..latents import parse_seeds
    from ..media import write_video

    seeds = parse_seeds(args.seeds)
    if len(seeds) < 2:
        raise ValueError("--seeds needs at least two seeds to morph between, e.g. 3,7")
    out = video_path(args.out)
    G, dev = load(args)
    from ..conditions.render import condition_for
    cond = condition_for(G, args.input)
    out.parent.mkdir(parents=True, exist_ok=True)
    n = write_video(args.out, morph_frames(G, seeds, args.frames, space=args.space, psi=args.psi,
                                           class_idx=args.class_idx, loop=args.loop, device=dev, cond=cond),
                    fps=args.fps)
    print(f"wrote {args.out} ({n} frames at {args.fps} fps)")
    return 0


def register(sub) -> None:
    m = sub.add_parser("morph", help="interpolate between seeds into a .gif or .mp4")
    network_options(m)
    m.add_argument("--seeds", default="0,1", help="keyframe seeds, e.g. 3,7,11 (default: %(default)s)")
    m.add_argument("--frames", type=number(1, 100_000, integer=True), default=60,
                   help="frames per transition, at least 1 (default: %(default)s)")
    m.add_argument("--space", default="w", choices=["w", "z"], help="linear in W or slerp in Z (default: %(default)s)")
    m.add_argument("--psi", type=number(-10, 10), default=1.0, help="truncation psi (default: %(default)s)")
    m.add_argument("--class", dest="class_idx", type=number(0, 100_000, integer=True), default=None,
                   help="class index for conditional networks")
    m.add_argument("--loop", action="store_true", help="return to the first seed at the end")
    m.add_argument("--fps", type=number(1, 1000), default=30, help="frame rate of the output, 1..1000 (default: %(default)s)")
    m.add_argument("--input", default=None, metavar="IMAGE",
                   help="StyleGAN-Canvas networks: the condition picture (default: the show's pattern)")
    m.add_argument("--out", default="recordings/morph.mp4", help="output .mp4, .mov, .mkv or .gif (default: %(default)s)")
    m.set_defaults(func=run)
