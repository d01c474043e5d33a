"""No half-written file under a final name: a video's final name appears only once its first
fragment decodes (a recording killed in its first second leaves none, an empty one writes none);
a killed render leaves only hidden files, which the next store open removes with every other dead
writer's temporaries; snapshots of one frame in one second get their own names; a failing
snapshot leaves no file without its row."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from livegan.app import App
from livegan.media import VideoSink, read_video
from livegan.params import Command
from livegan.presets import parse_preset
from livegan.safeio import claim_unique, remove_dead_temporaries
from livegan.show import Options, Show
from livegan.store import Store

ROOT = Path(__file__).resolve().parents[1]
PRESET = parse_preset({"keyframes": [1, 2], "speed": 0.5}, "names.json")
DEAD = 2 ** 22 + 12345                                     # no such pid on this machine


def _dead_pid() -> int:
    pid = DEAD
    while True:
        try:
            os.kill(pid, 0)
            pid += 1
        except ProcessLookupError:
            return pid
        except PermissionError:
            pid += 1


def test_a_fragmented_video_gets_its_name_with_its_first_fragment(tmp_path):
    out = tmp_path / "v.mp4"
    sink = VideoSink(out, 30, "h264", fragmented=True, live=True)
    frame = np.full((64, 64, 3), 90, np.uint8)
    sink.put(frame, block=True)
    time.sleep(0.2)
    assert not out.exists()                                # not one decodable fragment yet
    for _ in range(70):                                    # past the first one-second fragment
        sink.put(frame, block=True)
    end = time.time() + 30
    while not out.exists() and time.time() < end:
        time.sleep(0.05)
    assert out.exists() and len(read_video(out)) >= 30     # named, and it decodes
    assert sink.close() == 71 and len(read_video(out)) == 71
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("codec,ext", [("h264", ".mp4"), ("ffv1", ".mkv")])
def test_no_frames_no_file(tmp_path, codec, ext):
    out = claim_unique(tmp_path, f"empty{ext}")
    sink = VideoSink(out, 30, codec, fragmented=True)
    assert sink.close() == 0
    assert not out.exists() and not list(tmp_path.iterdir())   # no file, no marker, no temporary


def test_a_recording_killed_in_its_first_second_leaves_no_final_name(tmp_path):
    """A show killed as soon as it says it records.  Where the kill lands depends on the machine
    (a busy one may have finished the first one-second fragment): either there is no session.mp4
    at all, or it is a video that decodes; never a 0-byte or undecodable final name.  The kill
    before the first fragment is made certain in the next test."""
    p = subprocess.Popen([sys.executable, "perform.py", "--headless", "--no-osc", "--duration", "600", "--record",
                          "--video", "", "--out", str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    for line in p.stdout:                                  # the recording exists: kill it at once
        if "livegan: recording to" in line:
            break
    p.send_signal(signal.SIGKILL)
    p.wait(30)
    folder = tmp_path / "1"
    st = Store(tmp_path)                                    # the next open repairs the store
    (walk,) = st.walks("recording")
    assert walk["status"] == "interrupted"
    if (folder / "session.mp4").exists():
        assert len(read_video(folder / "session.mp4")) >= 1 and "session.mp4" in walk["info"]["survived"]
    else:
        assert "session.mp4" not in walk["info"]["survived"]
    assert not [f.name for f in folder.iterdir() if ".partial." in f.name or f.name.endswith(".part")]


KILLED_WRITER = """
import os, signal, sys, time
import numpy as np
from livegan.media import VideoSink
sink = VideoSink(sys.argv[1], 30, "h264", fragmented=True, live=True)
for _ in range(10):                                   # a third of the first one-second fragment
    sink.put(np.full((64, 64, 3), 90, np.uint8), block=True)
