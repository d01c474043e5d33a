"""`livegan directions fit` and `sheet`: semantic directions from likes, tags or labels, and a
sheet of what they do."""
from __future__ import annotations

from pathlib import Path

from ..argtypes import number
from .options import load, network_options


def cmd_directions_fit(args) -> int:
    """Fit a direction from labelled latents into presets/directions/NAME.npz (+ .json)."""
    from ..directions.catalog import FOLDER
    from ..directions.fit import fit
    from ..directions.labels import Labels
    from ..directions.model import DirectionError
    from ..store import DB_NAME, Store, network_identity

    if not args.name or not all(c.isalnum() or c in "-_" for c in args.name) or len(args.name) > 64:
        raise ValueError("--name: 1..64 letters, digits, - or _")
    store = Store(args.out) if (Path(args.out) / DB_NAME).exists() else None
    needs_net = args.space == "z" or ".csv" in args.positive or ".csv" in (args.negative or "")
    G = load(args)[0] if needs_net else None
    labels = Labels(store, args.space, G)
    pos = labels.resolve(args.positive, True)
    if args.negative:
        neg = labels.resolve(args.negative, True)
    elif args.positive.split(":")[0].endswith(".csv") or args.positive == "liked" or args.positive.startswith("tag:"):
        neg = labels.resolve(args.positive, False)       # the labelled other class, if any
        neg = neg if len(neg) else None
    else:
        neg = None
    hashes = {h for h in labels.networks if h}
    if len(hashes) > 1:
        raise DirectionError(f"the labelled images come from {len(hashes)} networks; fit one network at a time "
                             "(filter with a tag, or export a CSV)")
    background = labels.everything() if store is not None and neg is None else None
    net_id = next(iter(hashes)) if hashes else network_identity(args.network)
    d = fit(args.method, args.name, pos, neg if neg is not None and len(neg) else None, background,
            meta={"space": args.space, "network_id": net_id, "positive": args.positive, "negative": args.negative})
    path = d.save(Path(args.dest) if args.dest else FOLDER)
    acc, bal, base = (d.meta.get(k) for k in ("held_out_accuracy", "held_out_balanced_accuracy", "majority_baseline"))
    score = "held-out accuracy -" if acc is None else (
        f"held-out balanced accuracy {bal:.1%} (0.5 = chance), accuracy {acc:.1%} against {base:.1%} "
        "for always answering the larger class")
    print(f"wrote {path} ({args.method}, {d.meta['positives']} positive / {d.meta['negatives']} negative, "
          f"{score}, σ {d.sigma:.3g})")
    return 0


def cmd_directions_sheet(args) -> int:
    """One row per direction (and seed), columns from -R to +R σ, labelled."""
    import numpy as np
    import torch

    from ..directions.catalog import Catalog
    from ..directions.slots import make_slot
    from ..offline.explore import label_columns, label_rows
    from ..imaging import grid, save_png, to_uint8
    from ..latents import classes_for, parse_floats, parse_seeds, z_from_seed
    from ..store import network_identity

    G, dev = load(args)
    refs = _direction_refs(args.directions)
    seeds = parse_seeds(args.seeds, limit=16)
    lo, hi = parse_floats(args.range, "range", -5, 5, 2)
    steps = args.steps
    cat = Catalog(Path(args.dest), log=lambda m: print(m)) if args.dest else Catalog(log=lambda m: print(m))
    cat.load_folder(wait=True)
    kinds = {r.split(":")[0] for r in refs} & {"pca", "sefa"}
    if kinds:
        from ..directions.unsupervised import cached, env_samples
        for kind in kinds:
            cat._net[kind] = cached(G, network_identity(args.network), kind, env_samples())
    amounts = np.linspace(lo, hi, steps)
    cells, labels = [], []
    with torch.inference_mode():
        for ref in refs:
            slot = make_slot(cat.resolve(ref), args.zone, G.num_ws, G.w_dim)
            for seed in seeds:
                w = G.mapping(torch.from_numpy(z_from_seed(seed, G.z_dim)).float().to(dev), classes_for(G, 1, 0.0),
                              truncation_psi=args.psi)[0].cpu().numpy()
                ws = []
                for a in amounts:
                    x = w.copy()
                    x[slot.lo:slot.hi] = slot.direction.apply(x[slot.lo:slot.hi], float(a))
                    ws.append(x)
                cells.append(to_uint8(G.synthesis(torch.from_numpy(np.stack(ws)).float().to(dev))))
                labels.append(f"{ref} s{seed}")
    sheet = grid(np.concatenate(cells), len(cells), steps)
    sheet = label_rows(sheet, labels)
    sheet = label_columns(sheet, [""] + [f"{a:+.1f} sd" for a in amounts], first=label_rows.width)
    Path(args.sheet_out).parent.mkdir(parents=True, exist_ok=True)
    save_png(args.sheet_out, sheet)
    print(f"wrote {args.sheet_out} ({len(refs)} directions x {len(seeds)} seeds, {steps} steps {lo:+g}..{hi:+g} σ, "
          f"zone {args.zone})")
    return 0


