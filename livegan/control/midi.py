"""MIDI control: controller maps (presets/midi/*.json), learn, soft takeover, feedback, clock.

`MidiMapper` is the pure part (mido messages in, commands out); `MidiInputs` opens ports by name
substring through mido's rtmidi backend (ALSA or JACK), re-opens unplugged devices, and only ever
posts commands.
"""
from __future__ import annotations

import math
import threading
import time
from typing import Callable, Iterable, Optional

from ..clock import Tempo
from ..params import PARAMS, Command

from .midimap import PICKUP, Control, MidiMap, curve, inverse_curve, relative_delta


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

    from ..alsa_quiet import quiet_alsa

    quiet_alsa()                                  # ALSA's own lines: livegan says what is missing
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
    So is the MIDI system itself (no ALSA sequencer, JACK not started yet): the show starts and
    says so once, and the watcher tries again.  rtmidi inputs are polled from one reader thread
    (see PolledInput); others use mido callbacks."""

    POLL_S = 0.001                  # the reader's sleep when every queue is empty

    def __init__(self, names: list[str], mapper: MidiMapper, post: Callable[[Command], None],
                 backend: str = "rtmidi", log: Callable[[str], None] = print, poll: float = 2.0, budget=None):
        from ..intake import Budget

        self.budget = budget if budget is not None else Budget()   # shared with OSC and the page
        self.backend = open_backend(backend)
        self.names, self.mapper, self.post, self.log, self.poll = names, mapper, post, log, poll
        self.lister: Optional[PortLister] = None         # made by `available`, when the system answers
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
            if self.lister is None:
                self.lister = PortLister(self.backend)
            ports = self.lister.inputs()
        except Exception as e:                          # no MIDI system (yet): said once, tried again
            why = " ".join(str(e).split())[:160] or type(e).__name__
            if "system" not in self._warned:
                self._warned.add("system")
                self.log(f"MIDI: the MIDI system is not available ({why}); the show goes on without "
                         f"MIDI and tries again every {self.poll:g} s")
            return []
        if "system" in self._warned:
            self._warned.discard("system")
            self.log("MIDI: the MIDI system answers now")
        return ports

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
            if self.lister is not None:
                self.lister.close()
