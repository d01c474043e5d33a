"""`livegan` command line: perform, generate, morph, convert, info."""
from __future__ import annotations

import argparse
import math
import re
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

from .argtypes import host_port, ndi_name, number, port, ratio, size as size_type, stream_url
from .console import say

DEFAULT_NETWORK = "builtin:tiny"


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors ('prog: error: what (see prog --help)', not a usage block) and
    negative number lists as values ('--range -3,3', not an unknown option)."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        # argparse takes only a lone negative number for a value; a list like -3,3 is one too.
        self._negative_number_matcher = re.compile(r"^-(\d|\.\d)[\d.,:eE+-]*$")

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _network_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--network", "-n", default=DEFAULT_NETWORK,
                   help="network: .pkl, .safetensors, http(s) URL, builtin:NAME or a published name such as "
                        "stylegan3-r-afhqv2-512 (`livegan networks` lists them; default: %(default)s)")
    p.add_argument("--device", default="auto", help="torch device: auto, cpu, cuda, cuda:1 (default: %(default)s)")
    p.add_argument("--dtype", default="auto", choices=["auto", "fp32", "fp16", "bf16"],
                   help="synthesis precision: auto = fp16 where the checkpoint says, CUDA only (default: %(default)s)")


def _load(args):
    from stylegan3 import load_network

    from .devices import resolve_device

    dev = resolve_device(args.device)
    return load_network(args.network, device=dev, precision=getattr(args, "dtype", "auto")), dev


def cmd_generate(args) -> int:
    from .explore import seed_grid, truncation_sheet
    from .imaging import parse_grid, save_png
    from .latents import parse_floats, parse_seeds

    seeds, psis = parse_seeds(args.seeds), parse_floats(args.psi, "psi")
    G, dev = _load(args)
    from .explore import condition_for
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


def cmd_morph(args) -> int:
    from .explore import morph_frames
    from .latents import parse_seeds
    from .media import write_video

    seeds = parse_seeds(args.seeds)
    if len(seeds) < 2:
        raise ValueError("--seeds needs at least two seeds to morph between, e.g. 3,7")
    out = _video_path(args.out)
    G, dev = _load(args)
    from .explore import condition_for
    cond = condition_for(G, args.input)
    out.parent.mkdir(parents=True, exist_ok=True)
    n = write_video(args.out, morph_frames(G, seeds, args.frames, space=args.space, psi=args.psi,
                                           class_idx=args.class_idx, loop=args.loop, device=dev, cond=cond),
                    fps=args.fps)
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
    from stylegan3 import describe_config
    print(f"{args.network}: {describe_config(G)}, {G.img_resolution}x{G.img_resolution}x{G.img_channels}, "
          f"z_dim {G.z_dim}, c_dim {G.c_dim}, w_dim {G.w_dim}, num_ws {G.num_ws}, {n:,} parameters")
    return 0


def cmd_perform(args) -> int:
    """The live show: a window (or headless EGL) playing a preset."""
    from .app import App
    from .show import Options, Show
    from .display import have_display, list_screens
    from .presets import load_preset

    if args.midi_list:                                   # needs no display and no network
        from .control.midi import open_backend
        names = open_backend(args.midi_backend).get_input_names()
        print("\n".join(names) if names else "no MIDI input ports")
        return 0
    if args.audio_list:
        from .audio.input import list_inputs
        names = list_inputs()
        print("\n".join(names) if names else "no audio input devices")
        return 0
    if args.list_screens:
        screens = list_screens()
        if not screens:
            print("no display: no screens (use --headless to render without one)")
        for i, s in enumerate(screens):
            print(f"{i}: {s}")
        return 0
    _check_mode_options(args)
    run = None
    if args.network and args.network.startswith("run:"):   # a training run: its newest snapshot, then each new one
        from .training.watch import resolve_run
        run = resolve_run(args.network)
        args.network = str(run[1])
        say(f"livegan: playing {run[1]} and each newer snapshot of {run[0]} as the run writes it")
    if not args.headless and not have_display():
        print("livegan perform: error: no display found (DISPLAY is not set). Run with --headless "
              "(e.g. --headless --duration 10) to render without a screen.", file=sys.stderr)
        return 2
    if args.fps is None:                # the timeline is frame-locked: the rate is fixed before the show
        from .display import refresh_rate
        args.fps = 30.0 if args.headless else (refresh_rate(args.screen) or 60.0)
        if not args.headless:
            say(f"livegan: display rate {args.fps:g} fps (the screen's refresh rate; --fps to choose)")
    opts = Options(network=args.network, preset=args.preset, fps=args.fps, batch=args.batch, dtype=args.dtype,
                   device=args.device, canvas=args.canvas, fit=args.fit, dev=args.dev, hud=not args.no_hud,
                   cuda_graphs=args.cuda_graphs, load_roots=tuple(args.load_dir or ()), directions=True,
                   allow_remote_load=args.allow_remote_load, inputs=tuple(args.input or ()),
                   save_dir=Path(args.preset_dir) if args.preset_dir else None)
    from . import threads
    plan = threads.plan(args.threads or None)
    threads.apply(plan)
    say(f"livegan: {plan.describe()}")
    preset = load_preset(args.preset)
    print(f"livegan: preset {preset.name}: {len(preset.keyframes)} keyframe{'s' if len(preset.keyframes) != 1 else ''}"
          f" ({preset.path})", flush=True)
    size = args.size
    for d in opts.load_roots:
        if not Path(d).is_dir():
            raise ValueError(f"--load-dir {d}: not a folder")
    if args.record or (args.headless and args.video):
        _check_writable(Path(args.out))
    show = Show(opts, preset)
    from .devices import precision_notes
    for note in precision_notes(show.device, opts.dtype, opts.cuda_graphs, show.engine.canvas is not None):
        say(f"livegan: {note}")
    from .control.surfaces import ControlOptions, Controls
    copts = ControlOptions(osc=not args.no_osc, osc_host=args.osc_host, osc_port=args.osc_port,
                           osc_allow=args.osc_allow or [], osc_out=args.osc_out, oscquery=not args.no_oscquery,
                           oscquery_port=args.oscquery_port, midi=args.midi or [], midi_map=args.midi_map,
                           midi_backend=args.midi_backend, control=not args.no_control,
                           control_allow=args.control_allow or [])
    _start_audio(show, args)
    controls = Controls(show, copts).start()
    from .outputs import from_options
    outputs = from_options(opts.fps, stream=args.stream, ndi=args.ndi, v4l2=args.v4l2,
                           log=lambda line: print(line, flush=True))
    app = App(show, Path(args.out), hud=opts.hud, controls=controls, codec=args.codec, crf=args.crf,
              program_size=args.record_size, outputs=outputs)
    if args.record:
        app.record(True)
    watcher = None
    if run is not None:
        from .training.watch import RunWatcher
        watcher = RunWatcher(run[0], run[1], show.post).start()
    try:
        return _run_show(app, args, show, opts, size)
    finally:
        if watcher is not None:
            watcher.stop()
        controls.stop()


