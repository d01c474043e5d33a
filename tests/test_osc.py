"""OSC over real UDP on 127.0.0.1 (python-osc and liblo's oscsend), fuzzing, flood, OSCQuery, feedback."""
from __future__ import annotations

import json
import random
import shutil
import socket
import struct
import subprocess
import sys
import time
import urllib.request

import pytest
from pythonosc import osc_bundle_builder, osc_message_builder
from pythonosc.osc_packet import OscPacket
from pythonosc.udp_client import SimpleUDPClient

from livegan.app import App
from livegan.control.osc import OscReceiver, address_table
from livegan.control.oscaddr import compile_pattern, matches
from livegan.control.surfaces import ControlOptions, Controls
from livegan.params import PARAMS, Command
from livegan.presets import parse_preset
from livegan.show import Options, Show
from conftest import free_port_pair

PRESET = parse_preset({"keyframes": [1, 2, 3, 4], "speed": 0.0}, "osc.json")


@pytest.fixture
def live(tiny, osc_rig):
    """A show with OSC, OSCQuery and feedback on free loopback ports; ticks driven by the test."""
    show = Show(Options(fps=30), PRESET, G=tiny)
    ctl, fb = osc_rig(show)
    show.start()
    t0 = time.perf_counter()

    def tick(n=3):
        for _ in range(n):
            show.tick(time.perf_counter() - t0)
            ctl.after_tick()
            time.sleep(0.01)
    yield show, ctl, tick, fb
    show.stop()


def settle(show, tick, cond, timeout=5.0):
    end = time.time() + timeout
    while time.time() < end:
        tick(1)
        if cond():
            return True
    return False


def test_parameters_and_commands_over_udp(live):
    show, ctl, tick, _ = live
    c = SimpleUDPClient("127.0.0.1", ctl.osc.port)
    c.send_message("/livegan/psi", 0.3)
    c.send_message("/livegan/norm/zoom", 1.0)
    c.send_message("/livegan/add/hue", 10.0)
    c.send_message("/livegan/kaleido", 4)
    c.send_message("/livegan/toggle/loop", [])
    assert settle(show, tick, lambda: show.registry.target["loop"] == 0.0)   # the last one sent
    assert show.registry.target["psi"] == pytest.approx(0.3)
    assert show.registry.target["zoom"] == 4.0 and show.registry.target["hue"] == 10.0
    assert show.registry.target["kaleido"] == 4 and show.registry.target["loop"] == 0.0
    g = show.generation
    c.send_message("/livegan/keyframe/goto", 2)
    assert settle(show, tick, lambda: show.transport.position == 2.0)
    assert show.generation > g
    c.send_message("/livegan/keyframe/next", [])
    assert settle(show, tick, lambda: show.transport.position == 3.0)
    c.send_message("/livegan/preset", "cuts")
    assert settle(show, tick, lambda: show.preset.name == "cuts")
    c.send_message("/livegan/seed", 4242)
    assert settle(show, tick, lambda: any(k.seed == 4242 for k in show.preset.keyframes))
    c.send_message("/livegan/bpm", 90.0)
    assert settle(show, tick, lambda: show.registry.target["bpm"] == 90.0)


def test_wildcards_and_out_of_range(live):
    show, ctl, tick, _ = live
    c = SimpleUDPClient("127.0.0.1", ctl.osc.port)
    c.send_message("/livegan/{brightness,contrast}", 0.5)
    c.send_message("/livegan/norm/translate_?", 0.75)
    c.send_message("/livegan/psi", 99.0)
    assert settle(show, tick, lambda: show.registry.target["psi"] == 2.0)    # the last one sent
    assert show.registry.target["contrast"] == 0.5 and show.registry.target["brightness"] == 0.5
    assert show.registry.target["translate_x"] == show.registry.target["translate_y"] == 2.0
    assert show.registry.clamped >= 1
    assert matches(compile_pattern("/livegan/[!a-m]*"), "/livegan/psi")
    assert not matches(compile_pattern("/livegan/[!a-m]*"), "/livegan/hue")


