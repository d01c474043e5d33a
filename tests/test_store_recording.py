"""Store, snapshots, session recording (kill -9, disk full), exact replay, walks."""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from livegan.app import App
from livegan.media import read_video
from livegan.offline.replay import render_log
from livegan.offline.walks import CustomWalk, RandomWalk, VideoManager, sample_latents
from livegan.params import Command
from livegan.presets import parse_preset
from livegan.record import LOG_NAME, read_log
from livegan.show import Options, Show
from livegan.store import MIGRATIONS, Store

ROOT = Path(__file__).resolve().parents[1]
PRESET = parse_preset({"keyframes": [1, 2, 3], "interpolation": "spline", "speed": 0.5,
                       "effects": {"contrast": 1.2}}, "rec.json")


def _writer(path, n):
    st = Store(path)
    wid = st.create_walk("session", "writer")
    for i in range(n):
        st.add_image(wid, f"f{i}.png", "frame", i)


def _reader(path, seconds, q):
    st = Store(path)
    end, reads, errors = time.time() + seconds, 0, 0
    while time.time() < end:
        try:
            for w in st.walks():
                st.images(w["id"])
            reads += 1
        except sqlite3.OperationalError:
            errors += 1
    q.put((reads, errors))


def test_store_schema_and_concurrent_processes(tmp_path):
    st = Store(tmp_path)
    assert st.schema_version() == len(MIGRATIONS)
    assert st.path.exists() and sqlite3.connect(st.path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), 300)), ctx.Process(target=_writer, args=(str(tmp_path), 300)),
             ctx.Process(target=_reader, args=(str(tmp_path), 3.0, q))]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    reads, errors = q.get(timeout=5)
    assert errors == 0 and reads > 10
    walks = st.walks()
    assert len(walks) == 2 and all(len(st.images(w["id"])) == 300 for w in walks)
    with pytest.raises(sqlite3.IntegrityError):               # filenames unique inside a walk
        st.add_image(walks[0]["id"], "f0.png")
    st.add_image(walks[1]["id"], "unique.png")
    assert Store(tmp_path).schema_version() == len(MIGRATIONS)  # reopening migrates nothing


