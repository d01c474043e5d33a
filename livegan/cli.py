"""`livegan` command line: perform, generate, morph, convert, info."""
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


def _size(spec: Optional[str]) -> Optional[tuple[int, int]]:
    if not spec:
        return None
    try:
        w, h = (int(v) for v in spec.lower().split("x"))
        if w < 16 or h < 16:
            raise ValueError
        return w, h
    except ValueError:
        raise ValueError(f"bad --size {spec!r}: expected WxH such as 1920x1080") from None


def cmd_perform(args) -> int:
    """The live show: a window (or headless EGL) playing a preset."""
    from .app import App
    from .show import Options, Show
    from .display import have_display, list_screens
    from .presets import load_preset

    if args.list_screens:
        screens = list_screens()
        if not screens:
            print("no display: no screens (use --headless to render without one)")
        for i, s in enumerate(screens):
            print(f"{i}: {s}")
        return 0
    if not args.headless and not have_display():
        print("livegan perform: error: no display found (DISPLAY is not set). Run with --headless "
              "(e.g. --headless --duration 10) to render without a screen.", file=sys.stderr)
        return 2
    opts = Options(network=args.network, preset=args.preset, fps=args.fps, batch=args.batch, dtype=args.dtype,
                   device=args.device, canvas=args.canvas, fit=args.fit, dev=args.dev, hud=not args.no_hud,
                   cuda_graphs=args.cuda_graphs)
    if opts.fps <= 0 or opts.batch < 1:
        raise ValueError("--fps must be positive and --batch at least 1")
    if args.midi_list:
        import mido
        names = mido.Backend(f"mido.backends.{args.midi_backend}").get_input_names()
        print("\n".join(names) if names else "no MIDI input ports")
        return 0
    preset = load_preset(args.preset)
    size = _size(args.size)
    show = Show(opts, preset)
    from .control.surfaces import ControlOptions, Controls
    copts = ControlOptions(osc=not args.no_osc, osc_host=args.osc_host, osc_port=args.osc_port,
                           osc_allow=args.osc_allow or [], osc_out=args.osc_out, oscquery=not args.no_oscquery,
                           oscquery_port=args.oscquery_port, midi=args.midi or [], midi_map=args.midi_map,
                           midi_backend=args.midi_backend)
    controls = Controls(show, copts).start()
    app = App(show, Path(args.out), hud=opts.hud, controls=controls, codec=args.codec, crf=args.crf)
    if args.record:
        app.record(True)
    try:
        return _run(app, args, show, opts, size)
    finally:
        controls.stop()


def _run(app, args, show, opts, size) -> int:
    if not args.headless:
        app.run_window(size, args.fullscreen, args.screen, args.exit_after,
                       Path(args.screenshot) if args.screenshot else None)
        return 0
    frames = args.frames or int(round((args.duration or 10.0) * opts.fps))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    video = out / args.video if args.video else None
    res = app.run_headless(frames, size, realtime=not args.offline, video=video)
    if res["last"] is not None:
        from .imaging import save_png
        save_png(out / "perform.png", res["last"])
    mode = "offline, every frame" if args.offline else "real time"
    print(f"rendered {frames} frames in {res['wall_s']:.1f} s ({res['display_fps']:.1f} display fps, {mode}); "
          f"{res['shown']} generator frames shown, {res['repeated']} repeats, {res['dropped']} dropped; "
          f"generator {show.engine.stats.median_ms():.1f} ms/frame")
    if video:
        print(f"wrote {video} ({res['video_frames']} frames) and {out / 'perform.png'}")
    for e in res["errors"]:
        print(f"  error during the show: {e}")
    return 0