def test_bundle_time_tags_are_respected(live):
    show, ctl, tick, _ = live
    c = SimpleUDPClient("127.0.0.1", ctl.osc.port)
    b = osc_bundle_builder.OscBundleBuilder(time.time() + 1.0)
    m = osc_message_builder.OscMessageBuilder("/livegan/saturation")
    m.add_arg(2.5)
    b.add_content(m.build())
    now = osc_bundle_builder.OscBundleBuilder(osc_bundle_builder.IMMEDIATELY)
    m2 = osc_message_builder.OscMessageBuilder("/livegan/hue")
    m2.add_arg(33.0)
    now.add_content(m2.build())
    sent = time.time()
    c.send(b.build())
    c.send(now.build())
    assert settle(show, tick, lambda: show.registry.target["hue"] == 33.0)
    assert show.registry.target["saturation"] == 1.0          # not before its time
    assert settle(show, tick, lambda: show.registry.target["saturation"] == 2.5, timeout=3)
    assert time.time() - sent >= 0.95


def test_independent_client_oscsend(live):
    show, ctl, tick, _ = live
    exe = shutil.which("oscsend")
    assert exe, "liblo's oscsend is needed (make test installs Debian's liblo-tools)"
    subprocess.run([exe, "127.0.0.1", str(ctl.osc.port), "/livegan/psi", "f", "0.42"], check=True)
    subprocess.run([exe, "127.0.0.1", str(ctl.osc.port), "/livegan/preset", "s", "drift"], check=True)
    subprocess.run([exe, "127.0.0.1", str(ctl.osc.port), "/livegan/loop", "F"], check=True)
    assert settle(show, tick, lambda: show.preset.name == "drift" and show.registry.target["loop"] == 0.0), (show.preset.name, show.registry.target["loop"], list(show.errors), dict(ctl.osc.errors))
    # the preset switch resets psi to the preset's value, so send again after it
    subprocess.run([exe, "127.0.0.1", str(ctl.osc.port), "/livegan/psi", "f", "0.42"], check=True)
    assert settle(show, tick, lambda: show.registry.target["psi"] == pytest.approx(0.42))


def _raw(address: str, tags: str, payload: bytes) -> bytes:
    pad = lambda b: b + b"\0" * (4 - len(b) % 4)
    return pad(address.encode()) + pad(("," + tags).encode()) + payload


def test_argument_types_no_address_takes_are_refused_by_name(tiny, osc_rig):
    """OSC also carries blobs, time tags, MIDI messages, nil and arrays; no address means them,
    and one of them passed on by a bend killed the session recorder's thread (the control log could
    not write it).  Over real UDP, every such argument to every kind of address is refused and
    counted, named in the one line said, and nothing reaches the show; plain numbers still do."""
    said = []
    show = Show(Options(fps=30), PRESET, G=tiny)
    ctl, _ = osc_rig(show, log=said.append)
    c = SimpleUDPClient("127.0.0.1", ctl.osc.port)
    raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    odd = [("b", struct.pack(">i", 3) + b"abc\0"), ("t", struct.pack(">Q", 5 << 32)), ("m", b"\x00\x90\x3c\x7f"),
           ("N", b""), ("[f]", struct.pack(">f", 0.5))]
    heads = {"/livegan/bend/0/op": ("si", b"warp\0\0\0\0" + struct.pack(">i", 1)),
             "/livegan/preset": ("", b""), "/livegan/psi": ("", b""), "/livegan/seed": ("", b""),
             "/livegan/lfo/0": ("s", b"sine\0\0\0\0")}
    sent = 0
    for address, (tags, payload) in heads.items():
        for t, data in odd:
            raw.sendto(_raw(address, tags + t, payload + data), ("127.0.0.1", ctl.osc.port))
            sent += 1
    before = dict(show.registry.target), [k.seed for k in show.preset.keyframes], show.bends.header()
    c.send_message("/livegan/psi", 0.3)
    end = time.time() + 10
    while time.time() < end and not (ctl.osc.errors["type"] >= sent and ctl.osc.received >= 1):
        show.tick(0.0)                               # the main thread takes what arrived
        ctl.after_tick()
        time.sleep(0.01)
    show.tick(0.0)
    raw.close()
    assert ctl.osc.errors["type"] == sent and ctl.osc.received == 1, (dict(ctl.osc.errors), ctl.osc.received)
    assert any("argument 3 is a blob (b)" in m for m in said), said
    assert show.registry.target["psi"] == pytest.approx(0.3)                 # plain numbers still arrive
    assert {k: v for k, v in show.registry.target.items() if k != "psi"} == \
        {k: v for k, v in before[0].items() if k != "psi"}
    assert [k.seed for k in show.preset.keyframes] == before[1] and show.bends.header() == before[2]
    assert not show.errors                                                 # refused at the door


