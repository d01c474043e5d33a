"""Who may control the show: the sender allow-list shared by OSC and OSCQuery, and where they bind.

Policy (printed at start, see `describe`): by default only this machine is heard, and the servers
bind to loopback, so nobody on the venue network can reach them.  `--osc-allow HOST|CIDR` adds
senders (the servers then bind to all interfaces and drop everyone else); `--osc-allow any` opens
the show to the whole network.
"""
from __future__ import annotations

import ipaddress
import socket
from typing import Iterable, Optional

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
