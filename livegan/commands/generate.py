"""`livegan generate`: seeds to a PNG grid or a truncation sheet."""
from __future__ import annotations

import math
from pathlib import Path

from ..argtypes import number
from .options import load, network_options


def run(args) -> int:
    from ..offline.explore import seed_grid, truncation_sheet
    from ..imaging import parse_grid, save_png
    from ..latents import parse_floats, parse_seeds

    seeds, psis = parse_seeds(args.seeds), parse_floats(args.psi, "psi")
    G, dev = load(args)
    from ..conditions.render import condition_for
    kw = dict(cutoff=args.trunc_cutoff, class_idx=args.class_idx, noise_mode=args.noise_mode, device=dev,
              cond=condition_for(G, args.input))
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


def register(sub) -> None:
    g = sub.add_parser("generate", help="render seeds to a PNG grid or a truncation sheet")
    network_options(g)
    g.add_argument("--seeds", default="0-15", help="seeds and ranges, e.g. 0-15,42 (default: %(default)s)")
    g.add_argument("--psi", default="1.0",
                   help="truncation psi; several (0.3,0.5,1) make a sheet: seeds in rows (default: %(default)s)")
    g.add_argument("--trunc-cutoff", type=number(0, 256, integer=True), default=None, help="truncate only the first N ws (default: all)")
    g.add_argument("--grid", default=None, help="COLSxROWS, e.g. 4x4 (default: about square)")
    g.add_argument("--class", dest="class_idx", type=number(0, 100_000, integer=True), default=None,
                   help="class index for conditional networks")
    g.add_argument("--noise-mode", default="const", choices=["const", "random", "none"],
                   help="StyleGAN2 noise inputs (default: %(default)s)")
    g.add_argument("--input", default=None, metavar="IMAGE",
                   help="StyleGAN-Canvas networks: the condition picture (default: the show's pattern)")
    g.add_argument("--out", default="recordings/grid.png", help="output PNG (default: %(default)s)")
    g.set_defaults(func=run)