def test_malformed_datagrams_are_counted_never_raised():
    posted = []
    r = OscReceiver(posted.append, "127.0.0.1", 0, log=lambda m: None)
    rng = random.Random(1)
    good = osc_message_builder.OscMessageBuilder("/livegan/psi")
    good.add_arg(0.5)
    good = good.build().dgram
    wrong = osc_message_builder.OscMessageBuilder("/livegan/psi")
    wrong.add_arg("high")
    cases = [bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 200))) for _ in range(300)]
    cases += [good[:k] for k in range(1, len(good))]          # every truncation
    cases += [wrong.build().dgram, b"/livegan/nope\x00\x00\x00,f\x00\x00\x00\x00\x00\x00", b"#bundle\x00", b"\x00" * 20000]
    for data in cases:
        r.handle_datagram(data)
    assert sum(r.errors.values()) >= 300
    assert {"malformed", "type", "unknown", "huge"} <= set(r.errors)
    assert all(c.name in {p.name for p in PARAMS} or c.op == "trigger" for c in posted)
    r.handle_datagram(good)
    assert posted[-1].name == "psi" and posted[-1].value == 0.5
    r.sock.close()


@pytest.mark.realtime            # against a run of the same show just before: both need the same load
@pytest.mark.realtime            # against a run of the same show just before: both need the same load
def test_flood_never_stalls_the_display(tmp_path, tiny):
    show = Show(Options(fps=30), PRESET, G=tiny)
    ctl = Controls(show, ControlOptions(osc_host="127.0.0.1", osc_port=0, oscquery=False), log=lambda m: None).start()
    port = ctl.osc.port
    # The flood comes from another process, as from another machine: a sender thread in this
    # process would compete for the show's own interpreter lock, which no network peer can.
    script = ("import os, random, socket, sys\n"
              "from pythonosc import osc_message_builder\n"
              "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); rng = random.Random(2); n = 0\n"
              "for i in range(10000):\n"
              "    m = osc_message_builder.OscMessageBuilder('/livegan/psi' if i % 3 else '/livegan/hue')\n"
              "    m.add_arg(rng.random())\n"
              "    s.sendto(m.build().dgram if i % 10 else os.urandom(40), ('127.0.0.1', int(sys.argv[1]))); n += 1\n"
              "print(n)\n")
    flooder = []

    def run(with_flood: bool):
        gaps, last = [], [time.perf_counter()]

        def on_tick(i, s, d):
            now = time.perf_counter()
            gaps.append(now - last[0])
            last[0] = now
            if i == 10 and with_flood:
                flooder.append(subprocess.Popen([sys.executable, "-c", script, str(port)], stdout=subprocess.PIPE, text=True))
        res = App(show, tmp_path, hud=False, controls=ctl).run_headless(150, realtime=True, on_tick=on_tick)
        return res, sorted(gaps)[int(len(gaps) * 0.95)]
    # Against the same show without the flood, in the same test: a busy machine slows both.
    quiet, quiet_gap = run(False)
    show.stats.shown = 0
    res, gap = run(True)
    sent = int(flooder[0].communicate(timeout=120)[0])
    ctl.stop()
    assert sent == 10000
    assert res["frames"] == 150 and res["shown"] >= 0.5 * quiet["shown"]
    assert gap < 3 * quiet_gap + 0.1                            # no long stall
    assert ctl.osc.received + sum(ctl.osc.errors.values()) > 5000
    # the newest of each parameter's values reached the show; older ones in a round were coalesced
    assert show.applied + show.intake.coalesced >= ctl.osc.received * 0.9 and show.applied > 100


