"""The live loop, headless on builtin:tiny: frames keep coming, changes show, stale frames never do."""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import free_port_pair
from livegan.app import App
from livegan.engine import canvas_for
from livegan.media import read_video
from livegan.params import Command
from livegan.presets import parse_preset
from livegan.show import Options, Show
from livegan.store import Store


def test_ten_second_headless_run(tmp_path, tiny):
    show = Show(Options(fps=30), G=tiny)
    app = App(show, tmp_path)
    changes = {}

    def on_tick(i, s, display):
        if i in (90, 150, 210):
            changes[i] = s.generation
            s.post(Command("set", "psi", {90: 0.1, 150: 1.2, 210: 0.5}[i], "test", time.perf_counter()))
        if i == 240:
            s.post(Command("trigger", "keyframe_next", None, "test", time.perf_counter()))
    res = app.run_headless(300, video=tmp_path / "run.mp4", on_tick=on_tick)
    assert res["frames"] == 300 and not res["errors"]
    assert res["wall_s"] >= 10.0 * 0.98                  # paced by the clock: never faster than real time
    assert res["shown"] >= 10                            # the generator really produced frames
    ids = [f for _, f, _ in show.stats.shown_ids]
    assert all(b > a for a, b in zip(ids, ids[1:]))      # frame ids strictly increasing
    gens = [g for _, _, g in show.stats.shown_ids]
    assert all(b >= a for a, b in zip(gens, gens[1:]))   # never back to an older generation
    # After each change, nothing of the old generation is shown once the change is processed.
    for tick, g_before in changes.items():
        later = [g for t, _, g in show.stats.shown_ids if t > tick + 1]
        assert later and min(later) > g_before
    assert len(show.stats.latency_frames) >= 3
    frames = read_video(tmp_path / "run.mp4")
    assert len(frames) == res["video_frames"] and len(frames) >= 290
    assert frames[0].shape == (256, 256, 3)


def test_offline_render_shows_every_frame_in_order(tmp_path, tiny):
    plain = parse_preset({"keyframes": [1, 2], "speed": 1.0}, "plain.json")   # no display effects
    show = Show(Options(fps=30), plain, G=tiny)
    res = App(show, tmp_path, hud=False).run_headless(12, realtime=False, video=tmp_path / "o.mp4")
    assert res["shown"] == 12 and res["repeated"] == 0
    assert [f for _, f, _ in show.stats.shown_ids] == list(range(12))
    # The picture is the generator's frame 11 exactly (up to 8-bit rounding).
    req = show.current
    with torch.inference_mode():
        img = tiny.synthesis(torch.from_numpy(req.ws)[None], transform=torch.from_numpy(req.transform)[None])
    u8 = (img * 127.5 + 128).clamp(0, 255).to(torch.uint8)[0].permute(1, 2, 0).numpy()
    assert np.abs(res["last"].astype(int) - u8.astype(int)).max() <= 1


def test_bad_commands_never_stop_the_show(tmp_path, tiny):
    show = Show(Options(fps=30), G=tiny)
    for cmd in [Command("set", "nope", 1, "osc"), Command("set", "psi", "abc", "osc"),
                Command("trigger", "preset", "missing-preset", "osc"), Command("trigger", "network", "/no/such.pkl", "key"),
                Command("trigger", "network", "/no/such.pkl", "osc")]:
        show.post(cmd)
    res = App(show, tmp_path, hud=True).run_headless(20, realtime=False)
    assert res["shown"] == 20
    end = time.time() + 5
    while show.network_loader.busy and time.time() < end:
        time.sleep(0.05)
    show._finish_loading()
    text = " ".join(show.errors)
    assert "nope" in text and "missing-preset" in text and "failed to load" in text
    assert "over OSC only names and files under" in text        # the network policy, not a load


def test_network_hot_swap(tmp_path, tiny, golden):
    show = Show(Options(fps=30), G=tiny)
    show.post(Command("trigger", "network", str(golden / "sg3t-tiny" / "network.pkl"), "test"))
    seen = []

    def loaded(s) -> None:               # the load, off the main thread, has finished (a busy machine: late)
        end = time.time() + 120
        while s.network_loader.busy and not s.network_loader._results.qsize() and time.time() < end:
            time.sleep(0.01)
    App(show, tmp_path, hud=False).run_headless(40, realtime=False,
                                                on_tick=lambda i, s, d: (loaded(s) if i == 5 else None, seen.append(s.current_image.shape)))
    assert seen[0] == (256, 256, 3) and seen[-1] == (64, 64, 3)