WINDOW_ONLY = ("fullscreen", "output_screen", "exit_after", "screenshot")
HEADLESS_ONLY = ("frames", "duration", "offline")


def _check_mode_options(args) -> None:
    """An option that does nothing in the chosen mode is an error, not silently ignored."""
    defaults = {"fullscreen": False, "offline": False}
    mine, other, mode = (WINDOW_ONLY, HEADLESS_ONLY, "--headless") if args.headless else (HEADLESS_ONLY, WINDOW_ONLY, "a window")
    bad = [n for n in mine if getattr(args, n) not in (None, defaults.get(n))]
    if bad:
        names = ", ".join("--" + n.replace("_", "-") for n in bad)
        why = "a window (drop --headless)" if args.headless else "--headless"
        raise ValueError(f"{names}: only with {why}; with {mode} it would be ignored")


def _start_audio(show, args) -> None:
    """Audio input and Ableton Link, if asked for; one that cannot start is one line and the show
    goes on without it."""
    from .audio.analysis import AnalysisSettings

    settings = AnalysisSettings(block=args.audio_block, bass_hz=args.bass_hz, high_hz=args.high_hz,
                                sensitivity=args.onset_sensitivity)
    try:
        if args.audio_file:
            from .audio.input import FileInput
            show.mod.audio = FileInput(args.audio_file, settings, play=args.audio_play).start()
        elif args.audio is not None:
            from .audio.input import LiveInput
            show.mod.audio = LiveInput(args.audio, settings).start()
        if show.mod.audio is not None:
            show.mod.follow_bpm = args.audio_bpm
            say(f"livegan: audio: {show.mod.audio.describe()}, {settings.block}-sample blocks at 48 kHz")
    except (ValueError, OSError) as e:
        say(f"livegan: audio off: {' '.join(str(e).split())}")
    if args.link:
        try:
            from .modulation.link import LinkClock
            show.mod.link = LinkClock(show.registry.target["bpm"])
            print("livegan: Ableton Link on (tempo follows the session)", flush=True)
        except (ValueError, OSError, ImportError) as e:
            say(f"livegan: Link off: {' '.join(str(e).split())}")


def _check_writable(out: Path) -> None:
    """Say at start, in one line, that the output folder cannot take files (not mid-show)."""
    import os
    import tempfile

    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=out, prefix=".write-test-")
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        raise OSError(f"--out {out}: cannot write there ({e.strerror or e})") from None


def _run_show(app, args, show, opts, size) -> int:
    if not args.headless:
        app.run_window(size, args.fullscreen, args.screen, args.exit_after,
                       Path(args.screenshot) if args.screenshot else None, output_screen=args.output_screen)
        return 0
    frames = args.frames or max(1, int(round((10.0 if args.duration is None else args.duration) * opts.fps)))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from .safeio import claim_unique
    # Claimed with O_EXCL: two shows on one --out never write the same file.
    video = claim_unique(out, args.video) if args.video else None
    res = app.run_headless(frames, size, realtime=not args.offline, video=video)
    failed = [res["video_error"]] if res.get("video_error") else []
    if res["last"] is not None:
        from .imaging import save_png
        from .safeio import release_claim
        png = video.with_suffix(".png") if video else claim_unique(out, "perform.png")
        try:
            save_png(png, res["last"])
        except OSError as e:
            failed.append(f"{png.name}: {e.strerror or e}")
        finally:
            release_claim(png)
    mode = "offline, every frame" if args.offline else "real time"
    if res["interrupted"]:
        mode += ", stopped by Ctrl-C"
    print(app.summary(res["frames"], res["wall_s"], mode))
    if video and not video.exists():
        print(f"no video: no frame was written ({video.name} not created)")
    elif video:
        if res.get("video_error"):
            print(f"wrote {video}, cut short by a write error: it plays up to its last complete second")
        else:
            print(f"wrote {video} ({res['video_frames']} frames)")
    for e in res["errors"]:
        print(f"  error during the show: {e}")
    for f in failed:
        print(f"livegan perform: output incomplete: {f}", file=sys.stderr)
    return 130 if res["interrupted"] else 1 if failed else 0


