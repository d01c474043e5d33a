"""The running show's app: a `Show` (show/), a display (display/), its control surfaces, the program's
sinks (the recorder, the outputs) and what it keeps of itself (snapshots.py).  Each frame the one
main loop (loop.py) calls `triggers` and `present`; `run_headless` and `run_window` pick the backend
and the clock.  launch.py wires one from the command line."""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Callable, Optional


from .console import say
from .show import Show
from .snapshots import FileWriter, Snapshots


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
        thumbs = controls is not None and getattr(controls, "page", None) is not None
        self.snapshots = Snapshots(show, lambda: self.store, self.out_dir, self.writer, thumbs)
        if thumbs:                                      # for the control page's preset buttons
            controls.page.thumb_dirs.append(self.snapshots.thumbs_dir)
        self._hud_cache: tuple = ((), None)
        self._hud_painter = None                         # display/hud.py: keeps each row drawn
        self._hud_time = 0.0
        self.frames_path = ""                           # CUDA: how frames reach GL (HUD)
        self._snap_pending = False
        self._preset_pending: Optional[str] = None     # "save as preset" NAME, after the frame is drawn
        self._finishing: list = []                       # stopped recorders still writing their files
        self.display = None
        self._pic: Optional[int] = None                  # planned tick of the picture on screen

    def _hud(self, fps: float):
        """Re-render the HUD text at most 4 times a second (text rendering is not free)."""
        if not self.hud_on:
            return None
        t = time.perf_counter()
        if t - self._hud_time > 0.25 or self._hud_cache[1] is None:
            from .display import hud_lines
            from .display.hud import HudPainter

            self._hud_painter = self._hud_painter or HudPainter()

            refused = self.controls.refused() if self.controls is not None else 0
            lines = tuple(hud_lines(self.show.status, fps, refused)) + (self._selected_line(),)
            if self.controls is not None:
                lines += tuple(self.controls.hud_lines())
            if self.frames_path:
                lines += (f"frames to GL: {self.frames_path[:80]}",)
            if self.recording:
                r = self.recorder
                lines += (f"REC walk {r.walk_id}   {r.frames} frames   dropped {r.dropped + (r.sink.dropped if r.sink else 0)}",)
            lines += tuple(sink.status() for sink in self.outputs)
            if lines != self._hud_cache[0]:
                self._hud_cache = (lines, self._hud_painter.image(list(lines)))
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

    def triggers(self, display) -> None:
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
        from .record import Recorder

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

    def present(self, display, frame) -> None:
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
        display.present(self.show.display_values(), self.show.opts.fit, self._hud(self.show.stats.fps()),
                        inset=self.show.current_view)
        if self._snap_pending:
            self._snap_pending = False
            self.snapshots.take(r.read_program(), self.recorder if self.recording else None)
        if self._preset_pending is not None:
            name, self._preset_pending = self._preset_pending, None
            self.snapshots.save_preset(name, r.read_program())
        self.snapshots.thumbnail(r)
        cond = self.show.conditioner
        page = self.controls.page if self.controls is not None else None
        preview = page is not None and page.wants_preview()
        if self.recording or self.outputs or cond.wants_feedback or preview:
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
                if preview:                              # the control page's monitor
                    page.preview.offer(got[0], self.show.current_view, got[1][0])

    def run_headless(self, frames: int, size: Optional[tuple[int, int]] = None, realtime: bool = True,
                     video: Optional[Path] = None, on_tick: Optional[Callable] = None) -> dict:
        """Run `frames` display frames into an EGL framebuffer.  realtime: paced by the wall
        clock like the live show (the generator may lag; frames repeat); otherwise every frame
        waits for its own generator frame (fixed-step clock).  Returns a summary."""
        from .display import HeadlessDisplay
        from .display.headless import HeadlessBackend
        from .loop import FixedStepClock, LiveClock, run

        show = self.show
        G = show.G
        w = show.engine.crop_width or G.img_resolution
        size = size or self.program_size or (w, G.img_resolution)
        display = HeadlessDisplay(size, dev=show.opts.dev)
        display.make_current()              # for the renderer calls below (see make_current)
        display.renderer.program_size = self.program_size or self._canvas_size()
        self.display = display
        self._share_frames(display)
        backend = HeadlessBackend(display, video, show.opts.fps, realtime)
        clock = LiveClock() if realtime else FixedStepClock(show.opts.fps)
        t0 = time.perf_counter()
        try:
            ran = run(self, backend, clock, frames=frames, on_tick=on_tick)
        finally:
            self.display = None
        wall = time.perf_counter() - t0
        sink, done = backend.sink, ran["frames"]
        if sink is not None and sink.error:
            show.error("video", sink.error)
        return {"frames": done, "wall_s": wall, "display_fps": done / wall if wall > 0 else 0.0,
                "interrupted": ran["interrupted"], "stopped_by": ran["stopped_by"], "code": ran["code"],
                "shown": show.stats.shown,
                "repeated": show.stats.repeated, "dropped": show.stats.dropped,
                "discarded": show.stats.discarded + show.engine.stats.dropped_stale,
                "video_frames": backend.written, "video_dropped": sink.dropped if sink else 0, "last": backend.last,
                "video_error": sink.error if sink else None,
                "errors": list(show.errors)}

    def summary(self, frames: int, wall: float, mode: str) -> str:
        """The end-of-run line, the same for a window, a headless run and after Ctrl-C."""
        st, e = self.show.stats, self.show.engine.stats
        discarded = st.discarded + e.dropped_stale
        extra = f", {discarded} planned ahead and discarded after changes" if discarded else ""
        outs = "".join(f"; {s.name}: {s.sent} frames sent, {s.dropped} dropped" for s in self.outputs)
        return (f"rendered {frames} frames in {wall:.1f} s ({frames / wall if wall > 0 else 0:.1f} display fps, "
                f"{mode}); {st.shown} generator frames shown, {st.repeated} repeats, {st.dropped} dropped{extra}; "
                f"generator {e.median_ms():.1f} ms/frame{outs}; {self.problems()} problem{'' if self.problems() == 1 else 's'} reported")

    def problems(self) -> int:
        """Every problem of the show so far: its own, and what its control surfaces refused."""
        return self.show.error_count + (self.controls.refused() if self.controls is not None else 0)

    def run_window(self, size: Optional[tuple[int, int]], fullscreen: bool, screen: int,
                   exit_after: Optional[float] = None, screenshot: Optional[Path] = None,
                   output_screen: Optional[int] = None) -> None:
        """The live window.  With `output_screen`, a second window shows the clean program there
        (the projector) and this one becomes the performer's monitor (HUD and preview).  Each
        frame is drawn, then flipped once: the output first, with vsync."""
        from .display import WindowDisplay
        from .display.window import WindowBackend
        from .loop import LiveClock, run

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
        backend = WindowBackend(display, self._key, screenshot, on_output_close=lambda: show.error(
            "output-closed", "output window closed; the program shows in this window"))
        t0 = time.perf_counter()
        ran = {"interrupted": False}
        try:
            ran = run(self, backend, LiveClock(), seconds=exit_after)
        finally:
            self.display = None
            how = f"window, stopped by {ran['stopped_by']}" if ran["interrupted"] else "window"
            say(self.summary(show.tick_index + 1, time.perf_counter() - t0, how))
            for err in list(show.errors)[-6:]:
                say(f"  error during the show: {err}")
            if self.recorder is not None and self.recorder.walk_id is not None:
                say(f"  recorded walk {self.recorder.walk_id}: {self.recorder.frames} frames")

    def _key(self, name: str) -> None:
        """A key of the window, through the bindings in control/keys.py."""
        from .control.keys import command_for, selection

        show = self.show
        chosen = selection(name, list(show.registry.params), self.selected)
        if chosen is not None:
            self.selected = chosen
            return
        p = show.registry.params[self.selected]
        cmd = command_for(name, self.selected, (p.hi - p.lo) / 100.0, time.perf_counter())
        if cmd is not None:
            show.post(cmd)
