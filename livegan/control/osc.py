"""OSC control: UDP in (python-osc parsing) -> commands; feedback out; the address table.

The receiver thread only parses, validates and enqueues `Command`s; bundles with a future time tag
are enqueued with that time and applied by the main thread when it comes (no thread sleeps).
A malformed datagram is counted and logged once per kind, never raised.
"""
from __future__ import annotations

import re
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Iterable, Optional

from ..params import PARAMS, Command, Param

PREFIX = "/livegan"
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
        raise ValueError(f"{what} takes one number, got {args!r}")
    v = args[0]
    if isinstance(v, bool):
        return float(v)
    if not isinstance(v, (int, float)):
        raise ValueError(f"{what} takes one number, got {type(v).__name__}")
    return float(v)


def _int(args: list, what: str) -> int:
    v = _num(args, what)
    if v != int(v):
        raise ValueError(f"{what} takes an integer, got {v}")
    return int(v)


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
        if len(a) != 1 or not isinstance(a[0], (str, int)) or isinstance(a[0], bool):
            raise ValueError(f"preset takes a name or an index, got {a!r}")
        return a[0]

    def str_arg(what: str):
        def f(a: list) -> str:
            if len(a) != 1 or not isinstance(a[0], str) or not a[0]:
                raise ValueError(f"{what} takes one string, got {a!r}")
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
        Address(f"{PREFIX}/tap", "", "tap tempo", trig("tap")),
        Address(f"{PREFIX}/learn", "s", "MIDI learn: the next control moved drives this parameter", trig("learn", str_arg("learn"))),
    ]
    return out


def pattern_regex(pattern: str) -> re.Pattern:
    """OSC 1.0 address pattern -> regex: ? * [abc] [!a-z] {foo,bar}."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "?":
            out.append("[^/]")
        elif c == "*":
            out.append("[^/]*")
        elif c == "[":
            j = pattern.find("]", i)
            if j < 0:
                raise ValueError("unclosed [ in address pattern")
            body = pattern[i + 1: j]
            neg = body.startswith("!")
            body = re.escape(body[1:] if neg else body).replace("\\-", "-")
            out.append(f"[{'^' if neg else ''}{body}]")
            i = j
        elif c == "{":
            j = pattern.find("}", i)
            if j < 0:
                raise ValueError("unclosed { in address pattern")
            out.append("(?:" + "|".join(re.escape(s) for s in pattern[i + 1: j].split(",")) + ")")
            i = j
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out) + r"\Z")


class OscReceiver:
    """UDP OSC server on its own thread: datagrams -> `post(Command)`."""

    def __init__(self, post: Callable[[Command], None], host: str = "0.0.0.0", port: int = 9000,
                 allow: Optional[Iterable[str]] = None, log: Callable[[str], None] = print):
        self.post, self.log = post, log
        self.table = {a.path: a for a in address_table()}
        self.allow = set(allow) if allow else None
        self.errors: Counter = Counter()
        self.received = 0
        self._logged: set = set()
        self._pattern_cache: dict[str, list[Address]] = {}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)   # absorb floods
        try:
            self.sock.bind((host, port))
        except OSError as e:
            self.sock.close()
            raise OSError(f"OSC: cannot listen on {host}:{port} ({e.strerror}); choose another --osc-port") from None
        self.port = self.sock.getsockname()[1]
        self.sock.settimeout(0.2)
        self._running = True
        self._thread = threading.Thread(target=self._loop, name="livegan-osc", daemon=True)

    def start(self) -> "OscReceiver":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._running = False
        self._thread.join(timeout=2)
        self.sock.close()

    def _bad(self, kind: str, detail: str) -> None:
        self.errors[kind] += 1
        if kind not in self._logged:
            self._logged.add(kind)
            self.log(f"OSC: {detail} (further '{kind}' problems are counted, not logged)")

    def _loop(self) -> None:
        while self._running:
            try:
                data, sender = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            self.handle_datagram(data, sender)

    def handle_datagram(self, data: bytes, sender=("127.0.0.1", 0)) -> int:
        """Parse one datagram and enqueue its commands; returns how many were enqueued.
        (Usable without a socket, which is how the fuzz tests drive it.)"""
        from pythonosc.osc_packet import OscPacket

        if self.allow is not None and sender[0] not in self.allow:
            self._bad("sender", f"ignoring packets from {sender[0]} (not in --osc-allow)")
            return 0
        if len(data) > MAX_DATAGRAM:
            self._bad("huge", f"datagram of {len(data)} bytes refused (limit {MAX_DATAGRAM})")
            return 0
        try:
            packet = OscPacket(data)
        except Exception as e:                                   # ParseError and friends
            self._bad("malformed", f"malformed datagram from {sender[0]}: {type(e).__name__}: {e}")
            return 0
        n = 0
        now_wall, now = time.time(), time.perf_counter()
        for timed in packet.messages:
            msg = timed.message
            try:
                targets = self._match(msg.address)
            except ValueError as e:
                self._bad("pattern", f"bad address pattern {msg.address!r}: {e}")
                continue
            if not targets:
                self._bad("unknown", f"unknown address {msg.address!r}")
                continue
            for addr in targets:
                try:
                    cmd = addr.make(list(msg.params))
                except (ValueError, TypeError) as e:
                    self._bad("type", f"{addr.path}: {e}")
                    continue
                due = timed.time if timed.time and timed.time > now_wall else 0.0
                self.post(Command(cmd.op, cmd.name, cmd.value, "osc", now, due))
                n += 1
        self.received += n
        return n

    def _match(self, address: str) -> list[Address]:
        if address in self.table:
            return [self.table[address]]
        if not any(c in address for c in "?*[{"):
            return []
        if address not in self._pattern_cache:
            rx = pattern_regex(address)
            if len(self._pattern_cache) > 256:
                self._pattern_cache.clear()
            self._pattern_cache[address] = [a for p, a in self.table.items() if rx.match(p)]
        return self._pattern_cache[address]


class OscFeedback:
    """Sends parameter changes and status to `host:port` so panels and motor faders follow."""

    def __init__(self, target: str):
        from pythonosc.udp_client import SimpleUDPClient

        host, _, port = target.rpartition(":")
        try:
            self.client = SimpleUDPClient(host or "127.0.0.1", int(port))
        except (ValueError, OSError) as e:
            raise ValueError(f"bad --osc-out {target!r}: expected HOST:PORT ({e})") from None
        self.sent = 0
        self.errors = 0

    def send(self, address: str, value) -> None:
        try:
            self.client.send_message(address, value)
            self.sent += 1
        except OSError:                      # nobody listening / network down: keep going
            self.errors += 1

    def params(self, values: dict, names: Iterable[str]) -> None:
        for n in names:
            self.send(f"{PREFIX}/{n}", float(values[n]))

    def status(self, fps: float, frame: int, keyframe: int, recording: bool) -> None:
        self.send(f"{PREFIX}/fps", float(fps))
        self.send(f"{PREFIX}/frame", int(frame))
        self.send(f"{PREFIX}/keyframe", int(keyframe))
        self.send(f"{PREFIX}/recording", int(recording))