def add_perform_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--network", "-n", default=None,
                   help="network: .pkl, .safetensors, URL, builtin:NAME, a published name such as "
                        "stylegan3-r-afhqv2-512 (`livegan networks`), or run:NAME: a training run's newest snapshot, "
                        "then each new one as it is written (default: the preset's, else builtin:tiny)")
    p.add_argument("--preset", "-p", default="default", help="preset name in presets/ or a .json path (default: %(default)s)")
    p.add_argument("--fullscreen", action="store_true", help="full-screen window")
    p.add_argument("--screen", type=number(0, 63, integer=True), default=0, help="screen index for the window, see --list-screens (default: %(default)s)")
    p.add_argument("--list-screens", action="store_true", help="list screens and exit")
    p.add_argument("--size", type=size_type(), default=None,
                   help="window or output size WxH, 16..8192 a side (default: 1280x720 window; the frame size headless)")
    p.add_argument("--fit", default="fit", choices=["fit", "fill", "stretch"], help="aspect handling (default: %(default)s)")
    p.add_argument("--fps", type=number(1, 1000), default=None,
                   help="display frame rate, 1..1000 (default: the screen's refresh rate in a window, with vsync; "
                        "30 headless)")
    p.add_argument("--batch", type=number(1, 64, integer=True), default=1,
                   help="generator batch size for look-ahead, 1..64 (default: %(default)s; 4-8 on a GPU)")
    p.add_argument("--device", default="auto", help="torch device: auto, cpu, cuda (default: %(default)s)")
    p.add_argument("--dtype", default="auto", choices=["auto", "fp32", "fp16", "bf16"],
                   help="synthesis precision: auto = the checkpoint's fp16 layers in fp16 on CUDA, all fp32 on the "
                        "CPU; fp16/bf16 = every synthesis layer in that type on any device (bf16 is the CPU's fast "
                        "one); fp32 (default: %(default)s)")
    p.add_argument("--cuda-graphs", action="store_true",
                   help="replay captured CUDA graphs for fixed batch shapes (CUDA only: on the CPU it is off, and "
                        "the start line says so)")
    p.add_argument("--canvas", type=ratio, default=None,
                   help="wide canvas for StyleGAN3, e.g. 16:9, between 1:8 and 8:1 (default: the network's square)")
    p.add_argument("--input", action="append", metavar="SOURCE",
                   help="StyleGAN-Canvas condition: v4l2:/dev/videoN (camera), a video file (looped), an image, a "
                        "folder of images (one per keyframe), ndi:NAME, feedback (the show's own output) or pattern; "
                        "repeatable, 'i' and /livegan/input switch live (default: pattern)")
    p.add_argument("--audio", default=None, metavar="NAME",
                   help="analyse this audio input (PortAudio device name substring; 'default'); see --audio-list")
    p.add_argument("--audio-list", action="store_true", help="list audio input devices and exit")
    p.add_argument("--audio-file", default=None, metavar="FILE",
                   help="analyse a sound file played along, looped (rehearsal; instead of --audio)")
    p.add_argument("--audio-play", action="store_true", help="with --audio-file: also play it to the default output")
    p.add_argument("--audio-block", type=int, choices=[64, 128, 256, 512], default=256,
                   help="analysis block in samples at 48 kHz (default: %(default)s, about 5 ms)")
    p.add_argument("--bass-hz", type=number(20, 2000), default=150.0, help="bass band: below this (default: %(default)s Hz)")
    p.add_argument("--high-hz", type=number(200, 20000), default=2500.0,
                   help="high band: above this; mid is between (default: %(default)s Hz)")
    p.add_argument("--onset-sensitivity", type=number(0, 1), default=0.5,
                   help="onset detection 0..1: 0 only big attacks, 1 every small one (default: %(default)s)")
    p.add_argument("--audio-bpm", action="store_true", help="the beat tracker sets the show's tempo")
    p.add_argument("--link", action="store_true", help="join an Ableton Link session: tempo follows it, taps lead it")
    p.add_argument("--headless", action="store_true", help="render without a display (EGL), for servers and tests")
    p.add_argument("--frames", type=number(1, 10_000_000, integer=True), default=None,
                   help="headless: number of display frames, at least 1")
    p.add_argument("--duration", type=number(0.001, 7 * 86400), default=None,
                   help="headless: seconds to run, more than 0 (default: 10)")
    p.add_argument("--offline", action="store_true", help="headless: wait for every frame instead of keeping real time")
    p.add_argument("--video", default="perform.mp4", help="headless: video file name in --out, '' for none (default: %(default)s)")
    p.add_argument("--out", default="recordings", help="output folder for videos and snapshots (default: %(default)s)")
    p.add_argument("--exit-after", type=number(0, 7 * 86400), default=None, help="window: close after this many seconds (installations, checks)")
    p.add_argument("--screenshot", default=None, help="window: save the last frame to this PNG when closing with --exit-after (with --output-screen also NAME-output.png and NAME-program.png)")
    p.add_argument("--osc-port", type=port, default=9000, help="OSC UDP port to listen on, 1..65535 (default: %(default)s)")
    p.add_argument("--osc-host", default="auto",
                   help="address OSC and OSCQuery listen on; auto = 127.0.0.1, or all interfaces when "
                        "--osc-allow admits other hosts (default: %(default)s)")
    p.add_argument("--osc-allow", action="append", metavar="HOST|CIDR|any",
                   help="also accept OSC/OSCQuery from this host or range, or from anyone with 'any' "
                        "(repeatable; default: this machine only)")
    p.add_argument("--osc-out", type=host_port, default=None, metavar="HOST:PORT",
                   help="send parameter changes and status here (e.g. TouchDesigner)")
    p.add_argument("--load-dir", action="append", metavar="DIR",
                   help="a folder OSC may load presets and networks from (repeatable; default: presets/ only)")
    p.add_argument("--allow-remote-load", action="store_true",
                   help="let OSC load any path or URL (off: a stranger could make the show download anything)")
    p.add_argument("--no-osc", action="store_true", help="do not listen for OSC")
    p.add_argument("--oscquery-port", type=port, default=9001, help="OSCQuery HTTP port (default: %(default)s)")
    p.add_argument("--no-oscquery", action="store_true", help="no OSCQuery HTTP server and no mDNS advertising "
                                                              "(and so no control page)")
    p.add_argument("--control-allow", action="append", metavar="HOST|CIDR|any",
                   help="let this host or range open the control page (/control on the OSCQuery port) with the "
                        "token printed at start (repeatable; default: this machine only, no token)")
    p.add_argument("--no-control", action="store_true", help="no control page at /control")
    p.add_argument("--preset-dir", default=None, metavar="DIR",
                   help="folder 'save as preset' (control page, /livegan/save_preset) writes into (default: presets/)")
    p.add_argument("--midi", action="append", metavar="NAME", help="MIDI input port by name substring (repeatable)")
    p.add_argument("--midi-map", default="nanokontrol2", help="controller map in presets/midi/ or a .json path (default: %(default)s)")
    p.add_argument("--midi-list", action="store_true", help="list MIDI input ports and exit")
    p.add_argument("--midi-backend", default="rtmidi", help="mido backend, e.g. rtmidi or rtmidi/UNIX_JACK (default: %(default)s)")
    p.add_argument("--record", action="store_true", help="start recording the session at once (r toggles)")
    p.add_argument("--codec", default="h264", choices=["h264", "prores", "ffv1"],
                   help="recording codec: h264 .mp4, ProRes 422 HQ .mov, lossless FFV1 .mkv (default: %(default)s)")
    p.add_argument("--stream", type=stream_url, default=None, metavar="URL",
                   help="send the program as a low-latency H.264 stream: udp://HOST:PORT (MPEG-TS), tcp://, srt://, "
                        "rtmp:// (default: none)")
    p.add_argument("--ndi", type=ndi_name, default=None, metavar="NAME",
                   help="send the program as an NDI source of this name (receivers list it as 'HOST (NAME)'; "
                        "default: none)")
    p.add_argument("--v4l2", default=None, metavar="/dev/videoN",
                   help="send the program to a v4l2loopback virtual camera (Linux; default: none)")
    p.add_argument("--output-screen", type=number(0, 63, integer=True), default=None, metavar="N",
                   help="show the clean program full-screen on screen N (the projector) while this window keeps "
                        "the HUD and a preview; N = the window's own screen opens it as a second window "
                        "(default: none)")
    p.add_argument("--record-size", type=size_type(max_pixels=4096 * 4096), default=None,
                   help="size of the program (recordings, snapshots, headless video) WxH; another aspect is "
                        "cropped, never letterboxed (default: the canvas's own size)")
    p.add_argument("--crf", type=number(0, 51, integer=True), default=18,
                   help="H.264 quality 0..51, lower is better (default: %(default)s)")
    p.add_argument("--threads", type=number(0, 256, integer=True), default=0,
                   help="generator CPU threads; 0 = auto: LIVEGAN_THREADS, else the cores minus one, at least 1 (encoder and GL "
                        "take one each)")
    p.add_argument("--dev", action="store_true", help="reload shaders when their files change")
    p.add_argument("--no-hud", action="store_true", help="start with the HUD hidden (h toggles it)")


