"""`livegan dataset`: folders, zips and videos into a training set in the official layout."""
from __future__ import annotations

from ..argtypes import number


def run(args) -> int:
    from ..training.dataset import make_dataset

    rep = make_dataset(args.sources, args.out, args.res, crop=args.crop, mirror=args.mirror,
                       video_fps=args.video_fps, min_size=args.min_size, progress=not args.quiet)
    labels = f", {rep.labels} labelled" if rep.labels else ""
    print(f"wrote {args.out}: {rep.line()}{labels}")
    return 0


def register(sub) -> None:
    dt = sub.add_parser("dataset", help="folders, zips and videos into a training set (the official layout)")
    dt.add_argument("sources", nargs="+", metavar="SRC", help="image folders, zips of images, videos")
    dt.add_argument("--out", required=True, help="the dataset: NAME.zip or a new folder (never written over)")
    dt.add_argument("--res", type=number(4, 4096, integer=True), required=True,
                    help="square resolution, a power of two (4..4096)")
    dt.add_argument("--crop", choices=["center", "stretch", "pad"], default="center",
                    help="how a non-square picture becomes square (default: %(default)s)")
    dt.add_argument("--mirror", action="store_true", help="also write each picture flipped left-right")
    dt.add_argument("--video-fps", type=number(0.01, 120), default=1.0,
                    help="frames taken per second of video (default: %(default)s)")
    dt.add_argument("--min-size", type=number(1, 4096, integer=True), default=16,
                    help="skip pictures smaller than this on their short side (default: %(default)s)")
    dt.add_argument("--quiet", action="store_true", help="no progress bar")
    dt.set_defaults(func=run)
