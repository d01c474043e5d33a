"""MIDI control: controller maps (presets/midi/*.json), learn, soft takeover, feedback, clock.

`MidiMapper` is the pure part (mido messages in, commands out); `MidiInputs` opens ports by name
substring through mido's rtmidi backend (ALSA or JACK), re-opens unplugged devices, and only ever
posts commands.
"""
from __future__ import annotations

import json
import math
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Optional

from ..clock import Tempo
from ..params import PARAMS, TRIGGERS, Command

MAP_DIR = Path(__file__).resolve().parents[2] / "presets" / "midi"
MODES = ("absolute", "14bit", "relative_twos", "relative_signed", "relative_offset")
CURVES = ("linear", "exp", "log", "smooth")
PICKUP = 0.03            # soft takeover: a knob within 3% of the value picks it up


class MidiMapError(ValueError):
    pass


@dataclass
class Control:
    """One CC -> parameter mapping."""
    param: str
    cc: int
    channel: int = 0
    mode: str = "absolute"
    cc_lsb: Optional[int] = None          # 14-bit: the LSB controller (default cc + 32)
    curve: str = "linear"
    lo: Optional[float] = None            # range on the parameter (default: its whole range)
    hi: Optional[float] = None
    step: float = 1.0 / 128               # relative modes: share of the range per tick
    takeover: bool = True
    picked: bool = False                  # soft takeover state
    last: Optional[float] = None          # last knob position (normalised)
    sent: Optional[float] = None          # the value this knob last set

    def to_json(self) -> dict:
        d = {"cc": self.cc, "channel": self.channel, "param": self.param, "mode": self.mode}
        if self.mode == "14bit":
            d["cc_lsb"] = self.lsb()
        for k in ("curve", "lo", "hi"):
            if getattr(self, k) not in (None, "linear"):
                d[k] = getattr(self, k)
        if self.mode.startswith("relative") and self.step != 1.0 / 128:
            d["step"] = self.step
        if not self.takeover:
            d["takeover"] = False
        return d

    def lsb(self) -> int:
        return self.cc_lsb if self.cc_lsb is not None else self.cc + 32


@dataclass
class NoteTrigger:
    note: int
    trigger: str
    channel: int = 0
    value: object = None


