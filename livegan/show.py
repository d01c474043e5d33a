"""The show: parameter state, transport, timeline and engine -- everything but the window.

Each display frame the main thread (see app.py): drains the command queue into the parameter
registry and the transport, asks the timeline for the next frames, hands that plan to the engine
without blocking,
takes the newest finished frame of the current generation, draws it through the shader chain and
the HUD, and presents it.  A change (a command that alters what is rendered) starts a new
generation: frames of older generations are never shown after it.
"""
from __future__ import annotations

import copy
import heapq
import itertools
import math
import statistics
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np
from . import triggers
from .defaults import DEFAULT_NETWORK

from .clock import Tempo, Transport
from .params import NETWORK, UNIFORM, Command, Registry
from .jobs import LatestLoader, RateLimit
from .load_policy import REMOTE_SOURCES, LoadPolicy
from .presets import Preset, PresetError, check_for_network, list_presets, load_preset, preset_from, preset_json
from .timeline import FrameRequest, KeyframeBank, frame_request
from .console import say


@dataclass
class Options:
    network: Optional[str] = None
    preset: str = "default"
    fps: float = 30.0
    batch: int = 1
    dtype: str = "auto"
    device: str = "auto"
    canvas: Optional[str] = None
    fit: str = "fit"
    dev: bool = False
    hud: bool = True
    lookahead: int = 2                # frames planned beyond the next one the engine can deliver
    cuda_graphs: bool = False         # replay captured CUDA graphs (CUDA only)
    load_roots: tuple = ()            # folders OSC may load presets/networks from (see load_policy)
    save_dir: Optional[Path] = None   # where "save as preset" writes (None: presets/)
    directions: bool = False          # at start: load fitted directions, compute the network's pca/sefa
                                      # (otherwise on the first pick that needs them)
    allow_remote_load: bool = False   # OSC may load any path or URL
    inputs: tuple = ()                # StyleGAN-Canvas condition sources (--input), the first one live
    live_lookahead: int = 0           # frames planned ahead while a moving input (camera, audio) drives them


