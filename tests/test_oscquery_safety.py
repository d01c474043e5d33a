"""OSCQuery (HTTP + LISTEN websockets on the `websockets` library) under hostile peers, all on
loopback: a flooding peer (127.0.0.2) with idle websockets and slowloris requests cannot shut out
another (127.0.0.1); only this machine's names are answered and only this server's own pages may
open a websocket; oversized or deeply nested frames and clients that vanish mid-request are
counted lines, never tracebacks."""
from __future__ import annotations

import base64
import json
import os
import socket
import threading
import time
import urllib.request

import pytest

from livegan.control.oscquery import OscQueryServer
from livegan.control.surfaces import ControlOptions
from livegan.control.surfaces import Controls
from livegan.presets import parse_preset
from livegan.show import Options
from livegan.show import Show

pytestmark = pytest.mark.hostile


@pytest.fixture
def server():
    lines: list[str] = []
    srv = OscQueryServer(9000, "127.0.0.1", 0, mdns=False, log=lines.append).start()
    srv.publish({"psi": 0.5})
    yield srv, lines
    srv.stop()


def get(port: int, path: str = "/", host: str | None = None, origin: str | None = None, timeout: float = 10.0):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if host is not None:
        req.add_header("Host", host)
    if origin is not None:
        req.add_header("Origin", origin)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def upgrade(port: int, host: str = "127.0.0.1", origin: str | None = None, source: str = "127.0.0.1"):
    s = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))
    key = base64.b64encode(os.urandom(16)).decode()
    extra = f"Origin: {origin}\r\n" if origin else ""
    s.sendall((f"GET / HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{extra}"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        if not chunk:
            break
        head += chunk
    return s, head.split(b"\r\n")[0]


def frame(payload: bytes, opcode: int = 1) -> bytes:
    mask = os.urandom(4)
    n = len(payload)
    head = bytes([0x80 | opcode]) + (bytes([0x80 | n]) if n < 126 else
                                     bytes([0x80 | 126]) + n.to_bytes(2, "big") if n < 65536 else
                                     bytes([0x80 | 127]) + n.to_bytes(8, "big"))
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def test_a_flooding_peer_cannot_shut_another_out(server):
    srv, lines = server
    port = srv.port
    hold = []
    for _ in range(20):                                   # idle websockets from 127.0.0.2
        s, status = upgrade(port, source="127.0.0.2")
        hold.append(s)
    stop = threading.Event()

    def slowloris():                                      # a byte every second, never finishing
        socks = []
        for _ in range(20):
            try:
                socks.append(socket.create_connection(("127.0.0.1", port), timeout=5, source_address=("127.0.0.2", 0)))
            except OSError:
                pass
        while not stop.is_set():
            for s in socks:
                try:
                    s.sendall(b"G")
                except OSError:
                    pass
            stop.wait(1.0)
        for s in socks:
            s.close()
    t = threading.Thread(target=slowloris)
    t.start()
    try:
        for _ in range(5):                                # the other peer is answered, every time
            status, body = get(port, "/livegan/psi?VALUE")
            assert status == 200 and json.loads(body) == {"VALUE": [0.5]}
        s, status = upgrade(port)                         # and may still open its own websocket
        assert b" 101 " in status
        s.close()
        assert any("per address" in ln for ln in lines)  # the refusals were said, once
    finally:
        stop.set()
        t.join()
        for s in hold:
            s.close()
    # a slowloris request is cut at the whole-request deadline, not kept alive by its trickle
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    t0 = time.monotonic()
    s.sendall(b"GET / HTTP/1.1\r\n")
    s.settimeout(1.0)
    closed = False
    while time.monotonic() - t0 < srv.OPEN_TIMEOUT + 10:
        try:
            s.sendall(b"X")
            if s.recv(4096) == b"":
                closed = True
                break
        except socket.timeout:
            continue
        except OSError:
            closed = True
            break
    s.close()
    assert closed and time.monotonic() - t0 < srv.OPEN_TIMEOUT + 10


@pytest.mark.parametrize("host", ["evil.example", "evil.example:9001", "localhost.evil.example", ""])
def test_requests_for_other_host_names_are_refused(server, host):
    srv, _ = server
    status, body = get(srv.port, "/", host=host)
    assert status in (400, 421) and b"CONTENTS" not in body
    s, line = upgrade(srv.port, host=host or "x.invalid")
    assert b" 101 " not in line
    s.close()


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "[::1]:{port}", socket.gethostname()])
def test_this_machines_names_are_answered(server, host):
    srv, _ = server
    status, body = get(srv.port, "/livegan/psi", host=host.format(port=srv.port))
    assert status == 200 and json.loads(body)["FULL_PATH"] == "/livegan/psi"


