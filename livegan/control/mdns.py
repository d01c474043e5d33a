"""Being found on the venue network: this host's address, and the mDNS records (`_oscjson._tcp`
for OSCQuery browsers, `_osc._udp` for plain OSC) under a name unique by construction."""
from __future__ import annotations

import socket
import threading
from typing import Callable, Optional


def local_ip() -> str:
    """This host's address on the network (for the mDNS record and the control page's URL): the
    interface a datagram to the outside would leave by (nothing is sent), else the host name's
    address, else loopback."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("198.51.100.1", 9))              # TEST-NET-2: routed like the outside, never sent to
        ip = s.getsockname()[0]
        if not ip.startswith("127.") and ip != "0.0.0.0":
            return ip
    except OSError:
        pass
    finally:
        s.close()
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"


class Advertiser:
    """Registers 'NAME on HOST (PORT)' in a thread of its own (the probes take a moment): unique
    by construction (one host, one OSCQuery port), since two instances probing at the same moment
    can both miss the conflict; zeroconf still renames on one as a fallback.  No multicast here
    is one line, and OSCQuery over HTTP still works."""

    def __init__(self, name: str, port: int, osc_port: int, log: Callable[[str], None]):
        self.name, self.port, self.osc_port, self.log = name, port, osc_port, log
        self.names: list[str] = []
        self._stopping = threading.Event()
        self._zc = None
        self._thread: Optional[threading.Thread] = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._register, name="livegan-mdns", daemon=True)
        self._thread.start()

    def _register(self) -> None:
        try:
            from zeroconf import ServiceInfo, Zeroconf

            ip = local_ip()
            addr = socket.inet_aton(ip)
            host = (socket.gethostname().split(".")[0] or ip)[:40]
            self._zc = Zeroconf()
            for stype, port in (("_oscjson._tcp.local.", self.port), ("_osc._udp.local.", self.osc_port)):
                if self._stopping.is_set():
                    return
                info = ServiceInfo(stype, f"{self.name} on {host} ({self.port}).{stype}", addresses=[addr], port=port,
                                   properties={"txtvers": "1"})
                self._zc.register_service(info, allow_name_change=True)
                self.names.append(info.name)
        except Exception as e:
            if not self._stopping.is_set():        # a short run stopping mid-registration is no error
                self.log(f"OSCQuery: mDNS advertising unavailable ({type(e).__name__}: {e})")

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)           # registration probes take a moment: let it end
        if self._zc is not None:
            try:
                self._zc.unregister_all_services()
                self._zc.close()
            except Exception as e:
                self.log(f"OSCQuery: mDNS shutdown: {e}")