def test_a_swapped_network_never_renders_the_plan_made_for_the_one_before(tiny, golden):
    """The class: the swap is posted, the new plan comes later in the same tick, and an engine
    batch taken between the two rendered the old network's requests with the new network (one
    HUD error, "ws must have shape ...", about one swap in four mid-show).  The engine's own
    step, taken at that moment, then the new plan rendered on its thread."""
    from stylegan3 import load_network
    other = load_network(str(golden / "sg3t-tiny" / "network.pkl"))
    show = Show(Options(fps=30), G=tiny)
    eng = show.engine
    eng.submit(show.plan(1, 3))                    # tiny's requests, not rendered yet
    show._use_network(other, "sg3t-tiny")           # as a finished load does, mid-tick
    with eng._cond:
        job, reqs = eng._take_work()                # the engine thread's step before the new plan
    assert eng.G is other and reqs == []
    eng.submit(show.plan(2, 3))
    show.start()
    try:
        got, deadline = [], time.perf_counter() + 60
        while not got and time.perf_counter() < deadline:
            got = eng.take()
            time.sleep(0.005)
    finally:
        show.stop()
    assert got and {f.generation for f in got} == {show.generation}
    assert got[0].image.shape == (64, 64, 3) and not eng.take_errors()


def test_a_knob_turned_faster_than_the_display_keeps_the_picture_moving(tiny):
    """A new value every display frame (a MIDI knob sends 50-100 a second while it turns): each
    change discarded the frame planned before it, so none was ever shown and the picture froze
    until the knob stopped.  Now a change waits while the last one's picture is on its way.  The
    generator is made faster than the display here by waiting for each planned frame (any CPU)."""
    show = Show(Options(fps=1.0, lookahead=0), G=tiny)
    show.start()
    try:
        show.tick(0.0, wait=True)
        new, gens = 0, [show.current.generation]
        for i in range(1, 41):
            show.post(Command("set", "psi", 0.3 + 0.01 * i, "midi"))
            before = show.current
            show.tick(float(i))
            if show.current is not before:
                new += 1
                gens.append(show.current.generation)
            show.picker.wait_for(show.engine, show.tick_index + 1, show.generation)
        for i in range(41, 44):                     # the knob stops: its last value is taken
            show.tick(float(i))
            show.picker.wait_for(show.engine, show.tick_index + 1, show.generation)
    finally:
        show.stop()
    assert new >= 18, new                           # before: 0
    assert all(b > a for a, b in zip(gens, gens[1:]))   # each new picture shows a newer value
    assert show.registry.target["psi"] == pytest.approx(0.7)


def _flaky_render(show, fails):
    """The engine's render, raising for each request `fails(frame id, try)` says (tries count from 1)."""
    render, tries = show.engine.render, {}

    def flaky(reqs):
        for r in reqs:
            tries[r.frame] = tries.get(r.frame, 0) + 1
            if fails(r.frame, tries[r.frame]):
                raise RuntimeError(f"out of memory at frame {r.frame} (a test's)")
        return render(reqs)
    show.engine.render = flaky
    return tries


def test_a_failing_generator_batch_is_tried_again_and_is_one_of_the_shows_problems(tmp_path, tiny):
    """The class: a failure on the engine thread went to its own list, shown in the HUD forever
    and left out of the problem count (the summary said "0 problems reported" above the errors
    it listed), and offline its frame was never tried again: the wait hung for 120 s and ended
    the run.  A transient failure: the frame is rendered on the next try, one problem counted."""
    show = Show(Options(fps=30), G=tiny)
    tries = _flaky_render(show, lambda frame, k: frame == 3 and k == 1)
    app = App(show, tmp_path, hud=False)
    res = app.run_headless(12, realtime=False)
    assert tries[3] == 2 and res["shown"] == 12
    assert [f for _, f, _ in show.stats.shown_ids] == list(range(12))
    assert show.error_count == 1 and res["errors"] == ["generator: RuntimeError: out of memory at frame 3 (a test's)"]
    assert app.summary(res["frames"], res["wall_s"], "test").endswith("; 1 problem reported")
    assert show.status.problems == 1


