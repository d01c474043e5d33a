"""Paths a new user takes, end to end: Canvas networks in generate/morph, walks that have the
frames they were asked for and load/render from the CLI and the service alike, presets found
where the gallery wrote them (and never in the working directory for a peer), one-line command
line errors, and the end-of-run summary after Ctrl-C."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from livegan.media import read_video
from livegan.params import Command
from livegan.presets import PresetError, load_preset
from livegan.show import Options, Show
from livegan.store import Store

ROOT = Path(__file__).resolve().parents[1]


def livegan(*args, ok=True, cwd=ROOT):
    r = subprocess.run([sys.executable, "-m", "livegan", *args], capture_output=True, text=True, cwd=cwd,
                       timeout=300)
    assert (r.returncode == 0) == ok, (r.stdout, r.stderr)
    return r


def test_generate_and_morph_play_a_canvas_network(tmp_path):
    grid, gif = tmp_path / "g.png", tmp_path / "m.gif"
    livegan("generate", "--network", "builtin:canvas-tiny", "--seeds", "0-3", "--grid", "2x2", "--out", str(grid))
    img = np.asarray(Image.open(grid)).astype(int)
    cells = [img[:128, :128], img[:128, 128:], img[128:, :128], img[128:, 128:]]
    assert img.shape[:2] == (256, 256) and min(c.std() for c in cells) > 3
    assert np.abs(cells[0] - cells[1]).mean() > 1                 # seeds differ through the mapping rows
    cond = tmp_path / "cond.png"
    Image.fromarray(np.tile(np.linspace(0, 255, 128, dtype=np.uint8)[:, None, None], (1, 128, 3))).save(cond)
    livegan("morph", "--network", "builtin:canvas-tiny", "--seeds", "1,2", "--frames", "3", "--input", str(cond),
            "--out", str(gif))
    frames = read_video(gif) if gif.suffix != ".gif" else [np.asarray(f.convert("RGB")) for f in _gif(gif)]
    assert len(frames) == 4 and np.abs(frames[0].astype(int) - frames[-1]).mean() > 1
    r = livegan("generate", "--seeds", "0", "--input", str(cond), "--out", str(tmp_path / "x.png"), ok=False)
    assert "StyleGAN-Canvas" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def _gif(path):
    from PIL import ImageSequence
    with Image.open(path) as im:
        return [f.copy() for f in ImageSequence.Iterator(im)]


@pytest.mark.parametrize("steps,keys,loop", [(120, 4, False), (7, 3, False), (10, 4, True), (2, 2, False)])
def test_a_walk_has_exactly_the_frames_asked_for(steps, keys, loop):
    from livegan.walks import RandomWalk

    w = RandomWalk(8, keyframes=keys, steps=steps, loop=loop)
    assert len(w) == steps
    ids = [np.full((1, 1), float(k)) for k in range(keys)]
    pos = [float(w.w_at(ids, i)[0, 0]) for i in range(steps)]
    assert pos[0] == 0.0
    if not loop:                                                   # evenly on to the last key
        assert all(b > a for a, b in zip(pos, pos[1:])) and pos[-1] == keys - 1
    else:                                                          # round and back towards the first
        assert max(pos) <= keys - 1 and pos[-1] > pos[-2] - (keys - 1)


def test_cli_walks_load_in_the_service_and_every_walk_renders(tmp_path, tiny):
    from livegan.gallery import create_app

    out = tmp_path / "store"
    livegan("walk", "random", "--steps", "9", "--keyframes", "3", "--outdir", str(out))
    st = Store(out)
    (walk,) = st.walks()
    assert len(st.images(walk["id"])) == 9
    app = create_app(out, network="builtin:tiny", presets=tmp_path / "presets")
    c = app.test_client()
    r = c.post(f"/load_walk/{walk['id']}")
    assert r.status_code == 200 and r.json["frames"] == 9
    r = c.post("/start_random_walk", json={"steps": 12, "keyframes": 3})
    assert r.json["frames"] == 12
    svc = r.json["walk_id"]
    ids = [i["id"] for i in st.images(walk["id"])]
    cur = c.post("/api/curate", json={"images": [ids[0], ids[-1]], "frames_per_key": 4, "render": False,
                                      "name": "two keys"})
    assert cur.status_code == 200, cur.json
    curated = [w for w in Store(out).walks() if w["kind"] == "curated"]
    for wid, n in [(walk["id"], 9), (svc, 12)] + [(w["id"], 5) for w in curated]:
        video = tmp_path / f"walk{wid}.mp4"
        r = livegan("render", str(wid), "--outdir", str(out), "--out", str(video))
        assert len(read_video(video)) == n, r.stdout


def test_presets_resolve_only_in_preset_folders(tmp_path, tiny):
    """A name the gallery wrote into a --load-dir is found by name over OSC; a name never reads
    the working directory for a peer; the command line still takes a file there."""
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "recall-7.json").write_text('{"keyframes": [11, 12], "psi": 0.4}')
    (tmp_path / "local.json").write_text('{"keyframes": [3]}')
    show = Show(Options(fps=30, load_roots=(str(folder),)), G=tiny)
    show.start()
    try:
        for ref in ("recall-7", "README.md", "local.json", "pyproject.toml"):
            show.post(Command("trigger", "preset", ref, "osc"))
            for _ in range(400):
                show.tick(0.0)
                if not show.preset_loader.busy:
                    break
        assert show.preset.name == "recall-7" and show.registry.target["psi"] == pytest.approx(0.4)
        errs = " ".join(show.errors)
        assert "README.md: no such preset" in errs and "pyproject.toml: no such preset" in errs
    finally:
        show.stop()
    cwd = os.getcwd()
    try:
        os.chdir(tmp_path)
        assert len(load_preset("local.json").keyframes) == 1            # the command line's own file
        with pytest.raises(PresetError, match="no such preset"):
            load_preset("local.json", cwd=False)
    finally:
        os.chdir(cwd)


def test_gallery_says_when_the_show_cannot_find_what_it_sent(tmp_path):
    import socket

    from livegan.gallery import create_app

    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    out = tmp_path / "store"
    livegan("walk", "random", "--steps", "3", "--keyframes", "2", "--outdir", str(out))
    app = create_app(out, presets=tmp_path / "elsewhere", show=f"127.0.0.1:{rx.getsockname()[1]}")
    img = Store(out).images(1)[0]["id"]
    r = app.test_client().post(f"/api/images/{img}/recall", json={}).json
    rx.close()
    assert "--load-dir" in r["note"] and str(tmp_path / "elsewhere") in r["note"]


@pytest.mark.parametrize("args,words", [
    (["directions", "sheet", "--range", "-3,3", "--steps", "1"], "--steps"),
    (["morph", "--out", "x.txt"], "x.txt"),
    (["generate", "--psi"], "--psi"),
    (["perform", "--headless", "--output-screen", "1"], "--output-screen"),
    (["perform", "--duration", "3"], "--duration"),
    (["render", "--fps", "abc", "1"], "--fps"),
])
def test_command_line_errors_are_one_line(tmp_path, args, words):
    r = livegan(*args, ok=False, cwd=tmp_path)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0] and ": error: " in lines[0], r.stderr
    assert "usage:" not in r.stderr and "Traceback" not in r.stderr


def test_a_negative_range_is_a_value(tmp_path):
    out = tmp_path / "sheet.png"
    r = livegan("directions", "sheet", "--directions", "sefa:0", "--range", "-2,2", "--steps", "3", "--out", str(out))
    assert out.exists() and "-2..+2" in r.stdout


def test_learn_without_a_port_is_a_plain_line(tiny, tmp_path):
    from livegan.app import App

    show = Show(Options(fps=30), G=tiny)
    app = App(show, tmp_path, hud=False)
    show.post(Command("trigger", "learn", None, "key"))
    app.run_headless(2, realtime=False)
    (line,) = [e for e in show.errors if "learn" in e]
    assert "--midi" in line and "ValueError" not in line


def test_ctrl_c_ends_a_headless_show_with_its_summary_and_valid_files(tmp_path):
    p = subprocess.Popen([sys.executable, "perform.py", "--headless", "--no-osc", "--duration", "600", "--record",
                          "--out", str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    for line in p.stdout:                            # wait for events, not for a time
        if "livegan: recording to" in line:
            log = Path(line.split("recording to", 1)[1].strip()) / "control.jsonl"
            break
    deadline = time.monotonic() + 120
    while '"type":"mark"' not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)                             # the log's one-second mark: frames were written
    p.send_signal(signal.SIGINT)
    rest, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    summary = [ln for ln in rest.splitlines() if ln.startswith("rendered ")]
    assert len(summary) == 1 and "stopped by Ctrl-C" in summary[0] and "Traceback" not in err
    (walk,) = Store(tmp_path).walks("recording")
    assert walk["status"] == "done"
    assert len(read_video(tmp_path / "perform.mp4")) >= 30
    assert len(read_video(Path(log).parent / "session.mp4")) >= 30


def test_status_lines_from_many_threads_stay_whole():
    """Threads printing status lines at once (the recorder's "recording to" beside the main
    thread's lines): every line arrives whole on a pipe, as a script reading lines needs."""
    code = ("import threading\nfrom livegan.console import say\n"
            "def run(k):\n    for i in range(3000): say(f'livegan: thread {k} line {i} ' + 'x' * 40)\n"
            "ts = [threading.Thread(target=run, args=(k,)) for k in range(4)]\n"
            "[t.start() for t in ts]; [t.join() for t in ts]\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, PYTHONUNBUFFERED="1")).stdout.splitlines()
    assert len(out) == 12000
    assert all(ln.startswith("livegan: thread ") and ln.endswith("x" * 40) and ln.count("livegan") == 1 for ln in out)
