"""OSC control: UDP in (python-osc parsing) -> commands, and the address table (feedback out:
oscfeedback.py).

The receiver thread only parses, validates and enqueues `Command`s; bundles with a future time tag
are enqueued with that time and applied by the main thread when it comes (no thread sleeps).
A malformed datagram is counted and logged once per kind, never raised.
"""
from __future__ import annotations

import errno
import math
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Iterable, Optional

from ..boundary import number
from ..params import PARAMS, Command, Param
from .fairqueue import FairQueue, cost_us

PREFIX = "/livegan"
# Read-only show status, sent as feedback and listed in OSCQuery: name, OSC type, meaning.
STATUS = (("fps", "f", "display frames per second"), ("frame", "i", "display frame number"),
          ("keyframe", "i", "keyframe being played (0-based)"), ("recording", "i", "1 while recording"),
          ("preset", "s", "playing preset"), ("network", "s", "playing network"),
          ("errors", "i", "problems reported since the start"))
MAX_DATAGRAM = 8192                      # larger packets are refused (counted as 'huge')


@dataclass(frozen=True)
class Address:
    path: str
    types: str                           # OSC type tags accepted ('' = no argument)
    doc: str
    make: Callable[[list], Command]      # arguments -> command (raises ValueError when wrong)
    param: Optional[Param] = None


def _num(args: list, what: str) -> float:
    if len(args) != 1 or isinstance(args[0], (str, bytes)) or args[0] is None:
        raise ValueError(f"{what} takes one number, got {str(args)[:40]}")
    v = args[0]
    if isinstance(v, bool):                          # OSC's T and F tags: a switch's 1 and 0
        return float(v)
    return number(v, what)


def _int(args: list, what: str) -> int:
    v = _num(args, what)
    if v != int(v):
        raise ValueError(f"{what} takes an integer, got {v}")
    return int(v)


class _LibraryLog:
    """python-osc reports packets it cannot read (an unknown type tag, say) through the root
    logger, one line each: a flood of them was 1.8 million stderr lines in 15 s.  This filter on
    the root logger turns its records into counted problems of the receiver, logged once."""

    def __init__(self):
        self.sinks: list = []

    def filter(self, record) -> bool:
        if "pythonosc" not in (record.pathname or ""):
            return True
        for sink in list(self.sinks):
            sink(record.getMessage())
        return False


_LIBRARY_LOG = _LibraryLog()


def quiet_library_logging(sink: Callable[[str], None]) -> None:
    import logging

    root = logging.getLogger()
    if _LIBRARY_LOG not in root.filters:
        root.addFilter(_LIBRARY_LOG)
    _LIBRARY_LOG.sinks[:] = [sink]                  # the newest receiver counts them


