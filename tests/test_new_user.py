"""What a new user tripped over (issue 31, section 4): a second show on a taken port, the problem
count the summary gives, OSCQuery's view of the pad corners, what the terminal says, the
networks listing and menu, times as a person reads them, --keep, killed writers' leftovers,
duplicate Host headers, and the studio on a production server."""
from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import urllib.request

from conftest import ROOT
from livegan.control.surfaces import ControlOptions, Controls
from livegan.presets import parse_preset
from livegan.show import Options, Show

PRESET = parse_preset({"keyframes": [1, 3, 6, 7], "speed": 0.0}, "corners.json")


def free_port_pair() -> int:
    """A port P with UDP P and TCP P+1 free (checked by binding them)."""
    for _ in range(50):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("127.0.0.1", 0))
        p = u.getsockname()[1]
        t = socket.socket()
        try:
            t.bind(("127.0.0.1", p + 1))
            return p
        except OSError:
            continue
        finally:
            u.close()
            t.close()
    raise RuntimeError("no free port pair")


def test_a_second_show_on_taken_ports_listens_on_the_next_free_ones_and_says_so(tiny):
    p = free_port_pair()
    udp, tcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM), socket.socket()
    udp.bind(("127.0.0.1", p))                       # the first show's OSC and OSCQuery ports
    tcp.bind(("127.0.0.1", p + 1))
    tcp.listen()
    said = []
    show = Show(Options(fps=30), PRESET, G=tiny)
    try:
        ctl = Controls(show, ControlOptions(osc_host="127.0.0.1", osc_port=p, oscquery_port=p + 1, mdns=False),
                       log=said.append).start()
        try:
            assert ctl.osc.port == p + 2 and ctl.query.port == p + 3
            assert f"livegan: OSC port {p} is taken (another show?): listening on {p + 2} instead" in said
            assert f"livegan: OSCQuery port {p + 1} is taken (another show?): listening on {p + 3} instead" in said
            assert f"OSC on 127.0.0.1:{p + 2}, OSCQuery on 127.0.0.1:{p + 3}" in "\n".join(said)
            # OSCQuery reads the latent pad's corners as the page shows them (keyframes 0..3).
            for k, seed in enumerate([1, 3, 6, 7]):
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