while sink.written < 10:                              # the encoder has them all
    time.sleep(0.01)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_video_killed_before_its_first_fragment_has_no_final_name(tmp_path):
    out = tmp_path / "v.mp4"
    r = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(out)], cwd=ROOT, timeout=120)
    assert r.returncode == -signal.SIGKILL
    assert not out.exists()                                     # never named: nothing to mistake for a video
    hidden = [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert hidden                                               # its temporary, which the repair removes
    remove_dead_temporaries(tmp_path)
    assert not list(tmp_path.iterdir())


def test_an_empty_recording_writes_no_video_and_says_so(tmp_path, tiny):
    show = Show(Options(fps=30), PRESET, G=tiny)
    app = App(show, tmp_path, hud=False)
    app.record(True)
    app.record(False)                                       # stopped before any frame
    app.run_headless(2, realtime=False)
    (walk,) = Store(tmp_path).walks("recording")
    assert walk["info"].get("video") is None and walk["info"]["video_frames"] == 0
    assert not (tmp_path / str(walk["id"]) / "session.mp4").exists()
    assert any("no frames" in e for e in show.errors)


def test_a_killed_render_leaves_no_claimed_name_and_repair_clears_it(tmp_path):
    """A render killed mid-way: its final name was only reserved (a hidden marker), so nothing
    under it; the next store open removes the dead writer's marker and partial file."""
    p = subprocess.run([sys.executable, "perform.py", "--headless", "--no-osc", "--offline", "--frames", "60",
                        "--record", "--video", "", "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stderr
    folder = tmp_path / "1"
    r = subprocess.Popen([sys.executable, "-m", "livegan", "render", "1", "--outdir", str(tmp_path)], cwd=ROOT,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    end = time.time() + 120                                 # until it is writing (its hidden file exists)
    while time.time() < end and not [f for f in folder.iterdir() if ".partial." in f.name]:
        time.sleep(0.05)
    r.send_signal(signal.SIGKILL)
    r.wait(30)
    finals = [f for f in folder.iterdir() if f.name.startswith("render-")]
    assert not finals or all(len(read_video(f)) > 0 for f in finals)   # nothing empty under a final name
    Store(tmp_path)                                         # repair
    assert not [f.name for f in folder.iterdir() if f.name.startswith(".render-")]


def test_repair_removes_dead_writers_temporaries_only(tmp_path):
    st = Store(tmp_path)
    wid = st.create_walk("session", "x")
    folder = st.walk_dir(wid)
    dead, me = _dead_pid(), os.getpid()
    leftovers = [f".snap-a.png.{dead}.k2j3.part", f".walk-3-render-9.{dead}.partial.webm",
                 f".render-20261203.{dead}.partial.mp4"]
    live = [f".snap-b.png.{me}.x1.part", f".walk-4.{me}.partial.webm"]
    for n in leftovers + live:
        (folder / n).write_bytes(b"x")
    (folder / ".render-x.mp4.claim").write_text(str(dead))
    (folder / ".render-y.mp4.claim").write_text(str(me))
    (folder / "keep.png").write_bytes(b"x")
    removed = remove_dead_temporaries(folder)
    assert sorted(removed) == sorted(leftovers + [".render-x.mp4.claim"])
    names = {p.name for p in folder.iterdir()}
    assert set(live) | {".render-y.mp4.claim", "keep.png"} <= names


def test_snapshots_of_one_frame_in_one_second_keep_their_own_names(tmp_path, tiny):
    show = Show(Options(fps=30), parse_preset({"keyframes": [1], "speed": 0.0}, "still.json"), G=tiny)
    app = App(show, tmp_path, hud=False)

    def on_tick(i, s, d):
        if i == 3:
            for _ in range(2):                               # the same displayed frame, twice
                app._snapshot()
                app.present(d, None)
    app.run_headless(6, realtime=False, on_tick=on_tick)
    app.writer.drain()
    st = Store(tmp_path)
    rows = [i for w in st.walks("session") for i in st.images(w["id"])]
    assert len(rows) == 2 and rows[0]["frame"] == rows[1]["frame"]
    assert len({r["filename"] for r in rows}) == 2
    assert not [e for e in show.errors if "snapshot failed" in e]


def test_a_failing_snapshot_leaves_no_file_without_its_row(tmp_path, tiny, monkeypatch):
    import livegan.imaging as imaging

    show = Show(Options(fps=30), PRESET, G=tiny)
    app = App(show, tmp_path, hud=False)
    calls = []

    def full_disk(path, image):
        calls.append(path)
        if len(calls) == 2:                                  # the second PNG: the disk is full
            raise OSError(28, "No space left on device")
        return real(path, image)
    real = imaging.save_png
    monkeypatch.setattr(imaging, "save_png", full_disk)
    show.post(Command("trigger", "snapshot", None, "key"))
    app.run_headless(4, realtime=False)
    app.writer.drain()
    assert any("snapshot failed" in e and "No space" in e for e in show.errors)
    st = Store(tmp_path)
    for w in st.walks():
        assert not [f for f in st.walk_dir(w["id"]).iterdir() if f.name.startswith("snap-")]


def test_repair_reconciles_old_orphan_snapshots(tmp_path):
    st = Store(tmp_path)
    wid = st.create_walk("session", "live")
    folder = st.walk_dir(wid)
    for n in ("snap-1-000001-1.npy", "snap-1-000001-1-raw.png", "snap-1-000001-1.png", "snap-2-000002-1.npy",
              "snap-3-000003-1.npy"):
        (folder / n).write_bytes(b"x")
    st.add_image(wid, "snap-1-000001-1.png", "snapshot", 1, {})
    old = time.time() - 3600
    for n in ("snap-1-000001-1.npy", "snap-2-000002-1.npy"):
        os.utime(folder / n, (old, old))
    Store(tmp_path)                                         # repair on open
    names = {p.name for p in folder.iterdir()}
    assert "snap-2-000002-1.npy" not in names                # an old orphan: removed
    assert {"snap-1-000001-1.npy", "snap-1-000001-1.png", "snap-3-000003-1.npy"} <= names   # rows / too recent


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