def test_a_store_of_an_older_schema_upgrades_and_keeps_everything(tmp_path):
    """Schema 3 (before training walks) with walks, images, tags and renders: upgrading rebuilds the
    walks table for the new kind and keeps every row and every reference (cascades included)."""
    from livegan.store import FOREIGN_KEYS_OFF

    db = sqlite3.connect(tmp_path / "livegan.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    for v in range(3):
        assert not MIGRATIONS[v].startswith(FOREIGN_KEYS_OFF)
        db.executescript(MIGRATIONS[v])
    db.execute("PRAGMA user_version=3")
    db.execute("INSERT INTO walks (id, kind, name, created, status, archived) VALUES (7, 'session', 'old', 1.0, 'done', 1)")
    db.execute("INSERT INTO images (id, walk_id, filename, path, created, liked) VALUES (3, 7, 'a.png', '7/a.png', 1.0, 1)")
    db.execute("INSERT INTO tags (image_id, tag) VALUES (3, 'keep')")
    db.execute("INSERT INTO renders (id, walk_id, status, created, updated) VALUES (2, 7, 'done', 1.0, 1.0)")
    db.close()
    st = Store(tmp_path)
    assert st.schema_version() == len(MIGRATIONS)
    w = st.walk(7)
    assert (w["kind"], w["name"], w["archived"]) == ("session", "old", 1)
    assert [i["filename"] for i in st.images(7)] == ["a.png"] and st.tags(3) == ["keep"] and st.render(2)
    wid = st.create_walk("training", "run")                  # the new kind, and ids above every old one
    assert wid > 7 and st.walk(wid)["kind"] == "training"
    with pytest.raises(sqlite3.IntegrityError):
        st._conn().execute("INSERT INTO images (walk_id, filename, path, created) VALUES (999, 'x', 'x', 1.0)")
    st.delete_walk(7)                                          # references still cascade
    assert st.image(3) is None and st.render(2) is None and st.tags(3) == []


def test_snapshot_writes_png_ws_and_state(tmp_path, tiny):
    show = Show(Options(fps=30), PRESET, G=tiny)
    app = App(show, tmp_path, hud=False)
    app.run_headless(8, realtime=False, on_tick=lambda i, s, d: s.post(Command("trigger", "snapshot")) if i == 4 else None)
    st = Store(tmp_path)
    (walk,) = st.walks("session")
    (img,) = st.images(walk["id"])
    folder = tmp_path / str(walk["id"])
    png = np.asarray(__import__("PIL.Image", fromlist=["Image"]).open(folder / img["filename"]))
    state = img["state"]
    ws = np.load(folder / state["ws"])
    assert png.shape == (256, 256, 3) and ws.shape == (tiny.num_ws, tiny.w_dim)
    assert state["psi"] == pytest.approx(0.7) and state["network_id"].startswith("builtin-")
    assert state["effects"]["contrast"] == pytest.approx(1.2) and len(state["transform"]["matrix"]) == 3
    # The raw PNG is the generator's picture of those ws ...
    assert img["filename"] == state["program"] and state["raw"].endswith("-raw.png")
    raw = np.asarray(__import__("PIL.Image", fromlist=["Image"]).open(folder / state["raw"]))
    with torch.inference_mode():
        ref = tiny.synthesis(torch.from_numpy(ws)[None], transform=torch.tensor(state["transform"]["matrix"])[None])
    ref = (ref * 127.5 + 128).clamp(0, 255).to(torch.uint8)[0].permute(1, 2, 0).numpy()
    assert np.abs(raw.astype(int) - ref.astype(int)).max() <= 1
    # ... and the program PNG is the frame on screen: the same picture through the effects
    # (contrast 1.2 around mid grey, as shaders/color.frag computes it), no HUD, no letterbox.
    want = np.clip((raw.astype(float) / 255 - 0.5) * 1.2 + 0.5, 0, 1) * 255
    assert np.abs(png.astype(float) - want).mean() < 1.5 and np.abs(png.astype(int) - raw.astype(int)).mean() > 2
    # the state alone recreates the frame: the mix source is in it
    assert "layer" in state["mix"] and "amount" in state["mix"]


def test_a_snapshot_taken_before_the_recording_has_its_walk_still_points_into_it(tmp_path, tiny, monkeypatch):
    # the recorder makes its walk on its own thread: a snapshot taken at once (a busy machine, a
    # store still opening) lost its link to the session video; it waits for the walk now
    import threading

    gate = threading.Event()
    made = Store.create_walk

    def slow_create(self, kind, *a, **kw):
        if kind == "recording":
            assert gate.wait(30)
        return made(self, kind, *a, **kw)
    monkeypatch.setattr(Store, "create_walk", slow_create)

    def on_tick(i, s, d):
        if i == 1:
            s.post(Command("trigger", "record", 1, "key"))
        if i == 3:
            s.post(Command("trigger", "snapshot", None, "key"))
        if i == 6:
            gate.set()                                 # the walk comes after the snapshot was taken
    show = Show(Options(fps=30), PRESET, G=tiny)
    App(show, tmp_path, hud=False).run_headless(12, realtime=False, on_tick=on_tick)
    st = Store(tmp_path)
    (rec,) = st.walks("recording")
    (img,) = st.images(st.walks("session")[0]["id"])
    assert img["state"]["recording"]["walk"] == rec["id"] and img["state"]["recording"]["frame"] >= 0


def test_recording_replays_exactly(tmp_path, tiny):
    show = Show(Options(fps=30), PRESET, G=tiny)
    app = App(show, tmp_path, hud=False)
    live = {}
    start = {}

    def on_tick(i, s, d):
        if i == 5:
            app.record(True)
            start["tick"] = app.recorder.start_tick
        if i == 30:
            s.post(Command("set", "psi", 0.3, "test", time.perf_counter()))
        if i == 45:
            s.post(Command("set", "speed", 1.5, "test", time.perf_counter()))
        if i == 60:
            s.post(Command("trigger", "keyframe_next", None, "test", time.perf_counter()))
        if i == 70:
            s.post(Command("set", "rotate", 40.0, "test", time.perf_counter()))
        if i == 80:
            s.post(Command("trigger", "preset", "cuts", "test", time.perf_counter()))
        if app.recording and s.current is not None:
            live[s.current.frame] = (s.current.ws.copy(), s.current_image.copy())
        if i == 100:
            app.record(False)
    app.run_headless(110, realtime=True, on_tick=on_tick)
    (walk,) = Store(tmp_path).walks("recording")
    assert walk["status"] == "done" and walk["info"]["frames"] > 80
    log = tmp_path / str(walk["id"]) / LOG_NAME
    header, cmds, end = read_log(log)
    assert end == walk["info"]["frames"] and sum(len(v) for v in cmds.values()) == 6   # 5 + embedded preset
    embedded = [c for v in cmds.values() for c in v if c.op == "apply_preset"]
    assert embedded and embedded[0].value["name"] == "cuts" and len(embedded[0].value["keyframes"]) == 8
    assert json.loads(log.read_text().splitlines()[-1]) == {"type": "end", "frames": end}
    replay = {}
    res = render_log(log, tmp_path / "again.mp4", progress=False, G=tiny,
                     on_frame=lambda i, req, img: replay.__setitem__(i, (req.ws.copy(), req)))
    assert res["written"] == end
    first = start["tick"] + 1
    compared = 0
    for frame_id, (ws, image) in live.items():
        i = frame_id - first
        if 0 <= i < end:
            assert np.abs(replay[i][0] - ws).max() < 1e-6, frame_id
            compared += 1
    assert compared >= 5 and compared == len([f for f in live if 0 <= f - first < end])   # every frame shown
    # Same network and device: the generator's images are identical too.
    f_id = max(k for k in live if 0 <= k - first < end)
    req = replay[f_id - first][1]
    with torch.inference_mode():
        img = tiny.synthesis(torch.from_numpy(req.ws)[None], transform=torch.from_numpy(req.transform)[None])
    u8 = (img * 127.5 + 128).clamp(0, 255).to(torch.uint8)[0].permute(1, 2, 0).numpy()
    assert np.array_equal(u8, live[f_id][1])
    assert len(read_video(tmp_path / "again.mp4")) == end
    assert len(read_video(tmp_path / str(walk["id"]) / "session.mp4")) == end


def test_a_command_the_log_cannot_hold_is_refused_and_the_recording_goes_on(tmp_path, tiny):
    """A value the control log cannot write (here a Fraction; over OSC it was a time tag a bend
    passed on) killed the recorder's thread: no more log lines, no end, the walk left 'recording'.
    Now the command is refused where it is applied, said once, and the recording stays exact."""
    from fractions import Fraction

    show = Show(Options(fps=30), PRESET, G=tiny)
    app = App(show, tmp_path, hud=False)

    def on_tick(i, s, d):
        if i == 3:
            app.record(True)
        if i == 8:
            s.post(Command("set", "psi", Fraction(1, 3), "test", time.perf_counter()))
        if i == 12:
            s.post(Command("set", "hue", 20.0, "test", time.perf_counter()))
        if i == 20:
            app.record(False)
    res = app.run_headless(24, realtime=False, on_tick=on_tick)
    assert res["shown"] == 24
    assert any("cannot keep its value" in e and "psi" in e for e in show.errors), list(show.errors)
    assert show.registry.target["psi"] != pytest.approx(1 / 3) and show.registry.target["hue"] == 20.0
    (walk,) = Store(tmp_path).walks("recording")
    assert walk["status"] == "done", walk
    log = tmp_path / str(walk["id"]) / LOG_NAME
    header, cmds, end = read_log(log)
    assert end == walk["info"]["frames"] >= 15
    assert [c.name for v in cmds.values() for c in v] == ["hue"]


def test_a_burst_of_commands_in_one_frame_is_recorded_whole(tmp_path, tiny):
    """A panel's bundle of many parameters time-tagged for one moment is applied in one frame;
    each command is a log line, and lines shared the frames' 128 slots: the recording failed as
    'fell behind' with the disk idle.  Now 600 commands due together are all in the log."""
    names = ["psi", "hue", "contrast", "brightness", "saturation", "zoom", "rotate", "translate_x",
             "translate_y", "speed", "kaleido", "feedback"]
    show = Show(Options(fps=30), PRESET, G=tiny)
    app = App(show, tmp_path, hud=False)
    sent = {}

    def on_tick(i, s, d):
        if i == 3:
            app.record(True)
        if i == 5:                                   # due together, a little later (one frame applies them)
            due = time.time() + 0.3
            for k in range(600):
                s.post(Command("add", names[k % len(names)], 0.0, "osc", time.perf_counter(), due))
            sent["at"] = s.tick_index
        if i == 50:
            app.record(False)
    res = app.run_headless(54, realtime=True, on_tick=on_tick)
    assert res["frames"] == 54
    (walk,) = Store(tmp_path).walks("recording")
    assert walk["status"] == "done", (walk, list(show.errors))
    header, cmds, end = read_log(tmp_path / str(walk["id"]) / LOG_NAME)
    logged = [c for v in cmds.values() for c in v if c.op == "add"]
    assert len(logged) == 600 and end == walk["info"]["frames"]
    assert max(len(v) for v in cmds.values()) > 128                  # they did come in one frame


def test_an_unexpected_failure_on_the_recorder_thread_ends_the_recording_with_its_files(tmp_path, tiny, monkeypatch):
    """Whatever the recorder's thread meets (here its carried state cannot be saved), the recording
    ends as failed, says why, and finishes its files; the show goes on and the next one records."""
    import livegan.record.recorder as recorder

    def broken(*a, **k):
        raise RuntimeError("carried state broke")
    monkeypatch.setattr(recorder, "save_carried", broken)
    show = Show(Options(fps=30), PRESET, G=tiny)
    app = App(show, tmp_path, hud=False)

    def on_tick(i, s, d):
        if i == 3:
            app.record(True)
        if i == 10:
            monkeypatch.undo()
        if i == 14:
            app.record(True)
        if i == 30:
            app.record(False)
    res = app.run_headless(34, realtime=False, on_tick=on_tick)
    assert res["shown"] == 34
    assert any("RuntimeError: carried state broke" in e for e in show.errors), list(show.errors)
    first, second = sorted(Store(tmp_path).walks("recording"), key=lambda w: w["id"])
    assert first["status"] == "failed" and "carried state broke" in first["info"].get("error", "") + \
        " ".join(show.errors), first
    header, cmds, end = read_log(tmp_path / str(first["id"]) / LOG_NAME)
    assert header["type"] == "header" and end is not None                  # its log was closed
    assert second["status"] == "done" and second["info"]["frames"] >= 15


def decodable_frames(path) -> list:
    """Every frame that decodes, stopping quietly at a torn last fragment (as a player would)."""
    import av
    frames = []
    try:
        with av.open(str(path)) as f:
            frames.extend(f.decode(video=0))
    except av.error.InvalidDataError:
        pass
    return frames


def _perform(args, **kw):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, str(ROOT / "perform.py"), "--headless", "--no-osc", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT, **kw)


