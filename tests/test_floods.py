"""Floods from many addresses (issue 31, sections 1 and 2): the intake coalesces a parameter's sets
across every source and bounds the rest per kind; OSC datagrams are served in fair order by cost, so
a cheap message is never behind any number of costly ones; the performer's psi reaches the show and
comes back as feedback while 40 addresses flood it, and after; the page's connections keep a
reserve for this machine's own user, no address holds more than half of what is left, and silent
pages are closed.  Real UDP on 127.0.0.1 and real websockets; the floods run in child processes."""
from __future__ import annotations

import json
import multiprocessing as mp
import socket
import sys
import threading
import time

import pytest

from conftest import ROOT
from livegan import triggers
from livegan.control.fairqueue import FairQueue, cost_us
from livegan.intake import Intake
from livegan.params import Command

sys.path.insert(0, str(ROOT / "bench"))
import floods  # noqa: E402  (the bench's flood makers: the same floods the bench measures)

pytestmark = pytest.mark.hostile


def cmd(op, name, value=None, source="osc", due=0.0):
    return Command(op, name, value, source, 0.0, due)


def drain(intake):
    out = []
    while (c := intake.take()) is not None:
        out.append(c)
    return out


def test_sets_are_coalesced_across_every_source_and_keep_their_order_with_triggers():
    it = Intake()
    for k in range(1000):                                    # 1000 senders of hue
        it.post(Command("set", "hue", float(k), "osc", 0.0, 0.0))
    it.post(cmd("set", "psi", 0.3))
    it.post(cmd("trigger", "preset", "dusk"))
    it.post(cmd("set", "psi", 0.8))                          # after the preset: must stay after it
    got = drain(it)
    assert [(c.op, c.name, c.value) for c in got] == [("set", "hue", 999.0), ("trigger", "preset", "dusk"),
                                                      ("set", "psi", 0.8)]
    assert it.coalesced == 1000 and not it.dropped
    # consecutive nudges of one knob are one add of their sum; a set replaces waiting adds' effect
    for _ in range(5):
        it.post(cmd("add", "speed", 0.1, "midi"))
    (c,) = drain(it)
    assert c.op == "add" and c.value == pytest.approx(0.5)


def test_while_a_change_is_on_its_way_new_commands_wait_but_timed_ones_keep_their_time():
    """The show's queue with `take_new` off (show/core.py: the last change's picture is not on
    screen yet): what came since waits in the intake, coalesced; a command whose time tag fell
    due applies (its sender chose the time)."""
    from livegan.show.queue import CommandQueue

    q, got = CommandQueue(lambda kind, msg: None), []
    q.post(cmd("set", "hue", 0.5, due=time.time() + 0.05))
    q.drain(got.append, lambda: False)                       # scheduled for its time
    assert not got and len(q.scheduled) == 1
    for k in range(5):                                       # a knob meanwhile
        q.post(cmd("set", "psi", 0.1 * k, "midi"))
    deadline = time.time() + 5
    while q.scheduled and time.time() < deadline:
        q.drain(got.append, lambda: False, take_new=False)
    assert [(c.name, c.value) for c in got] == [("hue", 0.5)]
    q.drain(got.append, lambda: False)
    assert [(c.name, c.value) for c in got] == [("hue", 0.5), ("psi", pytest.approx(0.4))]


def test_a_timed_command_keeps_its_time_when_the_wall_clock_is_set_back():
    """A time tag is read against the wall clock once; then it waits on the monotonic clock (the
    class: a wall clock stepped back an hour by NTP held a command 2 s ahead for an hour and 2 s)."""
    from livegan.show.queue import CommandQueue

    clock = {"wall": 1_800_000_000.0, "mono": 500.0}
    q, got = CommandQueue(lambda kind, msg: None, wall=lambda: clock["wall"], monotonic=lambda: clock["mono"]), []
    q.post(cmd("set", "hue", 0.5, due=clock["wall"] + 2.0))
    q.drain(got.append, lambda: False)
    assert not got and len(q.scheduled) == 1
    clock["wall"] -= 3600.0                                  # NTP steps the clock back an hour
    clock["mono"] += 1.9
    q.drain(got.append, lambda: False)
    assert not got                                           # not yet: 0.1 s to go
    clock["mono"] += 0.1
    q.drain(got.append, lambda: False)
    assert [(c.name, c.value) for c in got] == [("hue", 0.5)]
    clock["wall"] += 7200.0                                  # and stepped forward: nothing early either
    q.post(cmd("set", "psi", 0.3, due=clock["wall"] + 1.0))
    q.drain(got.append, lambda: False)
    clock["wall"] += 3600.0
    q.drain(got.append, lambda: False)
    assert len(got) == 1 and len(q.scheduled) == 1


