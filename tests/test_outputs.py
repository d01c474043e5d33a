"""Program outputs: a network stream decoded back by a PyAV reader over real UDP on 127.0.0.1,
matching the program within codec tolerance; a reader that goes away or never comes disturbs
nothing; bad URLs are one line."""
from __future__ import annotations

import socket
import threading
import time

import numpy as np
import pytest

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
    program = []
    res = app.run_headless(150, size=(400, 300), realtime=True,
                           on_tick=lambda i, s, d: program.append(d.renderer.read_program()) if i == 100 else None)
    t.join(10)
    assert res["shown"] > 40                                    # the show went on after the reader left
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


def test_a_failing_or_slow_sink_never_blocks_the_show(tiny, tmp_path):
    show = Show(Options(fps=30), parse_preset({"keyframes": [3], "speed": 0.0}, "still.json"), G=tiny)
    sink = Failing()
    gaps, last = [], [time.perf_counter()]

    def on_tick(i, s, d):
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now
    res = App(show, tmp_path, hud=False, outputs=[sink]).run_headless(60, realtime=True, on_tick=on_tick)
    assert res["shown"] > 20 and sink.opens >= 3 and sink.sent > 5 and sink.dropped > 5
    assert sorted(gaps)[int(len(gaps) * 0.9)] < 0.2


@pytest.mark.parametrize("url", ["ftp://x:1", "udp://", "udp://127.0.0.1", "udp://h:99999", "nonsense"])
def test_bad_stream_urls_are_one_line(url, capsys):
    from livegan.cli import perform_main

    with pytest.raises(ValueError):
        check_url(url)
    with pytest.raises(SystemExit) as e:
        perform_main(["--headless", "--stream", url])
    assert e.value.code == 2 and "--stream" in capsys.readouterr().err
