"""StyleGAN-Canvas driven live: a generated video as the condition source; frames follow it and
equal offline G(z, c, cond) for the same condition frames; recorded sessions replay exactly (file
frames read again by index, live frames stored); the feedback loop does not grow; bad inputs are
one line and the show goes on with the last good condition."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from livegan.app import App
from livegan.conditions import Conditioner
from livegan.conditions.prep import to_tensor
from livegan.conditions.sources import fit_to
from livegan.offline.replay import render_log
from livegan.params import Command
from livegan.presets import parse_preset
from livegan.record import LOG_NAME, read_log
from livegan.show import Options, Show
from livegan.store import Store

PRESET = parse_preset({"keyframes": [1, 2, 3], "speed": 0.5}, "canvas.json")


@pytest.fixture(scope="module")
def canvas_tiny():
    from stylegan3 import load_network
    return load_network("builtin:canvas-tiny")


def make_video(path, frames: int = 45, size=(160, 120)) -> None:
    """A bar sweeping right over a band: every frame differs."""
    import av

    w, h = size
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=30)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.options = {"crf": "12"}
        for i in range(frames):
            img = np.full((h, w, 3), 30, np.uint8)
            x = (i * 5) % w
            img[:, max(0, x - 18):x + 18] = (255, 210, 0)
            img[h // 3: 2 * h // 3, :, 2] = 220
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


def offline(G, req) -> np.ndarray:
    """The same frame computed directly: G's encoder on the request's condition, its ws replacing
    the first cond_ws mapping rows, synthesis."""
    mode, blur, nws = req.cond_prep
    with torch.inference_mode():
        ws_enc, skips = G.encoder(to_tensor(req.cond.pixels, mode, blur * G.cond_shape[1] / 256))
        ws = G.combine(torch.from_numpy(req.ws)[None], ws_enc, nws)
        img = G.synthesis(ws, skips)
    return (img * 127.5 + 128).clamp(0, 255).to(torch.uint8)[0].permute(1, 2, 0).numpy()


def record(show, app, frames, start=3, stop=None, extra=None):
    live, got = {}, {}
    stop = stop or frames - 6

    def on_tick(i, s, d):
        if i == start:
            s.post(Command("trigger", "record", 1, "key"))
        if extra and i in extra:
            s.post(extra[i])
        if i == stop:
            s.post(Command("trigger", "record", 0, "key"))
        if app.recording:
            got.setdefault("start", app.recorder.start_tick)
        live[s.tick_index] = (d.renderer.read_program(), s.current, s.current_image)
    app.run_headless(frames, size=(200, 150), realtime=False, on_tick=on_tick)
    (walk,) = Store(app.out_dir).walks("recording")
    assert walk["status"] == "done", walk
    return live, got["start"] + 1, app.out_dir / str(walk["id"])


def replay_matches(log, live, first, G, tmp_path):
    frames = {}
    res = render_log(log, tmp_path / "replay.mkv", progress=False, G=G,
                     on_frame=lambda i, req, img: frames.__setitem__(i, img))
    assert res["written"] > 20 and not res["errors"], res["errors"]
    for i in range(res["written"]):
        assert np.array_equal(frames[i], live[first + i][0]), f"replay frame {i} differs from live tick {first + i}"


def test_video_condition_follows_matches_offline_and_replays(tmp_path, canvas_tiny):
    video = tmp_path / "sweep.mp4"
    make_video(video)
    show = Show(Options(fps=30, inputs=(str(video),)), PRESET, G=canvas_tiny)
    app = App(show, tmp_path, hud=True, codec="ffv1")
    extra = {20: Command("set", "cond_mode", 1, "osc"), 32: Command("set", "cond_mode", 2, "osc"),
             40: Command("set", "cond_ws", 6, "osc")}
    live, first, folder = record(show, app, 60, extra=extra)
    keys = {v[1].cond.key for v in live.values() if v[1] is not None}
    assert len({k[2] for k in keys if k[0] == "video"}) >= 5              # new video frames arrived
    # The picture follows the condition: the same ws under two different video frames differ.
    reqs = [v[1] for v in live.values() if v[1] is not None]
    assert {r.cond_prep[0] for r in reqs} == {0, 1, 2}
    for r, img in [(v[1], v[2]) for v in live.values() if v[1] is not None][::7]:
        assert np.abs(offline(canvas_tiny, r).astype(int) - img.astype(int)).max() <= 1
    a, b = reqs[5], reqs[12]
    assert a.cond.key != b.cond.key
    # Replay: the log names the video by identity and each frame's index; no pixels stored.
    header, cmds, _ = read_log(folder / LOG_NAME)
    conds = [c.value for v in cmds.values() for c in v if c.op == "condition"]
    assert conds and all(c["key"][0] == "video" and "path" in c and "file" not in c for c in conds)
    assert not (folder / "conditions").exists()
    replay_matches(folder / LOG_NAME, live, first, canvas_tiny, tmp_path)


def test_feedback_condition_is_stored_replays_and_does_not_grow(tmp_path, canvas_tiny):
    show = Show(Options(fps=30, inputs=("feedback",)), PRESET, G=canvas_tiny)
    app = App(show, tmp_path, hud=False, codec="ffv1")
    live, first, folder = record(show, app, 50)
    stored = sorted((folder / "conditions").glob("*.png"))
    assert len(stored) > 10                                              # live frames kept, lossless
    assert len({v[1].cond.key for v in live.values() if v[1] is not None}) > 10
    replay_matches(folder / LOG_NAME, live, first, canvas_tiny, tmp_path)

    def rss() -> int:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) * 1024
    show2 = Show(Options(fps=30, inputs=("feedback",)), PRESET, G=canvas_tiny)
    app2 = App(show2, tmp_path / "loop", hud=False)
    marks = {}
    app2.run_headless(700, size=(128, 128), realtime=False,
                      on_tick=lambda i, s, d: marks.__setitem__(i, rss()) if i in (200, 699) else None)
    assert marks[699] - marks[200] < 40 << 20, (marks[699] - marks[200]) >> 20
    assert len(show2.conditioner.assigned) <= 512 and len(show2.engine._encoded) <= 8


def test_bad_inputs_are_one_line_and_the_last_good_condition_stays(tmp_path, canvas_tiny):
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(os.urandom(5000))
    still = tmp_path / "still.png"
    from PIL import Image
    Image.fromarray(np.tile(np.arange(0, 250, 2, dtype=np.uint8)[None, :, None], (90, 1, 3))).save(still)
    show = Show(Options(fps=30, inputs=(str(still),)), PRESET, G=canvas_tiny)
    app = App(show, tmp_path, hud=True)
    seen = []

    def on_tick(i, s, d):
        if i == 5:
            s.post(Command("trigger", "input", str(corrupt), "key"))            # a corrupt video
        if i == 8:
            s.post(Command("trigger", "input", "v4l2:/dev/video97", "key"))     # a missing camera
        if i == 11:
            s.post(Command("trigger", "input", str(tmp_path / "nothing.mp4"), "key"))
        if i == 14:
            s.post(Command("trigger", "input", str(still), "osc"))              # a file over OSC: refused
        if s.current is not None:
            seen.append(s.current.cond.key)
    res = app.run_headless(25, realtime=False, on_tick=on_tick)
    errs = [e for e in show.errors]
    assert any("not a readable video" in e for e in errs) and any("no such camera device" in e for e in errs)
    assert any("over OSC only" in e for e in errs)
    assert res["shown"] >= 24 and all(k[0] == "image" for k in seen) and len(set(seen)) == 1
    # A frame of the wrong shape: one line, never a crash.
    with pytest.raises(ValueError, match="H x W x 3"):
        fit_to(np.zeros((10, 10, 2), np.uint8), (144, 144))
    c = Conditioner((144, 144), 30)
    c.open("feedback")
    c.feedback(np.zeros((10, 10, 2), np.uint8))
    assert "H x W x 3" in (c.source.error or "") and c.current().key[0] == "pattern"
    c.stop()
    # From the command line: one line each, and the show runs on the pattern.
    for spec, why in (("v4l2:/dev/video97", "no such camera device"), (str(corrupt), "not a readable video"),
                      (str(tmp_path / "missing.mp4"), "no such file")):
        r = subprocess.run([sys.executable, "perform.py", "--headless", "--no-osc", "--network", "builtin:canvas-tiny",
                            "--frames", "3", "--video", "", "--out", str(tmp_path), "--input", spec],
                           capture_output=True, text=True, timeout=180)
        assert r.returncode == 0, r.stderr
        lines = [ln for ln in r.stdout.splitlines() if ln.startswith("livegan: input off")]
        assert len(lines) == 1 and why in lines[0] and "rendered 3 frames" in r.stdout, r.stdout


def test_a_flood_of_input_switches_opens_only_the_newest_off_the_main_thread(tmp_path, canvas_tiny):
    from PIL import Image

    files = []
    for k in range(3):
        f = tmp_path / f"still{k}.png"
        Image.fromarray(np.full((40, 60, 3), 60 * k, np.uint8)).save(f)
        files.append(str(f))
    show = Show(Options(fps=30, load_roots=(str(tmp_path),)), PRESET, G=canvas_tiny)
    show.start()
    try:
        for i in range(300):
            show.post(Command("trigger", "input", files[i % 3], "osc"))
        show.post(Command("trigger", "input", files[2], "osc"))
        for i in range(240):                     # (the show applies commands within a time budget per frame)
            show.tick(i / 30, wait=True)
            if show.conditioner.spec == files[2] and show.current.cond.key[0] == "image":
                break
        assert show.conditioner.spec == files[2] and show.conditioner.describe() == "image still2.png"
    finally:
        show.stop()
    # newest wins: requests the intake dropped (a costly kind keeps its newest two) or that came
    # while one was opening on the worker never ran
    assert show.intake.dropped["trigger:input"] + show.conditioner._loader.superseded >= 299


def test_an_input_asked_for_while_the_network_changed_size_opens_at_the_new_size(tmp_path, monkeypatch):
    """The class: a result made for the network before a switch.  An input that finished opening
    at the old condition size was stopped and dropped without a word; it opens again at the new."""
    import threading
    import time

    from PIL import Image

    import livegan.conditions as conditions

    f = tmp_path / "still.png"
    Image.fromarray(np.full((40, 60, 3), 90, np.uint8)).save(f)
    gate, real = threading.Event(), conditions.open_source
    monkeypatch.setattr(conditions, "open_source", lambda *a: gate.wait(60) and real(*a))
    cond = Conditioner((64, 64), 30.0)
    try:
        cond.request(str(f))                        # opening at 64x64, held at the gate
        cond.resize((96, 64))                       # a wider canvas meanwhile
        gate.set()
        deadline = time.monotonic() + 60
        while not (cond.spec == str(f) and cond.source is not None) and time.monotonic() < deadline:
            assert cond.poll() == []
            time.sleep(0.01)
        assert cond.spec == str(f) and cond.source.size == (96, 64)
    finally:
        cond.stop()
