"""`livegan render`: a recorded session (or a walk) replayed to video, frame-locked."""
from __future__ import annotations

import time
from pathlib import Path

from ..argtypes import number, size as size_type
from ..defaults import DEFAULT_NETWORK

from ..codecs import RECORD_CODECS, suffix_for
from .options import load


def run(args) -> int:
    """Replay a recorded session's control log and render every frame again."""
    from ..record import RecordingError
    from ..offline.replay import find_log, render_log

    try:
        log = find_log(args.ref, Path(args.outdir))
    except RecordingError:
        if not args.ref.isdigit():
            raise
        return _render_walk(args)                     # a random or curated walk: its keyframes
    if args.out:
        out = video_path(args.out)
    else:                                # claimed with O_EXCL: two renders never share a name
        from ..safeio import claim_unique
        out = claim_unique(log.parent, f"render-{time.strftime('%Y%m%d-%H%M%S')}{suffix_for(args.codec)}")
    from ..offline.distributed import Ranks
    ranks = Ranks(args.gpus, args.device)
    with ranks as pool:
        if ranks.served:                              # a torchrun rank other than 0: it served frames
            return 0
        res = render_log(log, out, fps=args.fps, size=args.size, codec=args.codec, device=args.device,
                         network=args.network, progress=not args.quiet, as_shown=args.as_shown,
                         allow_remote_load=args.allow_remote_load, pool=pool)
    if pool is not None:
        print(f"frames rendered by rank: {', '.join(str(n) for n in pool.sent)}")
    note = "" if res["complete"] else " (the recording ended without its end line: rendered what was logged)"
    print(f"wrote {out} ({res['written']} frames, {res['size'][0]}x{res['size'][1]}){note}")
    for e in res["errors"]:
        print(f"  note: {e}")
    return 0


def _render_walk(args) -> int:
    """`render ID` of a walk that is not a recording (random, curated): its stored keyframes,
    interpolated as the walk was made, to video."""
    from ..media import write_video
    from ..store import DB_NAME, Store
    from ..offline.walks import walk_from_store

    if not (Path(args.outdir) / DB_NAME).exists():
        raise ValueError(f"walk {args.ref}: no store in {args.outdir}")
    store = Store(args.outdir)
    wid = int(args.ref)
    row = store.walk(wid)
    if row is None:
        raise ValueError(f"walk {wid}: not in the store {store.path}")
    walk = walk_from_store(store, wid)
    if args.as_shown:
        raise ValueError(f"walk {wid} is a {row['kind']} walk, not a recording: --as-shown needs a recording")
    if args.out:
        out = video_path(args.out)
    else:
        from ..safeio import claim_unique
        out = claim_unique(store.walk_dir(wid), f"render-{time.strftime('%Y%m%d-%H%M%S')}{suffix_for(args.codec)}")
    args.network = args.network or row["network"] or DEFAULT_NETWORK
    G, _ = load(args)
    frames = walk.frames(G)
    if args.size:
        from ..imaging import resize
        frames = (resize(f, args.size) for f in frames)
    n = write_video(out, frames, args.fps or 30.0, codec=args.codec)
    print(f"wrote {out} ({n} frames of {row['kind']} walk {wid})")
    return 0


def video_path(out: str) -> Path:
    """An output video's path: its extension must be one the writer makes."""
    p = Path(out)
    if p.suffix.lower() not in VIDEO_EXTS:
        raise ValueError(f"{out}: a video needs one of {', '.join(VIDEO_EXTS)} (the extension picks the container)")
    return p


VIDEO_EXTS = (".mp4", ".mov", ".mkv", ".webm", ".gif")


def register(sub) -> None:
    r = sub.add_parser("render", help="replay a recorded session (walk id or control log) to video")
    r.add_argument("ref", help="walk id in the --store, a walk folder, or a control.jsonl")
    r.add_argument("--store", "--outdir", dest="outdir", default="recordings",
                   help="the store's folder (--outdir: its old name; default: %(default)s)")
    r.add_argument("--out", default=None, help="output video (default: render-TIME.mp4 in the walk folder)")
    r.add_argument("--size", type=size_type(), default=None, help="output size WxH (default: the network's frame size)")
    r.add_argument("--fps", type=number(1, 1000), default=None, help="must equal the recording's rate (the timeline is frame-locked)")
    r.add_argument("--codec", default="h264", choices=RECORD_CODECS, help="(default: %(default)s)")
    r.add_argument("--network", default=None, help="render with another network file (default: the recorded one)")
    r.add_argument("--device", default="auto", help="torch device (default: %(default)s)")
    r.add_argument("--as-shown", action="store_true",
                   help="reproduce the recording frame for frame: each frame shows the picture the live show "
                        "showed, repeats and late frames included (default: every tick its own fresh picture)")
    r.add_argument("--allow-remote-load", action="store_true",
                   help="let the log's networks be URLs or published names that download (off: a log from "
                        "elsewhere could make the render connect anywhere)")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.add_argument("--gpus", type=number(1, 64, integer=True), default=1,
                   help="processes sharing the generator frames (one per GPU; on the CPU, gloo processes sharing "
                        "the cores); across machines start each with torchrun (default: %(default)s)")
    r.set_defaults(func=run)
