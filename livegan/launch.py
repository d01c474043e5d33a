"""The composition root of a show: what `perform.py` (and `livegan perform`) asked for, wired
into one running show -- preset, network and engine, control surfaces, audio, outputs, the app
and its main loop -- and taken down again in order."""
from __future__ import annotations

import sys
from pathlib import Path

from .console import say


def launch(args) -> int:
    """The live show: a window (or headless EGL) playing a preset."""
    from .app import App
    from .show import Options, Show
    from .display import have_display, list_screens
    from .presets import load_preset

    if args.midi_list:                                   # needs no display and no network
        from .control.midi import open_backend
        try:
            names = open_backend(args.midi_backend).get_input_names()
        except (OSError, RuntimeError, SystemError) as e:     # rtmidi's: no ALSA sequencer, no JACK
            raise RuntimeError(f"the MIDI system is not available ({' '.join(str(e).split())[:160]}); "
                               "another is --midi-backend rtmidi/UNIX_JACK") from None
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
                   mirror=getattr(args, "mirror", None),
                   save_dir=Path(args.preset_dir) if args.preset_dir else None)
    from .engine import threads
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
    from .engine.devices import precision_notes
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
        raise OSError(f"--store {out}: cannot write there ({e.strerror or e})") from None


def _run_show(app, args, show, opts, size) -> int:
    if not args.headless:
        app.run_window(size, args.fullscreen, args.screen, args.exit_after,
                       Path(args.screenshot) if args.screenshot else None, output_screen=args.output_screen)
        return 0
    frames = args.frames or max(1, int(round((10.0 if args.duration is None else args.duration) * opts.fps)))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from .safeio import claim_unique
    # Claimed with O_EXCL: two shows on one --store never write the same file.
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
        mode += f", stopped by {res['stopped_by']}"
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
    return res["code"] if res["interrupted"] else 1 if failed else 0