def cmd_render(args) -> int:
    """Replay a recorded session's control log and render every frame again."""
    from .recorder import RecordingError
    from .replay import find_log, render_log

    try:
        log = find_log(args.ref, Path(args.outdir))
    except RecordingError:
        if not args.ref.isdigit():
            raise
        return _render_walk(args)                     # a random or curated walk: its keyframes
    if args.out:
        out = _video_path(args.out)
    else:                                # claimed with O_EXCL: two renders never share a name
        from .safeio import claim_unique
        ext = {'prores': 'mov', 'ffv1': 'mkv'}.get(args.codec, 'mp4')
        out = claim_unique(log.parent, f"render-{time.strftime('%Y%m%d-%H%M%S')}.{ext}")
    res = render_log(log, out, fps=args.fps, size=args.size, codec=args.codec, device=args.device,
                     network=args.network, progress=not args.quiet, as_shown=args.as_shown,
                     allow_remote_load=args.allow_remote_load)
    note = "" if res["complete"] else " (the recording ended without its end line: rendered what was logged)"
    print(f"wrote {out} ({res['written']} frames, {res['size'][0]}x{res['size'][1]}){note}")
    for e in res["errors"]:
        print(f"  note: {e}")
    return 0


def _render_walk(args) -> int:
    """`render ID` of a walk that is not a recording (random, curated): its stored keyframes,
    interpolated as the walk was made, to video."""
    from .media import write_video
    from .store import DB_NAME, Store
    from .walks import walk_from_store

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
    ext = {'prores': 'mov', 'ffv1': 'mkv'}.get(args.codec, 'mp4')
    if args.out:
        out = _video_path(args.out)
    else:
        from .safeio import claim_unique
        out = claim_unique(store.walk_dir(wid), f"render-{time.strftime('%Y%m%d-%H%M%S')}.{ext}")
    args.network = args.network or row["network"] or DEFAULT_NETWORK
    G, _ = _load(args)
    frames = walk.frames(G)
    if args.size:
        from .imaging import resize
        frames = (resize(f, args.size) for f in frames)
    n = write_video(out, frames, args.fps or 30.0, codec=args.codec)
    print(f"wrote {out} ({n} frames of {row['kind']} walk {wid})")
    return 0


