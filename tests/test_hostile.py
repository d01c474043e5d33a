"""Hostile input, as an attacker or a careless user would try it: generated OSC patterns and
arguments against a live show over real UDP, special files for every path a command accepts,
out-of-bounds checkpoints under a memory cap, bad command lines, kill -9 mid-write."""
from __future__ import annotations

import json
import os
import random
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from pythonosc import osc_bundle_builder, osc_message_builder
from pythonosc.osc_packet import OscPacket
from pythonosc.udp_client import SimpleUDPClient

from livegan.app import App
from livegan.control.midimap import MidiMapError, load_map, parse_map
from livegan.control.osc import OscReceiver
from livegan.control.oscaddr import compile_pattern, matches
from livegan.control.surfaces import ControlOptions, Controls
from livegan.params import Command
from livegan.presets import PresetError, load_preset, parse_preset
from livegan.show import Options, Show
from livegan.show.queue import MAX_SCHEDULED
from livegan.store import LIVE_STATES, Store
from realtime import realtime_run

pytestmark = pytest.mark.hostile

ROOT = Path(__file__).resolve().parents[1]
PRESET = parse_preset({"keyframes": [1, 2, 3], "speed": 0.0}, "hostile.json")


def msg(address: str, *args) -> bytes:
    m = osc_message_builder.OscMessageBuilder(address)
    for a in args:
        m.add_arg(a)
    return m.build().dgram


def random_pattern(rng: random.Random) -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyz_/*?[]{},!-Q"
    body = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80)))
    return "/livegan/" + body


def test_patterns_are_matched_in_linear_time_and_never_raise():
    posted = []
    r = OscReceiver(posted.append, "127.0.0.1", 0, log=lambda m: None)
    rng = random.Random(7)
    cases = ["/livegan/" + "*" * 24 + "Q", "/livegan/" + "*?" * 16 + "Q", "/livegan/[]", "/livegan/[!]",
             "/livegan/{" + ",".join("a" * 5 for _ in range(40)) + "}", "/" + "a/" * 200, "/livegan/" + "x" * 300]
    cases += [random_pattern(rng) for _ in range(3000)]
    t0 = time.perf_counter()
    for p in cases:
        r.handle_datagram(msg(p, 0.5) if len(p) < 2000 else b"")
    took = time.perf_counter() - t0
    r.sock.close()
    assert took < 20.0, f"{len(cases)} hostile patterns took {took:.1f} s"   # a freeze takes minutes
    assert r.errors["pattern"] + r.errors["unknown"] >= 1000
    # ... and they still match what they should
    assert matches(compile_pattern("/livegan/{psi,zoom}"), "/livegan/zoom")
    assert matches(compile_pattern("/livegan/*/p?i"), "/livegan/norm/psi")
    assert not matches(compile_pattern("/livegan/*"), "/livegan/norm/psi")


def hostile_datagrams(rng: random.Random, tmp: Path) -> list[bytes]:
    fifo = tmp / "fifo.json"
    if not fifo.exists():
        os.mkfifo(fifo)
    out = [msg("/livegan/seed", float("inf")), msg("/livegan/seed", float("nan")), msg("/livegan/psi", float("-inf")),
           msg("/livegan/keyframe/goto", 2 ** 31 - 1), msg("/livegan/keyframe/goto", -5), msg("/livegan/seed", -1),
           msg("/livegan/[]", 1.0), msg("/livegan/record", 7), msg("/livegan/preset", "/dev/zero"),
           msg("/livegan/preset", str(fifo)), msg("/livegan/preset", str(tmp)), msg("/livegan/preset", "x" * 1000),
           msg("/livegan/network", "http://127.0.0.1:9/evil.pkl"), msg("/livegan/network", "/dev/zero"),
           msg("/livegan/learn", "psi"), msg("/livegan/psi", "text"), msg("/livegan/psi"), msg("/livegan/psi", 1.0, 2.0)]
    b = b"#bundle\0" + b"\0" * 8
    out += [b + struct.pack(">i", -4) + msg("/livegan/psi", 0.1), b + struct.pack(">i", 2 ** 31 - 1),
            b + struct.pack(">i", 0), b * 2, (b + struct.pack(">i", 16)) * 8]
    far = osc_bundle_builder.OscBundleBuilder(time.time() + 3 * 365 * 86400)
    far.add_content(osc_message_builder.OscMessageBuilder("/livegan/hue").build())
    out += [far.build().dgram] * 50
    for _ in range(300):
        addr = rng.choice(["/livegan/psi", "/livegan/seed", "/livegan/keyframe/goto", "/livegan/zoom",
                           "/livegan/norm/psi", random_pattern(rng)])
        arg = rng.choice([float("inf"), float("nan"), 1e308, -1e308, 2 ** 31 - 1, -2 ** 31, 0, "", "a" * 500,
                          b"\x00" * 64, True, False, None])
        try:
            out.append(msg(addr, arg) if arg is not None else msg(addr))
        except Exception:
            pass
        out.append(bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 64))))
    return out


