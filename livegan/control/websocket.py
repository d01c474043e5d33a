"""The server side of a WebSocket (RFC 6455), as much as OSCQuery's LISTEN needs: the opening
handshake, masked client frames in (text, binary, ping, close; fragments refused), unmasked frames
out.  Bounded: a client frame over MAX_FRAME bytes closes the connection."""
from __future__ import annotations

import base64
import hashlib
import select
import socket
import struct
from typing import Optional

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_FRAME = 64 * 1024
TEXT, BINARY, CLOSE, PING, PONG = 0x1, 0x2, 0x8, 0x9, 0xA


class WebSocketError(Exception):
    pass


def handshake_response(key: str) -> bytes:
    """The 101 reply to a client's Sec-WebSocket-Key; ValueError for a malformed key."""
    try:
        if len(base64.b64decode(key, validate=True)) != 16:
            raise ValueError
    except Exception:
        raise ValueError("bad Sec-WebSocket-Key") from None
    accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
    return ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept}\r\n\r\n").encode()


def frame(opcode: int, payload: bytes) -> bytes:
    """An unmasked, final frame (server to client)."""
    n = len(payload)
    head = bytes([0x80 | opcode])
    if n < 126:
        head += bytes([n])
    elif n < 1 << 16:
        head += bytes([126]) + struct.pack(">H", n)
    else:
        head += bytes([127]) + struct.pack(">Q", n)
    return head + payload


class WebSocket:
    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.closed = False

    def _recv(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise WebSocketError("connection closed")
            out += chunk
        return out

    def poll(self, timeout: float) -> Optional[str]:
        """Wait up to `timeout` for a frame; a text frame's text, or None (nothing, or handled)."""
        if self.closed:
            raise WebSocketError("closed")
        ready, _, _ = select.select([self.sock], [], [], timeout)
        if not ready:
            return None
        b0, b1 = self._recv(2)
        opcode, masked, n = b0 & 0x0F, b1 & 0x80, b1 & 0x7F
        if not b0 & 0x80 or opcode == 0:
            raise WebSocketError("fragmented frames are not supported")
        if not masked:
            raise WebSocketError("client frames must be masked")
        if n == 126:
            n = struct.unpack(">H", self._recv(2))[0]
        elif n == 127:
            n = struct.unpack(">Q", self._recv(8))[0]
        if n > MAX_FRAME:
            raise WebSocketError(f"frame of {n} bytes")
        mask = self._recv(4)
        data = bytes(b ^ mask[i % 4] for i, b in enumerate(self._recv(n)))
        if opcode == CLOSE:
            self.close()
            raise WebSocketError("closed by the client")
        if opcode == PING:
            self.sock.sendall(frame(PONG, data))
            return None
        if opcode == TEXT:
            return data.decode("utf-8", errors="replace")
        return None

    def send_binary(self, data: bytes) -> None:
        self.sock.sendall(frame(BINARY, data))

    def send_text(self, text: str) -> None:
        self.sock.sendall(frame(TEXT, text.encode()))

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            try:
                self.sock.sendall(frame(CLOSE, b""))
            except OSError:
                pass