def add_perform_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--network", "-n", default=None,
                   help="network: .pkl, .safetensors, URL or builtin:NAME (default: the preset's, else builtin:tiny)")
    p.add_argument("--preset", "-p", default="default", help="preset name in presets/ or a .json path (default: %(default)s)")
    p.add_argument("--fullscreen", action="store_true", help="full-screen window")
    p.add_argument("--screen", type=int, default=0, help="screen index for the window, see --list-screens (default: %(default)s)")
    p.add_argument("--list-screens", action="store_true", help="list screens and exit")
    p.add_argument("--size", default=None, help="window or output size WxH (default: 1280x720 window; the frame size headless)")
    p.add_argument("--fit", default="fit", choices=["fit", "fill", "stretch"], help="aspect handling (default: %(default)s)")
    p.add_argument("--fps", type=float, default=30.0, help="display frame rate (default: %(default)s)")
    p.add_argument("--batch", type=int, default=1, help="generator batch size for look-ahead (default: %(default)s; 4-8 on a GPU)")
    p.add_argument("--device", default="auto", help="torch device: auto, cpu, cuda (default: %(default)s)")
    p.add_argument("--dtype", default="auto", choices=["auto", "fp32", "fp16", "bf16"],
                   help="synthesis precision: auto = fp16 where the checkpoint says, CUDA only (default: %(default)s)")
    p.add_argument("--cuda-graphs", action="store_true", help="replay captured CUDA graphs for fixed batch shapes (CUDA only)")
    p.add_argument("--canvas", default=None, help="wide canvas for StyleGAN3, e.g. 16:9 (default: the network's square)")
    p.add_argument("--headless", action="store_true", help="render without a display (EGL), for servers and tests")
    p.add_argument("--frames", type=int, default=None, help="headless: number of display frames")
    p.add_argument("--duration", type=float, default=None, help="headless: seconds to run (default: 10)")
    p.add_argument("--offline", action="store_true", help="headless: wait for every frame instead of keeping real time")
    p.add_argument("--video", default="perform.mp4", help="headless: video file name in --out, '' for none (default: %(default)s)")
    p.add_argument("--out", default="recordings", help="output folder for videos and snapshots (default: %(default)s)")
    p.add_argument("--exit-after", type=float, default=None, help="window: close after this many seconds (installations, checks)")
    p.add_argument("--screenshot", default=None, help="window: save the last frame shown to this PNG when closing with --exit-after")
    p.add_argument("--osc-port", type=int, default=9000, help="OSC UDP port to listen on (default: %(default)s)")
    p.add_argument("--osc-host", default="0.0.0.0", help="address to listen on; 127.0.0.1 for this machine only (default: %(default)s)")
    p.add_argument("--osc-allow", action="append", metavar="ADDR", help="accept OSC only from this sender address (repeatable)")
    p.add_argument("--osc-out", default=None, metavar="HOST:PORT", help="send parameter changes and status here (e.g. TouchDesigner)")
    p.add_argument("--no-osc", action="store_true", help="do not listen for OSC")
    p.add_argument("--oscquery-port", type=int, default=9001, help="OSCQuery HTTP port (default: %(default)s)")
    p.add_argument("--no-oscquery", action="store_true", help="no OSCQuery HTTP server and no mDNS advertising")
    p.add_argument("--midi", action="append", metavar="NAME", help="MIDI input port by name substring (repeatable)")
    p.add_argument("--midi-map", default="nanokontrol2", help="controller map in presets/midi/ or a .json path (default: %(default)s)")
    p.add_argument("--midi-list", action="store_true", help="list MIDI input ports and exit")
    p.add_argument("--midi-backend", default="rtmidi", help="mido backend, e.g. rtmidi or rtmidi/UNIX_JACK (default: %(default)s)")
    p.add_argument("--record", action="store_true", help="start recording the session at once (r toggles)")
    p.add_argument("--codec", default="h264", choices=["h264", "prores", "ffv1"],
                   help="recording codec: h264 .mp4, ProRes 422 HQ .mov, lossless FFV1 .mkv (default: %(default)s)")
    p.add_argument("--crf", type=int, default=18, help="H.264 quality, lower is better (default: %(default)s)")
    p.add_argument("--dev", action="store_true", help="reload shaders when their files change")
    p.add_argument("--no-hud", action="store_true", help="start with the HUD hidden (h toggles it)")


