"""OSC feedback out: parameter changes and status to a panel (TouchDesigner, a motor-fader desk).

A host name is resolved here, to an address, never per message: python-osc's client sends every
message to the name, so each one asked the resolver again, on the main thread (0.5-0.8 ms a
message on this VM for a name the resolver does not know; a venue's DNS or mDNS can take far
longer), and the audio meters alone are six messages a frame.  A name the network cannot resolve
yet (the show machine booted first, the Wi-Fi not joined) refused to start the whole show; now the
show starts, says so once, and a thread resolves it every few seconds until it answers, then
every minute (a panel whose address changed is followed).  Until then feedback is counted as not
sent."""
from __future__ import annotations

import socket
import threading
from typing import Callable, Iterable, Optional

from ..boundary import utf8_text
from .osc import PREFIX, STATUS


class OscFeedback:
    """Sends parameter changes and status to `host:port` so panels and motor faders follow."""

    RETRY_S = 5.0                        # while the name does not resolve
    REFRESH_S = 60.0                     # after: a panel's new address is followed

    def __init__(self, target: str, log: Callable[[str], None] = print):
        from ..boundary import host_port

        self.host, self.port = host_port(target, "--osc-out")
        self.log = log
        self.sent = 0
        self.errors = 0
        self.client = None
        self.address: Optional[str] = None
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        try:
            self._connect(self._resolve())
        except socket.gaierror as e:             # not resolvable now: the show starts anyway
            log(f"OSC feedback: {self.host} does not resolve yet ({e.strerror}); sending once it does "
                f"(tried every {self.RETRY_S:g} s)")
        except (ValueError, OSError) as e:
            raise ValueError(f"bad --osc-out {target!r}: {e}") from None
        if self.address != self.host:            # a name: looked up again off the main thread
            self._thread = threading.Thread(target=self._follow, name="livegan-osc-out", daemon=True)
            self._thread.start()

    def _resolve(self) -> str:
        """The host's address (the first the resolver gives for UDP); socket.gaierror if none."""
        return socket.getaddrinfo(self.host, self.port, type=socket.SOCK_DGRAM)[0][4][0]

    def _connect(self, address: str) -> None:
        from pythonosc.udp_client import SimpleUDPClient

        if address != self.address:
            self.client, self.address = SimpleUDPClient(address, self.port), address

    def _follow(self) -> None:
        while not self._stop.wait(self.REFRESH_S if self.client is not None else self.RETRY_S):
            try:
                address = self._resolve()
            except OSError:
                continue
            if address != self.address:
                self.log(f"OSC feedback: {self.host} is {address} now; sending to it")
                try:
                    self._connect(address)
                except OSError:
                    continue

    def send(self, address: str, value) -> None:
        client = self.client
        if client is None:
            self.errors += 1
            return
        try:
            client.send_message(address, utf8_text(value))
            self.sent += 1
        except Exception:                    # nobody listening / network down: keep going
            self.errors += 1

    def params(self, values: dict, names: Iterable[str]) -> None:
        for n in names:
            self.send(f"{PREFIX}/{n}", float(values[n]))

    def status(self, status: dict) -> None:
        for name, kind, _ in STATUS:
            if name in status:
                v = status[name]
                self.send(f"{PREFIX}/status/{name}", str(v) if kind == "s" else (int(v) if kind == "i" else float(v)))
        for key, v in status.items():                   # output/NAME/sent|dropped|error
            if key.startswith("output/"):
                self.send(f"{PREFIX}/status/{key}", v if isinstance(v, str) else int(v))

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
