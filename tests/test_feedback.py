"""Feedback tells the truth: every change, whatever caused it (OSC, preset, tap, MIDI), reaches OSC
feedback, OSCQuery VALUEs and LISTEN clients through one path; the initial state goes out unasked;
status is in the OSCQuery namespace; two instances get distinct mDNS names."""
from __future__ import annotations

import base64
import json
import os
import socket
import struct
import time
import urllib.request

import pytest
from pythonosc.osc_packet import OscPacket
from pythonosc.udp_client import SimpleUDPClient

from livegan.control.surfaces import ControlOptions, Controls
from livegan.params import Command
from livegan.presets import load_preset, parse_preset
from livegan.show import Options, Show

PRESET = parse_preset({"keyframes": [1, 2], "speed": 0.0}, "fb.json")


@pytest.fixture
def rig(tiny, osc_rig):
    show = Show(Options(fps=30), PRESET, G=tiny)
    ctl, fb = osc_rig(show, timeout=0.02)
    got: dict = {}
    from livegan.app import App
    app = App(show, hud=False, controls=ctl)

    def pump(cond, timeout=5.0):
        end = time.time() + timeout
        while time.time() < end:
            show.tick(0.0)
            app.triggers(None)
            ctl.after_tick()
            try:
                while True:
                    data, _ = fb.recvfrom(65536)
                    for m in OscPacket(data).messages:
                        got.setdefault(m.message.address, []).append(m.message.params[0])
            except socket.timeout:
                pass
            if cond():
                return True
        return False
    yield show, ctl, got, pump


def test_initial_state_preset_and_tap_reach_osc_feedback_and_oscquery(rig):
    show, ctl, got, pump = rig
    from livegan.params import PARAMS
    assert pump(lambda: all(f"/livegan/{p.name}" in got for p in PARAMS))            # the whole state, unasked
    assert pump(lambda: "/livegan/status/preset" in got and "/livegan/status/fps" in got)
    cuts = load_preset("cuts")
    show.post(Command("trigger", "preset", "cuts", "osc"))
    assert pump(lambda: got.get("/livegan/kaleido", [None])[-1] == cuts.params["kaleido"])
    assert got["/livegan/contrast"][-1] == pytest.approx(cuts.params["contrast"])
    for t in (10.0, 10.5, 11.0):                        # tap tempo at 120 bpm
        show.post(Command("trigger", "tap", None, "key", t))
    assert pump(lambda: got.get("/livegan/bpm", [None])[-1] == pytest.approx(120.0))
    assert pump(lambda: got.get("/livegan/status/preset", [None])[-1] == "cuts")      # status twice a second
    base = f"http://127.0.0.1:{ctl.query.port}"
    v = json.loads(urllib.request.urlopen(base + "/livegan/kaleido?VALUE", timeout=5).read())
    assert v == {"VALUE": [cuts.params["kaleido"]]}
    assert json.loads(urllib.request.urlopen(base + "/livegan/bpm?VALUE", timeout=5).read())["VALUE"][0] == pytest.approx(120)
    tree = json.loads(urllib.request.urlopen(base + "/", timeout=5).read())
    status = tree["CONTENTS"]["livegan"]["CONTENTS"]["status"]["CONTENTS"]
    assert status["preset"]["ACCESS"] == 1 and status["preset"]["VALUE"] == ["cuts"]
    assert {"fps", "frame", "keyframe", "recording", "network"} <= set(status)
    got.clear()                                         # a target that (re)connects asks for it all
    SimpleUDPClient("127.0.0.1", ctl.osc.port).send_message("/livegan/status/sync", [])
    assert pump(lambda: "/livegan/psi" in got and "/livegan/status/network" in got)


def ws_connect(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    assert b" 101 " in head.split(b"\r\n")[0]
    import hashlib
    want = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
    assert want in head
    return s


def ws_send_text(s: socket.socket, text: str) -> None:
    data, mask = text.encode(), os.urandom(4)
    s.sendall(bytes([0x81, 0x80 | len(data)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))


def ws_read(s: socket.socket) -> tuple[int, bytes]:
    b0, b1 = s.recv(1)[0], s.recv(1)[0]
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack(">H", s.recv(2))[0]
    data = b""
    while len(data) < n:
        data += s.recv(n - len(data))
    return b0 & 0x0F, data


def test_oscquery_listen_streams_changes_over_a_websocket(rig):
    show, ctl, got, pump = rig
    assert json.loads(urllib.request.urlopen(f"http://127.0.0.1:{ctl.query.port}/?HOST_INFO", timeout=5).read()
                      )["EXTENSIONS"]["LISTEN"] is True
    s = ws_connect(ctl.query.port)
    ws_send_text(s, json.dumps({"COMMAND": "LISTEN", "DATA": "/livegan/psi"}))
    op, data = ws_read(s)                               # the current value first
    msg = OscPacket(data).messages[0].message
    assert op == 2 and msg.address == "/livegan/psi" and msg.params[0] == pytest.approx(0.7)
    show.post(Command("set", "psi", 0.33, "osc"))
    show.post(Command("set", "hue", 10.0, "osc"))        # not listened: not sent
    pump(lambda: show.registry.target["psi"] == pytest.approx(0.33), timeout=2)
    s.settimeout(5)
    op, data = ws_read(s)
    msg = OscPacket(data).messages[0].message
    assert msg.address == "/livegan/psi" and msg.params[0] == pytest.approx(0.33)
    ws_send_text(s, "not json at all")                   # ignored, the connection stays
    ws_send_text(s, json.dumps({"COMMAND": "IGNORE", "DATA": "/livegan/psi"}))
    ws_send_text(s, json.dumps({"COMMAND": "LISTEN", "DATA": "/livegan/status/preset"}))
    op, data = ws_read(s)
    assert OscPacket(data).messages[0].message.address == "/livegan/status/preset"
    s.close()


@pytest.mark.realtime            # mDNS probes and replies between two instances run in real time
def test_two_instances_get_distinct_mdns_names_and_a_short_run_is_quiet(tiny):
    logs = []
    shows = [Show(Options(fps=30), PRESET, G=tiny) for _ in range(2)]
    ctls = [Controls(s, ControlOptions(osc_port=0, oscquery_port=0, mdns=True), log=logs.append).start() for s in shows]
    end = time.time() + 20
    while time.time() < end and not all(len(c.query.mdns_names) == 2 for c in ctls):
        time.sleep(0.1)
    names = [c.query.mdns_names[0] for c in ctls]
    for c in ctls:
        c.stop()
    assert names[0] != names[1] and all(n.startswith("livegan") for n in names), names
    quick = Controls(Show(Options(fps=30), PRESET, G=tiny), ControlOptions(osc_port=0, oscquery_port=0, mdns=True),
                     log=logs.append).start()
    quick.stop()                                         # stops mid-registration
    assert not [m for m in logs if "mDNS" in m], logs
