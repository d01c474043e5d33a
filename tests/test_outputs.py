"""Program outputs: a network stream decoded back by a PyAV reader over real UDP on 127.0.0.1,
matching the program within codec tolerance; a reader that goes away or never comes disturbs
nothing; bad URLs are one line."""
from __future__ import annotations

import socket
import threading
import time

import numpy as np
import pytest
from realtime import realtime_run

from livegan.app import App
from livegan.outputs import Sink
from livegan.outputs.stream import StreamSink, check_url
from livegan.presets import parse_preset
from livegan.show import Options, Show


def free_udp_port() -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def test_stream_reaches_a_reader_and_survives_it_leaving(tiny, tmp_path):
    import av

    port = free_udp_port()
    got, stop = [], threading.Event()

    def reader():
        with av.open(f"udp://127.0.0.1:{port}?timeout=10000000", format="mpegts", timeout=15) as c:
            for f in c.decode(video=0):
                got.append(f.to_ndarray(format="rgb24"))
                if stop.is_set() or len(got) >= 20:
                    return                                      # the receiver goes away
    t = threading.Thread(target=reader, daemon=True)
    t.start()
    time.sleep(0.5)
    show = Show(Options(fps=30), parse_preset({"keyframes": [3], "speed": 0.0}, "still.json"), G=tiny)
    sink = StreamSink(f"udp://127.0.0.1:{port}", 30)
    app = App(show, tmp_path, hud=True, outputs=[sink])
    program, shown = [], {}

    def on_tick(i, s, d):
        if i == 100:
            program.append(d.renderer.read_program())
            shown["at100"] = s.stats.shown
    res = app.run_headless(150, size=(400, 300), realtime=True, on_tick=on_tick)
    t.join(10)
    assert res["shown"] > shown["at100"]                        # the show went on after the reader left
    assert len(got) >= 10 and got[-1].shape == (256, 256, 3)    # the program's size, not the 400x300 view
    diff = np.abs(got[-1].astype(int) - program[0].astype(int)).mean()
    assert diff < 6, diff                                       # the program, within H.264's tolerance
    assert sink.sent > 100 and sink.error is None
    assert any(line.startswith("stream: sent") for line in app._hud_cache[0])


class Failing(Sink):
    name = "flaky"
    retry_s = 0.05

    def __init__(self):
        self.opens = 0
        super().__init__(30)

    def open(self, w, h):
        self.opens += 1
        if self.opens < 3:
            raise ConnectionRefusedError("nobody listening")

    def send(self, frame):
        time.sleep(0.05)                                        # slower than the show: drops


@pytest.mark.realtime            # against a run of the same show just before: both need the same load
def test_a_failing_or_slow_sink_never_blocks_the_show(tiny, tmp_path):
    show = Show(Options(fps=30), parse_preset({"keyframes": [3], "speed": 0.0}, "still.json"), G=tiny)
    quiet = realtime_run(App(show, tmp_path, hud=False), 60)       # the same show with no sink
    sink = Failing()
    res = realtime_run(App(show, tmp_path, hud=False, outputs=[sink]), 60)
    assert res["shown"] >= 0.5 * quiet["shown"] and sink.opens >= 3 and sink.sent > 5 and sink.dropped > 5
    assert res["p90_gap"] < 3 * quiet["p90_gap"] + 0.1


def test_a_worker_whose_handler_breaks_never_blocks_its_producer(capsys):
    """A bug in a worker's own handling (not the output failing, which sinks handle) ended its
    thread: a producer that waits for room (offline rendering) then waited forever, and so did
    the end of the show.  Now the thread says what stopped it and takes the rest until the end."""
    from livegan.worker import Worker

    class Broken(Worker):
        name = "broken"

        def handle(self, item):
            raise KeyError(item)
    w = Broken(2)
    done = threading.Event()

    def produce():
        for i in range(20):
            w.put(i, block=True)
        w.end()
        done.set()
    threading.Thread(target=produce, daemon=True).start()
    assert done.wait(30), "the producer was left waiting"
    assert w.failure == "KeyError: 0" and not w.alive
    assert "livegan: the broken stopped: KeyError: 0" in capsys.readouterr().out


@pytest.mark.parametrize("url", ["ftp://x:1", "udp://", "udp://127.0.0.1", "udp://h:99999", "nonsense"])
def test_bad_stream_urls_are_one_line(url, capsys):
    from livegan.cli import perform_main

    with pytest.raises(ValueError):
        check_url(url)
    with pytest.raises(SystemExit) as e:
        perform_main(["--headless", "--stream", url])
    assert e.value.code == 2 and "--stream" in capsys.readouterr().err