def test_kill_9_leaves_valid_files(tmp_path):
    p = _perform(["--duration", "60", "--record", "--video", "", "--out", str(tmp_path)])
    deadline = time.time() + 120
    log, video = tmp_path / "1" / LOG_NAME, tmp_path / "1" / "session.mp4"

    def written() -> bool:                       # the events the kill must come after, not a time
        try:
            return read_log(log)[0]["frames_marked"] >= 30 and len(decodable_frames(video)) >= 30
        except Exception:
            return False
    while time.time() < deadline and not written():
        time.sleep(0.2)
    p.send_signal(signal.SIGKILL)
    p.wait(10)
    db = sqlite3.connect(tmp_path / "livegan.db")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute("SELECT status FROM walks WHERE id = 1").fetchone()[0] == "recording"
    header, cmds, end = read_log(log)
    assert header["network"] == "builtin:tiny" and end is None      # killed: no end line, still readable
    frames = decodable_frames(tmp_path / "1" / "session.mp4")
    assert len(frames) >= 30                                        # seconds of video survive
    # And the killed session still replays, as far as its log goes.
    assert header["frames_marked"] >= 30
    res = render_log(log, tmp_path / "replay.mp4", progress=False)
    assert res["written"] == header["frames_marked"] and not res["complete"]


