"""Who may control the show: the sender allow-list shared by OSC and OSCQuery, and where they bind.

Policy (printed at start, see `describe`): by default only this machine is heard, and the servers
bind to loopback, so nobody on the venue network can reach them.  `--osc-allow HOST|CIDR` adds
senders (the servers then bind to all interfaces and drop everyone else); `--osc-allow any` opens
the show to the whole network.
"""
from __future__ import annotations

import ipaddress
import socket
from typing import Callable, Iterable, Optional

LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


def parse_allow(spec: str) -> Optional[ipaddress._BaseNetwork]:
    """'any' -> None (everyone); a host name, address or CIDR -> a network.  ValueError if bad."""
    s = spec.strip()
    if s.lower() == "any":
        return None
    try:
        return ipaddress.ip_network(s, strict=False)
    except ValueError:
        pass
    try:
        addr = socket.getaddrinfo(s, None, proto=socket.IPPROTO_UDP)[0][4][0]
    except (OSError, UnicodeError, IndexError):
        raise ValueError(f"--osc-allow {spec!r}: not an address, a CIDR range, a known host name or 'any'") from None
    return ipaddress.ip_network(addr)


def _own_addresses() -> list:
    """This machine's own addresses: a packet sent to ourselves over the LAN carries one of them."""
    out = []
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None):
            try:
                out.append(ipaddress.ip_network(info[4][0]))
            except ValueError:
                pass
    except OSError:
        pass
    return out


class SenderPolicy:
    """`allows(address)`: this machine always, plus the configured hosts/ranges, or everyone."""

    def __init__(self, allow: Iterable[str] = ()):
        nets = [parse_allow(a) for a in allow]
        self.everyone = any(n is None for n in nets)
        self.extra = [n for n in nets if n is not None]
        self.networks = list(LOOPBACK) + _own_addresses() + self.extra

    @property
    def local_only(self) -> bool:
        return not self.everyone and not self.extra

    def allows(self, host: str) -> bool:
        if self.everyone:
            return True
        try:
            ip = ipaddress.ip_address(host.split("%")[0])
        except ValueError:
            return False
        if getattr(ip, "ipv4_mapped", None):
            ip = ip.ipv4_mapped
        return any(ip in n for n in self.networks if n.version == ip.version)

    def admitted(self, host: str) -> bool:
        """Named by the user (a host or network given), not merely this machine or 'any'."""
        try:
            ip = ipaddress.ip_address(host.split("%")[0])
        except ValueError:
            return False
        ip = getattr(ip, "ipv4_mapped", None) or ip
        return any(ip in n for n in self.extra if n.version == ip.version)

    def bind_host(self, explicit: Optional[str] = None) -> str:
        """Loopback when only this machine may send; all interfaces otherwise (unless told)."""
        if explicit and explicit != "auto":
            return explicit
        return "127.0.0.1" if self.local_only else "0.0.0.0"

    def describe(self) -> str:
        if self.everyone:
            return "anyone on the network (--osc-allow any)"
        if not self.extra:
            return "this machine only (add senders with --osc-allow HOST|CIDR|any)"
        return "this machine and " + ", ".join(str(n) for n in self.extra)


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