def address_table(params: Iterable[Param] = PARAMS) -> list[Address]:
    """Every OSC address livegan understands, generated from the parameter registry."""
    out: list[Address] = []
    for p in params:
        tag = {"float": "f", "int": "i", "bool": "T"}[p.kind]
        out.append(Address(f"{PREFIX}/{p.name}", tag, p.doc,
                           lambda a, p=p: Command("set", p.name, _num(a, p.name), "osc"), p))
        out.append(Address(f"{PREFIX}/norm/{p.name}", "f", f"{p.name}, normalised 0..1",
                           lambda a, p=p: Command("set", p.name, p.from_norm(_num(a, p.name)), "osc"), p))
        out.append(Address(f"{PREFIX}/add/{p.name}", "f", f"{p.name}: add this (relative encoders)",
                           lambda a, p=p: Command("add", p.name, _num(a, p.name), "osc"), p))
        if p.kind == "bool":
            out.append(Address(f"{PREFIX}/toggle/{p.name}", "", f"toggle {p.name}",
                               lambda a, p=p: Command("toggle", p.name, None, "osc"), p))

    def trig(name: str, value_fn: Optional[Callable] = None) -> Callable[[list], Command]:
        return lambda a: Command("trigger", name, value_fn(a) if value_fn else None, "osc")

    def preset_arg(a: list):
        if len(a) != 1 or not isinstance(a[0], (str, int)) or isinstance(a[0], bool) or \
                (isinstance(a[0], str) and not 0 < len(a[0]) <= 1024):
            raise ValueError(f"preset takes a name or an index, got {str(a)[:40]}")
        return a[0]

    def str_arg(what: str):
        def f(a: list) -> str:
            if len(a) != 1 or not isinstance(a[0], str) or not a[0] or len(a[0]) > 1024:
                raise ValueError(f"{what} takes one string (up to 1024 characters), got {str(a)[:40]}")
            return a[0]
        return f

    out += [
        Address(f"{PREFIX}/preset", "s|i", "switch to a preset by name or index", trig("preset", preset_arg)),
        Address(f"{PREFIX}/keyframe/next", "", "glide on to the next keyframe", trig("keyframe_next")),
        Address(f"{PREFIX}/keyframe/prev", "", "back to the previous keyframe", trig("keyframe_prev")),
        Address(f"{PREFIX}/keyframe/goto", "i", "jump to keyframe i", trig("keyframe_goto", lambda a: _int(a, "keyframe/goto"))),
        Address(f"{PREFIX}/seed", "i", "replace the current keyframe by this seed", trig("seed", lambda a: _int(a, "seed"))),
        Address(f"{PREFIX}/snapshot", "", "save the frame on screen with its state", trig("snapshot")),
        Address(f"{PREFIX}/record", "i", "start (1) or stop (0) recording the session", trig("record", lambda a: _int(a, "record"))),
        Address(f"{PREFIX}/network", "s", "load a network (path or URL) and crossfade to it", trig("network", str_arg("network"))),
        Address(f"{PREFIX}/netmix/network", "s", "model mixing: network B (path, or a URL with --allow-remote-load); "
                "of another architecture it mixes only in the layers the two share", trig("netmix_network", str_arg("netmix/network"))),
        Address(f"{PREFIX}/netmix/layers", "s", "model mixing: the synthesis layers B mixes into: all, K or A-B "
                "(numbered as `livegan info` lists them)", trig("netmix_layers", str_arg("netmix/layers"))),
        Address(f"{PREFIX}/netmix/frame", "s", "model mixing: a = the playing network's layers and picture size, "
                "b = network B's (A's weights mix into the layers B shares)", trig("netmix_frame", str_arg("netmix/frame"))),
        Address(f"{PREFIX}/netmix/mapping", "s", "model mixing: whose mapping makes the keyframes' ws: a = the playing "
                "network's, b = network B's", trig("netmix_mapping", str_arg("netmix/mapping"))),
        Address(f"{PREFIX}/input", "s", "StyleGAN-Canvas condition source: v4l2:/dev/videoN, a video, an image, a "
                "folder, ndi:NAME, feedback or pattern", trig("input", str_arg("input"))),
        Address(f"{PREFIX}/tap", "", "tap tempo", trig("tap")),
        Address(f"{PREFIX}/learn", "s", "MIDI learn: the next control moved drives this parameter", trig("learn", str_arg("learn"))),
        *[Address(f"{PREFIX}/direction/{k}/pick", "s", f"direction slot {k}: hold NAME (fitted), pca:K or sefa:K; "
                  "'none' empties it", trig("direction_pick", lambda a, k=k: [k, str_arg("pick")(a)])) for k in range(8)],
        *[Address(f"{PREFIX}/direction/{k}/zone", "s", f"direction slot {k}: layers it moves: coarse, middle, fine, "
                  "all or A-B", trig("direction_zone", lambda a, k=k: [k, str_arg("zone")(a)])) for k in range(8)],
        *[Address(f"{PREFIX}/bend/{k}/op", "s|si|sis|sisf", f"bend slot {k}: OP LAYER [CHANNELS [ARG]] bends that "
                  "synthesis layer's maps (ops: translate rotate scale flip invert multiply threshold erode dilate "
                  "ablate sobel noise; channels: all, A-B, random:F[:SEED], cluster:K); 'none' empties it; its "
                  f"amount is /livegan/bend/{k}", trig("bend_op", lambda a, k=k: [k, _bend_args(a)])) for k in range(8)],
        *[Address(f"{PREFIX}/pad/corner/{k}", "i", f"latent pad corner {k} (keyframe {k}) becomes this seed",
                  trig("pad_corner", lambda a, k=k: [k, _int(a, f"pad/corner/{k}")])) for k in range(4)],
        Address(f"{PREFIX}/save_preset", "s", "save the show as it is now as a new preset NAME in the presets "
                "folder (never over an existing one), with a thumbnail of the frame on screen",
                trig("save_preset", str_arg("save_preset"))),
        *_modulation_addresses(trig),
        Address(f"{PREFIX}/status/sync", "", "send every parameter and status value to the feedback targets now",
                trig("feedback_sync")),
    ]
    # A parameter whose address also has children (mod/K and mod/K/route...) is set at
    # ADDRESS/value too: strict OSCQuery clients see only that form (see oscquery._strict).
    paths = {a.path for a in out}
    parents = {p.rsplit("/", 1)[0] for p in paths}
    out += [Address(f"{a.path}/value", a.types, a.doc, a.make, a.param) for a in list(out)
            if a.param is not None and a.path == f"{PREFIX}/{a.param.name}" and a.path in parents]
    return out