def test_disk_full_stops_recording_but_not_the_show(tmp_path):
    # A file-size limit makes the recording's writes fail with EFBIG, as a full disk would.  Offline:
    # every frame a new picture, so the video's size does not depend on the machine's load (a busy
    # machine repeats frames in real time, and they compress to less): 180 frames, about 160 KB.
    code = ("import resource, signal, sys, runpy; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
            "resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000)); "
            f"sys.argv = ['perform.py', '--headless', '--offline', '--no-osc', '--duration', '6', '--record', "
            f"'--video', '', '--out', {str(tmp_path)!r}]; runpy.run_path({str(ROOT / 'perform.py')!r}, run_name='__main__')")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "rendered 180 frames" in r.stdout
    assert "recording stopped" in r.stdout + r.stderr
    st = Store(tmp_path)
    (walk,) = st.walks("recording")
    assert walk["status"] == "failed" and "error" in walk["info"]
    header, cmds, end = read_log(tmp_path / "1" / LOG_NAME)
    assert header["type"] == "header"
    frames = decodable_frames(tmp_path / "1" / "session.mp4")
    assert len(frames) >= 10


def test_sample_latents_bounds_and_sobol():
    z = sample_latents(64, extent=1.5, dim=16, sobol=0.5, seed=3)
    assert z.shape == (64, 16) and np.abs(z).max() <= 1.5
    assert abs(float(z.std()) - 0.8) < 0.2
    a, b = sample_latents(8, 2.0, 16, seed=1), sample_latents(8, 2.0, 16, seed=1)
    assert np.array_equal(a, b)
    with pytest.raises(ValueError):
        sample_latents(4, extent=0)