def test_the_summary_counts_what_the_surfaces_refused(tmp_path):
    """Three datagrams to an unknown address: the HUD counted them; the summary must too."""
    p = free_port_pair()
    proc = subprocess.Popen([sys.executable, "perform.py", "--headless", "--duration", "6", "--video", "",
                             "--osc-port", str(p), "--no-oscquery", "--out", str(tmp_path)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = []
    for line in proc.stdout:
        out.append(line)
        if "controls: OSC on" in line:
            break
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _ in range(3):
            s.sendto(b"/livegan/nope\x00\x00\x00,\x00\x00\x00", ("127.0.0.1", p))
    rest, _ = proc.communicate(timeout=120)
    text = "".join(out) + rest
    assert proc.returncode == 0, text
    assert re.search(r"; 3 problems reported$", text.strip().splitlines()[-1]), text


def test_the_terminal_and_the_page_hear_of_snapshots_and_recordings(tmp_path):
    p = free_port_pair()
    proc = subprocess.Popen([sys.executable, "perform.py", "--headless", "--duration", "8", "--video", "", "--record",
                             "--osc-port", str(p), "--no-oscquery", "--out", str(tmp_path)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = []
    for line in proc.stdout:
        out.append(line)
        if "recording to" in line:
            break
    from pythonosc.udp_client import SimpleUDPClient
    SimpleUDPClient("127.0.0.1", p).send_message("/livegan/snapshot", [])
    rest, _ = proc.communicate(timeout=120)
    text = "".join(out) + rest
    assert proc.returncode == 0, text
    assert re.search(r"livegan: snapshot \S+/snap-\S+\.png", text), text
    assert re.search(r"livegan: recording \d+ stopped: \d+ frames \(\d+\.\d s\), in ", text), text


def test_the_show_notifies_the_page_of_a_saved_snapshot(tmp_path, tiny):
    from livegan.app import App
    from livegan.params import Command
    from realtime import realtime_run

    show = Show(Options(fps=30), PRESET, G=tiny)
    app = App(show, tmp_path, hud=False)
    before = show.notice[0]
    realtime_run(app, 20, on_tick=lambda i, s, d: s.post(Command("trigger", "snapshot", None, "page")) if i == 5 else None)
    app.writer.drain()
    assert show.notice[0] > before and show.notice[1].startswith("snapshot saved: snap-"), show.notice


def test_times_read_as_a_person_reads_them():
    from livegan.console import duration

    assert [duration(s) for s in (0.4, 40, 185, 7620, 3 * 86400 + 4 * 3600, float("inf"), -1)] == \
        ["0 s", "40 s", "3 min 05 s", "2 h 07 min", "3 d 4 h", "?", "?"]


def test_networks_are_described_lightest_first_with_training_runs(tmp_path):
    run = tmp_path / "recordings" / "training" / "my-run"
    run.mkdir(parents=True)
    (run / "network-00000.064kimg.safetensors").write_bytes(b"")
    (run / "network-00000.128kimg.safetensors").write_bytes(b"")
    r = subprocess.run([sys.executable, "-m", "livegan", "networks"], cwd=tmp_path, capture_output=True, text=True,
                       timeout=120, env={**__import__("os").environ, "PYTHONPATH": str(ROOT) + ":" + str(ROOT / "vendor")})
    assert r.returncode == 0, r.stderr
    from stylegan3 import builtin
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("  builtin:")]
    assert [ln.split()[0] for ln in lines] == [f"builtin:{n}" for n in builtin.names()]
    assert all(len(ln.split(None, 1)) == 2 and len(ln.split(None, 1)[1]) > 20 for ln in lines), lines   # each described
    assert builtin.names().index("tiny") < builtin.names().index("sg3t-1024")
    assert builtin.names().index("canvas-tiny") < builtin.names().index("canvas-r-512")
    assert re.search(r"run:my-run\s+2 snapshots, newest network-00000\.128kimg\.safetensors", r.stdout), r.stdout
    from livegan.control.page import ControlPage, PageAccess
    menu = ControlPage(lambda c: None, PageAccess([]), []).networks()
    assert menu[0] == "builtin:twemoji" and menu[-1] in ("builtin:sg3t-1024", "builtin:canvas-r-512")


def test_a_killed_writers_leftovers_go_when_the_store_opens(tmp_path):
    from livegan.store import Store

    thumbs = tmp_path / ".preset-thumbs"
    thumbs.mkdir()
    dead = thumbs / ".default.png.999999.abcd.part"      # no process 999999: a killed show's
    dead.write_bytes(b"")
    live = thumbs / f".other.png.{__import__('os').getpid()}.efgh.part"   # a live writer's stays
    live.write_bytes(b"")
    Store(tmp_path).close()
    assert not dead.exists() and live.exists()


def test_keep_leaves_the_newest_resumable_snapshots_and_every_network(tmp_path):
    from test_training import TRAIN, _pictures, train
    from livegan.training.dataset import make_dataset

    make_dataset([str(_pictures(tmp_path / "pics", size=16))], tmp_path / "ds.zip", 16, progress=False)
    r = train("--data", tmp_path / "ds.zip", "--outdir", tmp_path / "run", *TRAIN, "--keep", "2")
    assert r.returncode == 0, r.stderr
    assert len(list((tmp_path / "run").glob("snapshot-*.pt"))) == 2
    assert len(list((tmp_path / "run").glob("network-*.safetensors"))) == 4
    assert sorted(p.name for p in (tmp_path / "run").glob("snapshot-*.pt")) == \
        ["snapshot-00000.048kimg.pt", "snapshot-00000.064kimg.pt"]
    assert re.search(r"ETA \d+ s$", [ln for ln in r.stdout.splitlines() if ln.startswith("tick ")][0]), r.stdout


def test_the_studio_runs_on_a_production_server(tmp_path):
    from test_gallery_browser import start_gallery

    store, presets = tmp_path / "store", tmp_path / "presets"
    store.mkdir()
    presets.mkdir()
    base, proc = start_gallery(store, presets)
    try:
        for _ in range(5):
            urllib.request.urlopen(base + "/").read()
        port = int(base.rsplit(":", 1)[1].strip("/"))
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\n\r\n")
            head = s.recv(4096).decode("latin-1")
        assert head.split()[1] in ("400", "421"), head
    finally:
        proc.terminate()
        out = proc.communicate(timeout=30)[0] or ""
    assert "development server" not in out and "WARNING" not in out, out
    assert not re.search(r'"GET / HTTP/1\.1" 200', out), out          # no line per request