def _bend_args(a: list):
    """OSC's bend arguments: ['none'] or [OP, LAYER, CHANNELS?, ARG?] (checked by the bend slots)."""
    if len(a) == 1 and isinstance(a[0], str) and len(a[0].split()) > 1:
        a = _bend_words(a[0])                    # one string, as the README writes it: 'rotate 5 cluster:1 45'
    elif len(a) == 1 and isinstance(a[0], str):
        return a[0][:20]
    if not 2 <= len(a) <= 4 or not isinstance(a[0], str):
        raise ValueError(f"bend/op takes OP LAYER [CHANNELS [ARG]] or none, got {str(a)[:40]}")
    return [a[0][:20], _int([a[1]], "bend layer"), *a[2:]]


def _bend_words(text: str) -> list:
    words = text.split()[:5]
    if len(words) > 4:
        raise ValueError(f"bend/op takes OP LAYER [CHANNELS [ARG]] or none, got {text[:40]!r}")
    for i, kind, convert in ((1, "LAYER", int), (3, "ARG", float)):
        if i < len(words):
            try:
                words[i] = convert(words[i])
            except ValueError:
                raise ValueError(f"bend/op: {kind} {words[i][:20]!r} is not a number") from None
    return words


def _args(a: list, kinds: str, what: str) -> list:
    """Check OSC arguments against kinds ('s' string, 'f' number), allowing a shorter tail."""
    if not 1 <= len(a) <= len(kinds) if kinds else a:
        raise ValueError(f"{what} takes {kinds or 'no'} arguments, got {str(a)[:40]}")
    out = []
    for v, k in zip(a, kinds):
        if k == "s" and not (isinstance(v, str) and 0 < len(v) <= 100):
            raise ValueError(f"{what}: expected a string, got {str(v)[:20]!r}")
        if k == "f":
            out.append(_num([v], what))
            continue
        out.append(v)
    return out


