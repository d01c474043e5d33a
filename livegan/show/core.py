"""The show: parameter state, transport, timeline and engine -- everything but the window.

Each display frame the main loop (loop.py) calls `tick`: it drains the command queue (queue.py)
into the parameter registry and the transport, lets finished loads take over (loaders.py), plans
the next frames and hands them to the engine without blocking (planner.py), picks the newest
finished frame of the current generation, and publishes the tick's frozen status (status.py).
A change (a command that alters what is rendered) starts a new generation: frames of older
generations are never shown after it.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from .. import triggers
from ..boundary import number
from ..clock import Tempo, Transport
from ..console import say
from ..defaults import DEFAULT_NETWORK
from ..jobs import LatestLoader, RateLimit
from ..load_policy import LoadPolicy
from ..params import NETWORK, UNIFORM, Command, Registry
from ..presets import Preset, load_preset, preset_from
from ..timeline import FrameRequest
from .loaders import Loading, make_bank
from .options import Options, Stats
from .instrument import Instrument
from .planner import Picker, Planner
from .queue import CommandQueue
from .status import Problems, Publisher, ShowStatus


class Show(Loading, Planner, Instrument):
    """Parameter state, transport, timeline and engine: everything but the window.

    `tick(now)` advances one display frame and returns the frame to show (or None to keep the
    current one).  The display backends (window, headless) call it and draw the result.
    """

    def __init__(self, opts: Options, preset: Optional[Preset] = None, G=None):
        from stylegan3 import load_network

        from ..engine.devices import resolve_device
        from ..engine import Engine, canvas_for

        self.opts = opts
        from ..intake import Budget

        self.changed: dict = {}                            # parameter -> source of its last change (feedback)
        self.problems = Problems(say)
        self.queue = CommandQueue(self.error)
        self.intake = self.queue.intake                    # every control input's one door (intake.py)
        self.budget = Budget()                             # the CPU the surfaces' threads may take
        self.policy = LoadPolicy(tuple(Path(r) for r in opts.load_roots), opts.allow_remote_load)
        self.registry = Registry()
        self.preset = preset or load_preset(opts.preset)
        self.device = resolve_device(opts.device)
        self.network = opts.network or self.preset.network or DEFAULT_NETWORK
        self.G = G if G is not None else load_network(self.network, device=self.device, precision=opts.dtype)
        self.check_runtime(self.G, self.network)
        self.bank = make_bank(self.G)
        from ..directions.live import DirectionKnobs
        self.knobs = DirectionKnobs(self._slot_changed, self.error, self._network_shape)
        canvas, crop = canvas_for(self.G, opts.canvas)
        self.engine = Engine(self.G, self.device, batch=opts.batch, canvas=canvas, crop_width=crop,
                             cuda_graphs=opts.cuda_graphs)
        self.tempo = Tempo()
        self.transport = Transport(len(self.preset.keyframes))
        self._apply_preset_params(self.preset)
        self.registry.settle()
        self.generation = 0
        self.tick_index = -1
        self.current: Optional[FrameRequest] = None
        self.current_image: Optional[np.ndarray] = None
        self.current_view: Optional[np.ndarray] = None
        self.planned_until = -1                            # the furthest tick a frame was planned for
        self._planned_generation, self._changed_at = 0, -1  # the last change's first plan: at which tick
        self.stats = Stats()
        self.picker = Picker(self.stats)
        self.triggers: list[Command] = []                  # for the app: hud, fullscreen, snapshot...
        self.preset_loader = LatestLoader("preset-loader")
        self.network_loader = LatestLoader("network-loader")
        # Heavy triggers: at most this often; refusals are counted (and said once in the HUD).
        self.limits = {t.name: RateLimit(*t.rate) for t in triggers.TABLE.values() if t.rate is not None}
        self._on = self._handlers()
        self.swapped = False
        self._sync_later: Optional[Command] = None         # a feedback sync asked for too soon
        self.publisher = Publisher()
        self.status = ShowStatus()
        self._last_now: Optional[float] = None
        self.applied = 0
        self.command_log: Optional[Callable[[int, Command], None]] = None   # the session recorder
        self._setup_instrument()
        if opts.directions:
            self.knobs.start_unsupervised()
        self.knobs.pick_preset(self.preset)
        self._instrument_preset(self.preset, "preset")
        from ..modulation.live import Modulation
        self.mod = Modulation(self.registry.params, self.post, self.error, log=self._log_mod)
        self.mod.use_preset(self.preset)
        from ..conditions import Conditioner, condition_size, is_canvas
        side = self.mirror.encoder.side if self.mirror.encoder is not None else 64     # the mirror's pictures
        self.conditioner = Conditioner(condition_size(self.G, opts.canvas) if is_canvas(self.G) else (side, side),
                                       opts.fps, log=self._log_condition)
        if opts.inputs and not is_canvas(self.G) and self.mirror.encoder is None:
            self.error("input", f"--input needs a StyleGAN-Canvas network or --mirror; {self.network} takes no condition")
        elif opts.inputs:
            try:                                        # a bad input: one line, the show starts on the pattern
                self.conditioner.open(opts.inputs[0])
            except (ValueError, OSError) as e:
                self.error("input", f"input off: {e}")
        self.publish()                                     # the first status, before any tick

    def _log_mod(self, frame: int, value: dict) -> None:
        if self.command_log is not None:
            self.command_log(self.tick_index, Command("mod", "frame", value, "mod"))

    def display_values(self):
        """This tick's parameter values as the display uses them (modulated uniforms included)."""
        return self.mod.values_for(self.tick_index, self.registry.value, count=True)

    def _log_condition(self, frame: int, value: dict) -> None:
        if self.command_log is not None:
            self.command_log(self.tick_index, Command("condition", value["key"][0], value, "input"))

    def _switch_input(self, cmd: Command) -> None:
        """A new condition source: by spec, or (None) the next of --input, then the pattern."""
        if self.G.family != "stylegan3-canvas" and self.mirror.encoder is None:
            raise ValueError(f"an input needs a StyleGAN-Canvas network or --mirror; {self.network} takes no condition")
        spec = cmd.value
        if spec is None:
            choices = list(self.opts.inputs) + ["pattern"]
            i = choices.index(self.conditioner.spec) + 1 if self.conditioner.spec in choices else 0
            spec = choices[i % len(choices)]
        spec = str(spec)
        if spec not in ("pattern", "feedback") and not spec.startswith(("v4l2:", "ndi:")):
            self.policy.check("input", spec, cmd.source)   # OSC reads files only from allowed folders
        self.conditioner.request(spec)

    # -- commands and problems -------------------------------------------------------------------
    def post(self, cmd: Command, record: bool = False) -> None:
        """Thread-safe: control threads only ever call this.  Never blocks (queue.py).  `record`:
        a control log's command, applied at this frame as it was live (offline/replay.py)."""
        self.queue.post(cmd, record)

    def notify(self, text: str) -> None:
        """An outcome to tell whoever asked (saved a preset...): control surfaces show it."""
        self.problems.notify(text)

    def error(self, kind: str, msg: str) -> None:
        """Errors become data: shown in the HUD, logged once per kind, never raised."""
        self.problems.error(kind, msg)

    @property
    def errors(self):
        return self.problems.messages

    @property
    def error_count(self) -> int:
        return self.problems.count

    @property
    def notice(self) -> tuple:
        return self.problems.notice

    def recent_errors(self) -> list[str]:
        return self.problems.recent()

    def _apply_preset_params(self, preset: Preset) -> None:
        for p in self.registry.params.values():             # a preset starts from the defaults
            if p.cost != NETWORK:
                self.registry.apply(Command("set", p.name, preset.params.get(p.name, p.default), "preset"))
        self._took_changes("preset")

    def _took_changes(self, source: str) -> list[str]:
        """The one path by which parameter changes reach feedback (OSC, OSCQuery, MIDI), whatever
        made them: commands, presets, tap, clock, learn."""
        names = self.registry.take_changed()
        for n in names:
            self.changed[n] = source
        return names

    def _bump(self, cmd: Command) -> None:
        self.generation += 1
        self.picker.mark(self.generation, cmd.received or time.perf_counter(), self.tick_index)

    def _handle(self, cmd: Command) -> None:
        self.applied += 1
        if cmd.op in ("set", "add", "toggle"):
            self.registry.apply(cmd)
            changed = self._took_changes(cmd.source)
            if "bpm" in changed:
                self.mod.tempo_changed(self.registry.target["bpm"], cmd.source)
            if any(self.registry.params[n].cost != UNIFORM for n in changed):
                self._bump(cmd)
            return
        key = cmd.op if cmd.op in triggers.LOGGED_OPS else cmd.name
        if key == "preset" and isinstance(cmd.value, dict):      # a preset sent whole, not by name
            key = "apply_preset"
        handler = self._on.get(key)
        if handler is not None:
            handler(cmd)
            return
        t = triggers.TABLE.get(cmd.name)
        if cmd.op != "trigger" or t is None or t.owner != triggers.APP:
            raise ValueError("not available in this version")
        lim = self.limits.get(cmd.name)
        if lim is not None and not lim.allow():
            if cmd.name == "feedback_sync":              # asked again before it was due: answered then
                self._sync_later = cmd
                return
            raise ValueError(f"too many {cmd.name} requests: at most {lim.rate:g} a second "
                             f"({lim.dropped} refused)")
        self.triggers.append(cmd)                        # the app's: after this frame (app.py)

    # -- the show's own triggers and the control log's lines (the command table, triggers.py) ---
    def _handlers(self) -> dict:
        return {"preset": lambda c: self._load_preset_async(c),
                "apply_preset": lambda c: self._use_preset(preset_from(c.value), c),
                "keyframe_next": self._keyframe_next, "keyframe_prev": self._keyframe_prev,
                "keyframe_goto": self._keyframe_goto, "tap": self._tap,
                "seed": self._seed, "pad_corner": self._pad_corner,
                "direction_pick": self._direction, "direction_zone": self._direction,
                "apply_direction": self._apply_direction,
                "network": lambda c: self.load_network_async(str(c.value), c.source),
                "apply_network": self._apply_network,
                **self._instrument_handlers(),
                "input": self._switch_input,
                "condition": lambda c: self.conditioner.apply_logged(c.value),   # which condition a frame used
                "mod": lambda c: self.mod.matrix.apply_logged(c.value),          # the offsets a frame used
                **{n: self._modulation for n in ("mod_route", "mod_clear", "lfo", "audio_trigger")}}

    def _quantize(self) -> bool:
        return bool(self.registry.target["quantize"])

    def _keyframe_next(self, cmd: Command) -> None:
        self.transport.next(self._quantize())
        self._bump(cmd)

    def _keyframe_prev(self, cmd: Command) -> None:
        self.transport.prev(self._quantize())
        self._bump(cmd)

    def _keyframe_goto(self, cmd: Command) -> None:
        n = len(self.preset.keyframes)
        i = number(cmd.value, f"keyframe (this preset has {n})", 0, n - 1, integer=True)
        self.transport.goto(i, self._quantize())
        self._bump(cmd)

    def _tap(self, cmd: Command) -> None:
        bpm = self.tempo.tap(cmd.received or time.perf_counter())
        if bpm is not None:              # as a command: logged (replay), fed back like any change
            self._safe_handle(Command("set", "bpm", bpm, "tap", cmd.received))

    def _seed(self, cmd: Command) -> None:
        self._replace_keyframe_seed(number(cmd.value, "seed", 0, 2 ** 32 - 1, integer=True))
        self._bump(cmd)

    def _pad_corner(self, cmd: Command) -> None:
        k, seed = cmd.value
        self._set_pad_corner(number(k, "pad corner", 0, 3, integer=True), number(seed, "seed", 0, 2 ** 32 - 1, integer=True))
        self._bump(cmd)

    def _direction(self, cmd: Command) -> None:
        self.knobs.command(cmd.name, cmd.value)

    def _apply_direction(self, cmd: Command) -> None:   # a slot's whole state, embedded (replay)
        self.knobs.apply_logged(cmd.value)
        self.generation += 1

    def _apply_network(self, cmd: Command) -> None:     # replay: the switch happens at its logged frame
        from stylegan3 import load_network
        self._use_network(load_network(str(cmd.value), device=self.device, precision=self.opts.dtype), str(cmd.value))

    def _modulation(self, cmd: Command) -> None:
        self.mod.command(cmd.name, cmd.value)

    def _replace_keyframe_seed(self, seed: int) -> None:
        """The keyframe being left becomes `seed` (the show glides on from there)."""
        from dataclasses import replace

        from ..presets import Keyframe

        if not 0 <= seed < 2 ** 32:
            raise ValueError(f"seed must be 0..2**32-1, got {str(seed)[:40]!r}")
        keys = list(self.preset.keyframes)
        keys[self.transport.keyframe()] = Keyframe(seed=seed)
        self.preset = replace(self.preset, keyframes=tuple(keys))

    def _set_pad_corner(self, k: int, seed: int) -> None:
        """Latent pad corner k (0..3) becomes `seed`: keyframe k of the preset (a preset with
        fewer keyframes grows to k + 1, repeating its own, so the other corners look the same)."""
        from dataclasses import replace

        from ..presets import Keyframe

        if not 0 <= k < 4:
            raise ValueError(f"pad corner must be 0..3, got {k}")
        if not 0 <= seed < 2 ** 32:
            raise ValueError(f"seed must be 0..2**32-1, got {str(seed)[:40]!r}")
        keys = list(self.preset.keyframes)
        keys += [keys[i % len(keys)] for i in range(len(keys), k + 1)]
        keys[k] = Keyframe(seed=seed)
        self.preset = replace(self.preset, keyframes=tuple(keys))
        if len(keys) != self.transport.n:
            self.transport.n = len(keys)

    # -- direction slots (livegan/directions/live.py) ---------------------------------------------
    def _network_shape(self) -> tuple:
        return self.G, self.network, self.bank.num_ws, self.bank.w_dim

    def _slot_changed(self, k: int) -> None:
        self.generation += 1
        if self.command_log is not None:                 # the replay gets the vector itself
            self.command_log(self.tick_index, Command("apply_direction", "direction", self.knobs.logged(k), "log"))

    def direction_state(self) -> list[dict]:
        return self.knobs.state(self.registry.value)

    def tick(self, now: float, wait: bool = False) -> Optional[object]:
        """Advance one display frame at time `now` (seconds); returns a new `Frame` or None.
        With `wait` (offline rendering) it blocks until this tick's own frame is ready."""
        # The timeline is frame-locked: every display frame advances it by exactly 1/fps, so the
        # same commands at the same frames give the same pictures (recordings replay exactly).
        dt = 0.0 if self._last_now is None else 1.0 / self.opts.fps
        self._last_now = now
        self.tick_index += 1
        self._engine_problems()
        self._finish_loading()
        self._finish_preset()
        if self.knobs.pending:
            self.knobs.retry()
        if self.bends.pending:
            self.bends.retry()
        self.queue.drain(self._safe_handle, lambda: self.preset_loader.busy,
                         take_new=wait or not self._change_on_its_way())
        self._follow_netmix()
        self._follow_mirror()
        if self._sync_later is not None and self.limits["feedback_sync"].allow():
            self.triggers.append(self._sync_later)
            self._sync_later = None
        for msg in self.conditioner.poll():
            self.error("input", msg)
        self.conditioner.tick(self.transport.keyframe())
        self.stats.clamped = self.registry.clamped
        self.registry.step(dt)
        v = self.registry.value
        jumps = self.transport.jumps
        self.transport.advance(dt, v["speed"], v["bpm"], bool(v["beat_sync"]), bool(v["loop"]))
        if self.transport.jumps != jumps:            # a quantised jump landed on the beat
            self.generation += 1
        self.mod.tick(dt, v["bpm"], replaying=self.mod.matrix.replaying)
        n = self.tick_index
        first = n if (self.current is None or wait) else n + self.lead()
        # A moving condition (camera, video, feedback) is taken when a frame is planned: planning
        # no further ahead than needed halves condition-to-photon latency (bench/canvas.py).  A
        # replay plans no frame before its logged condition has arrived.
        cond, m = self.conditioner, self.mod.matrix
        live = (self.G.family == "stylegan3-canvas" and (cond.moving or cond.replay_dir)) or m.active or m.replaying
        ahead = self.opts.live_lookahead if live else self.opts.lookahead
        if self.generation != self._planned_generation:
            self._planned_generation, self._changed_at = self.generation, n
        self.engine.submit(self.plan(first, ahead + 1))
        if wait:
            self.picker.wait_for(self.engine, n, self.generation)
        frame = self.picker.pick(self.engine, n, self.generation, self.current is not None)
        if frame is not None:
            self.current, self.current_image = frame.request, frame.image
            # the layer view, for the monitor (none when it is off or already the program)
            self.current_view = frame.view if frame.request.view and not frame.request.view[5] else None
        self.publish()
        return frame

    def _change_on_its_way(self) -> bool:
        """The last change's picture is not on screen yet and may still come in time: the batch in
        flight when it came (up to the planning lead), then its own (the lead), and a frame.  New
        commands wait in the intake meanwhile, which keeps each parameter's newest value, so
        nothing is lost.  Each change discards the frames planned before it: a knob
        sending faster than the display rate discarded every frame before it was due, and the
        picture froze while the knob turned (bench/perform.py --every 0.034).  Offline every
        tick waits for its own picture, so nothing is ever held there."""
        if self.current is None or self.current.generation >= self.generation:
            return False
        return self.tick_index - self._changed_at <= 2 * self.lead() + 1

    def publish(self) -> ShowStatus:
        """This tick's frozen status (status.py): what every surface reads.  The parameters changed
        since the last one go with it, once."""
        self.status = self.publisher.publish(self)
        return self.status

    def _safe_handle(self, cmd: Command) -> None:
        """The one path every command takes: whatever it raises becomes a HUD error, and the
        show keeps its previous state."""
        try:
            if self.command_log is not None:
                self.command_log(self.tick_index, cmd)
            self._handle(cmd)
        except Exception as e:
            self.error(f"command:{cmd.op}:{cmd.name}", f"{cmd.source or 'command'} {cmd.op} {cmd.name}: {e}")

    def _engine_problems(self) -> None:
        """The engine thread's failures, reported as the show's own (counted, HUD, status)."""
        for kind, msg in self.engine.take_errors():
            self.error(kind, msg)

    def start(self) -> "Show":
        self.engine.start()
        return self

    def stop(self) -> None:
        self.engine.stop()
        self._engine_problems()                          # those of its last batch count too
        self.conditioner.stop()
        self.mod.stop()
        self.knobs.catalog.stop()
        self.clusters.stop()
