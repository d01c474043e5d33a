"""The boundary: every value that comes from outside (OSC, MIDI maps, the control page, the studio,
the command line, a control log) is checked by these rules before the show acts on it, so each kind
of bad input gets the same one-line answer wherever it arrives.

- numbers: finite, real (a bool is not a number), in range, whole where an integer is meant;
- JSON: text only (a \\ud800 escape makes a lone surrogate, which no file, database or terminal
  takes: it failed a frame when the show said it, and a recording when SQLite was given it);
- addresses: HOST:PORT with a port 1..65535;
- browsers: one Host and one Origin header; the Host must name this machine (no DNS rebinding), the
  Origin must be the server's own; the pages' Content-Security-Policies.
"""
from __future__ import annotations

import ipaddress
import math
import numbers
from typing import Callable, Iterable, Optional


def number(v, what: str = "", lo: float = -math.inf, hi: float = math.inf, integer: bool = False,
           text: bool = False):
    """`v` as a finite float (an int when `integer`) in [lo, hi]; ValueError naming `what`
    otherwise.  `text`: a string is parsed (the command line, a form); elsewhere it is refused."""
    kind = "an integer" if integer else "a number"
    span = "" if not (math.isfinite(lo) and math.isfinite(hi)) else \
        f" {int(lo)}..{int(hi)}" if integer else f" {lo:g}..{hi:g}"
    bad = ValueError((f"{what}: " if what else "") + f"must be {kind}{span}, got {str(v)[:40]!r}")
    if text and isinstance(v, str):
        try:
            v = float(v.strip())
        except ValueError:
            raise bad from None
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise bad
    try:
        f = float(v)
    except OverflowError:                              # an int beyond any float
        raise bad from None
    if not math.isfinite(f) or not lo <= f <= hi or (integer and not f.is_integer()):
        raise bad
    return int(f) if integer else f


def utf8_text(v, encoding: str = "utf-8"):
    """`v`, and a str that `encoding` cannot hold (a file name's undecodable bytes, a lone
    surrogate) escaped: what SQLite, OSC and a terminal are given, which refuse it (a recording
    failed to start, an OSCQuery listener was dropped, a frame failed, for such a name)."""
    if isinstance(v, str) and not v.isascii():
        try:
            v.encode(encoding)
        except UnicodeEncodeError:
            return v.encode(encoding, "backslashreplace").decode(encoding)
        except LookupError:                   # an encoding Python does not know: as it is
            pass
    return v


def json_text(data, what: str = "JSON"):
    """`json.loads(data)`, refusing text that is not Unicode (lone surrogates from \\udXXX escapes)
    and nesting deeper than the parser's stack; ValueError naming `what` (json's own errors are
    ValueErrors too)."""
    import json

    try:
        obj = json.loads(data)
    except RecursionError:
        raise ValueError(f"{what}: nested too deeply") from None
    escape = b"\\u" if isinstance(data, (bytes, bytearray)) else "\\u"
    if data.isascii() and escape not in data:
        return obj                            # no \u escape, no other text: nothing to check (fast)
    try:
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError(f"{what}: not valid text (a lone surrogate {e.object[e.start:e.end]!a})") from None
    except (TypeError, ValueError, RecursionError):
        pass                                  # not ours to judge here: the parser's checks follow
    return obj


def host_port(spec: str, what: str) -> tuple[str, int]:
    """'HOST:PORT' (or '[v6]:PORT') with a port 1..65535; ValueError naming `what` otherwise."""
    host, sep, port = str(spec).rpartition(":")
    host = host.strip("[]")
    try:
        p = int(port)
    except ValueError:
        p = -1
    if not sep or not host or not 1 <= p <= 65535:
        raise ValueError(f"bad {what} {spec!r}: expected HOST:PORT with a port 1..65535")
    return host, p


# -- browsers ---------------------------------------------------------------------------------------
# Everything the control page loads comes from the show's own server; scripts only from app.js (no
# inline code, no eval); its live state over a WebSocket to the same host.
PAGE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
            "connect-src 'self' ws://{host}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
# The studio shows stored pictures and videos (and frames it draws into blobs).
STUDIO_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
              "media-src 'self' blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")


def own_names() -> set[str]:
    """The names by which this machine may be addressed in a Host header (lower case)."""
    import socket

    names = {"localhost", "localhost.localdomain"}
    for n in (socket.gethostname(), socket.getfqdn()):
        if n:
            names |= {n.lower(), n.lower().split(".")[0] + ".local"}
    return names


def split_host(value: str) -> tuple[str, str]:
    """'name:port', '[v6]:port', 'v4' -> (host in lower case, port or '')."""
    v = (value or "").strip().lower()
    if v.startswith("["):
        host, _, rest = v[1:].partition("]")
        return host, rest[1:] if rest.startswith(":") else ""
    host, sep, port = v.rpartition(":") if v.count(":") == 1 else (v, "", "")
    return (host, port) if sep else (v, "")


class OwnNames:
    """This machine's names, looked up at most once a minute: `socket.getfqdn()` can wait on a
    resolver, and a server asked it on every request."""

    REFRESH_S = 60.0

    def __init__(self):
        import threading

        self._names: set[str] = set()
        self._at = -self.REFRESH_S
        self._lock = threading.Lock()

    def __call__(self) -> set[str]:
        import time

        with self._lock:
            if time.monotonic() - self._at >= self.REFRESH_S:
                self._names, self._at = own_names(), time.monotonic()
            return self._names


def single_header(headers, name: str) -> Optional[str]:
    """A header that may appear at most once (Host, Origin); two of them is a malformed request
    (ValueError), never an exception deeper in."""
    values = headers.get_all(name) if hasattr(headers, "get_all") else headers.getlist(name)
    if len(values) > 1:
        raise ValueError(f"{len(values)} {name} headers")
    return values[0] if values else None


def host_allowed(value: Optional[str], extra_names: Iterable[str] = (), own: Optional[Callable[[], set]] = None) -> bool:
    """A request's Host must name this machine: an IP literal, localhost, its own host name, or a
    name the user admitted.  Anything else is DNS rebinding (evil.example resolving to us) or a
    confused client, and is refused before anything is read or changed.  `own`: this machine's
    names (an `OwnNames`, so servers do not look them up per request)."""
    host, _ = split_host(value or "")
    if not host:
        return False
    try:
        ipaddress.ip_address(host.split("%")[0])
        return True
    except ValueError:
        pass
    return host in (own() if own is not None else own_names()) or host in {n.lower() for n in extra_names}


def origin_allowed(origin: Optional[str], host_value: Optional[str]) -> bool:
    """A browser's Origin must be this server's own (scheme http, the Host it asked for): a page
    elsewhere may not read the show's state or drive it.  No Origin: not a browser."""
    if origin is None:
        return True
    return origin.strip().lower() in (f"http://{(host_value or '').strip().lower()}",)
