"""The HTTP/websocket server's connections, bounded and fair (a reserve for this machine's own user
and the hosts the user admitted, at most half of what is left per address), and the peers'
mistakes and attacks, counted by kind and each said once."""
from __future__ import annotations

import errno
import socket
import threading
from typing import Callable, Optional

# what closing a connection says when its client vanished first
_GONE = {errno.EBADF, errno.ENOTCONN, errno.ECONNRESET, errno.EPIPE}


class ClientProblems:
    """Peers' mistakes and attacks, counted by kind; each kind is one printed line, once."""

    def __init__(self, log: Callable[[str], None]):
        from collections import Counter

        self.log, self.counts, self._lock = log, Counter(), threading.Lock()

    def count(self, kind: str, line: str) -> None:
        with self._lock:
            self.counts[kind] += 1
            first = self.counts[kind] == 1
        if first:
            self.log(f"livegan: {line} (counted; said once)")

    def logger(self):
        """A logger for the websockets library: its handshake failures and connection errors
        (a client that disconnects early, a bad request) become counted lines, not tracebacks."""
        import logging

        problems = self

        class Counting(logging.Handler):
            def emit(self, record):
                # Routine news (listening, connection open/closed) is dropped; failures counted.
                if record.levelno < logging.WARNING and not record.exc_info and "fail" not in record.getMessage():
                    return
                exc = record.exc_info[1] if record.exc_info else None
                if isinstance(exc, OSError) and exc.errno in _GONE:
                    # the library closing a socket whose client already left: news, not a fault
                    problems.count("lib:gone", "OSCQuery: a client left before its connection closed")
                    return
                kind = type(exc).__name__ if exc else record.getMessage()[:40]
                problems.count(f"lib:{kind}", f"OSCQuery: {record.getMessage()[:120]}"
                                              + (f" ({kind}: {str(exc)[:80]})" if exc else ""))
        lg = logging.getLogger(f"livegan.oscquery.{id(self)}")
        lg.propagate = False
        lg.handlers = [Counting()]
        lg.setLevel(logging.INFO)
        return lg


def own_user(peer: str) -> bool:
    """The show machine's own browser or tool: 127.0.0.1 or ::1 exactly.  Other loopback
    addresses are this machine too, but anyone on it can take millions of them."""
    return peer in ("127.0.0.1", "::1", "::ffff:127.0.0.1")


class BoundedListener(socket.socket):
    """The listening socket.  Connections are bounded in all (`total`) and never all for the
    taking: `reserve` of them only the machine's own user (127.0.0.1, ::1) and the hosts the user
    admitted (`trusted(peer)`: --control-allow, --osc-allow) may use, and of the rest a source
    address may hold at most half of what is left to it (at most `per_peer`), so no number of
    addresses can lock the performer out.  A connection over a limit is handed on already shut
    (its thread ends at once, nothing is read)."""

    RESERVE = 12

    @classmethod
    def create(cls, host: str, port: int, per_peer: int, total: int, problems: ClientProblems,
               trusted: Optional[Callable[[str], bool]] = None) -> "BoundedListener":
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        s = cls(fam, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, port))
        s.listen(128)
        s.per_peer, s.total, s.problems = per_peer, total, problems
        s.trusted = trusted or (lambda peer: False)
        s.peers, s.lock = {}, threading.Lock()
        return s

    def admits(self, peer: str) -> bool:
        """Whether `peer` may open one more connection now (under the lock)."""
        held = self.peers.get(peer, 0)
        if sum(self.peers.values()) >= self.total or held >= self.per_peer:
            return False
        if own_user(peer) or self.trusted(peer):
            return True
        shared = self.total - self.RESERVE
        used = sum(n for p, n in self.peers.items() if not (own_user(p) or self.trusted(p)))
        left = shared - used
        return left > 0 and held + 1 <= max(2, (left + held) // 2)

    def accept(self):
        fd, addr = self._accept()
        conn = _Counted(self.family, self.type, self.proto, fileno=fd)
        peer = addr[0]
        with self.lock:
            over = not self.admits(peer)
            if not over:
                self.peers[peer] = self.peers.get(peer, 0) + 1
                conn.release = lambda: self._release(peer)
        if over:
            self.problems.count("busy", f"OSCQuery: refused a connection from {peer} (at most {self.per_peer} "
                                        f"per address and half of what is free; {self.total} in all, "
                                        f"{self.RESERVE} kept for this machine's own user and admitted hosts)")
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        return conn, addr

    def _release(self, peer: str) -> None:
        with self.lock:
            n = self.peers.get(peer, 0) - 1
            if n > 0:
                self.peers[peer] = n
            else:
                self.peers.pop(peer, None)


class _Counted(socket.socket):
    """A connection that gives its slot back when closed (once)."""

    release: Optional[Callable[[], None]] = None

    def close(self) -> None:
        release, self.release = self.release, None
        try:
            super().close()
        finally:
            if release is not None:
                release()