def _direction_refs(spec: str) -> list[str]:
    """'pca:0-7,sefa:0,fire' -> ['pca:0', ..., 'pca:7', 'sefa:0', 'fire']."""
    out = []
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        kind, sep, rng = part.partition(":")
        if sep and kind in ("pca", "sefa") and "-" in rng:
            a, _, b = rng.partition("-")
            if not (a.isdigit() and b.isdigit() and int(a) <= int(b) < 64):
                raise ValueError(f"--directions: bad range {part!r}")
            out += [f"{kind}:{i}" for i in range(int(a), int(b) + 1)]
        else:
            out.append(part)
    if not out or len(out) > 32:
        raise ValueError("--directions: 1..32 directions, e.g. pca:0-7 or pca:0,sefa:2,fire")
    return out


def register(sub) -> None:
    dr = sub.add_parser("directions", help="semantic directions: fit from likes/tags/labels, or a sheet of what they do")
    dsub = dr.add_subparsers(dest="action", required=True)
    df = dsub.add_parser("fit", help="fit a direction from labelled latents into presets/directions/NAME.npz")
    network_options(df)
    df.add_argument("--store", "--out", dest="out", default="recordings",
                    help="the store with the labelled images (--out: its old name; default: %(default)s)")
    df.add_argument("--positive", required=True, help="liked, tag:T, or labels.csv[:column] (image or seed rows, 1/0)")
    df.add_argument("--negative", default=None,
                    help="the other class, same forms (default: the unlabelled rest of the same spec, else the "
                         "global mean)")
    df.add_argument("--method", default="svm", choices=["mean", "svm", "gaussian"], help="(default: %(default)s)")
    df.add_argument("--name", required=True, help="the direction's name (letters, digits, - and _)")
    df.add_argument("--space", default="w", choices=["w", "z"], help="latent space to fit in (default: %(default)s)")
    df.add_argument("--dest", default=None, help="folder to write into (default: presets/directions)")
    df.set_defaults(func=cmd_directions_fit)
    ds = dsub.add_parser("sheet", help="one row per direction, columns from -R to +R σ, labelled")
    network_options(ds)
    ds.add_argument("--directions", default="pca:0-7", help="NAME, pca:K, sefa:K, ranges pca:0-7 (default: %(default)s)")
    ds.add_argument("--seeds", default="0", help="seeds, e.g. 0-3 (at most 16; default: %(default)s)")
    ds.add_argument("--range", default="-3,3", help="LO,HI in σ (default: %(default)s)")
    ds.add_argument("--steps", type=number(2, 15, integer=True), default=7, help="columns, 2..15 (default: %(default)s)")
    ds.add_argument("--zone", default="all", help="coarse, middle, fine, all or A-B (default: %(default)s)")
    ds.add_argument("--psi", type=number(-1, 2), default=0.7, help="truncation of the seeds (default: %(default)s)")
    ds.add_argument("--dest", default=None, help="folder the fitted directions are read from, as `fit --dest` wrote "
                                                 "them (default: presets/directions)")
    ds.add_argument("--out", dest="sheet_out", default="recordings/directions.png", help="output PNG (default: %(default)s)")
    ds.set_defaults(func=cmd_directions_sheet)