def test_a_protocol_this_ffmpeg_lacks_is_refused_at_the_start(capsys):
    """srt:// passed the check and failed at the first frame (ProtocolNotFoundError), with the show
    already running: the protocols are FFmpeg's own list now, asked before the show starts."""
    from livegan.cli import perform_main
    from livegan.outputs.stream import output_protocols

    have = output_protocols()
    assert have is not None and {"udp", "tcp", "rtmp"} <= have           # asked of PyAV's FFmpeg
    for scheme in ("srt", "udp", "rtmp"):
        url = f"{scheme}://127.0.0.1:9000"
        if scheme in have:
            assert check_url(url) == url
            continue
        with pytest.raises(SystemExit) as e:
            perform_main(["--headless", "--stream", url])
        err = capsys.readouterr().err
        assert e.value.code == 2 and f"cannot send {scheme}://" in err and "udp://" in err


# -- NDI -------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ndi_loopback(tmp_path_factory):
    """NDI discovery on a machine whose only network is loopback needs NDI's own extra-IP setting
    (read when the library starts, so before anything imports cyndilib)."""
    import json
    import os

    d = tmp_path_factory.mktemp("ndi")
    (d / "ndi-config.v1.json").write_text(json.dumps({"ndi": {"networks": {"ips": "127.0.0.1", "discovery": ""}}}))
    old = os.environ.get("NDI_CONFIG_DIR")
    os.environ["NDI_CONFIG_DIR"] = str(d)
    yield d
    if old is None:
        os.environ.pop("NDI_CONFIG_DIR", None)
    else:
        os.environ["NDI_CONFIG_DIR"] = old


def ndi_receive(name: str, frames: list, stop: threading.Event) -> None:
    """A real NDI receiver: finds the source by name and collects RGBA frames until `stop`."""
    from cyndilib.finder import Finder
    from cyndilib.receiver import Receiver
    from cyndilib.video_frame import VideoFrameSync
    from cyndilib.wrapper.ndi_recv import RecvBandwidth, RecvColorFormat

    finder = Finder()
    finder.open()
    source = None
    end = time.time() + 20
    while source is None and time.time() < end and not stop.is_set():
        time.sleep(0.05)                             # (wait_for_sources would hold the GIL)
        finder.update_sources()
        for n in finder.get_source_names():
            if n.endswith(f"({name})"):
                source = finder.get_source(n)
    assert source is not None, f"NDI source {name!r} not found"
    recv = Receiver(color_format=RecvColorFormat.RGBX_RGBA, bandwidth=RecvBandwidth.highest)
    vf = VideoFrameSync()
    recv.frame_sync.set_video_frame(vf)
    recv.set_source(source)
    last_ts = None
    while not stop.is_set() and time.time() < end + 20:
        time.sleep(0.02)
        if not recv.is_connected():
            continue
        recv.frame_sync.capture_video()
        if vf.xres > 0 and vf.get_timestamp_posix() != last_ts:
            last_ts = vf.get_timestamp_posix()
            frames.append(vf.get_array().reshape(vf.yres, vf.xres, 4)[..., :3].copy())
    recv.disconnect()
    finder.close()


def test_ndi_source_found_by_name_carries_the_program(tiny, tmp_path, ndi_loopback):
    from livegan.control.surfaces import ControlOptions, Controls
    from livegan.outputs.ndi import NdiSink
    from pythonosc.osc_packet import OscPacket

    fb = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    fb.bind(("127.0.0.1", 0))
    show = Show(Options(fps=30), parse_preset({"keyframes": [3], "speed": 0.0}, "still.json"), G=tiny)
    ctl = Controls(show, ControlOptions(osc=False, osc_out=f"127.0.0.1:{fb.getsockname()[1]}"),
                   log=lambda m: None).start()
    name = f"livegan-test-{int(time.time() * 1000) % 100000}"
    sink = NdiSink(name, 30, discover_s=0.5)
    twin = []                                        # a second source of the same name, mid-show
    got, stop = [], threading.Event()
    t = threading.Thread(target=ndi_receive, args=(name, got, stop), daemon=True)
    t.start()
    program = []

    def on_tick(i, s, d):
        if i == 60:
            twin.append(NdiSink(name, 30, discover_s=1.0))
            twin[0].report = s.error
            twin[0].put(np.zeros((64, 64, 3), np.uint8))
        if i == 200:
            program.append(d.renderer.read_program())
    res = App(show, tmp_path, hud=True, controls=ctl, outputs=[sink]).run_headless(240, size=(320, 240), realtime=True,
                                                                                   on_tick=on_tick)
    stop.set()
    t.join(10)
    ctl.stop()
    assert res["shown"] > 10 and sink.sent > 50 and sink.error is None   # (a busy CPU sends fewer)
    assert len(got) > 10 and got[-1].shape == (256, 256, 3)          # the program's size, not the view's
    diff = np.abs(got[-1].astype(int) - program[0].astype(int))
    assert diff.mean() < 4 and np.percentile(diff, 99) < 12, diff.mean()   # NDI's colour conversion only
    # The name in use: one clear line, the twin sends nothing, the first source goes on.
    twin[0].stop()
    assert twin[0].sent == 0 and "in use" in (twin[0].error or "")
    assert any("ndi output" in e and "in use" in e for e in show.errors)
    # Its counters reached OSC feedback.
    fb.settimeout(0.2)
    seen = {}
    try:
        while True:
            data, _ = fb.recvfrom(65536)
            for m in OscPacket(data).messages:
                seen[m.message.address] = m.message.params[0]
    except socket.timeout:
        pass
    fb.close()
    assert seen.get("/livegan/status/output/ndi/sent", 0) > 30
    assert "/livegan/status/output/ndi/dropped" in seen