def _modulation_addresses(trig) -> list:
    """/livegan/mod/K/... routes, /livegan/lfo/K, /livegan/audio/trigger (livegan/modulation)."""
    def route(k):
        def f(a):
            src, tgt, *more = _args(a, "ssff", f"mod/{k}/route")
            d = {"slot": k, "source": src, "target": tgt}
            if more:
                d["attack"] = more[0]
            if len(more) > 1:
                d["release"] = more[1]
            return d
        return f

    def part(k, field, kinds):
        def f(a):
            v = _args(a, kinds, f"mod/{k}/{field}")
            return {"slot": k, field: v[0] if len(v) == 1 else v} if field != "smooth" else \
                {"slot": k, "attack": v[0], "release": v[1] if len(v) > 1 else v[0]}
        return f

    def lfo(k):
        def f(a):
            v = _args(a, "sfff", f"lfo/{k}")
            d = {"index": k, "shape": v[0]}
            for name, x in zip(("rate", "sync", "phase"), v[1:]):
                d[name] = bool(x) if name == "sync" else x
            return d
        return f

    def trigger(a):
        v = _args(a, "ssf", "audio/trigger")
        return {"on": v[0], "command": v[1], "every": int(v[2]) if len(v) > 2 else 1}
    out = []
    for k in range(8):
        out += [
            Address(f"{PREFIX}/mod/{k}/route", "ss|ssff", f"modulation route {k}: SOURCE (level, bass, mid, high, onset, "
                    f"beat, lfo0-3) drives TARGET parameter [attack release s]; its amount is /livegan/mod/{k}",
                    trig("mod_route", route(k))),
            Address(f"{PREFIX}/mod/{k}/curve", "s", f"modulation route {k}: linear, square, sqrt or invert",
                    trig("mod_route", part(k, "curve", "s"))),
            Address(f"{PREFIX}/mod/{k}/smooth", "ff", f"modulation route {k}: attack and release, seconds",
                    trig("mod_route", part(k, "smooth", "ff"))),
            Address(f"{PREFIX}/mod/{k}/range", "ff", f"modulation route {k}: lowest and highest value it may reach",
                    trig("mod_route", part(k, "range", "ff"))),
            Address(f"{PREFIX}/mod/{k}/clear", "", f"remove modulation route {k}", trig("mod_clear", lambda a, k=k: k)),
        ]
    out += [Address(f"{PREFIX}/lfo/{k}", "s|sf|sfff", f"LFO {k} (source lfo{k}): shape (sine, triangle, saw, square, "
                    "random), rate (Hz, or beats per cycle when sync is 1), sync, phase 0..1", trig("lfo", lfo(k)))
            for k in range(4)]
    out.append(Address(f"{PREFIX}/audio/trigger", "ss|ssf", "on onset or beat (every N), fire keyframe_next, "
                       "keyframe_prev, snapshot or seed", trig("audio_trigger", trigger)))
    return out


class PortTaken(OSError):
    """The port is in use (another show?): the caller may offer the next one."""


