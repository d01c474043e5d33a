"""Wires the stages together and owns the one main loop: a `Show` (show.py), a display backend
(display.py), control surfaces, the recorder and the snapshot writer."""
from __future__ import annotations

import queue
import threading
import time
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from .show import Show
from .console import say


class FileWriter:
    """Writes files (snapshots) on one thread from a bounded queue: the frame a snapshot was taken
    on is never delayed, a flood is dropped and counted, and a failed write (disk full, read-only
    folder) is a HUD error."""

    def __init__(self, error: Callable[[str, str], None], capacity: int = 8):
        self.error, self.capacity = error, capacity
        self.queue: "queue.Queue" = queue.Queue(maxsize=capacity)
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name="livegan-writer", daemon=True)
        self._thread.start()

    def put(self, job: Callable[[], None]) -> bool:
        try:
            self.queue.put_nowait(job)
            return True
        except queue.Full:
            self.dropped += 1
            return False

    def _run(self) -> None:
        while True:
            job = self.queue.get()
            try:
                job()
            except Exception as e:
                self.error("snapshot", f"snapshot failed: {type(e).__name__}: {e}")
            finally:
                self.queue.task_done()

    def drain(self) -> None:
        self.queue.join()


class App:
    """A `Show` plus a display backend and the loop that drives them."""

    def __init__(self, show: Show, out_dir: Path = Path("recordings"), hud: bool = True, controls=None,
                 codec: str = "h264", crf: int = 18, program_size: Optional[tuple[int, int]] = None,
                 outputs: Optional[list] = None):
        self.show, self.out_dir, self.hud_on, self.controls = show, Path(out_dir), hud, controls
        self.selected = "psi"                          # the parameter arrows nudge and `l` learns
        self.codec, self.crf = codec, crf
        self.program_size = program_size                # None: the canvas's own size
        self.outputs = list(outputs or [])               # sinks of the program (livegan/outputs)
        for sink in self.outputs:
            sink.report = show.error                     # a sink's failure is a HUD line, logged once
        self._store = None
        self._store_lock = threading.Lock()
        self.recorder = None
        self.session_walk: Optional[int] = None
        self.writer = FileWriter(self.show.error)
        self._hud_cache: tuple = ((), None)
        self._hud_time = 0.0
        self.snapshots: list[Path] = []
        self.frames_path = ""                           # CUDA: how frames reach GL (HUD)
        self._snap_pending = False
        self._preset_pending: Optional[str] = None     # "save as preset" NAME, after the frame is drawn
        self._thumb_for: tuple = ("", 0.0, False)       # (preset, since when, thumbnail taken)
        self._thumbs_on = controls is not None and getattr(controls, "page", None) is not None
        if self._thumbs_on:                             # for the control page's preset buttons
            controls.page.thumb_dirs.append(self.thumbs_dir)
        self._snap_seq = 0
        self._finishing: list = []                       # stopped recorders still writing their files
        self._net_ids: dict = {}
        self.display = None
        self._pic: Optional[int] = None                  # planned tick of the picture on screen

    def _hud(self, fps: float):
        """Re-render the HUD text at most 4 times a second (text rendering is not free)."""
        if not self.hud_on:
            return None
        t = time.perf_counter()
        if t - self._hud_time > 0.25 or self._hud_cache[1] is None:
            from .display import hud_image

            refused = self.controls.refused() if self.controls is not None else 0
            lines = tuple(self.show.hud_lines(fps, refused)) + (self._selected_line(),)
            if self.controls is not None:
                lines += tuple(self.controls.hud_lines())
            if self.frames_path:
                lines += (f"frames to GL: {self.frames_path[:80]}",)
            if self.recording:
                r = self.recorder
                lines += (f"REC walk {r.walk_id}   {r.frames} frames   dropped {r.dropped + (r.sink.dropped if r.sink else 0)}",)
            lines += tuple(sink.status() for sink in self.outputs)
            if lines != self._hud_cache[0]:
                self._hud_cache = (lines, hud_image(list(lines)))
            self._hud_time = t
        return self._hud_cache[1]

    def _selected_line(self) -> str:
        """What the arrows nudge: the parameter, its value and its range ([ ] choose it)."""
        p, reg = self.show.registry.params[self.selected], self.show.registry
        fmt = (lambda x: f"{x:.0f}") if p.kind in ("int", "bool") else (lambda x: f"{x:.3g}")
        v, t = reg.value[self.selected], reg.target[self.selected]
        val = fmt(v) if fmt(v) == fmt(t) else f"{fmt(v)} -> {fmt(t)}"     # gliding to its target
        return f"[ ] {p.name} = {val}   ({p.lo:g} .. {p.hi:g}, arrows nudge)"

    def output_counters(self) -> dict:
        """Every sink's counters (and the recorder's) as output/NAME/FIELD, for OSC feedback."""
        out = {f"output/{sink.name}/{k}": v for sink in self.outputs for k, v in sink.counters().items()}
        r = self.recorder
        if r is not None:
            out.update({"output/recorder/sent": r.frames,
                        "output/recorder/dropped": r.dropped + (r.sink.dropped if r.sink else 0),
                        "output/recorder/error": r.error or ""})
        return out

    def _triggers(self, display) -> None:
        triggers, self.show.triggers = self.show.triggers, []
        for cmd in triggers:
            try:
                self._trigger(cmd, display)
            except ValueError as e:                     # a refusal: its own words are the line
                self.show.error(f"trigger:{cmd.name}", f"{cmd.name}: {e}")
            except Exception as e:                      # one guarded path: the show goes on
                self.show.error(f"trigger:{cmd.name}", f"{cmd.name}: {type(e).__name__}: {e}")

    def _trigger(self, cmd, display) -> None:
        """One of the app's triggers (the command table, triggers.py: window and files)."""
        handler = {"hud": self._toggle_hud, "fullscreen": self._toggle_fullscreen, "snapshot": self._snapshot_cmd,
                   "save_preset": self._save_preset_cmd, "record": self._record_cmd,
                   "feedback_sync": self._feedback_sync, "learn": self._learn}.get(cmd.name)
        if handler is None:
            raise ValueError("not available in this version")
        handler(cmd, display)

    def _toggle_hud(self, cmd, display) -> None:
        self.hud_on = not self.hud_on

    def _toggle_fullscreen(self, cmd, display) -> None:
        if hasattr(display, "toggle_fullscreen"):
            display.toggle_fullscreen()

    def _snapshot_cmd(self, cmd, display) -> None:
        self._snapshot()

    def _save_preset_cmd(self, cmd, display) -> None:
        from .presets import check_preset_name
        self._preset_pending = check_preset_name(cmd.value)   # written after this frame is drawn

    def _record_cmd(self, cmd, display) -> None:
        self.record((not self.recording) if cmd.value is None else bool(int(cmd.value)))

    def _feedback_sync(self, cmd, display) -> None:
        if self.controls is not None:
            self.controls.sync(self.recording)

    def _learn(self, cmd, display) -> None:
        if self.controls is None:
            raise ValueError("MIDI learn needs a MIDI port (--midi NAME)")
        self.controls.learn(str(cmd.value or self.selected))

    @property
    def store(self):
        """The walk/snapshot store, opened on first use (a show that never saves makes no file)."""
        with self._store_lock:                           # writer threads may ask at once
            if self._store is None:
                from .store import Store
                self._store = Store(self.out_dir)
        return self._store

    @property
    def recording(self) -> bool:
        return self.recorder is not None and self.recorder.active

    def record(self, on: bool) -> None:
        from .recorder import Recorder

        if on and not self.recording:
            if self.recorder is not None:                # it finishes its files on its own thread
                self._finishing = [r for r in self._finishing if r._thread and r._thread.is_alive()]
                self._finishing.append(self.recorder)
            # No I/O here: the recorder's own thread opens the store and creates the files.
            self.recorder = Recorder(lambda: self.store, self.show, self.codec, self.crf)
            r = self.display.renderer if self.display is not None else None
            self.recorder.start(r.program_size if r is not None else self.program_size)
        elif not on and self.recording:
            self._stop_recording()

    def _stop_recording(self) -> None:
        """Stop, after the frame still in the read-back queue (a recording holds every frame)."""
        if self.display is not None:
            got = self.display.renderer.flush_program()
            if got is not None:
                self.recorder.frame(*got)
        self.recorder.stop()

    def _snapshot(self) -> None:
        """Taken after this frame is drawn (see `_present`): the program frame on screen and the
        raw generator frame, the ws and the full state that recreates it, written on a thread."""
        self._snap_pending = True

    def _snapshot_state(self) -> Optional[dict]:
        s = self.show
        req = s.current
        k = s.preset.keyframes[req.keyframe]
        v = dict(s.registry.value)
        p = s.preset
        mix: dict = {"layer": v["mix_layer"], "amount": v["mix_amount"]}
        src = p.mix_source if p.mix_source is not None else (
            p.keyframes[p.mix_keyframe] if p.mix_keyframe is not None else None)
        if src is not None:                       # what the mixed layers come from
            mix["source"] = {"seed": src.seed} if src.seed is not None else {"w": np.asarray(src.w).tolist()}
            if p.mix_keyframe is not None:
                mix["source"]["keyframe"] = p.mix_keyframe
        return {"network": s.network, "network_id": None, "preset": p.name, "keyframe": req.keyframe,
                "seed": k.seed, "seeds": [kf.seed for kf in p.keyframes], "position": req.position,
                "frame": req.frame, "time": req.frame / s.opts.fps, "psi": v["psi"],
                "truncation_cutoff": v["truncation_cutoff"], "mix": mix,
                "transform": {"rotate": v["rotate"], "translate": [v["translate_x"], v["translate_y"]],
                              "zoom": v["zoom"], "matrix": req.transform.tolist()},
                "effects": {n: v[n] for n in ("crossfade", "brightness", "contrast", "saturation", "hue",
                                              "feedback", "kaleido", "view_zoom", "view_x", "view_y")},
                "params": v, "directions": s.direction_state()}

    def _take_snapshot(self, program: Optional[np.ndarray]) -> None:
        s = self.show
        if s.current is None:
            return
        req, raw = s.current, s.current_image
        state = self._snapshot_state()
        if self.recording and self.recorder.walk_id is not None:    # where it is in the session video
            i = s.tick_index - self.recorder.start_tick - 1
            state["recording"] = {"walk": self.recorder.walk_id, "frame": i, "time": i / s.opts.fps}
        self._snap_seq += 1                      # two snapshots of one frame in one second differ
        stem = f"snap-{time.strftime('%Y%m%d-%H%M%S')}-{req.frame:06d}-{self._snap_seq}"
        network, preset_name = s.network, s.preset.name

        def write():
            from .imaging import save_png
            from .safeio import atomic_write

            st = self.store
            net_id = self._network_id(network)
            if self.session_walk is None:
                self.session_walk = st.create_walk("session", time.strftime("live %Y-%m-%d %H:%M"),
                                                   network=network, network_hash=net_id, preset=preset_name)
            folder = st.walk_dir(self.session_walk)
            pixels = raw if isinstance(raw, np.ndarray) else raw.cpu().numpy()   # CUDA frame
            state["network_id"] = net_id
            files = [folder / f"{stem}.npy", folder / f"{stem}-raw.png", folder / f"{stem}.png"]
            try:
                atomic_write(files[0], lambda f: np.save(f, req.ws))
                save_png(files[1], pixels)
                save_png(files[2], program if program is not None else pixels)
                state.update(ws=f"{stem}.npy", program=f"{stem}.png", raw=f"{stem}-raw.png")
                st.add_image(self.session_walk, f"{stem}.png", "snapshot", req.frame, state)
            except BaseException:                # a full disk: no files without their row
                for f in files:
                    f.unlink(missing_ok=True)
                raise
            self.snapshots.append(folder / f"{stem}.png")
            say(f"livegan: snapshot {folder / stem}.png")
            s.notify(f"snapshot saved: {stem}.png")
        if not self.writer.put(write):
            s.error("snapshot-queue", f"snapshot dropped: {self.writer.capacity} already waiting to be written")

    THUMB_AFTER_S = 1.0                  # a preset's look: its program frame after this long on screen

    @property
    def thumbs_dir(self) -> Path:
        """Where the control page finds what each preset looked like when it last played."""
        return self.out_dir / ".preset-thumbs"

    def _preset_thumbnail(self, r) -> None:
        """Once a preset has been on screen THUMB_AFTER_S, its program frame becomes its thumbnail
        (written on the writer thread; no extra generator work, the show never waits)."""
        s = self.show
        name = s.preset.name
        if not self._thumbs_on:
            return
        if name != self._thumb_for[0]:
            self._thumb_for = (name, time.monotonic(), False)
            return
        _, since, done = self._thumb_for
        if done or time.monotonic() - since < self.THUMB_AFTER_S or s.current is None:
            return
        self._thumb_for = (name, since, True)
        if not name or len(name) > 64 or not all(c.isalnum() or c in "-_" for c in name):
            return                                   # not a plain file name
        program = r.read_program()
        if program is None:
            return
        folder = self.thumbs_dir

        def write():
            from PIL import Image

            from .safeio import atomic_write, remove_dead_temporaries
            try:
                folder.mkdir(parents=True, exist_ok=True)
                remove_dead_temporaries(folder)          # what a killed show left half written
                im = Image.fromarray(np.asarray(program, np.uint8))
                im.thumbnail((256, 256))
                atomic_write(folder / f"{name}.png", lambda f: im.save(f, format="PNG"))
            except OSError as e:                         # a read-only or full disk: said once, no thumbnail
                s.error("preset-thumb", f"preset thumbnail {name}: {e.strerror or e}")
        self.writer.put(write)

    def _save_preset(self, name: str, program: Optional[np.ndarray]) -> None:
        """The show as it is now as a new preset (and its thumbnail), written on the writer thread;
        the outcome is the show's notice (the control page shows it) or a HUD error."""
        from .presets import PRESET_DIR, save_state_preset

        s = self.show
        folder = Path(s.opts.save_dir) if s.opts.save_dir else PRESET_DIR
        preset, values = s.preset, dict(s.registry.target)

        def write():
            try:
                path = save_state_preset(folder, name, preset, values, program)
            except Exception as e:                       # exists, disk full, read-only folder
                s.notify(f"preset {name} not saved: {e}")
                s.error("save-preset", f"preset {name} not saved: {e}")
                return
            s.notify(f"saved preset {name} ({path})")
        if not self.writer.put(write):
            s.error("preset-queue", f"preset {name} not saved: {self.writer.capacity} files already waiting")

    def _network_id(self, network: str) -> str:
        """The network file's hash, once per network (a large .pkl takes a while to hash)."""
        from .store import network_identity

        if network not in self._net_ids:
            self._net_ids[network] = network_identity(network)
        return self._net_ids[network]

    def flush(self) -> None:
        """Wait for pending snapshot writes and stop a running recording (end of the show)."""
        self.writer.drain()
        if self.recording:
            self._stop_recording()
        for sink in self.outputs:
            sink.stop()
        for r in self._finishing + ([self.recorder] if self.recorder is not None else []):
            r.join()

    def _canvas_size(self) -> tuple[int, int]:
        """The program's size for this show: the starting network's canvas, kept across network
        switches (a recording never changes size mid-file)."""
        e, G = self.show.engine, self.show.G
        if G.family == "stylegan3-canvas":             # the condition's width sets the picture's
            return (G.output_width(self.show.conditioner.size[0]), G.img_resolution)
        return (e.crop_width or G.img_resolution, G.img_resolution)

    def _share_frames(self, display) -> None:
        """On CUDA, keep frames on the GPU when GL can take them from there (CUDA-GL sharing);
        otherwise the engine copies them out through pinned host memory."""
        if getattr(self.show.device, "type", "cpu") != "cuda":
            self.frames_path = "CPU frames, uploaded from host memory"
            say(f"livegan: frames to GL: {self.frames_path}")
            return
        why = display.renderer.enable_interop()
        self.show.engine.device_frames = not why
        self.frames_path = "CUDA-GL sharing" if not why else f"pinned host copy ({why})"
        say(f"livegan: frames to GL: {self.frames_path}")

    def _present(self, display, frame) -> None:
        r, rec = display.renderer, (self.recorder if self.recording else None)
        if rec is not None and rec.needs_carried and self.show.tick_index > rec.start_tick:
            rec.carry(r.carried_state(), self._pic)     # before its first frame: what that frame inherits
        if self.show.swapped:                           # before the upload: it holds what was on screen
            r.begin_swap_fade()
            self.show.swapped = False
        if frame is not None:
            r.upload(frame.image)
            self._pic = frame.id
            if rec is not None and frame.id <= rec.start_tick:
                rec.picture(frame.id, frame.image)      # planned before the recording: a replay can't make it
            if self.show.engine.device_frames and r.interop is None:
                self.show.engine.device_frames = False     # sharing broke: host copies from now on
                self.frames_path = "pinned host copy (sharing failed)"
                self.show.error("interop", r.interop_error)
        if r.swap_fade > 0:
            r.swap_fade = max(0.0, r.swap_fade - 1.0 / self.show.opts.fps)   # one-second fade
        self.show.stats.present_times.append(time.perf_counter())
        if self.controls is not None:
            self.controls.outputs = self.output_counters()
            self.controls.after_tick(self.recording)
        display.present(self.show.display_values(), self.show.opts.fit, self._hud(self.show.stats.fps()))
        if self._snap_pending:
            self._snap_pending = False
            self._take_snapshot(r.read_program())
        if self._preset_pending is not None:
            name, self._preset_pending = self._preset_pending, None
            self._save_preset(name, r.read_program())
        self._preset_thumbnail(r)
        cond = self.show.conditioner
        if self.recording or self.outputs or cond.wants_feedback:
            # One read-back of the program per frame, shared by the recorder, every output and a
            # feedback condition.  Its tag says which tick it is and which planned tick's picture
            # it shows (a late generator repeats one): the recording logs both.
            got = r.read_program_async((self.show.tick_index, self._pic))
            if got is not None:
                if self.recording:
                    self.recorder.frame(*got)
                for sink in self.outputs:
                    sink.put(got[0])
                cond.feedback(got[0])

    def run_headless(self, frames: int, size: Optional[tuple[int, int]] = None, realtime: bool = True,
                     video: Optional[Path] = None, on_tick: Optional[Callable] = None) -> dict:
        """Run `frames` display frames into an EGL framebuffer.  realtime: paced by the wall
        clock like the live show (the generator may lag; frames repeat); otherwise every frame
        waits for its own generator frame (fixed-step clock).  Returns a summary."""
        from .display import HeadlessDisplay
        from .media import VideoSink

        show = self.show
        G = show.G
        w = show.engine.crop_width or G.img_resolution
        size = size or self.program_size or (w, G.img_resolution)
        display = HeadlessDisplay(size, dev=show.opts.dev)
        display.make_current()              # for the renderer calls below (see make_current)
        display.renderer.program_size = self.program_size or self._canvas_size()
        self.display = display
        self._share_frames(display)
        # Fragmented: after a kill or a full disk the file still decodes up to its last second.
        sink = VideoSink(video, show.opts.fps, live=realtime, fragmented=True) if video else None
        show.start()
        fps = show.opts.fps
        t0 = time.perf_counter()
        last = None
        interrupted = False
        done = 0
        try:
            for i in range(frames):
                done = i
                if realtime:
                    delay = t0 + i / fps - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
                try:
                    # The first frame waits for the generator even in real time: never a black start.
                    first = show.current is None
                    frame = show.tick(time.perf_counter() - t0, wait=first) if realtime else show.tick(i / fps, wait=True)
                    self._triggers(display)
                    self._present(display, frame)
                except TimeoutError:
                    raise
                except Exception as e:      # on stage: report in the HUD, keep presenting
                    show.error(f"frame:{type(e).__name__}", f"frame failed: {type(e).__name__}: {e}")
                if on_tick is not None:
                    on_tick(i, show, display)
                if sink is not None or i == frames - 1:
                    last = display.renderer.read_program()   # the program: no HUD, no letterbox
                    if last is None:
                        last = display.read()
                    if sink is not None:
                        sink.put(last, block=not realtime)
                done = i + 1
        except KeyboardInterrupt:                       # Ctrl-C: finish the files, then the summary
            interrupted = True
        finally:
            self.flush()
            show.stop()
            written = sink.close() if sink else 0
            # The EGL context and its GL objects go now, on this thread, not at the process's exit:
            # left to libEGL's exit handlers and the interpreter's teardown, released in whatever
            # order those run, they are a known source of heap corruption at exit.
            self.display = None
            display.close()
        wall = time.perf_counter() - t0
        if sink is not None and sink.error:
            show.error("video", sink.error)
        return {"frames": done, "wall_s": wall, "display_fps": done / wall if wall > 0 else 0.0,
                "interrupted": interrupted, "shown": show.stats.shown,
                "repeated": show.stats.repeated, "dropped": show.stats.dropped,
                "discarded": show.stats.discarded + show.engine.stats.dropped_stale,
                "video_frames": written, "video_dropped": sink.dropped if sink else 0, "last": last,
                "video_error": sink.error if sink else None,
                "errors": list(show.errors) + list(show.engine.stats.errors)}

    def summary(self, frames: int, wall: float, mode: str) -> str:
        """The end-of-run line, the same for a window, a headless run and after Ctrl-C."""
        st, e = self.show.stats, self.show.engine.stats
        discarded = st.discarded + e.dropped_stale
        extra = f", {discarded} planned ahead and discarded after changes" if discarded else ""
        return (f"rendered {frames} frames in {wall:.1f} s ({frames / wall if wall > 0 else 0:.1f} display fps, "
                f"{mode}); {st.shown} generator frames shown, {st.repeated} repeats, {st.dropped} dropped{extra}; "
                f"generator {e.median_ms():.1f} ms/frame; {self.problems()} problem{'' if self.problems() == 1 else 's'} reported")

    def problems(self) -> int:
        """Every problem of the show so far: its own, and what its control surfaces refused."""
        return self.show.error_count + (self.controls.refused() if self.controls is not None else 0)

    def run_window(self, size: Optional[tuple[int, int]], fullscreen: bool, screen: int,
                   exit_after: Optional[float] = None, screenshot: Optional[Path] = None,
                   output_screen: Optional[int] = None) -> None:
        """The live window.  With `output_screen`, a second window shows the clean program there
        (the projector) and this one becomes the performer's monitor (HUD and preview).  Each
        frame is drawn, then flipped once: the output first, with vsync."""
        import pyglet

        from .control.keys import command_for
        from .display import WindowDisplay

        show = self.show
        # Two windows waiting for vblank each would halve the rate: only the projector's waits.
        display = WindowDisplay(size, fullscreen, screen, dev=show.opts.dev, vsync=output_screen is None)
        display.renderer.program_size = self.program_size or self._canvas_size()
        self.display = display
        if output_screen is not None:
            try:
                display.open_output(output_screen)
                say(f"livegan: program on screen {output_screen}; this window shows the HUD and a preview")
            except Exception as e:                      # an unknown screen: one line, one window
                show.error("output-screen", f"output window off: {' '.join(str(e).split())}")
        self._share_frames(display)
        win = display.window
        t0 = time.perf_counter()

        def on_key_press(symbol, modifiers):
            if symbol == pyglet.window.key.ESCAPE:
                pyglet.app.exit()
                return pyglet.event.EVENT_HANDLED
            name = pyglet.window.key.symbol_string(symbol).lower()
            if name in ("bracketleft", "bracketright"):      # choose what the arrows nudge
                names = list(show.registry.params)
                i = (names.index(self.selected) + (1 if name == "bracketright" else -1)) % len(names)
                self.selected = names[i]
                return pyglet.event.EVENT_HANDLED
            p = show.registry.params[self.selected]
            cmd = command_for(name, self.selected, (p.hi - p.lo) / 100.0, time.perf_counter())
            if cmd is not None:
                show.post(cmd)
            return pyglet.event.EVENT_HANDLED

        win.push_handlers(on_key_press=on_key_press)
        if display.output is not None:
            def on_output_close():
                # Closing the projector's window leaves the show running on the monitor.
                out, display.output = display.output, None
                out.close()
                win.switch_to()
                show.error("output-closed", "output window closed; the program shows in this window")
                return pyglet.event.EVENT_HANDLED
            display.output.window.push_handlers(on_key_press=on_key_press, on_close=on_output_close)

        def frame_cb(dt):
            done = exit_after is not None and time.perf_counter() - t0 >= exit_after
            try:
                frame = show.tick(time.perf_counter() - t0)
                self._triggers(display)
                self._present(display, frame)
            except Exception as e:          # on stage: report in the HUD, keep the window up
                show.error(f"frame:{type(e).__name__}", f"frame failed: {type(e).__name__}: {e}")
            if done:
                if screenshot is not None:
                    self._screenshots(display, screenshot)
                pyglet.app.exit()
                return
            display.flip()

        show.start()
        pyglet.clock.schedule_interval(frame_cb, 1.0 / show.opts.fps)
        how = "window"
        try:
            pyglet.app.run(None)                        # frame_cb draws and flips every window itself
        except KeyboardInterrupt:
            how = "window, stopped by Ctrl-C"
        finally:
            self.flush()
            show.stop()
            display.close()
            say(self.summary(show.tick_index + 1, time.perf_counter() - t0, how))
            for err in list(show.errors)[-6:]:
                say(f"  error during the show: {err}")
            if self.recorder is not None and self.recorder.walk_id is not None:
                say(f"  recorded walk {self.recorder.walk_id}: {self.recorder.frames} frames")

    @staticmethod
    def _screenshots(display, path: Path) -> None:
        """The frame just drawn, before it is flipped: this window to PATH and, with an output
        window, the output to PATH-output.png and the program itself to PATH-program.png."""
        from .display import read_rgb
        from .imaging import save_png

        save_png(path, read_rgb(display.ctx.detect_framebuffer(), display.size))
        if display.output is not None:
            save_png(path.with_name(path.stem + "-output.png"), display.output.read())
            program = display.renderer.read_program()
            if program is not None:
                save_png(path.with_name(path.stem + "-program.png"), program)