def test_each_kind_waits_in_a_bounded_backlog_that_drops_its_oldest():
    it = Intake()
    for k in range(500):
        it.post(cmd("trigger", "seed", k))
    it.post(cmd("trigger", "keyframe_next"))
    for k in range(200):
        it.post(cmd("trigger", "feedback_sync"))            # idempotent: one waits
    got = drain(it)
    seeds = [c.value for c in got if c.name == "seed"]
    assert seeds == list(range(500 - Intake.MAX_PER_KIND, 500))      # the newest of the kind
    assert [c.name for c in got].count("keyframe_next") == 1        # another kind always gets through
    assert [c.name for c in got].count("feedback_sync") == 1
    assert it.dropped["trigger:seed"] == 500 - Intake.MAX_PER_KIND
    for k in range(50):                                      # costly triggers keep only their newest few
        it.post(cmd("trigger", "network", f"net{k}.pkl"))
    keep = triggers.TABLE["network"].backlog
    assert [c.value for c in drain(it)] == [f"net{k}.pkl" for k in range(50 - keep, 50)]
    # the whole backlog is bounded too: the most crowded kind gives way
    for k in range(Intake.MAX_WAITING + 100):
        it.post(cmd("add", f"p{k % 3}", 1.0, f"src{k}"))             # different sources: no folding
    assert len(it) <= Intake.MAX_WAITING
    # a control log replays as written: nothing coalesced or dropped
    log = Intake()
    for k in range(3 * Intake.MAX_PER_KIND):
        log.post(cmd("set", "hue", float(k), "log"))
    assert len(drain(log)) == 3 * Intake.MAX_PER_KIND


def test_a_cheap_message_is_served_before_any_number_of_costly_ones():
    q = FairQueue(limit=4096)
    costly = floods._bundle([floods._msg("/livegan/hue", "f", b"\0\0\0\0")] * 40)
    for k in range(40):                                       # 40 flooders, 50 datagrams waiting each
        for _ in range(50):
            q.push(f"127.0.0.{10 + k}", ("flood", k), cost_us(costly))
    for _ in range(100):                                      # they are being served...
        q.pop()
    perf = floods._msg("/livegan/psi", "f", b"\0\0\0\0")
    q.push("127.0.0.1", ("performer", 0), cost_us(perf))
    before = []
    while (item := q.pop()) != ("performer", 0):
        before.append(item)
    # ... and the performer waits one round at most: no flooder is served twice before it
    assert len(before) <= 40 and len(set(before)) == len(before), before
    # bounded: beyond the limit the most crowded sender loses its oldest waiting datagram
    small = FairQueue(limit=100)
    for _ in range(300):
        small.push("flooder", "f", 10)
    small.push("performer", "p", 10)
    assert len(small) == 100 and "p" in [small.pop() for _ in range(100)]


def _show_with_feedback(tiny):
    from livegan.control.surfaces import ControlOptions, Controls
    from livegan.presets import parse_preset
    from livegan.show import Options, Show

    fb = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    fb.bind(("127.0.0.1", 0))
    show = Show(Options(fps=30), parse_preset({"keyframes": [1, 2, 3], "speed": 0.3}, "floods.json"), G=tiny)
    ctl = Controls(show, ControlOptions(osc_host="127.0.0.1", osc_port=0, oscquery_port=0, mdns=False,
                                        osc_out=f"127.0.0.1:{fb.getsockname()[1]}"), log=lambda m: None).start()
    return show, ctl, fb


def _psi_comes_back(ctl, fb, value: float, timeout: float = 5.0) -> bool:
    """Send psi from 127.0.0.1 and wait for its feedback (an event, not a sleep)."""
    from pythonosc.osc_message import OscMessage
    from pythonosc.osc_message_builder import OscMessageBuilder

    m = OscMessageBuilder("/livegan/psi")
    m.add_arg(value)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(m.build().dgram, ("127.0.0.1", ctl.osc.port))
    end = time.monotonic() + timeout
    fb.settimeout(0.1)
    while time.monotonic() < end:
        try:
            data = fb.recv(65536)
        except socket.timeout:
            continue
        if data.startswith(b"/livegan/psi\0") and abs(OscMessage(data).params[0] - value) < 1e-4:
            return True
    return False