def test_oscquery_namespace_matches_registry(live):
    show, ctl, tick, _ = live
    base = f"http://127.0.0.1:{ctl.query.port}"
    info = json.loads(urllib.request.urlopen(base + "/?HOST_INFO", timeout=5).read())
    assert info["OSC_PORT"] == ctl.osc.port and info["OSC_TRANSPORT"] == "UDP"
    tree = json.loads(urllib.request.urlopen(base + "/", timeout=5).read())
    node = tree["CONTENTS"]["livegan"]["CONTENTS"]
    from livegan.control.oscquery import find
    for p in PARAMS:
        leaf = find(tree, f"/livegan/{p.name}")                  # direction/0 is a node under direction
        path = f"/livegan/{p.name}"
        if "CONTENTS" in leaf:                                   # a container too: its value is a child
            assert leaf["ACCESS"] == 0 and "VALUE" not in leaf
            leaf, path = leaf["CONTENTS"]["value"], path + "/value"
        assert leaf["FULL_PATH"] == path and leaf["ACCESS"] == 3 and leaf["DESCRIPTION"] == p.doc
        assert leaf["TYPE"] == {"float": "f", "int": "i", "bool": "T"}[p.kind]
        if p.kind != "bool":
            assert leaf["RANGE"] == [{"MIN": p.lo, "MAX": p.hi}]
        assert leaf["VALUE"][0] == pytest.approx(show.registry.target[p.name])
    assert "next" in node["keyframe"]["CONTENTS"] and node["preset"]["ACCESS"] == 2
    d0 = node["direction"]["CONTENTS"]["0"]                     # a value and a container at once
    assert d0["ACCESS"] == 0 and d0["CONTENTS"]["value"]["ACCESS"] == 3 and d0["CONTENTS"]["pick"]["TYPE"] == "s"
    SimpleUDPClient("127.0.0.1", ctl.osc.port).send_message("/livegan/contrast", 2.0)
    assert settle(show, tick, lambda: show.registry.value["contrast"] == 2.0, timeout=5)
    tick(2)
    v = json.loads(urllib.request.urlopen(base + "/livegan/contrast?VALUE", timeout=5).read())
    assert v == {"VALUE": [2.0]}
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(base + "/livegan/nope", timeout=5)
    assert len(address_table()) >= 3 * len(PARAMS)


def test_feedback_reaches_a_listener(live):
    show, ctl, tick, fb = live
    from pythonosc.osc_packet import OscPacket
    SimpleUDPClient("127.0.0.1", ctl.osc.port).send_message("/livegan/psi", 0.25)
    seen = []
    end = time.time() + 5
    while time.time() < end and pytest.approx(0.25) not in seen:
        tick(1)
        try:
            data, _ = fb.recvfrom(4096)
        except socket.timeout:
            continue
        for m in OscPacket(data).messages:
            if m.message.address == "/livegan/psi":
                seen.append(m.message.params[0])
    assert seen[0] == pytest.approx(0.7)          # the initial state came first, unasked
    assert seen[-1] == pytest.approx(0.25)


def test_a_strict_oscquery_client_browses_every_node_and_sets_a_value(live):
    """python-oscquery (the maintained client) parses the whole tree of a running show: every
    container says ACCESS 0, every method with an argument carries a VALUE of its type, no node
    is both; a value set at an address it lists reaches the show."""
    import ipaddress

    from pythonosc.udp_client import SimpleUDPClient
    from pythonoscquery.osc_query_client import OSCQueryClient
    from pythonoscquery.shared.osc_access import OSCAccess
    from zeroconf import ServiceInfo

    show, ctl, tick, _ = live
    tick(2)
    info = ServiceInfo("_oscjson._tcp.local.", "livegan-test._oscjson._tcp.local.", port=ctl.query.port,
                       addresses=[ipaddress.ip_address("127.0.0.1").packed], server="livegan-test.local.")
    client = OSCQueryClient(info)
    root = client.query_node("/")                    # raises on any node it cannot take
    nodes = {n.full_path: n for n in root}
    ours = {a.path for a in address_table()}
    methods = {p for p, n in nodes.items() if not n.contents}
    assert len(nodes) > 200 and ours - methods <= {p.rsplit("/value", 1)[0] for p in methods}
    for path in ("/livegan/mod/3", "/livegan/direction/2", "/livegan/status"):
        assert nodes[path].contents and nodes[path].access is OSCAccess.NO_VALUE
    assert nodes["/livegan/mod/3/value"].access is OSCAccess.READWRITE_VALUE
    assert nodes["/livegan/keyframe/goto"].access is OSCAccess.WRITEONLY_VALUE and nodes["/livegan/keyframe/goto"].type == [int]
    # a command that holds a state reads as it: the playing keyframe's seed, the pad's corners
    assert nodes["/livegan/seed"].access is OSCAccess.READWRITE_VALUE and nodes["/livegan/seed"].value == [1]
    assert [nodes[f"/livegan/pad/corner/{k}"].value for k in range(4)] == [[1], [2], [3], [4]]
    assert nodes["/livegan/keyframe/next"].access is OSCAccess.NO_VALUE
    for path in ("/livegan/psi", "/livegan/norm/psi", "/livegan/status/fps"):
        assert client.query_node(path).value, path     # single nodes parse too
    host = client.get_host_info()
    osc = SimpleUDPClient(host.osc_ip, host.osc_port)
    osc.send_message("/livegan/psi", 0.37)
    osc.send_message("/livegan/mod/3/value", 0.25)    # the listed form of a value with children
    assert settle(show, tick, lambda: show.registry.target["psi"] == pytest.approx(0.37)
                  and show.registry.target["mod/3"] == pytest.approx(0.25))
    assert client.query_node("/livegan/psi").value == [pytest.approx(0.37)]