def test_only_this_servers_own_pages_open_a_websocket(server):
    srv, lines = server
    own = f"127.0.0.1:{srv.port}"
    for origin in ("http://evil.example", f"http://evil.example:{srv.port}", "null", f"https://{own}"):
        s, line = upgrade(srv.port, host=own, origin=origin)
        assert b" 403 " in line, origin
        s.close()
    assert get(srv.port, "/", host=own, origin="http://evil.example")[0] == 403
    s, line = upgrade(srv.port, host=own, origin=f"http://{own}")
    assert b" 101 " in line
    s.close()


def test_hostile_frames_and_vanishing_clients_are_counted_lines(server, capfd):
    srv, lines = server
    s, line = upgrade(srv.port)
    assert b" 101 " in line
    s.sendall(frame(b"[" * 60000))                        # nested beyond any parser, and too big
    s.settimeout(5)
    try:
        data = s.recv(64)
    except OSError:
        data = b""
    assert data == b"" or data[0] & 0x0F == 8             # closed (1009), not crashed
    s.close()
    s, line = upgrade(srv.port)
    s.sendall(frame(b"[" * 3000))                         # small but deep: ignored, the socket lives
    s.sendall(frame(json.dumps({"COMMAND": "LISTEN", "DATA": "/livegan/psi"}).encode()))
    s.settimeout(5)
    assert s.recv(2)[0] & 0x0F == 2                       # the listened value arrives
    s.close()
    for k in range(40):                                   # clients that vanish mid-request
        c = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        c.sendall(b"GET /livegan/psi HTTP/1.1\r\nHost: 127.0.0.1\r\n"[: 10 + k])
        c.close()
    status, _ = get(srv.port, "/livegan/psi")
    assert status == 200
    out = capfd.readouterr()
    assert "Traceback" not in out.out + out.err and not any("Traceback" in ln for ln in lines)
    assert len(lines) <= len(srv.problems.counts)                         # one line per kind, if any


PRESET = parse_preset({"keyframes": [1, 3, 6, 7], "speed": 0.0}, "corners.json")


def test_two_host_headers_are_a_bad_request_and_counted(tiny):
    show = Show(Options(fps=30), PRESET, G=tiny)
    ctl = Controls(show, ControlOptions(osc_host="127.0.0.1", osc_port=0, oscquery_port=0, mdns=False),
                   log=lambda m: None).start()
    try:
        with socket.create_connection(("127.0.0.1", ctl.query.port), timeout=5) as s:
            s.sendall(b"GET /livegan HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\n\r\n")
            head = s.recv(4096).decode("latin-1")
        assert head.startswith("HTTP/1.1 400"), head
        assert ctl.refused() >= 1 and ctl.status()["errors"] >= 1
    finally:
        ctl.stop()


def test_a_client_gone_before_its_close_is_said_as_such():
    # the websockets library logs 'connection handler failed' with EBADF or ENOTCONN when it
    # closes a socket whose client vanished mid-close: counted as that, not as a failure
    import errno

    from livegan.control.listener import ClientProblems

    lines: list = []
    problems = ClientProblems(lines.append)
    log = problems.logger()
    for code in (errno.EBADF, errno.ENOTCONN):
        e = OSError(code, "gone")
        log.error("connection handler failed", exc_info=(OSError, e, None))
    log.error("connection handler failed", exc_info=(ValueError, ValueError("bad frame"), None))
    assert lines == ["livegan: OSCQuery: a client left before its connection closed (counted; said once)",
                     "livegan: OSCQuery: connection handler failed (ValueError: bad frame) (counted; said once)"]
    assert problems.counts["lib:gone"] == 2