def _video_path(out: str) -> Path:
    """An output video's path: its extension must be one the writer makes."""
    p = Path(out)
    if p.suffix.lower() not in VIDEO_EXTS:
        raise ValueError(f"{out}: a video needs one of {', '.join(VIDEO_EXTS)} (the extension picks the container)")
    return p


VIDEO_EXTS = (".mp4", ".mov", ".mkv", ".webm", ".gif")


def cmd_directions_fit(args) -> int:
    """Fit a direction from labelled latents into presets/directions/NAME.npz (+ .json)."""
    from .directions.catalog import FOLDER
    from .directions.fit import fit
    from .directions.labels import Labels
    from .directions.model import DirectionError
    from .store import DB_NAME, Store, network_identity

    if not args.name or not all(c.isalnum() or c in "-_" for c in args.name) or len(args.name) > 64:
        raise ValueError("--name: 1..64 letters, digits, - or _")
    store = Store(args.out) if (Path(args.out) / DB_NAME).exists() else None
    needs_net = args.space == "z" or ".csv" in args.positive or ".csv" in (args.negative or "")
    G = _load(args)[0] if needs_net else None
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

    from .directions.catalog import Catalog
    from .directions.slots import make_slot
    from .explore import label_columns, label_rows
    from .imaging import grid, save_png, to_uint8
    from .latents import parse_floats, parse_seeds, z_from_seed
    from .store import network_identity

    G, dev = _load(args)
    refs = _direction_refs(args.directions)
    seeds = parse_seeds(args.seeds, limit=16)
    lo, hi = parse_floats(args.range, "range", -5, 5, 2)
    steps = args.steps
    cat = Catalog(Path(args.dest), log=lambda m: print(m)) if args.dest else Catalog(log=lambda m: print(m))
    cat.load_folder(wait=True)
    kinds = {r.split(":")[0] for r in refs} & {"pca", "sefa"}
    if kinds:
        from .directions.unsupervised import cached, env_samples
        for kind in kinds:
            cat._net[kind] = cached(G, network_identity(args.network), kind, env_samples())
    amounts = np.linspace(lo, hi, steps)
    cells, labels = [], []
    with torch.inference_mode():
        for ref in refs:
            slot = make_slot(cat.resolve(ref), args.zone, G.num_ws, G.w_dim)
            for seed in seeds:
                w = G.mapping(torch.from_numpy(z_from_seed(seed, G.z_dim)).float().to(dev), None,
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


def cmd_gallery(args) -> int:
    from .gallery.app import run

    run(args.out, args.host, args.port, args.network, args.presets, args.show)
    return 0


def cmd_networks(args) -> int:
    """What --network can name: the built-ins, the networks in the download cache, and NVIDIA's
    published networks by short name (downloaded on first use, licence shown)."""
    from stylegan3 import builtin
    from stylegan3.catalog import CATALOG, LICENCE
    from stylegan3.checkpoints import cache_dir, cached_path

    print("built in (no download), lightest first:")
    for name in builtin.names():
        credit = builtin.credit(name)
        print(f"  builtin:{name:14s} {builtin.describe(name)}" + (f"\n      {credit}" if credit else ""))
    from .training.watch import RUNS, newest_network
    runs = sorted(d for d in RUNS.iterdir() if d.is_dir()) if RUNS.is_dir() else []
    print(f"training runs ({RUNS}; play one with --network run:NAME, its newest snapshot and each new one):"
          + ("" if runs else " none"))
    for d in runs:
        net = newest_network(d)
        snaps = len(list(d.glob("network-*.safetensors")))
        print(f"  run:{d.name:24s} " + (f"{snaps} snapshot{'s' if snaps != 1 else ''}, newest {net.name}" if net
                                          else "no snapshot yet"))
    cache = cache_dir()
    files = sorted(p for p in cache.glob("*") if p.is_file() and not p.name.startswith(".")) if cache.is_dir() else []
    print(f"in the cache ({cache}):" + ("" if files else " none"))
    for p in files:
        print(f"  {p}  ({p.stat().st_size / (1 << 20):.0f} MB)")
    print(f"published by NVIDIA (downloaded once into the cache; {LICENCE}):")
    for p in CATALOG.values():
        have = "cached" if cached_path(p.url).exists() else f"about {p.approx_mb} MB"
        print(f"  {p.name:28s} {p.config:12s} {p.resolution:5d} px  {p.about:28s} {have}\n      {p.url}")
    return 0


def cmd_dataset(args) -> int:
    from .training.dataset import make_dataset

    rep = make_dataset(args.sources, args.out, args.res, crop=args.crop, mirror=args.mirror,
                       video_fps=args.video_fps, min_size=args.min_size, progress=not args.quiet)
    labels = f", {rep.labels} labelled" if rep.labels else ""
    print(f"wrote {args.out}: {rep.line()}{labels}")
    return 0


def cmd_train(args) -> int:
    from .training.loop import Trainer, TrainOptions

    if not args.data:
        raise ValueError("--data DATA is needed (make one with `livegan dataset SRC --out DATA --res N`)")
    o = TrainOptions(data=args.data, outdir=args.outdir, cfg=args.cfg, batch=args.batch, batch_gpu=args.batch_gpu,
                     gamma=args.gamma, kimg=args.kimg, tick=args.tick, snap=args.snap, keep=args.keep, seed=args.seed,
                     mirror=args.mirror, aug=args.aug, p=args.p, target=args.target, augpipe=args.augpipe,
                     ada_kimg=args.ada_kimg, resume=args.resume, freezed=args.freezed, fp32=args.fp32,
                     cbase=args.cbase, cmax=args.cmax, glr=args.glr, dlr=args.dlr, map_depth=args.map_depth,
                     mbstd_group=args.mbstd_group, w_dim=args.w_dim, device=args.device,
                     store=args.store or None, cond=args.cond, cond_blur=args.cond_blur, euclidean=args.euclidean,
                     perceptual=args.perceptual, vgg=args.vgg)
    from .training.arch import described, resolve
    o = resolve(o)                     # an official --resume snapshot's architecture, where not given
    if args.resume and args.resume.endswith(".pkl"):
        print(f"fine-tuning {args.resume} as it was trained: {described(o)}", flush=True)
    if args.gpus > 1 or "WORLD_SIZE" in __import__("os").environ:
        from .training.loop import train_distributed
        print(f"training {o.cfg} in {args.gpus} processes into {o.outdir}", flush=True)
        train_distributed(o, args.gpus)
        return 0
    t = Trainer(o, log=lambda line: print(line, flush=True))
    print(f"training {o.cfg} on {len(t.data)} images at {t.data.resolution} px into {o.outdir}", flush=True)
    last = t.run()
    print(f"done at {t.cur_nimg / 1000:.3f} kimg; last snapshot {last}", flush=True)
    return 0


def cmd_train_check(args) -> int:
    """Each case of a training fixture (the official trainer's results): ours against theirs."""
    from .training.check import run_fixture

    results = run_fixture(args.folder, only=args.case)
    if not results:
        raise ValueError(f"{args.folder}: no case to run" + (f" among {', '.join(args.case)}" if args.case else ""))
    for r in results:
        print(r.line())
        for m in r.measures if args.verbose else ():
            print(f"      {m.name}: {m.error:.2e} ({m.limit_key})")
    bad = [r.case for r in results if not r.ok]
    print(f"{len(results) - len(bad)} of {len(results)} cases within their limits" + (f"; failed: {', '.join(bad)}" if bad else ""))
    return 1 if bad else 0


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
    ap = Parser(prog="livegan", description="Real-time StyleGAN visualiser: tools.")
    sub = ap.add_subparsers(dest="cmd", required=True)

    g = sub.add_parser("generate", help="render seeds to a PNG grid or a truncation sheet")
    _network_args(g)
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
    g.set_defaults(func=cmd_generate)

    m = sub.add_parser("morph", help="interpolate between seeds into a .gif or .mp4")
    _network_args(m)
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
    r.add_argument("--size", type=size_type(), default=None, help="output size WxH (default: the network's frame size)")
    r.add_argument("--fps", type=number(1, 1000), default=None, help="must equal the recording's rate (the timeline is frame-locked)")
    r.add_argument("--codec", default="h264", choices=["h264", "prores", "ffv1"], help="(default: %(default)s)")
    r.add_argument("--network", default=None, help="render with another network file (default: the recorded one)")
    r.add_argument("--device", default="auto", help="torch device (default: %(default)s)")
    r.add_argument("--as-shown", action="store_true",
                   help="reproduce the recording frame for frame: each frame shows the picture the live show "
                        "showed, repeats and late frames included (default: every tick its own fresh picture)")
    r.add_argument("--allow-remote-load", action="store_true",
                   help="let the log's networks be URLs or published names that download (off: a log from "
                        "elsewhere could make the render connect anywhere)")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.set_defaults(func=cmd_render)

    w = sub.add_parser("walk", help="walks into the store: `walk random`")
    w.add_argument("kind", choices=["random"], help="kind of walk")
    _network_args(w)
    w.add_argument("--steps", type=number(1, 1_000_000, integer=True), default=120,
                   help="frames in the walk, at least 1 (default: %(default)s)")
    w.add_argument("--keyframes", type=number(2, 10_000, integer=True), default=4,
                   help="random keyframes, at least 2 (default: %(default)s)")
    w.add_argument("--extent", type=number(1e-6, 100), default=1.5,
                   help="latents bounded to [-extent, extent], more than 0 (default: %(default)s)")
    w.add_argument("--sobol", type=number(0, 1), default=0.0, help="share of keyframes from a Sobol sequence, 0..1 (default: %(default)s)")
    w.add_argument("--seed", type=number(0, 2 ** 32 - 1, integer=True), default=0, help="random seed (default: %(default)s)")
    w.add_argument("--psi", type=number(-10, 10), default=1.0, help="truncation (default: %(default)s)")
    w.add_argument("--every", type=number(1, 1_000_000, integer=True), default=1,
                   help="store every n-th frame, at least 1 (default: %(default)s)")
    w.add_argument("--outdir", default="recordings", help="the store's folder (default: %(default)s)")
    w.set_defaults(func=cmd_walk)

    dr = sub.add_parser("directions", help="semantic directions: fit from likes/tags/labels, or a sheet of what they do")
    dsub = dr.add_subparsers(dest="action", required=True)
    df = dsub.add_parser("fit", help="fit a direction from labelled latents into presets/directions/NAME.npz")
    _network_args(df)
    df.add_argument("--out", default="recordings", help="the store with the labelled images (default: %(default)s)")
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
    _network_args(ds)
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

    gl = sub.add_parser("gallery", help="the studio: browse, judge and curate the store in a browser; the walk service API")
    gl.add_argument("--out", default="recordings", help="the store's folder (default: %(default)s)")
    gl.add_argument("--host", default="127.0.0.1",
                    help="address to listen on; anything but loopback opens the store to the network (default: %(default)s)")
    gl.add_argument("--port", type=port, default=5000, help="HTTP port (default: %(default)s)")
    gl.add_argument("--network", default=None,
                    help="network for the walk service and renders: path, URL or builtin:NAME (default: $NETWORK_PKL, "
                         "else builtin:tiny)")
    gl.add_argument("--presets", default=None, help="folder curated and recall presets are saved into (default: presets/)")
    gl.add_argument("--show", type=host_port, default=None, metavar="HOST:PORT",
                    help="a running show's OSC address, for 'send to the show' (default: none)")
    gl.set_defaults(func=cmd_gallery)

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
    dt.set_defaults(func=cmd_dataset)

    tr = sub.add_parser("train", help="train a network on a dataset (`train check DIR`: prove the trainer exact)")
    tr.add_argument("--data", help="the dataset (`livegan dataset` output: a zip or folder of PNGs)")
    tr.add_argument("--outdir", default="recordings/training", help="where snapshots go (default: %(default)s)")
    tr.add_argument("--store", default="recordings",
                    help="the store the run is a walk of, for the gallery: fakes over time, curves, snapshots as "
                         "networks; '' for none (default: %(default)s)")
    tr.add_argument("--cfg", choices=["stylegan2", "stylegan3-t", "stylegan3-r", "canvas-t", "canvas-r"], default=None,
                    help="architecture; canvas-t/canvas-r: StyleGAN-Canvas (T or R), image in, image out "
                         "(default: stylegan2, or an official --resume snapshot's)")
    tr.add_argument("--cond", choices=["plain", "blur", "edges"], default="blur",
                    help="canvas: the condition made from each real picture, by the show's own preprocessing "
                         "(default: %(default)s)")
    tr.add_argument("--cond-blur", type=number(0.5, 64), default=21.0,
                    help="canvas: blur sigma in pixels of a 256-high picture, as the show's cond_blur (default: %(default)s)")
    tr.add_argument("--euclidean", type=number(0, 1e4), default=1.0,
                    help="canvas: weight of the L2 target loss, G(condition of a real) against that real (default: %(default)s)")
    tr.add_argument("--perceptual", type=number(0, 1e4), default=1.0,
                    help="canvas: weight of the VGG19 perceptual target loss, with --vgg (default: %(default)s)")
    tr.add_argument("--vgg", default=None,
                    help="canvas: torchvision VGG19 weights (.pth or .safetensors) for the perceptual term; "
                         "nothing downloads them (default: no perceptual term)")
    tr.add_argument("--batch", type=number(1, 4096, integer=True), default=32, help="total batch size (default: %(default)s)")
    tr.add_argument("--batch-gpu", type=number(1, 4096, integer=True), default=None,
                    help="images per step (gradients accumulate; default: --batch)")
    tr.add_argument("--gamma", type=number(0, 1e4), default=10.0, help="R1 regularisation weight (default: %(default)s)")
    tr.add_argument("--kimg", type=number(0.001, 1e6), default=25000.0, help="train this many thousand images (default: %(default)s)")
    tr.add_argument("--tick", type=number(0.001, 1e4), default=4.0, help="kimg per progress line (default: %(default)s)")
    tr.add_argument("--snap", type=number(1, 1e6, integer=True), default=50, help="ticks per snapshot (default: %(default)s)")
    tr.add_argument("--keep", type=number(0, 1e6, integer=True), default=0,
                    help="resumable snapshots (snapshot-*.pt: G, D, G_ema and the optimisers) to keep, the newest; "
                         "every snapshot's network and fakes stay; 0 = keep all (default: %(default)s)")
    tr.add_argument("--seed", type=number(0, 2 ** 31 - 1, integer=True), default=0, help="random seed (default: %(default)s)")
    tr.add_argument("--mirror", action="store_true", help="flip reals left-right at random")
    tr.add_argument("--aug", choices=["ada", "fixed", "noaug", "diffaug"], default="ada",
                    help="augmentation of everything D sees: ada (p tuned from D's signs), fixed (--p), noaug, "
                         "diffaug (DiffAugment colour/translation/cutout, for tiny data on a CPU) (default: %(default)s)")
    tr.add_argument("--p", type=number(0, 1), default=0.2, help="augmentation probability for --aug fixed (default: %(default)s)")
    tr.add_argument("--target", type=number(0, 1), default=0.6,
                    help="ADA target for r_t = E[sign(D(real))] (default: %(default)s)")
    tr.add_argument("--augpipe", choices=["blit", "geom", "color", "filter", "noise", "cutout", "bg", "bgc", "bgcf",
                                          "bgcfn", "bgcfnc"], default="bgc",
                    help="which augmentations ADA uses: b(lit) g(eom) c(olor) f(ilter) n(oise) c(utout) (default: %(default)s)")
    tr.add_argument("--ada-kimg", type=number(0.001, 1e5), default=500.0,
                    help="how fast ADA moves p: kimg to go from 0 to 1 (default: %(default)s; 100 on a --resume)")
    tr.add_argument("--resume", default=None, help="a livegan snapshot (.pt) to continue, or an official training "
                                                   "snapshot .pkl to fine-tune")
    tr.add_argument("--freezed", type=number(0, 100, integer=True), default=0, help="freeze the first N layers of D (default: %(default)s)")
    tr.add_argument("--fp32", action="store_true", help="no fp16 layers and no activation clamping")
    tr.add_argument("--cbase", type=number(16, 1 << 20, integer=True), default=None,
                    help="channel base (default: 32768, or an official --resume snapshot's)")
    tr.add_argument("--cmax", type=number(1, 4096, integer=True), default=None,
                    help="most channels per layer (default: 512, or an official --resume snapshot's)")
    tr.add_argument("--glr", type=number(0, 1), default=None, help="G learning rate (default: 0.002, StyleGAN3 0.0025)")
    tr.add_argument("--dlr", type=number(0, 1), default=0.002, help="D learning rate (default: %(default)s)")
    tr.add_argument("--map-depth", type=number(1, 16, integer=True), default=None,
                    help="mapping layers (default: 8, StyleGAN3 2, or an official --resume snapshot's)")
    tr.add_argument("--mbstd-group", type=number(1, 64, integer=True), default=None,
                    help="minibatch-std group (default: 4, or an official --resume snapshot's)")
    tr.add_argument("--w-dim", type=number(8, 1024, integer=True), default=None,
                    help="z and w size (default: 512, the official networks', or an official --resume snapshot's)")
    tr.add_argument("--device", default="cpu", help="torch device (default: %(default)s)")
    tr.add_argument("--threads", type=number(0, 256, integer=True), default=0,
                    help="CPU threads; 0 = auto: LIVEGAN_THREADS, else the cores minus one, at least 1 (more threads than free cores "
                         "stall in OpenMP's barriers on a busy machine)")
    tr.add_argument("--gpus", type=number(1, 64, integer=True), default=1,
                    help="data-parallel processes on this machine (one per GPU; gloo on the CPU); across machines "
                         "start each with torchrun (default: %(default)s)")
    tr.set_defaults(func=cmd_train)
    tsub = tr.add_subparsers(dest="train_cmd", metavar="{check}")
    tc = tsub.add_parser("check", help="run a training fixture folder; exit 0 only when every case is within its limit")
    tc.add_argument("folder", help="fixture folder with cases.json, cases.npz and D_state_dict.npz "
                                   "(e.g. ../shared/golden/train-sg2-tiny)")
    tc.add_argument("--case", action="append", metavar="NAME",
                    help="run only this case (repeatable; default: every case the fixture lists)")
    tc.add_argument("-v", "--verbose", action="store_true",
                    help="print every measure of each case with the name of its limit (cases.json tolerances)")
    tc.set_defaults(func=cmd_train_check)

    nw = sub.add_parser("networks", help="list what --network can name: built-ins, the cache, NVIDIA's published networks")
    nw.set_defaults(func=cmd_networks)

    p = sub.add_parser("perform", help="the live show (what perform.py runs)")
    add_perform_args(p)
    p.set_defaults(func=cmd_perform)
    return ap


def main(argv: Optional[Sequence[str]] = None) -> int:
    return _run(build_parser().parse_args(argv), "livegan")


def perform_main(argv: Optional[Sequence[str]] = None) -> int:
    """`perform.py`: the show's own command line (its --help names perform.py)."""
    p = Parser(prog="perform.py", description="livegan: play a StyleGAN network live.")
    add_perform_args(p)
    p.set_defaults(func=cmd_perform, cmd="perform")
    return _run(p.parse_args(argv), "perform.py")


def _run(args, prog: str) -> int:
    from .devices import keep_freed_memory

    keep_freed_memory()
    try:
        if getattr(args, "cmd", None) != "perform":       # the show plans its own threads (with the encoder's)
            from . import threads
            threads.apply(threads.plan(getattr(args, "threads", 0) or None))
        return args.func(args)
    except Exception as e:          # every failure is one line; LIVEGAN_DEBUG=1 shows the traceback
        import os
        if os.environ.get("LIVEGAN_DEBUG"):
            raise
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        kind = "" if isinstance(e, (ValueError, OSError, RuntimeError)) else f"{type(e).__name__}: "
        where = prog if prog == "perform.py" else f"{prog} {args.cmd}"
        print(f"{where}: error: {kind}{msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