def test_live_show_keeps_presenting_and_answering_after_hostile_packets(tmp_path, tiny, osc_rig):
    show = Show(Options(fps=30), PRESET, G=tiny)
    ctl, fb = osc_rig(show, timeout=0.05, osc_host="auto")
    assert ctl.osc.host == "127.0.0.1"                       # loopback by default
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    packets = hostile_datagrams(random.Random(3), tmp_path)
    answers, shown = [], []

    def on_tick(i, s, d):
        if i % 10 == 0 and packets:
            for data in packets[:60]:
                sender.sendto(data, ("127.0.0.1", ctl.osc.port))
            del packets[:60]
            # after each burst: does the show still answer?  (feedback of a fresh psi)
            v = round(0.1 + (i % 70) / 100, 2)
            sender.sendto(msg("/livegan/psi", v), ("127.0.0.1", ctl.osc.port))
            answers.append(v)
        shown.append(s.stats.shown)
    app = App(show, tmp_path, hud=True, controls=ctl)
    res = app.run_headless(150, realtime=True, on_tick=on_tick)
    assert res["frames"] == 150 and not res["interrupted"]
    heard = set()
    end = time.time() + 3
    while time.time() < end:
        show.tick(0.0)
        ctl.after_tick()
        try:
            data, _ = fb.recvfrom(65536)
        except socket.timeout:
            continue
        for m in OscPacket(data).messages:
            if m.message.address == "/livegan/psi":
                heard.add(round(m.message.params[0], 2))
        if answers[-1] in heard:
            break
    sender.close()
    assert not packets, "the test did not send everything"
    assert shown[-1] > shown[len(shown) // 2]                             # still presenting new frames
    assert answers[-1] in heard                                           # still hearing and answering
    assert show.preset.name == PRESET.name                               # no hostile preset took over
    assert len(show.queue.scheduled) == 0                                     # years-ahead bundles refused
    text = " | ".join(show.errors)
    assert "OSC" in text or "preset" in text or "network" in text or "keyframe" in text


def test_receiver_thread_is_revived_if_it_dies(tiny):
    show = Show(Options(fps=30), PRESET, G=tiny)
    logs = []
    ctl = Controls(show, ControlOptions(osc_port=0, oscquery=False), log=logs.append).start()
    ctl.osc._running = False                                 # kill the thread as a crash would
    ctl.osc._thread.join(2)
    assert not ctl.osc.alive
    ctl.osc._running = True
    ctl.after_tick()
    assert ctl.osc.alive and ctl.osc.restarts == 1
    assert any("restarted" in e for e in show.errors)
    SimpleUDPClient("127.0.0.1", ctl.osc.port).send_message("/livegan/psi", 0.33)
    end = time.time() + 3
    while time.time() < end and show.registry.target["psi"] != pytest.approx(0.33):
        show.tick(0.0)
        time.sleep(0.02)
    ctl.stop()
    assert show.registry.target["psi"] == pytest.approx(0.33)


def test_sender_policy_and_remote_loads(tmp_path, tiny):
    from livegan.control.access import SenderPolicy

    pol = SenderPolicy()
    assert pol.allows("127.0.0.1") and pol.allows("::1") and not pol.allows("192.0.2.7")
    assert pol.bind_host() == "127.0.0.1"
    lan = SenderPolicy(["192.0.2.0/24"])
    assert lan.allows("192.0.2.200") and not lan.allows("198.51.100.1") and lan.bind_host() == "0.0.0.0"
    assert SenderPolicy(["any"]).allows("198.51.100.1")
    with pytest.raises(ValueError, match="osc-allow"):
        SenderPolicy(["not a host!"])
    posted = []
    r = OscReceiver(posted.append, "127.0.0.1", 0, allow=lan, log=lambda m: None)
    assert r.handle_datagram(msg("/livegan/psi", 0.5), ("198.51.100.1", 5)) == 0 and r.errors["sender"] == 1
    r.sock.close()
    # OSC may load presets by name but not arbitrary paths or URLs
    elsewhere = tmp_path / "p.json"
    elsewhere.write_text(json.dumps({"keyframes": [5]}))
    show = Show(Options(fps=30), PRESET, G=tiny)
    for ref in (str(elsewhere), "http://127.0.0.1:9/x.json"):
        show.post(Command("trigger", "preset", ref, "osc"))
    show.post(Command("trigger", "network", "http://127.0.0.1:9/evil.pkl", "osc"))
    show.post(Command("trigger", "network", str(elsewhere), "osc"))
    show.tick(0.0)
    assert sum("over OSC" in e or "--allow-remote-load" in e for e in show.errors) >= 2
    assert not show.preset_loader.busy and not show.network_loader.busy
    # the same path is fine from the keyboard (the performer), and with --load-dir from OSC
    show2 = Show(Options(fps=30, load_roots=(str(tmp_path),)), PRESET, G=tiny)
    show2.post(Command("trigger", "preset", str(elsewhere), "osc"))
    end = time.time() + 5
    while time.time() < end and show2.preset.keyframes[0].seed != 5:
        show2.tick(0.0)
        time.sleep(0.01)
    assert show2.preset.keyframes[0].seed == 5


def test_special_files_for_every_path(tmp_path, tiny):
    from stylegan3 import CheckpointError, load_network

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    specials = ["/dev/zero", str(fifo), str(tmp_path)]
    for p in specials:
        t0 = time.perf_counter()
        with pytest.raises(PresetError):
            load_preset(p)
        with pytest.raises(MidiMapError):
            load_map(p)
        with pytest.raises(CheckpointError):
            load_network(p)
        with pytest.raises(PresetError):                    # a w keyframe file inside a preset
            parse_preset({"keyframes": [{"w": p}]}, "x.json")
        from livegan.record import RecordingError, read_log
        with pytest.raises(RecordingError):
            read_log(p)
        assert time.perf_counter() - t0 < 5                 # refused, not read or waited on
    # a wrong-shaped w preset switched to mid-show: refused, the show keeps playing its preset
    np.save(tmp_path / "w.npy", np.zeros((3, 7), np.float32))
    (tmp_path / "wrong.json").write_text(json.dumps({"keyframes": [{"w": "w.npy"}]}))
    show = Show(Options(fps=30), PRESET, G=tiny)
    show.post(Command("trigger", "preset", str(tmp_path / "wrong.json"), "key"))
    res = App(show, tmp_path, hud=False).run_headless(30, realtime=False)
    assert res["shown"] == 30 and show.preset.keyframes == PRESET.keyframes
    assert any("needs [" in e for e in show.errors), list(show.errors)


@pytest.mark.realtime            # against a run of the same show just before: both need the same load
def test_snapshot_flood_is_rate_limited_and_never_stalls(tmp_path, tiny):
    show = Show(Options(fps=30), PRESET, G=tiny)
    app = App(show, tmp_path / "quiet", hud=False)
    quiet = realtime_run(app, 60)                         # the same show without the flood: the baseline
    app = App(show, tmp_path, hud=False)

    def flood(i, s, d):
        if 5 <= i < 65:
            for _ in range(10):
                s.post(Command("trigger", "snapshot", None, "osc"))
    res = realtime_run(app, 90, flood)
    assert res["shown"] >= 0.5 * quiet["shown"] * 90 / 60
    assert res["p95_gap"] < 3 * quiet["p95_gap"] + 0.1
    n = len(list(tmp_path.glob("*/snap-*.png")))
    assert 2 <= n <= 30 and show.limits["snapshot"].dropped > 400, (n, show.limits["snapshot"].dropped)
    assert all(p.stat().st_size > 0 for p in tmp_path.glob("*/snap-*"))


def test_scheduled_bundles_are_bounded(tiny):
    show = Show(Options(fps=30), PRESET, G=tiny)
    for i in range(MAX_SCHEDULED + 500):
        show.post(Command("set", "hue", 1.0, "osc", 0.0, time.time() + 30))
    for i in range(100):
        show.post(Command("set", "hue", 1.0, "osc", 0.0, time.time() + 10 * 365 * 86400))
    while not show.intake.empty():           # the show drains within a time budget per frame
        show.tick(0.0)
    assert len(show.queue.scheduled) == MAX_SCHEDULED
    assert any("refused" in e or "dropped" in e for e in show.errors)


HOSTILE_KWARGS = [
    ("stylegan2", {"mapping_kwargs": {"num_layers": 100000}}),
    ("stylegan2", {"mapping_kwargs": {"num_layers": 1000000}}),
    ("stylegan2", {"channel_max": 10 ** 7}),
    ("stylegan2", {"img_resolution": 2 ** 20}),
    ("stylegan3", {"num_layers": 100000}),
    ("stylegan3", {"filter_size": 10 ** 7}),
    ("stylegan3", {"channel_max": 4096, "channel_base": 1 << 20, "img_resolution": 4096}),   # in bounds, too big
    ("stylegan3", {"z_dim": float("nan")}),
]


def test_hostile_checkpoints_are_refused_in_seconds_under_a_memory_cap(tmp_path):
    import shutil

    from stylegan3 import load_network, save_safetensors
    sys.path.insert(0, str(ROOT / "tests"))
    from official_format import write_official_pickle

    files = []
    for i, (family, bad) in enumerate(HOSTILE_KWARGS):
        G = load_network("builtin:tiny") if family == "stylegan3" else None
        if G is None:
            from stylegan3.checkpoints import build_generator
            from test_loading import SG2_TINY
            G = build_generator("stylegan2", SG2_TINY)
        kw = json.loads(json.dumps(G.init_kwargs))
        for k, v in bad.items():
            if isinstance(v, dict):
                kw.setdefault(k, {}).update(v)
            else:
                kw[k] = v
        G.init_kwargs = kw
        p = tmp_path / f"bad{i}.pkl"
        write_official_pickle(G, p)
        files.append(p)
    st = tmp_path / "list.safetensors"
    save_safetensors(load_network("builtin:tiny"), st)
    # rewrite the metadata: init_kwargs as a JSON list
    from safetensors.torch import load_file, save_file
    save_file(load_file(st), str(st), metadata={"format": "livegan-generator/1", "family": "stylegan3",
                                                "init_kwargs": "[1, 2, 3]"})
    files.append(st)
    script = ("import sys\nfrom stylegan3 import load_network\n"
              "for p in sys.argv[1:]:\n"
              "    try:\n        load_network(p); print('LOADED', p)\n"
              "    except Exception as e:\n        print('REFUSED', type(e).__name__, str(e).splitlines()[0])\n")
    prlimit = shutil.which("prlimit")
    assert prlimit, "prlimit (util-linux) is needed"
    t0 = time.perf_counter()
    res = subprocess.run([prlimit, f"--as={6 << 30}", sys.executable, "-c", script, *map(str, files)],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    took = time.perf_counter() - t0
    lines = [l for l in res.stdout.splitlines() if l.startswith(("REFUSED", "LOADED"))]
    assert len(lines) == len(files), res.stdout + res.stderr[-2000:]
    assert all(l.startswith("REFUSED CheckpointError") for l in lines), "\n".join(lines)
    assert took < 60, f"refusing {len(files)} hostile checkpoints took {took:.0f} s"


def test_downloads_are_bounded_and_checked(tmp_path, monkeypatch):
    import http.server
    import threading

    from stylegan3 import CheckpointError
    from stylegan3.download import fetch_url

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            if self.path == "/html":
                body = b"<html>404 not found</html>"
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            elif self.path == "/endless":
                self.end_headers()
                try:
                    self.wfile.write(b"\x80\x04")
                    while True:
                        self.wfile.write(b"\0" * 65536)
                except OSError:
                    pass
            else:                                            # trickle: one byte at a time
                self.end_headers()
                try:
                    self.wfile.write(b"\x80\x04")
                    for _ in range(100):
                        self.wfile.write(b"\0")
                        self.wfile.flush()
                        time.sleep(0.1)
                except OSError:
                    pass

        def log_message(self, *a):
            pass
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    monkeypatch.setenv("LIVEGAN_CACHE", str(tmp_path / "cache"))
    base = f"http://127.0.0.1:{srv.server_address[1]}"
    try:
        with pytest.raises(CheckpointError, match="not a network checkpoint"):
            fetch_url(base + "/html", progress=False)
        with pytest.raises(CheckpointError, match="limit"):
            fetch_url(base + "/endless", progress=False, limit=4 << 20)
        t0 = time.perf_counter()
        with pytest.raises(CheckpointError, match="longer than"):
            fetch_url(base + "/trickle", progress=False, deadline=1.0)
        assert time.perf_counter() - t0 < 5
    finally:
        srv.shutdown()
    assert not [p for p in (tmp_path / "cache").iterdir() if not p.name.startswith(".")]   # nothing cached


BAD_LINES = [
    ["perform", "--headless", "--canvas", "0:0"], ["perform", "--headless", "--canvas", "16:0"],
    ["perform", "--headless", "--canvas", "inf:1"], ["perform", "--headless", "--fps", "inf"],
    ["perform", "--headless", "--fps", "1e-9"], ["perform", "--headless", "--size", "20000x20000"],
    ["perform", "--headless", "--osc-port", "70000"], ["perform", "--headless", "--osc-out", "127.0.0.1:99999"],
    ["perform", "--headless", "--batch", "100000"], ["perform", "--headless", "--duration", "0"],
    ["perform", "--headless", "--frames", "-3"], ["perform", "--headless", "--crf", "nan"],
    ["perform", "--headless", "--threads", "-1"], ["perform", "--headless", "--screen", "x"],
    ["generate", "--seeds", "0-4000000000"], ["generate", "--grid", "500x500"], ["generate", "--psi", "nan"],
    ["generate", "--trunc-cutoff", "1e9"], ["morph", "--frames", "0"], ["morph", "--fps", "0"],
    ["walk", "random", "--every", "0"], ["walk", "random", "--keyframes", "1"], ["walk", "random", "--extent", "0"],
    ["walk", "random", "--sobol", "2"], ["render", "1", "--fps", "-1"],
    ["perform", "--headless", "--record", "--out", "/proc"], ["perform", "--headless", "--load-dir", "/no/such"],
    ["perform", "--headless", "--preset", "/dev/zero"], ["perform", "--headless", "--midi", "x", "--midi-map", "/dev/zero"],
]


@pytest.mark.parametrize("argv", BAD_LINES, ids=lambda a: " ".join(a)[:50])
def test_bad_command_lines_get_one_line(argv, capsys, tmp_path):
    from livegan.cli import main

    try:
        code = main(argv + (["--out", str(tmp_path / "o.png")] if argv[0] == "generate" else []))
    except SystemExit as e:                                  # argparse
        code = e.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    last = [l for l in err.splitlines() if l.strip()][-1]
    assert "error" in last


def test_bad_paths_and_maps_get_one_line(capsys, tmp_path):
    from livegan.cli import main

    code = main(["convert", "builtin:tiny", "/proc/x.safetensors"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err
    for bad, field in [({"controls": [{"cc": 1, "param": "psi", "mode": "14bit", "cc_lsb": 500}]}, "cc_lsb"),
                       ({"controls": [{"cc": 1, "param": "psi", "lo": "abc"}]}, "lo"),
                       ({"controls": [{"cc": 1, "param": "psi", "lo": float("nan")}]}, "lo"),
                       ({"controls": [{"cc": 1, "param": "psi", "step": 0}]}, "step"),
                       ({"controls": 5}, "controls"), ({"notes": [{"note": 1, "trigger": "seed", "value": [1]}]}, "value"),
                       ({"port": 5}, "port")]:
        with pytest.raises(MidiMapError, match=field):
            parse_map(bad, "m.json")


def _decodes(path: Path) -> int:
    import av

    with av.open(str(path)) as f:
        return sum(1 for _ in f.decode(video=0))


def _videos(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.suffix in (".mp4", ".mov", ".mkv") and not p.name.startswith(".")]


def _check_store(folder: Path) -> None:
    db = sqlite3.connect(folder / "livegan.db")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()
    store = Store(folder)                                   # opening repairs stale statuses
    assert not [w for w in store.walks() if w["status"] in LIVE_STATES]
    store.close()


def test_kill_9_mid_show_leaves_decodable_videos_and_a_repaired_store(tmp_path):
    rng = random.Random(int(time.time()))
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    procs = [subprocess.Popen([sys.executable, str(ROOT / "perform.py"), "--headless", "--duration", "60", "--record",
                               "--no-osc", "--out", str(out)], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(2)]
    try:
        end = time.time() + 90
        while time.time() < end:                            # both shows are writing
            vids = [p for p in _videos(out) if p.stat().st_size > 4096]
            if len(vids) >= 4:
                break
            time.sleep(0.2)
        time.sleep(rng.uniform(0.0, 2.0))
    finally:
        for p in procs:
            p.send_signal(signal.SIGKILL)
            p.wait()
    vids = _videos(out)
    names = sorted(p.name for p in vids if p.parent == out)
    assert len(names) == 2 and len(set(names)) == 2, names   # two instances, two files
    assert len(vids) == 4
    assert all(_decodes(v) > 0 for v in vids)
    store = Store(out)
    assert len(store.repaired) == 2
    assert all(w["status"] == "interrupted" and w["info"]["survived"] for w in store.walks())
    store.close()
    _check_store(out)


def test_kill_9_mid_render_and_walk(tmp_path):
    out = tmp_path / "out"
    subprocess.run([sys.executable, str(ROOT / "perform.py"), "--headless", "--offline", "--frames", "45", "--record",
                    "--no-osc", "--out", str(out), "--video", ""], cwd=ROOT, check=True, capture_output=True, timeout=300)
    rng = random.Random(int(time.time()))
    final = out / "render.mp4"
    for cmd, marker in ((["render", "1", "--outdir", str(out), "--out", str(final), "--quiet"], None),
                        (["walk", "random", "--steps", "400", "--outdir", str(out)], "frame-")):
        p = subprocess.Popen([sys.executable, "-m", "livegan.cli", *cmd], cwd=ROOT, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        end = time.time() + 60
        while time.time() < end and p.poll() is None:
            if marker is None and list(out.glob("1/.*partial*")) or marker and list(out.glob(f"*/{marker}*.png")):
                break
            time.sleep(0.1)
        time.sleep(rng.uniform(0.2, 1.5))
        p.send_signal(signal.SIGKILL)
        p.wait()
    assert not final.exists() or _decodes(final) > 0         # never an undecodable file under its name
    assert all(_decodes(v) > 0 for v in _videos(out))
    assert not [p for p in out.rglob("*.png") if p.stat().st_size == 0]
    _check_store(out)
    store = Store(out)
    kinds = {w["kind"]: w["status"] for w in store.walks()}
    assert kinds["random"] in ("interrupted", "done")
    store.close()


def test_file_size_limit_mid_recording_keeps_the_show_and_the_files(tmp_path):
    """RLIMIT_FSIZE stands in for a full disk: writes fail with EFBIG.  Offline, so that every
    frame is a new picture and the videos' sizes do not depend on the machine's load (in real
    time a busy machine repeats frames, and 4 s of them compressed to less than the limit):
    180 frames make about 160 KB, the store stays under 60 KB."""
    out = tmp_path / "out"
    res = subprocess.run(["prlimit", f"--fsize={100_000}", sys.executable, str(ROOT / "perform.py"), "--headless",
                          "--offline", "--duration", "6", "--record", "--no-osc", "--out", str(out)], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 1, res.stderr[-2000:]            # the show ran to its end; outputs cut short
    assert "Traceback" not in res.stderr and "output incomplete" in res.stderr
    assert "recording stopped" in res.stdout
    assert all(_decodes(v) > 0 for v in _videos(out))
    _check_store(out)


def test_record_with_a_broken_store_is_a_hud_error_every_time(tmp_path, tiny):
    (tmp_path / "livegan.db").mkdir()                       # the database cannot be opened
    show = Show(Options(fps=30), PRESET, G=tiny)
    app = App(show, tmp_path, hud=False)

    def on_tick(i, s, d):
        if i in (3, 12):
            s.post(Command("trigger", "record", 1, "key"))
        if i in (8, 16):
            s.post(Command("trigger", "snapshot", None, "key"))
    res = app.run_headless(25, realtime=False, on_tick=on_tick)
    assert res["shown"] == 25
    assert sum("recording could not start" in e for e in show.errors) >= 1
    assert any("snapshot failed" in e for e in show.errors)


@pytest.mark.parametrize("network", ["builtin:tiny", "builtin:canvas-tiny"])
def test_every_address_with_generated_arguments_leaves_the_show_running(network, tiny, tmp_path):
    """Every OSC address (outputs, inputs, modulation, LFOs included) gets generated arguments of
    every type, on a plain and on a Canvas network; whatever they do, the show keeps rendering and
    no exception escapes."""
    from livegan.control.osc import address_table
    from stylegan3 import load_network

    G = tiny if network == "builtin:tiny" else load_network(network)
    show = Show(Options(fps=30, load_roots=(str(tmp_path),), save_dir=tmp_path / "presets"), PRESET, G=G)
    r = OscReceiver(show.post, "127.0.0.1", 0, log=lambda m: None)
    rng = random.Random(11)
    pool = [0, 1, -1, 7, 2 ** 31 - 1, -2 ** 31, 0.5, -3.5, 1e30, float("nan"), "", "x", "bass", "psi", "lfo9",
            "v4l2:/dev/zero", "ndi:", "/etc/passwd", "../x.png", "feedback", "pattern", "A" * 200, b"\x00\x01", True]
    sent = 0
    show.start()
    try:
        for a in address_table():
            for _ in range(6):
                args = [rng.choice(pool) for _ in range(rng.randint(0, 4))]
                try:
                    data = msg(a.path, *args)
                except Exception:
                    continue                             # python-osc cannot even encode it
                r.handle_datagram(data)
                sent += 1
            show.tick(sent / 30.0)                       # the main thread applies what arrived
        for i in range(3):
            assert show.tick(sent / 30.0 + i, wait=True) is not None or show.current is not None
    finally:
        show.stop()
    assert sent > 1000 and show.current is not None
    assert show.error_count + sum(r.errors.values()) > 0             # refusals were reported, not raised
    src = show.conditioner.source                                   # nothing outside the allowed folders
    assert src is None if network == "builtin:tiny" else (src is None or src.kind == "feedback")