def test_walk_cli_random_into_store(tmp_path):
    r = subprocess.run([sys.executable, "-m", "livegan", "walk", "random", "--steps", "12", "--keyframes", "3",
                        "--extent", "1.5", "--sobol", "0.5", "--outdir", str(tmp_path)], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    st = Store(tmp_path)
    (w,) = st.walks("random")
    imgs = st.images(w["id"])
    assert len(imgs) == 12 and w["status"] == "done"                # exactly --steps frames
    assert all((tmp_path / i["path"]).exists() for i in imgs)


def test_curated_walk_from_snapshot_ws_and_video_jobs(tmp_path, tiny):
    st = Store(tmp_path)
    rw = RandomWalk(tiny.z_dim, keyframes=2, steps=4, seed=5)
    wid = rw.save(st, tiny, "builtin:tiny")
    ids = [i["id"] for i in st.images(wid)]
    walk = CustomWalk([("image", ids[0]), ("image", ids[-1])], tiny.z_dim, store=st, frames_per_key=6, name="curated")
    assert walk.space == "w" and len(walk) == 7
    ws = list(walk.ws(tiny))
    assert np.allclose(ws[0], np.load(tmp_path / str(wid) / st.images(wid)[0]["state"]["ws"]))
    vm = VideoManager(st, tiny, "builtin:tiny")
    rid = vm.submit(walk, fps=12, name="curated.mp4")
    assert vm.status(rid)["status"] in ("queued", "rendering", "done")
    done = vm.wait(rid, timeout=120)
    assert done["status"] == "done" and done["progress"] == 1.0
    assert len(read_video(tmp_path / done["path"])) == 7
    bad = vm.submit(CustomWalk([1, 2], tiny.z_dim, frames_per_key=2), name="no/such/dir/x.mp4")
    failed = vm.wait(bad, timeout=60)
    assert failed["status"] == "failed" and failed["error"]
    seeds = CustomWalk([1, 2, 3], tiny.z_dim, frames_per_key=2, interpolation="spline")
    assert len(list(seeds.frames(tiny))) == 5