@pytest.mark.parametrize("kind", ["osc", "sync", "patterns"])
def test_the_performers_psi_comes_back_while_forty_addresses_flood_and_after(tiny, tmp_path, kind):
    from livegan.app import App

    show, ctl, fb = _show_with_feedback(tiny)
    ctx = mp.get_context("fork")
    addrs = [f"127.0.0.{10 + i}" for i in range(40)]
    flooders = [ctx.Process(target=floods.flood, args=(kind, addrs[i::2], ctl.osc.port, 0, 6.0), daemon=True)
                for i in range(2)]
    results = {}
    stop = threading.Event()

    def performer():
        end = time.monotonic() + 30                            # the flood is arriving
        while ctl.osc.received + sum(ctl.osc.errors.values()) < 200 and time.monotonic() < end:
            time.sleep(0.01)
        results["during"] = [_psi_comes_back(ctl, fb, 0.2 + 0.01 * k) for k in range(4)]
        for p in flooders:
            p.join(30)
        results["after"] = [_psi_comes_back(ctl, fb, 0.7 + 0.01 * k) for k in range(3)]
        stop.set()

    def on_tick(i, s, d):
        if i == 0:
            for p in flooders:
                p.start()
            threading.Thread(target=performer, daemon=True).start()
        if stop.is_set():
            raise KeyboardInterrupt
    try:
        App(show, tmp_path, hud=False, controls=ctl).run_headless(30 * 60, realtime=True, on_tick=on_tick)
    finally:
        for p in flooders:
            p.kill()
        ctl.stop()
        show.stop()
        fb.close()
    assert results.get("during") == [True] * 4, results
    assert results.get("after") == [True] * 3, results
    assert ctl.osc.received > 100                              # the flood did arrive


def test_connections_keep_a_reserve_for_this_machine_and_close_silent_pages(tiny):
    """64 page sockets from six other loopback addresses: the machine's own user still gets the
    page and HOST_INFO; no address holds more than half of what was left; a silent page is closed."""
    import urllib.request

    from websockets.sync.client import connect

    show, ctl, fb = _show_with_feedback(tiny)
    port = ctl.query.port
    held, per_addr = [], {}
    try:
        for a in [f"127.0.0.{20 + i}" for i in range(6)]:
            for _ in range(12):
                try:
                    s = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(a, 0))
                    held.append(connect(f"ws://127.0.0.1:{port}/control/ws", sock=s, open_timeout=5).__enter__())
                    per_addr[a] = per_addr.get(a, 0) + 1
                except Exception:
                    pass
        listener = ctl.query.listener
        shared = listener.total - listener.RESERVE
        assert sum(per_addr.values()) <= shared
        first = per_addr["127.0.0.20"]
        assert first <= shared // 2 + 1 and max(per_addr.values()) == first     # half of what was left
        for _ in range(3):                                    # the machine's own user is always answered
            assert urllib.request.urlopen(f"http://127.0.0.1:{port}/control", timeout=5).status == 200
            info = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/?HOST_INFO", timeout=5).read())
            assert info["OSC_PORT"] == ctl.osc.port
        # A page that says nothing is closed after IDLE_S (here made short); one that sends its
        # heartbeat stays.
        ctl.page.IDLE_S = 1.5
        s1 = socket.create_connection(("127.0.0.1", port), timeout=5)
        quiet = connect(f"ws://127.0.0.1:{port}/control/ws", sock=s1, open_timeout=5).__enter__()
        s2 = socket.create_connection(("127.0.0.1", port), timeout=5)
        alive = connect(f"ws://127.0.0.1:{port}/control/ws", sock=s2, open_timeout=5).__enter__()
        from websockets.exceptions import ConnectionClosed
        closed = None
        end = time.monotonic() + 10
        while time.monotonic() < end and closed is None:
            alive.send(json.dumps({"alive": 1}))
            try:
                quiet.recv(timeout=0.5)
            except TimeoutError:
                pass
            except ConnectionClosed as e:
                closed = e
        assert closed is not None and "idle" in str(closed.rcvd.reason if closed.rcvd else closed)
        alive.send(json.dumps({"address": "/livegan/hue", "args": [12]}))   # the heartbeat one is still open
        alive.close()
    finally:
        for ws in held:
            try:
                ws.close()
            except Exception:
                pass
        ctl.stop()
        show.stop()
        fb.close()