@dataclass
class Stats:
    shown: int = 0                    # generator frames shown
    repeated: int = 0                 # display frames that reshowed the previous image
    dropped: int = 0                  # frames generated in time but never shown: a newer one was due
    discarded: int = 0                # frames planned ahead, then invalidated by a change (not lost)
    clamped: int = 0
    present_times: deque = field(default_factory=lambda: deque(maxlen=120))
    latency_ms: deque = field(default_factory=lambda: deque(maxlen=64))
    latency_frames: deque = field(default_factory=lambda: deque(maxlen=64))
    shown_ids: deque = field(default_factory=lambda: deque(maxlen=100_000))  # (tick, frame id, generation)

    def fps(self) -> float:
        t = self.present_times
        return (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 and t[-1] > t[0] else 0.0


def cpu_mapper(G) -> Callable[[np.ndarray], np.ndarray]:
    """A CPU copy of the mapping network, owned by the main thread (the engine owns G)."""
    import torch

    m = copy.deepcopy(G.mapping).to("cpu").float().eval()

    def run(z: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return m(torch.from_numpy(z), None)[0].numpy()
    return run


FIRST_FRAME_S = 30.0                  # LIVEGAN_FIRST_FRAME_S: a new network's first frame, at most


def first_frame(G, source: str) -> None:
    """Render one frame (at w_avg) with a network about to take over, off the main thread; it
    must finish within the deadline and be finite, else the playing network stays."""
    import os

    import torch

    from .explore import condition_for, synthesize

    try:
        limit = float(os.environ.get("LIVEGAN_FIRST_FRAME_S", FIRST_FRAME_S))
    except ValueError:
        limit = FIRST_FRAME_S
    t0 = time.perf_counter()
    dev = next(G.parameters()).device
    with torch.inference_mode():
        ws = G.mapping.w_avg.reshape(1, 1, -1).repeat(1, G.num_ws, 1).to(dev)
        img = synthesize(G, ws, condition_for(G))
    took = time.perf_counter() - t0
    if not bool(torch.isfinite(img).all()):
        raise ValueError("its first frame is not finite (NaN or inf): not used")
    if took > limit:
        raise ValueError(f"its first frame took {took:.0f} s, more than the {limit:.0f} s deadline "
                         "(LIVEGAN_FIRST_FRAME_S): not used")


def make_bank(G) -> KeyframeBank:
    return KeyframeBank(cpu_mapper(G), G.z_dim, G.num_ws, G.w_dim,
                        G.mapping.w_avg.detach().float().cpu().numpy())


class Show:
    """Parameter state, transport, timeline and engine: everything but the window.

    `tick(now)` advances one display frame and returns the frame to show (or None to keep the
    current one).  The display backends (window, headless) call it and draw the result.
    """

    def __init__(self, opts: Options, preset: Optional[Preset] = None, G=None):
        from stylegan3 import load_network

        from .devices import resolve_device
        from .engine import Engine, canvas_for

        self.opts = opts
        self.changed: dict = {}                            # parameter -> source of its last change (feedback)
        from .intake import Budget, Intake
        self.intake = Intake()                             # every control input's one door (intake.py)
        self.budget = Budget()                             # the CPU the surfaces' threads may take
        self.deferred = 0                                  # frames whose command budget ran out
        self.policy = LoadPolicy(tuple(Path(r) for r in opts.load_roots), opts.allow_remote_load)
        self.registry = Registry()
        self.preset = preset or load_preset(opts.preset)
        self.device = resolve_device(opts.device)
        self.network = opts.network or self.preset.network or DEFAULT_NETWORK
        self.G = G if G is not None else load_network(self.network, device=self.device, precision=opts.dtype)
        self.check_runtime(self.G, self.network)
        self.bank = make_bank(self.G)
        from .directions.live import DirectionKnobs
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
        self._ready: dict[int, object] = {}
        self._marks: dict[int, tuple[float, int]] = {}     # generation -> (received, tick)
        self.stats = Stats()
        self.errors: deque = deque(maxlen=6)
        self.notice: tuple = (0, "")                       # (count, text): the last outcome a surface asked for
        self._error_times: deque = deque(maxlen=6)         # when each of `errors` came (HUD fades them)
        self.error_count = 0                               # every problem reported since the start
        self._logged: set = set()
        self.triggers: list[Command] = []                  # for the app: hud, fullscreen, snapshot...
        self.preset_loader = LatestLoader("preset-loader")
        self.network_loader = LatestLoader("network-loader")
        self._held: deque = deque()                        # commands queued behind a preset load
        # Heavy triggers: at most this often; refusals are counted (and said once in the HUD).
        self.limits = {t.name: RateLimit(*t.rate) for t in triggers.TABLE.values() if t.rate is not None}
        self._on = self._handlers()
        self.swapped = False
        self._sync_later: Optional[Command] = None         # a feedback sync asked for too soon
        self._last_now: Optional[float] = None
        self._scheduled: list = []                         # heap of (due, seq, Command)
        self._seq = itertools.count()
        self.applied = 0
        self.command_log: Optional[Callable[[int, Command], None]] = None   # the session recorder
        if opts.directions:
            self.knobs.start_unsupervised()
        self.knobs.pick_preset(self.preset)
        from .modulation.live import Modulation
        self.mod = Modulation(self.registry.params, self.post, self.error, log=self._log_mod)
        self.mod.use_preset(self.preset)
        from .conditions import Conditioner, condition_size, is_canvas
        self.conditioner = Conditioner(condition_size(self.G, opts.canvas) if is_canvas(self.G) else (64, 64),
                                       opts.fps, log=self._log_condition)
        if opts.inputs and not is_canvas(self.G):
            self.error("input", f"--input needs a StyleGAN-Canvas network; {self.network} takes no condition")
        elif opts.inputs:
            try:                                        # a bad input: one line, the show starts on the pattern
                self.conditioner.open(opts.inputs[0])
            except (ValueError, OSError) as e:
                self.error("input", f"input off: {e}")

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
        if self.G.family != "stylegan3-canvas":
            raise ValueError(f"an input needs a StyleGAN-Canvas network; {self.network} takes no condition")
        spec = cmd.value
        if spec is None:
            choices = list(self.opts.inputs) + ["pattern"]
            i = choices.index(self.conditioner.spec) + 1 if self.conditioner.spec in choices else 0
            spec = choices[i % len(choices)]
        spec = str(spec)
        if spec not in ("pattern", "feedback") and not spec.startswith(("v4l2:", "ndi:")):
            self.policy.check("input", spec, cmd.source)   # OSC reads files only from allowed folders
        self.conditioner.request(spec)

    # -- commands ---------------------------------------------------------------------------------
    MAX_SCHEDULED = 1024              # time-tagged commands waiting for their time
    MAX_AHEAD_S = 60.0                # how far ahead a time tag may point
    MAX_HELD = 4096                   # commands waiting behind a preset load

    def post(self, cmd: Command) -> None:
        """Thread-safe: control threads only ever call this.  Never blocks: sets are coalesced,
        the rest waits in a bounded backlog per kind (intake.py)."""
        self.intake.post(cmd)

    def notify(self, text: str) -> None:
        """An outcome to tell whoever asked (saved a preset...): control surfaces show it."""
        self.notice = (self.notice[0] + 1, " ".join(str(text).split())[:240])

    def error(self, kind: str, msg: str) -> None:
        """Errors become data: shown in the HUD, logged once per kind, never raised."""
        self.error_count += 1
        msg = " ".join(str(msg).split())
        if len(msg) > 240:                          # hostile input can make messages huge
            msg = msg[:237] + "..."
        self.errors.append(msg)
        self._error_times.append(time.monotonic())
        if kind not in self._logged:
            self._logged.add(kind)
            say(f"livegan: {msg}")

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
        self._marks[self.generation] = (cmd.received or time.perf_counter(), self.tick_index)

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
        i, n = int(cmd.value), len(self.preset.keyframes)
        if not 0 <= i < n:
            raise ValueError(f"no keyframe {i}: this preset has {n} (0..{n - 1})")
        self.transport.goto(i, self._quantize())
        self._bump(cmd)

    def _tap(self, cmd: Command) -> None:
        bpm = self.tempo.tap(cmd.received or time.perf_counter())
        if bpm is not None:              # as a command: logged (replay), fed back like any change
            self._safe_handle(Command("set", "bpm", bpm, "tap", cmd.received))

    def _seed(self, cmd: Command) -> None:
        self._replace_keyframe_seed(int(cmd.value))
        self._bump(cmd)

    def _pad_corner(self, cmd: Command) -> None:
        k, seed = cmd.value
        self._set_pad_corner(int(k), int(seed))
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

        from .presets import Keyframe

        if not 0 <= seed < 2 ** 32:
            raise ValueError(f"seed must be 0..2**32-1, got {seed}")
        keys = list(self.preset.keyframes)
        keys[self.transport.keyframe()] = Keyframe(seed=seed)
        self.preset = replace(self.preset, keyframes=tuple(keys))

    def _set_pad_corner(self, k: int, seed: int) -> None:
        """Latent pad corner k (0..3) becomes `seed`: keyframe k of the preset (a preset with
        fewer keyframes grows to k + 1, repeating its own, so the other corners look the same)."""
        from dataclasses import replace

        from .presets import Keyframe

        if not 0 <= k < 4:
            raise ValueError(f"pad corner must be 0..3, got {k}")
        if not 0 <= seed < 2 ** 32:
            raise ValueError(f"seed must be 0..2**32-1, got {seed}")
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

    def _preset_ref(self, ref):
        """An index into presets/ becomes its path; names and paths pass through."""
        if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
            files = list_presets()
            i = int(ref)
            if not 0 <= i < len(files):
                keys = ", ".join(f"{(k + 1) % 10} {f.stem}" for k, f in enumerate(files[:10]))
                raise PresetError(f"no preset {i + 1}: there are {len(files)} ({keys})")
            return str(files[i])
        return ref

    def _load_preset_async(self, cmd: Command) -> None:
        """Read and check the preset on a loader thread; commands that arrive meanwhile wait
        behind it (so 'preset, then psi' keeps its order); the old preset plays until it lands."""
        ref = self._preset_ref(cmd.value)
        self.policy.check("preset", ref, cmd.source)
        num_ws, w_dim = self.bank.num_ws, self.bank.w_dim
        # Names resolve in the preset folders only (presets/, then each --load-dir): never in the
        # working directory for a peer, and a preset the gallery wrote into a --load-dir is found.
        folders, cwd = self.policy.folders(), cmd.source not in REMOTE_SOURCES

        def load() -> Preset:
            preset = load_preset(ref, folders=folders, cwd=cwd)
            check_for_network(preset, num_ws, w_dim)
            return preset
        self.preset_loader.submit(cmd, load)

    def _finish_preset(self) -> None:
        for cmd, preset, err in self.preset_loader.poll():
            if err is not None:
                what = str(err)
                self.error("preset", what if str(cmd.value) in what else f"preset {str(cmd.value)[:80]}: {what}")
                continue
            if self.preset_loader.busy:                  # a newer request is on its way
                continue
            self._use_preset(preset, cmd)
            if self.command_log is not None:           # recordings keep the preset itself
                self.command_log(self.tick_index, Command("apply_preset", "preset", preset_json(preset), "log"))
        if not self.preset_loader.busy:
            held, self._held = self._held, deque()
            for c in held:
                self._safe_handle(c)

    def _use_preset(self, preset: Preset, cmd: Command) -> None:
        check_for_network(preset, self.bank.num_ws, self.bank.w_dim)
        self.preset = preset
        self.transport = Transport(len(preset.keyframes))
        self._apply_preset_params(preset)
        self.mod.use_preset(preset)
        if cmd.source != "log":                          # a replay has its apply_direction lines
            self.knobs.pick_preset(preset)
        self._bump(cmd)

    def load_network_async(self, source: str, origin: str = "") -> None:
        """Hot-swap: load in the background while the old network keeps playing."""
        from stylegan3 import load_network

        self.policy.check("network", source, origin)
        lim = self.limits["network"]
        if not lim.allow():
            raise ValueError(f"network loads: at most one every {1 / lim.rate:g} s ({lim.dropped} refused)")
        device, dtype = self.device, self.opts.dtype

        def load():
            G = load_network(source, device=device, precision=dtype)
            self.check_runtime(G, source)
            first_frame(G, source)                   # a network that cannot render never takes over
            return G
        self.network_loader.submit(source, load)

    def check_runtime(self, G, source: str) -> None:
        """Refuse a network whose run-time memory at this show's batch and canvas is above the
        limit (estimated from its layer plan, before a frame is rendered)."""
        from stylegan3.bounds import check_size

        from .engine import canvas_for
        try:
            canvas, _ = canvas_for(G, self.opts.canvas)
        except ValueError:
            canvas = None
        check_size(G, source, self.opts.batch, canvas[0] if canvas else 0)

    def _finish_loading(self) -> None:
        for source, G, err in self.network_loader.poll():
            if err is not None:
                self.error("network", f"network {source} failed to load: {err}")
                continue
            try:
                self._use_network(G, source)
            except (PresetError, ValueError) as e:
                self.error("network", f"network {source} not used: {e}")
                continue
            say(f"livegan: now playing {source}")        # a new training snapshot too
            self.notify(f"now playing {source}")
            if self.command_log is not None:            # replayed at this very frame
                self.command_log(self.tick_index, Command("apply_network", "network", source, "log"))

    def _use_network(self, G, source: str) -> None:
        """Swap the network in: the preset must fit it; the wide canvas is recomputed for it."""
        from .engine import canvas_for

        try:
            check_for_network(self.preset, G.num_ws, G.w_dim)
        except PresetError as e:
            raise PresetError(f"the playing preset does not fit it ({e})") from None
        try:
            canvas, crop = canvas_for(G, self.opts.canvas)
        except ValueError as e:                          # e.g. a StyleGAN2 network: no wide canvas
            self.error("canvas", f"{source}: {e}; shown square")
            canvas, crop = None, None
        self.G, self.network, self.bank = G, source, make_bank(G)
        from .conditions import condition_size, is_canvas
        if is_canvas(G):
            self.conditioner.resize(condition_size(G, self.opts.canvas))
        self.generation += 1
        self.engine.swap_network(G, canvas, crop)
        self.swapped = True
        self.knobs.network_switched(G.w_dim, self.opts.directions)

    # -- the frame loop ---------------------------------------------------------------------------
    def plan(self, first: int, count: int) -> list[FrameRequest]:
        """Requests for display ticks first .. first+count-1, predicted exactly: parameter slews
        and travel are stepped forward with the same functions the ticks will use, so a frame
        rendered ahead is identical to the one its own tick would ask for (unless a command
        arrives, which starts a new generation)."""
        from .clock import next_position
        from .params import FrameParams, glide

        dt = 1.0 / self.opts.fps
        reg, n = self.registry, self.transport.n
        vals, pos = dict(reg.value), self.transport.position
        out = []
        for tick in range(self.tick_index + 1, first + count):
            vals = glide(reg.params, vals, reg.target, dt)
            pos = next_position(pos, n, dt, vals["speed"], vals["bpm"], bool(vals["beat_sync"]), bool(vals["loop"]))
            if tick >= first:                        # (modulation adds the offsets this frame keeps)
                out.append(frame_request(self.preset, FrameParams(self.mod.values_for(tick, vals), reg.version), pos,
                                         self.bank, frame=tick, generation=self.generation, slots=tuple(self.knobs.slots)))
        if first <= self.tick_index:                 # the current tick itself (start-up)
            now = FrameParams(self.mod.values_for(self.tick_index, dict(reg.value)), reg.version)
            out.insert(0, frame_request(self.preset, now, self.transport.position, self.bank,
                                        frame=self.tick_index, generation=self.generation, slots=tuple(self.knobs.slots)))
        if self.G.family == "stylegan3-canvas":      # each frame keeps the condition it was first planned with
            from dataclasses import replace
            out = [replace(r, cond=self.conditioner.for_frame(r.frame)) for r in out]
        return out

    def lead(self) -> int:
        """How many ticks ahead a request must be made to be ready in time."""
        ms = self.engine.stats.median_ms() * self.opts.batch
        return max(1, math.ceil(ms / (1000.0 / self.opts.fps)))

    def tick(self, now: float, wait: bool = False) -> Optional[object]:
        """Advance one display frame at time `now` (seconds); returns a new `Frame` or None.
        With `wait` (offline rendering) it blocks until this tick's own frame is ready."""
        # The timeline is frame-locked: every display frame advances it by exactly 1/fps, so the
        # same commands at the same frames give the same pictures (recordings replay exactly).
        dt = 0.0 if self._last_now is None else 1.0 / self.opts.fps
        self._last_now = now
        self.tick_index += 1
        self._finish_loading()
        self._finish_preset()
        if self.knobs.pending:
            self.knobs.retry()
        self._drain()
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
        self.engine.submit(self.plan(first, ahead + 1))
        if wait:
            self._wait_for(n)
        return self._pick(n, now)

    MAX_COMMANDS_PER_FRAME = 2000     # a flood is spread over frames, never stalls one

    DRAIN_BUDGET_S = 0.004            # the main thread's time for commands per frame (then next frame)

    def _drain(self) -> None:
        """Apply queued commands: timed ones when due, at most MAX_COMMANDS_PER_FRAME and about
        DRAIN_BUDGET_S of the frame now (the rest waits a frame: the picture never stalls)."""
        wall = time.time()
        end = time.perf_counter() + self.DRAIN_BUDGET_S
        for k in range(self.MAX_COMMANDS_PER_FRAME):
            if k % 16 == 15 and time.perf_counter() > end:
                self.deferred += 1
                break
            cmd = self.intake.take()
            if cmd is None:
                break
            if cmd.due > wall + self.MAX_AHEAD_S:
                self.error("schedule", f"{cmd.source} {cmd.name}: time tag {cmd.due - wall:.0f} s ahead "
                                       f"refused (at most {self.MAX_AHEAD_S:.0f} s)")
            elif cmd.due > wall:
                if len(self._scheduled) >= self.MAX_SCHEDULED:
                    self.error("schedule-full", f"{self.MAX_SCHEDULED} timed commands already waiting: "
                                                f"{cmd.name} dropped")
                else:
                    heapq.heappush(self._scheduled, (cmd.due, next(self._seq), cmd))
            else:
                self._apply_or_hold(cmd)
        while self._scheduled and self._scheduled[0][0] <= wall:
            self._apply_or_hold(heapq.heappop(self._scheduled)[2])

    def _apply_or_hold(self, cmd: Command) -> None:
        if self.preset_loader.busy and cmd.name not in ("preset",) and cmd.op != "apply_preset":
            if len(self._held) >= self.MAX_HELD:
                self.error("held-full", f"commands waiting for a preset load: {cmd.name} dropped")
            else:
                self._held.append(cmd)
            return
        self._safe_handle(cmd)

    def _safe_handle(self, cmd: Command) -> None:
        """The one path every command takes: whatever it raises becomes a HUD error, and the
        show keeps its previous state."""
        try:
            if self.command_log is not None:
                self.command_log(self.tick_index, cmd)
            self._handle(cmd)
        except Exception as e:
            self.error(f"command:{cmd.op}:{cmd.name}", f"{cmd.source or 'command'} {cmd.op} {cmd.name}: {e}")

    def _wait_for(self, n: int, timeout: float = 120.0) -> None:
        deadline = time.perf_counter() + timeout
        while not (n in self._ready and self._ready[n].generation == self.generation):
            for f in self.engine.take():
                self._ready[f.id] = f
            if time.perf_counter() > deadline:
                raise TimeoutError(f"frame {n} not rendered within {timeout:.0f} s")
            time.sleep(0.0005)

    def _pick(self, n: int, now: float):
        for f in self.engine.take():
            self._ready[f.id] = f
        # Only the current generation; the newest frame due by now.
        stale = [k for k, f in self._ready.items() if f.generation != self.generation]
        for k in stale:
            del self._ready[k]
        self.stats.discarded += len(stale)
        due = [k for k in self._ready if k <= n]
        if not due:
            self.stats.repeated += self.current is not None
            return None
        best = max(due)
        self.stats.dropped += len(due) - 1
        frame = self._ready.pop(best)
        for k in due:
            self._ready.pop(k, None)
        self.current, self.current_image = frame.request, frame.image
        self.stats.shown += 1
        self.stats.shown_ids.append((n, frame.id, frame.generation))
        for g in [g for g in self._marks if g <= frame.generation]:
            received, tick = self._marks.pop(g)
            self.stats.latency_ms.append((time.perf_counter() - received) * 1000)
            self.stats.latency_frames.append(n - tick)
        return frame

    def hud_lines(self, display_fps: float, refused: int = 0) -> list[str]:
        """`refused`: what the control surfaces refused, counted with the show's own problems."""
        e = self.engine.stats
        lat = f"{statistics.median(self.stats.latency_ms):.0f} ms / {statistics.median(self.stats.latency_frames):.0f} fr" \
            if self.stats.latency_ms else "-"
        k = self.current.keyframe if self.current else 0
        lines = [
            f"display {display_fps:5.1f} fps   generator {e.median_ms():5.1f} ms/frame   batch {e.batch}",
            f"queue {self.engine.queue_depth()}   dropped {self.stats.dropped}   "
            f"repeated {self.stats.repeated}   latency {lat}",
            f"network {self.network}",
            f"preset {self.preset.name}   keyframe {k + 1}/{len(self.preset.keyframes)} "
            f"({self.preset.keyframes[k].label()})   bpm {self.registry.value['bpm']:.1f}",
        ]
        if self.G.family == "stylegan3-canvas":
            lines.append(self.conditioner.status())
        lines += self.mod.hud_lines()
        # Problems fade from the HUD after a few seconds; the count stays.
        errs = self.recent_errors() + list(e.errors)[-2:]
        count = self.error_count + refused
        if count:
            lines.append(f"{count} problem{'s' if count > 1 else ''} so far")
        return lines + [f"! {m}" for m in errs]

    ERROR_FADE_S = 6.0

    def recent_errors(self) -> list[str]:
        """The last few problems of the past ERROR_FADE_S seconds (the HUD, the control page)."""
        now = time.monotonic()
        return [m for m, t in zip(self.errors, self._error_times) if now - t < self.ERROR_FADE_S][-3:]

    def start(self) -> "Show":
        self.engine.start()
        return self

    def stop(self) -> None:
        self.engine.stop()
        self.conditioner.stop()
        self.mod.stop()
        self.knobs.catalog.stop()