def cmd_render(args) -> int:
    """Replay a recorded session's control log and render every frame again."""
    from .recorder import find_log, render_log

    log = find_log(args.ref, Path(args.outdir))
    out = Path(args.out) if args.out else log.parent / f"render-{time.strftime('%Y%m%d-%H%M%S')}.{ {'prores': 'mov', 'ffv1': 'mkv'}.get(args.codec, 'mp4')}"
    res = render_log(log, out, fps=args.fps, size=_size(args.size), codec=args.codec, device=args.device,
                     network=args.network, progress=not args.quiet)
    note = "" if res["complete"] else " (the recording ended without its end line: rendered what was logged)"
    print(f"wrote {out} ({res['written']} frames, {res['size'][0]}x{res['size'][1]}){note}")
    for e in res["errors"]:
        print(f"  note: {e}")
    return 0


def cmd_walk(args) -> int:
    from .store import Store
    from .walks import RandomWalk

    G, dev = _load(args)
    store = Store(args.outdir)
    walk = RandomWalk(G.z_dim, keyframes=args.keyframes, steps=args.steps, extent=args.extent,
                      sobol=args.sobol, seed=args.seed, psi=args.psi, name=f"random walk seed {args.seed}")
    wid = walk.save(store, G, args.network, every=args.every)
    print(f"wrote walk {wid}: {len(store.images(wid))} frames into {store.walk_dir(wid)} ({store.path})")
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

    r = sub.add_parser("render", help="replay a recorded session (walk id or control log) to video")
    r.add_argument("ref", help="walk id in --outdir's store, a walk folder, or a control.jsonl")
    r.add_argument("--outdir", default="recordings", help="the store's folder (default: %(default)s)")
    r.add_argument("--out", default=None, help="output video (default: render-TIME.mp4 in the walk folder)")
    r.add_argument("--size", default=None, help="output size WxH (default: the network's frame size)")
    r.add_argument("--fps", type=float, default=None, help="must equal the recording's rate (the timeline is frame-locked)")
    r.add_argument("--codec", default="h264", choices=["h264", "prores", "ffv1"], help="(default: %(default)s)")
    r.add_argument("--network", default=None, help="render with another network file (default: the recorded one)")
    r.add_argument("--device", default="auto", help="torch device (default: %(default)s)")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.set_defaults(func=cmd_render)

    w = sub.add_parser("walk", help="walks into the store: `walk random`")
    w.add_argument("kind", choices=["random"], help="kind of walk")
    _network_args(w)
    w.add_argument("--steps", type=int, default=120, help="frames in the walk (default: %(default)s)")
    w.add_argument("--keyframes", type=int, default=4, help="random keyframes (default: %(default)s)")
    w.add_argument("--extent", type=float, default=1.5, help="latents bounded to [-extent, extent] (default: %(default)s)")
    w.add_argument("--sobol", type=float, default=0.0, help="share of keyframes from a Sobol sequence, 0..1 (default: %(default)s)")
    w.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    w.add_argument("--psi", type=float, default=1.0, help="truncation (default: %(default)s)")
    w.add_argument("--every", type=int, default=1, help="store every n-th frame (default: %(default)s)")
    w.add_argument("--outdir", default="recordings", help="the store's folder (default: %(default)s)")
    w.set_defaults(func=cmd_walk)

    p = sub.add_parser("perform", help="the live show (what perform.py runs)")
    add_perform_args(p)
    p.set_defaults(func=cmd_perform)
    return ap


def main(argv: Optional[Sequence[str]] = None) -> int:
    from .devices import keep_freed_memory

    args = build_parser().parse_args(argv)
    keep_freed_memory()
    try:
        return args.func(args)
    except (ValueError, OSError, RuntimeError) as e:   # CheckpointError is a ValueError
        print(f"livegan {args.cmd}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