@dataclass
class MidiMap:
    name: str
    controls: list[Control] = field(default_factory=list)
    notes: list[NoteTrigger] = field(default_factory=list)
    buttons: list[NoteTrigger] = field(default_factory=list)   # CC buttons: press (>= 64) triggers
    port: Optional[str] = None
    feedback: bool = False
    path: Optional[Path] = None

    def to_json(self) -> dict:
        return {"name": self.name, "port": self.port, "feedback": self.feedback,
                "controls": [c.to_json() for c in self.controls],
                "notes": [{"note": n.note, "channel": n.channel, "trigger": n.trigger,
                           **({"value": n.value} if n.value is not None else {})} for n in self.notes],
                "buttons": [{"cc": n.note, "channel": n.channel, "trigger": n.trigger,
                             **({"value": n.value} if n.value is not None else {})} for n in self.buttons]}

    def save(self, path: Optional[Path] = None) -> Path:
        """Atomic write (a crash never leaves half a map file)."""
        path = Path(path or self.path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        os.replace(tmp, path)
        return path


def _int_in(v, lo: int, hi: int, where: str, path: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise MidiMapError(f"{path}: {where}: must be an integer {lo}..{hi}, got {v!r}")
    return v


def _num_in(v, lo: float, hi: float, where: str, path: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not lo <= v <= hi:
        raise MidiMapError(f"{path}: {where}: must be a number {lo:g}..{hi:g}, got {v!r}")
    return float(v)


def _list(data: dict, key: str, path: str) -> list:
    v = data.get(key, [])
    if not isinstance(v, list) or len(v) > 1024:
        raise MidiMapError(f"{path}: {key}: must be a list (of at most 1024 entries)")
    return v


def parse_map(data: dict, path: str = "<map>") -> MidiMap:
    """Every field checked at load, one line naming file and field: a map that loads never
    crashes the show later."""
    params = {p.name: p for p in PARAMS}
    if not isinstance(data, dict):
        raise MidiMapError(f"{path}: top level: expected a JSON object")
    for key, kinds in (("name", str), ("port", (str, type(None))), ("feedback", bool)):
        if key in data and not isinstance(data[key], kinds):
            raise MidiMapError(f"{path}: {key}: wrong type ({type(data[key]).__name__})")
    m = MidiMap(name=str(data.get("name", Path(path).stem)), port=data.get("port"),
                feedback=bool(data.get("feedback", False)), path=Path(path))
    for i, c in enumerate(_list(data, "controls", path)):
        w = f"controls[{i}]"
        if not isinstance(c, dict) or c.get("param") not in params:
            raise MidiMapError(f"{path}: {w}.param: unknown parameter {c.get('param') if isinstance(c, dict) else c!r}")
        p = params[c["param"]]
        span = max(abs(p.lo), abs(p.hi), 1.0) * 4
        lo = None if c.get("lo") is None else _num_in(c["lo"], -span, span, f"{w}.lo", path)
        hi = None if c.get("hi") is None else _num_in(c["hi"], -span, span, f"{w}.hi", path)
        if lo is not None and hi is not None and lo == hi:
            raise MidiMapError(f"{path}: {w}: lo and hi must differ")
        lsb = None if c.get("cc_lsb") is None else _int_in(c["cc_lsb"], 0, 127, f"{w}.cc_lsb", path)
        step = _num_in(c.get("step", 1.0 / 128), 1e-6, 1.0, f"{w}.step", path)
        if not isinstance(c.get("takeover", True), bool):
            raise MidiMapError(f"{path}: {w}.takeover: must be true or false")
        mode = c.get("mode", "absolute")
        if mode not in MODES:
            raise MidiMapError(f"{path}: {w}.mode: must be one of {', '.join(MODES)}")
        curve = c.get("curve", "linear")
        if curve not in CURVES:
            raise MidiMapError(f"{path}: {w}.curve: must be one of {', '.join(CURVES)}")
        m.controls.append(Control(param=c["param"], cc=_int_in(c.get("cc"), 0, 127, f"{w}.cc", path),
                                  channel=_int_in(c.get("channel", 0), 0, 15, f"{w}.channel", path), mode=mode,
                                  cc_lsb=lsb, curve=curve, lo=lo, hi=hi, step=step,
                                  takeover=c.get("takeover", True)))
    for group, key, out in (("notes", "note", m.notes), ("buttons", "cc", m.buttons)):
        for i, n in enumerate(_list(data, group, path)):
            w = f"{group}[{i}]"
            if not isinstance(n, dict) or n.get("trigger") not in TRIGGERS:
                raise MidiMapError(f"{path}: {w}.trigger: must be one of {', '.join(TRIGGERS)}")
            v = n.get("value")
            if not (v is None or isinstance(v, (int, str)) and not isinstance(v, bool)
                    and (not isinstance(v, str) or len(v) <= 1024) and (not isinstance(v, int) or 0 <= v < 2 ** 32)):
                raise MidiMapError(f"{path}: {w}.value: must be an integer 0..2**32-1 or a short string")
            out.append(NoteTrigger(_int_in(n.get(key), 0, 127, f"{w}.{key}", path), n["trigger"],
                                   _int_in(n.get("channel", 0), 0, 15, f"{w}.channel", path), n.get("value")))
    return m


def load_map(ref: str | os.PathLike, folder: Path = MAP_DIR) -> MidiMap:
    p = Path(ref)
    if not p.suffix and not p.exists():
        p = folder / f"{ref}.json"
    from ..safeio import read_regular

    if not p.exists():
        have = ", ".join(sorted(q.stem for q in folder.glob("*.json"))) if folder.is_dir() else "none"
        raise MidiMapError(f"{p}: no such MIDI map (available: {have})")
    try:
        return parse_map(json.loads(read_regular(p, 1 << 20, "MIDI map").decode("utf-8")), str(p))
    except json.JSONDecodeError as e:
        raise MidiMapError(f"{p}: not valid JSON (line {e.lineno}: {e.msg})") from None
    except UnicodeDecodeError:
        raise MidiMapError(f"{p}: not valid JSON (not UTF-8 text)") from None
    except MidiMapError:
        raise
    except (OSError, ValueError) as e:
        raise MidiMapError(str(e)) from None


def curve(x: float, kind: str) -> float:
    if kind == "exp":
        return x * x
    if kind == "log":
        return x ** 0.5
    if kind == "smooth":
        return x * x * (3 - 2 * x)
    return x


def inverse_curve(y: float, kind: str) -> float:
    if kind == "exp":
        return max(y, 0.0) ** 0.5
    if kind == "log":
        return y * y
    if kind == "smooth":                          # invert smoothstep by bisection (rarely used)
        lo, hi = 0.0, 1.0
        for _ in range(30):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if curve(mid, "smooth") < y else (lo, mid)
        return (lo + hi) / 2
    return y


def relative_delta(v: int, mode: str) -> int:
    """Encoder ticks from a relative CC value."""
    if mode == "relative_twos":
        return v if v < 64 else v - 128
    if mode == "relative_signed":
        return -(v & 63) if v & 64 else v & 63
    return v - 64                                  # relative_offset (binary offset)


def backend_spec(name: str) -> str:
    """mido's name for a backend as docs/midi.md writes it: 'rtmidi', 'rtmidi/UNIX_JACK' or
    'mido.backends.rtmidi/UNIX_JACK' (a bare module name is one of mido's backends, not a module of
    that name: 'rtmidi' alone would be python-rtmidi's own module, which mido cannot use)."""
    module, sep, api = str(name).partition("/")
    if "." not in module:
        module = f"mido.backends.{module}"
    return module + sep + api


def open_backend(name: str):
    """A loaded mido backend; ValueError (one line) if it does not exist."""
    import mido

    spec = backend_spec(name)
    try:
        b = mido.Backend(spec, load=True)
    except Exception as e:
        raise ValueError(f"--midi-backend {name!r}: cannot load ({type(e).__name__}: {e}); "
                         "try rtmidi, rtmidi/UNIX_JACK or rtmidi/LINUX_ALSA") from None
    return b


class MidiMapper:
    """Messages -> commands for one map; keeps soft-takeover, 14-bit and learn state."""

    def __init__(self, midi_map: MidiMap, values: Callable[[], dict], tempo: Optional[Tempo] = None):
        self.map, self.values = midi_map, values
        self.tempo = tempo or Tempo()
        self.params = {p.name: p for p in PARAMS}
        self._msb: dict = {}
        self._lsb: dict = {}
        self.learning: Optional[str] = None
        self.ignored = 0
        self.handled = 0                  # messages seen (tests and the HUD use it)

    def _range(self, c: Control) -> tuple[float, float]:
        p = self.params[c.param]
        return (p.lo if c.lo is None else c.lo), (p.hi if c.hi is None else c.hi)

    def learn(self, param: str) -> None:
        if param not in self.params:
            raise ValueError(f"MIDI learn: unknown parameter {param!r}")
        self.learning = param

    def handle(self, msg, now: Optional[float] = None) -> list[Command]:
        now = time.perf_counter() if now is None else now
        self.handled += 1
        t = msg.type
        if t == "clock":
            bpm = self.tempo.midi_clock(now)
            return [Command("set", "bpm", bpm, "midi", now)] if bpm is not None else []
        if t in ("start", "continue", "stop", "songpos"):
            return []
        if t == "note_on" and msg.velocity > 0:
            return [Command("trigger", n.trigger, n.value, "midi", now) for n in self.map.notes
                    if n.note == msg.note and n.channel == msg.channel]
        if t != "control_change":
            return []
        if self.learning is not None:
            return self._learn(msg)
        out = [Command("trigger", b.trigger, b.value, "midi", now) for b in self.map.buttons
               if b.note == msg.control and b.channel == msg.channel and msg.value >= 64]
        for c in self.map.controls:
            if c.channel != msg.channel:
                continue
            if c.mode == "14bit" and msg.control in (c.cc, c.lsb()):
                key = (c.channel, c.cc)
                (self._msb if msg.control == c.cc else self._lsb)[key] = msg.value
                x = ((self._msb.get(key, 0) << 7) | self._lsb.get(key, 0)) / 16383.0
                cmd = self._absolute(c, x, now)
            elif msg.control != c.cc:
                continue
            elif c.mode == "absolute":
                cmd = self._absolute(c, msg.value / 127.0, now)
            else:
                lo, hi = self._range(c)
                cmd = Command("add", c.param, relative_delta(msg.value, c.mode) * c.step * (hi - lo), "midi", now)
            if cmd is not None:
                out.append(cmd)
        return out

    def _absolute(self, c: Control, x: float, now: float) -> Optional[Command]:
        lo, hi = self._range(c)
        target = lo + curve(x, c.curve) * (hi - lo)
        if c.takeover and not c.picked:
            cur = self.values().get(c.param, self.params[c.param].default)
            # A command this knob made before another source released it can land after that
            # change: the show then holds the knob's own value again, so the knob owns it (else it
            # would wait to cross a value it set itself and seem dead).
            own = c.sent is not None and math.isclose(cur, c.sent, rel_tol=1e-9, abs_tol=1e-12)
            pos = inverse_curve((cur - lo) / (hi - lo), c.curve) if hi != lo else 0.0
            crossed = c.last is not None and (c.last - pos) * (x - pos) <= 0
            c.last = x
            if abs(x - pos) > PICKUP and not crossed and not own:
                self.ignored += 1
                return None
            c.picked = True
        c.last, c.sent = x, target
        return Command("set", c.param, target, "midi", now)

    def _learn(self, msg) -> list[Command]:
        param, self.learning = self.learning, None
        self.map.controls = [c for c in self.map.controls if not (c.cc == msg.control and c.channel == msg.channel)]
        c = Control(param=param, cc=msg.control, channel=msg.channel, picked=True)
        self.map.controls.append(c)
        if self.map.path is not None:
            self.map.save()
        return [self._absolute(c, msg.value / 127.0, time.perf_counter())]

    def release(self, param: str) -> None:
        """The value moved elsewhere (OSC, preset): knobs must pick it up again."""
        for c in self.map.controls:
            if c.param == param and c.mode in ("absolute", "14bit"):
                c.picked = False

    def feedback(self, values: dict, names: Iterable[str]) -> list:
        """CC messages that show `names`' values on LED rings / motor faders."""
        import mido

        out = []
        names = set(names)
        for c in self.map.controls:
            if c.param not in names or c.mode.startswith("relative"):
                continue
            lo, hi = self._range(c)
            x = inverse_curve(min(max((values[c.param] - lo) / (hi - lo), 0.0), 1.0), c.curve) if hi != lo else 0.0
            if c.mode == "14bit":
                v = int(round(x * 16383))
                out += [mido.Message("control_change", channel=c.channel, control=c.cc, value=v >> 7),
                        mido.Message("control_change", channel=c.channel, control=c.lsb(), value=v & 127)]
            else:
                out.append(mido.Message("control_change", channel=c.channel, control=c.cc, value=int(round(x * 127))))
        return out


class PortLister:
    """Port names from one long-lived client per direction.  mido's rtmidi backend makes (and
    deletes) two new clients for every listing; under JACK each of those reorders the graph, and
    the watcher's listing every two seconds lost a MIDI event in flight (measured: one CC of a
    65-step fader sweep, every time; MIDI clock jittered).  Other backends are asked as they are."""

    def __init__(self, backend):
        self.backend = backend
        self._in = self._out = None
        if backend.name == "mido.backends.rtmidi":
            import rtmidi

            api = getattr(rtmidi, f"API_{backend.api}", rtmidi.API_UNSPECIFIED) if backend.api else rtmidi.API_UNSPECIFIED
            self._in = rtmidi.MidiIn(rtapi=api, name="livegan-ports")
            self._out = rtmidi.MidiOut(rtapi=api, name="livegan-ports")

    def inputs(self) -> list[str]:
        return list(self._in.get_ports()) if self._in is not None else list(self.backend.get_input_names())

    def outputs(self) -> list[str]:
        return list(self._out.get_ports()) if self._out is not None else list(self.backend.get_output_names())

    def close(self) -> None:
        for c in (self._in, self._out):
            if c is not None:
                c.delete()
        self._in = self._out = None


class PolledInput:
    """An rtmidi input read by polling its own (C++) queue from our thread.  mido's rtmidi ports
    always deliver through a Python callback, which runs inside JACK's process thread and must
    take the GIL there: on a busy CPU that made JACK drop and reorder events (measured: 14 of 20
    65-step sweeps lost some; polled, none did)."""

    QUEUE = 8192                    # messages rtmidi keeps until we read them

    def __init__(self, backend, port_name: str):
        import rtmidi

        api = getattr(rtmidi, f"API_{backend.api}", rtmidi.API_UNSPECIFIED) if backend.api else rtmidi.API_UNSPECIFIED
        self._in = rtmidi.MidiIn(rtapi=api, name="livegan", queue_size_limit=self.QUEUE)
        self._in.ignore_types(sysex=True, timing=False, active_sense=True)   # clock is a tempo source
        ports = list(self._in.get_ports())
        if port_name not in ports:
            self._in.delete()
            raise OSError(f"no port {port_name!r}")
        self._in.open_port(ports.index(port_name))
        self.name = port_name
        self._lock = threading.Lock()            # rtmidi crashes if closed while being read

    def messages(self):
        import mido

        while True:
            with self._lock:
                m = self._in.get_message() if self._in is not None else None
            if m is None:
                return
            try:
                yield mido.Message.from_bytes(m[0])
            except (ValueError, TypeError):
                continue                                  # a malformed message: skipped

    def close(self) -> None:
        with self._lock:
            if self._in is not None:
                self._in.close_port()
                self._in.delete()
                self._in = None


class MidiInputs:
    """Ports chosen by name substring; missing ones are a warning, and are picked up when plugged in.
    rtmidi inputs are polled from one reader thread (see PolledInput); others use mido callbacks."""

    POLL_S = 0.001                  # the reader's sleep when every queue is empty

    def __init__(self, names: list[str], mapper: MidiMapper, post: Callable[[Command], None],
                 backend: str = "rtmidi", log: Callable[[str], None] = print, poll: float = 2.0, budget=None):
        from ..intake import Budget

        self.budget = budget if budget is not None else Budget()   # shared with OSC and the page
        self.backend = open_backend(backend)
        self.lister = PortLister(self.backend)
        self.names, self.mapper, self.post, self.log, self.poll = names, mapper, post, log, poll
        self.ports: dict = {}
        self.outputs: dict = {}
        self._lock = threading.Lock()
        self._running = True
        self.feedback_errors = 0
        self._warned: set = set()
        self._thread = threading.Thread(target=self._watch, name="livegan-midi", daemon=True)
        self._reader = threading.Thread(target=self._read, name="livegan-midi-in", daemon=True)

    def _read(self) -> None:
        """Every polled port's queued messages, in order, to the mapper (never in JACK's thread)."""
        while self._running:
            got = False
            for port in [p for p in list(self.ports.values()) if isinstance(p, PolledInput)]:
                try:
                    for msg in port.messages():
                        got = True
                        self.budget.wait(most=0.05)         # a runaway device waits in its port's queue
                        self._callback(msg)
                except Exception as e:                    # a port closing under us: the watcher reopens it
                    if self._running:
                        self.log(f"MIDI: reading {port.name}: {e}")
            if not got:
                time.sleep(self.POLL_S)

    def available(self) -> list[str]:
        try:
            return self.lister.inputs()
        except Exception as e:
            self.log(f"MIDI: cannot list ports ({e})")
            return []

    def start(self) -> "MidiInputs":
        with self._lock:
            self._connect()
        self._thread.start()
        self._reader.start()
        return self

    def _callback(self, msg) -> None:
        t0 = time.thread_time()
        try:
            for cmd in self.mapper.handle(msg):
                self.post(cmd)
        except Exception as e:                          # never raise into rtmidi's thread
            self.log(f"MIDI: {msg}: {e}")
        self.budget.spend(time.thread_time() - t0)      # the surfaces' one CPU budget (intake.Budget)

    def _connect(self) -> None:
        have = self.available()
        for want in self.names:
            if want in self.ports:
                continue
            match = next((p for p in have if want.lower() in p.lower()), None)
            if match is None:
                if want not in self._warned:
                    self._warned.add(want)
                    self.log(f"MIDI: no port matching {want!r}; ports: {', '.join(have) or 'none'} "
                             "(it will be picked up when plugged in)")
                continue
            try:
                if self.backend.name == "mido.backends.rtmidi":
                    self.ports[want] = PolledInput(self.backend, match)
                else:
                    self.ports[want] = self.backend.open_input(match, callback=self._callback)
                outs = [o for o in self.lister.outputs() if want.lower() in o.lower()]
                if outs and self.mapper.map.feedback:
                    self.outputs[want] = self.backend.open_output(outs[0])
                    values = self.mapper.values()          # a (re)connected surface shows the state
                    self.send_feedback(values, list(values))
                self._warned.discard(want)
                self.log(f"MIDI: listening to {match}")
            except Exception as e:
                self.log(f"MIDI: cannot open {match}: {e}")

    def _watch(self) -> None:
        while self._running:
            end = time.monotonic() + self.poll
            while self._running and time.monotonic() < end:
                time.sleep(0.05)
            if not self._running:
                return
            with self._lock:
                have = set(self.available())
                for want, port in list(self.ports.items()):
                    if port.name not in have:                 # unplugged
                        self.log(f"MIDI: {port.name} went away; waiting for it")
                        port.close()
                        del self.ports[want]
                        out = self.outputs.pop(want, None)
                        if out is not None:
                            out.close()
                self._connect()

    def send_feedback(self, values: dict, names: Iterable[str]) -> None:
        msgs = self.mapper.feedback(values, names) if self.outputs else []
        for out in list(self.outputs.values()):
            for m in msgs:
                try:
                    out.send(m)
                except Exception:                   # device gone mid-send: the watcher reopens it
                    self.feedback_errors += 1

    def stop(self) -> None:
        """Stop the watcher first: closing a port while it lists ports can deadlock in JACK."""
        self._running = False
        if self._thread.is_alive():
            self._thread.join(timeout=self.poll + 5)
        if self._reader.is_alive():
            self._reader.join(timeout=5)
        with self._lock:
            for p in list(self.ports.values()) + list(self.outputs.values()):
                p.close()
            self.ports.clear()
            self.outputs.clear()
            self.lister.close()