def test_a_frame_the_generator_always_fails_on_is_given_up_not_waited_for(tmp_path, tiny):
    """Offline, a frame that fails every try is reported after MAX_TRIES and the render goes on
    (before: a 120 s wait, then a TimeoutError that ended it)."""
    from livegan.engine.core import MAX_TRIES

    show = Show(Options(fps=30), G=tiny)
    tries = _flaky_render(show, lambda frame, k: frame == 5)
    res = App(show, tmp_path, hud=False).run_headless(10, realtime=False)
    assert res["frames"] == 10 and tries[5] == MAX_TRIES
    assert [f for _, f, _ in show.stats.shown_ids] == [i for i in range(10) if i != 5]
    assert show.error_count == MAX_TRIES + 1                # each failed try, and the frame given up
    assert any(e.startswith("frame failed: FrameFailed: frame 5 not rendered: generator: RuntimeError") for e in res["errors"]), res["errors"]


def test_wide_canvas_centre_matches_square(tiny):
    canvas, width = canvas_for(tiny, "16:9")
    assert width == 456
    ws = tiny.mapping(torch.from_numpy(np.random.RandomState(5).randn(1, tiny.z_dim)).float(), None)
    with torch.inference_mode():
        square = tiny.synthesis(ws)
        wide = tiny.synthesis(ws, canvas=canvas)
    off = (wide.shape[-1] - 256) // 2
    assert wide.shape[-1] >= width
    centre = wide[..., off: off + 256]
    d = (centre - square).abs()
    # Away from the square's borders (where its zero padding differs from real content) they agree.
    assert float(d[..., 32:-32, 32:-32].mean()) < 5e-3 * float(square.abs().mean())
    assert float(d.mean()) < 0.02


def test_no_display_suggests_headless():
    env = {"PATH": "/usr/bin:/bin"}
    r = subprocess.run([sys.executable, "perform.py"], capture_output=True, text=True, env=env)
    assert r.returncode == 2 and "--headless" in r.stderr and "Traceback" not in r.stderr