def test_a_second_show_on_taken_ports_listens_on_the_next_free_ones_and_says_so(tiny):
    p = free_port_pair()
    udp, tcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM), socket.socket()
    udp.bind(("127.0.0.1", p))                       # the first show's OSC and OSCQuery ports
    tcp.bind(("127.0.0.1", p + 1))
    tcp.listen()
    said = []
    corners = parse_preset({"keyframes": [1, 3, 6, 7], "speed": 0.0}, "corners.json")
    show = Show(Options(fps=30), corners, G=tiny)
    try:
        ctl = Controls(show, ControlOptions(osc_host="127.0.0.1", osc_port=p, oscquery_port=p + 1, mdns=False),
                       log=said.append).start()
        try:
            assert ctl.osc.port == p + 2 and ctl.query.port == p + 3
            assert f"livegan: OSC port {p} is taken (another show?): listening on {p + 2} instead" in said
            assert f"livegan: OSCQuery port {p + 1} is taken (another show?): listening on {p + 3} instead" in said
            assert f"OSC on 127.0.0.1:{p + 2}, OSCQuery on 127.0.0.1:{p + 3}" in "\n".join(said)
            # OSCQuery reads the latent pad's corners as the page shows them (keyframes 0..3).
            for k, seed in enumerate(k.seed for k in corners.keyframes):
                node = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{p + 3}/livegan/pad/corner/{k}").read())
                assert node["VALUE"] == [seed] and node["ACCESS"] == 3, node
            from livegan.params import Command
            show.post(Command("trigger", "pad_corner", [2, 4242], "osc"))
            show.tick(0.0)
            ctl.sync()
            node = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{p + 3}/livegan/pad/corner/2").read())
            assert node["VALUE"] == [4242]
        finally:
            ctl.stop()
    finally:
        udp.close()
        tcp.close()


def test_a_feedback_host_that_does_not_resolve_yet_does_not_stop_the_show(tiny, osc_rig, monkeypatch):
    """--osc-out PANEL:PORT where the venue's network cannot resolve PANEL yet (the show machine
    booted first) refused to start the whole show.  Now the show starts, says so once, and the
    feedback reaches the panel once the name resolves (here: the resolver answers from its third
    try); every message goes to the address (python-osc sent each to the name: a lookup each, on
    the main thread)."""
    import socket as socket_module

    from livegan.control.oscfeedback import OscFeedback

    real, tries = socket_module.getaddrinfo, []

    def resolver(host, *a, **k):
        if host == "panel.example":
            tries.append(host)
            if len(tries) < 3:
                raise socket_module.gaierror(socket_module.EAI_NONAME, "Name or service not known")
            host = "127.0.0.1"
        return real(host, *a, **k)
    monkeypatch.setattr(socket_module, "getaddrinfo", resolver)
    monkeypatch.setattr(OscFeedback, "RETRY_S", 0.2)
    panel = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    panel.bind(("127.0.0.1", 0))
    panel.settimeout(10)
    said = []
    show = Show(Options(fps=30), PRESET, G=tiny)
    ctl, _ = osc_rig(show, log=said.append, osc_out=f"panel.example:{panel.getsockname()[1]}")
    assert sum("panel.example does not resolve yet" in m for m in said) == 1, said
    show.start()
    t0 = time.perf_counter()
    try:
        end = time.time() + 10
        while time.time() < end and ctl.feedback.client is None:
            show.tick(time.perf_counter() - t0)
            ctl.after_tick()
            time.sleep(0.05)
        show.post(Command("set", "psi", 0.55, "test"))
        heard = None
        while heard is None:                                  # (the socket's timeout ends a silent wait)
            show.tick(time.perf_counter() - t0)
            ctl.after_tick()
            for m in OscPacket(panel.recvfrom(65536)[0]).messages:
                if m.message.address == "/livegan/psi":
                    heard = m.message.params[0]
        assert heard == pytest.approx(0.55) and any("panel.example is 127.0.0.1 now" in m for m in said)
        # and sent to the address, never to the name: the resolver was not asked per message
        for _ in range(50):
            ctl.feedback.send("/livegan/status/frame", 1)
        assert ctl.feedback.address == "127.0.0.1" and ctl.feedback.sent > 50 and len(tries) == 3
        assert ctl.feedback.errors > 0                        # what came before: counted, not sent
    finally:
        show.stop()
        panel.close()