class OscReceiver:
    """UDP OSC server on its own thread: datagrams -> `post(Command)`.

    Everything in a datagram is untrusted: its size, structure and patterns are bounded before
    parsing (see oscaddr), every failure is counted and logged once per kind, and the thread
    survives anything a handler raises (`alive`/`restart` let the show revive it regardless)."""

    def __init__(self, post: Callable[[Command], None], host: str = "127.0.0.1", port: int = 9000,
                 allow: Optional[Iterable[str]] = None, log: Callable[[str], None] = print, budget=None):
        from ..intake import Budget
        from .access import SenderPolicy

        self.post, self.log = post, log
        self.budget = budget if budget is not None else Budget()
        self.table = {a.path: a for a in address_table()}
        self.policy = allow if isinstance(allow, SenderPolicy) else SenderPolicy(allow or ())
        self.errors: Counter = Counter()
        quiet_library_logging(lambda msg: self._bad("type", f"packet the OSC library could not read ({msg[:80]})"))
        self.received = 0
        self.restarts = 0
        self.last_crash = ""
        self._logged: set = set()
        self._pattern_cache: dict[str, list[Address]] = {}
        self._tree = None                              # oscaddr.AddressTree of the table, made once
        self._queue = FairQueue(self.MAX_WAITING)
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)   # absorb floods
        try:
            self.sock.bind((host, port))
        except (OSError, OverflowError) as e:
            self.sock.close()
            kind = PortTaken if getattr(e, "errno", None) == errno.EADDRINUSE else OSError
            raise kind(f"OSC: cannot listen on {host}:{port} ({getattr(e, 'strerror', None) or e}); "
                       "choose another --osc-port") from None
        self.host, self.port = host, self.sock.getsockname()[1]
        self.sock.settimeout(0.2)
        self._running = False
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def start(self) -> "OscReceiver":
        self._running = True
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="livegan-osc", daemon=True)
        self._thread.start()
        return self

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def restart(self) -> None:
        """Start a new receiver thread on the same socket (the show calls this if one died)."""
        self.restarts += 1
        self.start()

    def stop(self) -> None:
        self._running = False
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self.sock.close()

    def _bad(self, kind: str, detail: str) -> None:
        self.errors[kind] += 1
        if kind not in self._logged:
            self._logged.add(kind)
            self.log(f"OSC: {detail} (further '{kind}' problems are counted, not logged)")

    # What happens under a flood, whatever the number of source addresses (which UDP lets anyone
    # forge): the socket is read at once into one bounded queue (MAX_WAITING datagrams; beyond it
    # the peer with the most waiting loses its oldest), and datagrams are handled in the order of
    # fair queueing by their estimated cost (`cost_us`): a cheap message from a quiet sender is
    # served before the costly ones of any number of flooders, so a flood delays it by about one
    # datagram.  Handling spends the CPU budget the control surfaces share (intake.Budget): the
    # frame loop keeps its share of the interpreter.  The show's intake coalesces what arrives.
    MAX_WAITING = 2048

    def _loop(self) -> None:
        while self._running:
            try:
                self._receive(block=not self._queue)
            except OSError:
                if not self._running:
                    return
                self._bad("socket", "receive failed; retrying")
                time.sleep(0.05)
                continue
            while self._queue and self._running:
                if not self.budget.available():           # spent: keep reading, handle when it refills
                    self.budget.wait(self._stop, most=0.01)
                    self._receive(block=False)
                    continue
                data, sender = self._queue.pop()
                t0 = time.thread_time()           # CPU this thread used: never the waits for the interpreter
                try:
                    self.handle_datagram(data, sender)
                except Exception as e:                  # a bug in a handler must not make us deaf
                    self.last_crash = f"{type(e).__name__}: {e}"
                    self._bad("internal", f"datagram from {sender[0]} raised {self.last_crash}")
                self.budget.spend(time.thread_time() - t0)
                self._receive(block=False)              # newcomers take their place in the order

    def _receive(self, block: bool = True) -> None:
        """Move what the socket holds into the fair queue (blocking briefly for the first)."""
        self.sock.settimeout(0.2 if block else 0.0)
        for _ in range(4096):
            try:
                data, sender = self.sock.recvfrom(65536)
            except (socket.timeout, BlockingIOError):
                return
            self.sock.settimeout(0.0)
            if self._queue.push(sender[0], (data, sender), cost_us(data)):
                self._bad("flood", f"more than {self.MAX_WAITING} datagrams waiting; the most crowded sender's "
                                   "oldest are dropped")

    def handle_datagram(self, data: bytes, sender=("127.0.0.1", 0)) -> int:
        """Parse one datagram and enqueue its commands; returns how many were enqueued.
        (Usable without a socket, which is how the fuzz tests drive it.)"""
        from pythonosc.osc_packet import OscPacket

        from .oscaddr import check_datagram, unplain_argument

        if not self.policy.allows(sender[0]):
            self._bad("sender", f"ignoring packets from {sender[0]} (not allowed: see --osc-allow)")
            return 0
        if len(data) > MAX_DATAGRAM:
            self._bad("huge", f"datagram of {len(data)} bytes refused (limit {MAX_DATAGRAM})")
            return 0
        try:
            check_datagram(data)
            packet = OscPacket(data)
        except Exception as e:                                   # ParseError and friends
            self._bad("malformed", f"malformed datagram from {sender[0]}: {type(e).__name__}: {e}")
            return 0
        n = 0
        now = time.perf_counter()
        for timed in packet.messages:
            msg = timed.message
            try:
                targets = self._match(msg.address)
            except ValueError as e:
                self._bad("pattern", f"bad address pattern {msg.address[:60]!r}: {e}")
                continue
            if not targets:
                self._bad("unknown", f"unknown address {msg.address[:60]!r}")
                continue
            wrong = unplain_argument(msg.params)
            if wrong is not None:
                self._bad("type", f"{msg.address[:60]}: {wrong}")
                continue
            for addr in targets:
                try:
                    cmd = addr.make(list(msg.params))
                except Exception as e:
                    self._bad("type", f"{addr.path}: {e}")
                    continue
                due = timed.time if timed.time and math.isfinite(timed.time) else 0.0
                self.post(Command(cmd.op, cmd.name, cmd.value, "osc", now, due))   # the intake coalesces
                n += 1
        self.received += n
        return n

    def _match(self, address: str) -> list[Address]:
        from .oscaddr import AddressTree, compile_pattern

        if address in self.table:
            return [self.table[address]]
        if address not in self._pattern_cache:
            compiled = compile_pattern(address)                  # validates even plain addresses
            if len(self._pattern_cache) > 256:
                self._pattern_cache.clear()
            if self._tree is None:
                self._tree = AddressTree(self.table)
            self._pattern_cache[address] = [self.table[p] for p in self._tree.match(compiled)]
        return self._pattern_cache[address]