def test_live_window_on_a_virtual_screen(tmp_path, xvfb):
    import os
    shot = tmp_path / "window.png"
    env = dict(os.environ, DISPLAY=xvfb)
    r = subprocess.run([sys.executable, "perform.py", "--list-screens"], capture_output=True, text=True, env=env)
    assert r.stdout.startswith("0: 1280x720")
    r = subprocess.run([sys.executable, "perform.py", "--no-osc", "--size", "640x360", "--exit-after", "6", "--screenshot", str(shot)],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    summary = [ln for ln in r.stdout.splitlines() if ln.startswith("rendered ")]
    assert len(summary) == 1 and "(window)" not in summary[0] and "window" in summary[0], r.stdout
    from PIL import Image
    img = np.asarray(Image.open(shot)).astype(int)
    assert img.shape == (360, 640, 3)
    assert img[150:, :130].max() == 0 and img[150:, 510:].max() == 0   # letterbox bars (fit), below the HUD
    assert img[150:, 150:490].std() > 10                            # a real picture in the middle
    assert (img[5:80, 10:300] > 200).any()                          # HUD text drawn


def test_fullscreen_at_start_fills_the_screen(tmp_path):
    """--fullscreen on a 1600x900 screen draws (and screenshots) 1600x900, not the 1280x720
    window size inside it."""
    import os

    from conftest import start_xvfb

    display, proc = start_xvfb("1600x900")
    try:
        shot = tmp_path / "full.png"
        r = subprocess.run([sys.executable, "perform.py", "--no-osc", "--fullscreen", "--exit-after", "2",
                            "--screenshot", str(shot)], capture_output=True, text=True,
                           env=dict(os.environ, DISPLAY=display), timeout=120)
        assert r.returncode == 0, r.stderr
        from PIL import Image
        img = np.asarray(Image.open(shot)).astype(int)
        assert img.shape == (900, 1600, 3)
        assert img[300:600, 500:1100].std() > 10                        # the picture, centred (fit)
        assert img[450, :100].max() == 0 and img[450, -100:].max() == 0   # letterbox bars at both sides
    finally:
        proc.terminate()
        proc.wait(5)


ROOT = Path(__file__).resolve().parents[1]


def test_headless_single_frame_is_a_picture(tmp_path):
    res = subprocess.run([sys.executable, str(ROOT / "perform.py"), "--headless", "--frames", "1", "--no-osc",
                          "--out", str(tmp_path)], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert res.returncode == 0, res.stderr[-1000:]
    from PIL import Image
    img = np.asarray(Image.open(tmp_path / "perform.png"))
    assert img.std() > 10                                    # not a black frame
    assert "frames to GL:" in res.stdout                      # the frame path, on every device
    assert "--dtype auto on the CPU" in res.stdout


def test_headless_video_is_the_program_not_the_view(tmp_path, tiny):
    from livegan.media import read_video

    show = Show(Options(fps=30), parse_preset({"keyframes": [1, 2], "speed": 0.5}, "v.json"), G=tiny)
    shown = []
    res = App(show, tmp_path, hud=True).run_headless(
        12, size=(400, 300), realtime=False, video=tmp_path / "v.mp4",
        on_tick=lambda i, s, d: shown.append(d.renderer.read_program()))
    frames = read_video(tmp_path / "v.mp4")
    assert res["video_frames"] == len(frames) == 12
    assert frames[0].shape == (256, 256, 3)                  # the canvas, not the 400x300 letterboxed view
    # H.264 of the program, not of the HUD: close to the program frame everywhere, HUD corner included
    assert np.abs(frames[5].astype(int) - shown[5].astype(int)).mean() < 4
    assert np.abs(frames[5][:60, :200].astype(int) - shown[5][:60, :200].astype(int)).mean() < 6


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


def _started_where_sigint_is_ignored():
    signal.signal(signal.SIGINT, signal.SIG_IGN)          # as a background job of a script starts it


@pytest.mark.parametrize("sig, why, code", [(signal.SIGINT, "Ctrl-C", 130), (signal.SIGTERM, "SIGTERM", 143)])
def test_ctrl_c_ends_a_headless_show_with_its_summary_and_valid_files(tmp_path, sig, why, code):
    """Ctrl-C (SIGINT, even where the show was started with SIGINT ignored) and a service manager's
    SIGTERM both finish the files and say the summary."""
    p = subprocess.Popen([sys.executable, "perform.py", "--headless", "--no-osc", "--duration", "600", "--record",
                          "--out", str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"),
                         preexec_fn=_started_where_sigint_is_ignored)
    for line in p.stdout:                            # wait for events, not for a time
        if "livegan: recording to" in line:
            log = Path(line.split("recording to", 1)[1].strip()) / "control.jsonl"
            break
    deadline = time.monotonic() + 120
    while '"type":"mark"' not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)                             # the log's one-second mark: frames were written
    p.send_signal(sig)
    try:
        rest, err = p.communicate(timeout=120)
    except subprocess.TimeoutExpired:            # where is it?  every thread's stack, then the failure
        p.send_signal(signal.SIGUSR1)
        try:
            rest, err = p.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            rest, err = p.communicate()
        raise AssertionError(f"the show did not end within 120 s of {why}:\n{err[-8000:]}") from None
    assert p.returncode == code, err
    summary = [ln for ln in rest.splitlines() if ln.startswith("rendered ")]
    assert len(summary) == 1 and f"stopped by {why}" in summary[0] and "Traceback" not in err
    (walk,) = Store(tmp_path).walks("recording")
    assert walk["status"] == "done"
    assert len(read_video(tmp_path / "perform.mp4")) >= 30
    assert len(read_video(Path(log).parent / "session.mp4")) >= 30


def test_a_frame_finished_late_never_runs_time_back():
    """When the planning lead shrinks, an earlier tick's frame can finish after a later one was shown
    (seen once in a loaded suite run): it is dropped, never shown, so frame ids only increase."""
    from types import SimpleNamespace

    from livegan.show.options import Stats
    from livegan.show.planner import Picker

    class Engine:
        def __init__(self):
            self.out = []

        def take(self):
            out, self.out = self.out, []
            return out

    def frame(i):
        return SimpleNamespace(id=i, generation=0)
    stats, eng = Stats(), Engine()
    picker = Picker(stats)
    eng.out = [frame(10)]
    assert picker.pick(eng, 10, 0, True).id == 10
    eng.out = [frame(9)]                                      # the shorter lead's frame, late
    assert picker.pick(eng, 11, 0, True) is None and stats.dropped == 1
    eng.out = [frame(12)]
    assert picker.pick(eng, 12, 0, True).id == 12
    assert [f for _, f, _ in stats.shown_ids] == [10, 12]
