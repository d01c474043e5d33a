"""`livegan walk random`: a random walk rendered into the store."""
from __future__ import annotations

from ..argtypes import number
from .options import load, network_options


def run(args) -> int:
    from ..store import Store
    from ..offline.walks import RandomWalk

    G, dev = load(args)
    store = Store(args.outdir)
    walk = RandomWalk(G.z_dim, keyframes=args.keyframes, steps=args.steps, extent=args.extent,
                      sobol=args.sobol, seed=args.seed, psi=args.psi, name=f"random walk seed {args.seed}")
    walk.cls = args.cls
    wid = walk.save(store, G, args.network, every=args.every)
    print(f"wrote walk {wid}: {len(store.images(wid))} frames into {store.walk_dir(wid)} ({store.path})")
    return 0


def register(sub) -> None:
    w = sub.add_parser("walk", help="walks into the store: `walk random`")
    w.add_argument("kind", choices=["random"], help="kind of walk")
    network_options(w)
    w.add_argument("--steps", type=number(1, 1_000_000, integer=True), default=120,
                   help="frames in the walk, at least 1 (default: %(default)s)")
    w.add_argument("--keyframes", type=number(2, 10_000, integer=True), default=4,
                   help="random keyframes, at least 2 (default: %(default)s)")
    w.add_argument("--extent", type=number(1e-6, 100), default=1.5,
                   help="latents bounded to [-extent, extent], more than 0 (default: %(default)s)")
    w.add_argument("--sobol", type=number(0, 1), default=0.0, help="share of keyframes from a Sobol sequence, 0..1 (default: %(default)s)")
    w.add_argument("--seed", type=number(0, 2 ** 32 - 1, integer=True), default=0, help="random seed (default: %(default)s)")
    w.add_argument("--psi", type=number(-10, 10), default=1.0, help="truncation (default: %(default)s)")
    w.add_argument("--class", dest="cls", type=number(0, 1023), default=0.0,
                   help="a conditional network's class, 0..1023 (a fraction blends two; default: %(default)s)")
    w.add_argument("--every", type=number(1, 1_000_000, integer=True), default=1,
                   help="store every n-th frame, at least 1 (default: %(default)s)")
    w.add_argument("--store", "--outdir", dest="outdir", default="recordings",
                   help="the store's folder (--outdir: its old name; default: %(default)s)")
    w.set_defaults(func=run)