@pytest.mark.parametrize("argv,expect", [
    (["--ndi", "bad/name"], "--ndi"),
    (["--ndi", ""], "--ndi"),
    (["--output-screen", "-1"], "--output-screen"),
])
def test_bad_output_options_are_one_line(argv, expect, capsys):
    from livegan.cli import perform_main

    with pytest.raises(SystemExit) as e:
        perform_main(["--headless"] + argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and expect in err[-1] and "Traceback" not in "\n".join(err)


def test_missing_or_wrong_v4l2_device_is_one_line_and_the_show_goes_on(tmp_path):
    import subprocess
    import sys

    notdev = tmp_path / "video7"
    notdev.write_bytes(b"")
    for dev, why in (("/dev/video97", "no such device"), (str(notdev), "not a video device"),
                     ("/dev/null", "expected a device")):
        r = subprocess.run([sys.executable, "perform.py", "--headless", "--no-osc", "--frames", "3", "--video", "",
                            "--out", str(tmp_path), "--v4l2", dev], capture_output=True, text=True, timeout=180)
        assert r.returncode == 0, r.stderr
        lines = [ln for ln in r.stdout.splitlines() if "v4l2" in ln]
        assert len(lines) == 1 and why in lines[0] and "modprobe v4l2loopback" in lines[0] or why == "expected a device", lines
        assert "rendered 3 frames" in r.stdout


# -- the second window -----------------------------------------------------------------------------

def test_output_window_shows_the_clean_program_while_the_monitor_has_the_hud(tmp_path, xvfb):
    import os
    import subprocess
    import sys

    from PIL import Image

    shot = tmp_path / "monitor.png"
    env = dict(os.environ, DISPLAY=xvfb)
    # One virtual screen: the program window opens beside the monitor window (two windows on one).
    r = subprocess.run([sys.executable, "perform.py", "--no-osc", "--size", "640x360", "--exit-after", "6",
                        "--screenshot", str(shot), "--output-screen", "0"], capture_output=True, text=True,
                       env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    monitor = np.asarray(Image.open(shot)).astype(int)
    output = np.asarray(Image.open(tmp_path / "monitor-output.png")).astype(int)
    program = np.asarray(Image.open(tmp_path / "monitor-program.png")).astype(int)
    assert output.shape == program.shape == (256, 256, 3)
    assert np.abs(output - program).max() <= 1 and program.std() > 10    # exactly the program, no HUD
    assert (monitor[5:80, 10:300] > 200).any()                           # the monitor has the HUD text
    preview = monitor[360 - 216:, 256:]                                  # lower right: the preview
    assert preview.std() > 10 and monitor[-20:, :200].max() == 0   # the bottom left, below any HUD: black
    # An unknown output screen: one line, and the show goes on in one window.
    r = subprocess.run([sys.executable, "perform.py", "--no-osc", "--size", "320x180", "--exit-after", "3",
                        "--screenshot", str(tmp_path / "one.png"), "--output-screen", "5"], capture_output=True,
                       text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert sum(ln.startswith("livegan: output window off") and "--output-screen 5" in ln for ln in r.stdout.splitlines()) == 1
    assert (tmp_path / "one.png").exists() and not (tmp_path / "one-output.png").exists()


def test_ndi_source_as_a_canvas_condition(ndi_loopback, tmp_path):
    """Our NDI output feeds another show's --input ndi:NAME (the NDI input path end to end)."""
    from livegan.conditions import Conditioner
    from livegan.outputs.ndi import NdiSink

    name = f"livegan-cond-{int(time.time() * 1000) % 100000}"
    sink = NdiSink(name, 30, discover_s=0.2)
    picture = np.zeros((96, 128, 3), np.uint8)
    picture[:, :64] = (200, 40, 10)                             # left half red, right half dark blue
    picture[:, 64:, 2] = 160
    cond = Conditioner((64, 48), 30)
    cond.open(f"ndi:{name}")
    got = None
    end = time.time() + 20
    while time.time() < end:
        sink.put(picture)
        time.sleep(1 / 30)
        f = cond.current()
        if f.key[0] == "ndi":
            got = f
            break
    cond.stop()
    sink.stop()
    assert got is not None, cond.status()
    assert got.stored and got.pixels.shape == (48, 64, 3)
    left, right = got.pixels[:, 4:28].astype(int), got.pixels[:, 36:60].astype(int)
    assert abs(left[..., 0].mean() - 200) < 12 and right[..., 2].mean() > 140 and right[..., 0].mean() < 20
