"""Shared fixtures: where the golden reference data lives, and small loaded networks."""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config):
    """The test process computes with the threads livegan's own commands take (the cores minus
    one): more threads than free cores stall in OpenMP's barriers when the machine is busy.  Under
    pytest-xdist (`make test` runs a worker per core) each worker, and every command it starts,
    gets its share of the cores instead."""
    import torch

    from livegan.engine import threads
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    if workers > 1:
        os.environ["LIVEGAN_THREADS"] = str(max(1, threads.cores() // workers))
    torch.set_num_threads(threads.plan().generator)


def pytest_terminal_summary(terminalreporter):
    """Which CPU kernels the run computed with (also under -q): the exactness tests' verdicts
    depend on them (tests/kernelsets.py)."""
    from kernelsets import describe
    terminalreporter.write_line(describe())


# Tests that measure real time against real peers (a JACK server's audio, MIDI clock timing,
# mDNS probing): `make test` runs them on their own after the parallel part, since with every
# core busy with another worker the peers themselves (jackd, the probe replies) run late.  Tests
# that compare a real-time run with a baseline run just before it carry @pytest.mark.realtime
# too: a neighbour worker's load changes between the two.
# The real peers are these modules' JACK fixtures; their other tests (bad input, pure functions, maps)
# run beside the rest, and a test with another real-time peer (Link, mDNS, a file played in real
# time) carries the marker itself.
REALTIME_MODULES = {"test_audio", "test_midi", "test_feedback"}
REAL_PEERS = {"jack_audio", "jack"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.module.__name__.rsplit(".", 1)[-1] in REALTIME_MODULES and REAL_PEERS & set(item.fixturenames):
            item.add_marker(pytest.mark.realtime)


@pytest.fixture(autouse=True)
def _seeded():
    """Every test starts from the same random state.  torch seeds its global generator from the
    system at each start (torch.initial_seed() differs per process), so a network initialised
    without a generator was a different network each run, and a limit that held for most draws
    failed for some (a training check's Adam-update spread, 1 run in ~8)."""
    import torch

    torch.manual_seed(0)
    np.random.seed(0)


@pytest.fixture(autouse=True)
def _presets_untouched():
    """No test writes into the project's own presets/ (a generated 'save as preset' once left
    x.json and its thumbnail there): it names the test that did."""
    folder = ROOT / "presets"
    before = {p.name for p in folder.iterdir()}
    yield
    added = sorted({p.name for p in folder.iterdir()} - before)
    assert not added, f"the test wrote into presets/: {added} (give the show save_dir=tmp_path)"


def golden_dir() -> Path:
    d = Path(os.environ.get("LIVEGAN_GOLDEN", ROOT.parent / "shared" / "golden"))
    if not d.is_dir():
        raise RuntimeError(f"golden fixtures not found at {d} (set LIVEGAN_GOLDEN)")
    return d


@pytest.fixture(scope="session")
def golden() -> Path:
    return golden_dir()


def golden_limits(fixture: str) -> dict:
    """A golden fixture's own limits (cases.json "tolerance"): the tests compare with numbers made
    on another CPU, so the limit is the fixture's, made from the official code's spread across
    CPUs (version 2), never one written into a test."""
    import json
    return json.loads((golden_dir() / fixture / "cases.json").read_text())["tolerance"]


@pytest.fixture(scope="session")
def tiny():
    from stylegan3 import load_network
    return load_network("builtin:tiny")


def start_xvfb(size: str = "1280x720"):
    """A virtual X screen; returns (DISPLAY, process) once the server says it is ready (Xvfb
    writes its display number to -displayfd when it accepts clients: no sleep)."""
    import os
    import shutil
    import subprocess

    exe = shutil.which("Xvfb")
    assert exe, "Xvfb is needed for the window tests (make test installs Debian's xvfb)"
    r, w = os.pipe()
    proc = subprocess.Popen([exe, "-displayfd", str(w), "-screen", "0", f"{size}x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, pass_fds=(w,))
    os.close(w)
    with os.fdopen(r) as f:
        number = f.readline().strip()
    assert number.isdigit(), "Xvfb did not start"
    return f":{number}", proc


@pytest.fixture(scope="session")
def xvfb():
    """A virtual X screen for the window tests (make test installs Debian's xvfb)."""
    display, proc = start_xvfb("1280x720")
    yield display
    proc.terminate()
    proc.wait(5)


@pytest.fixture
def osc_rig():
    """A show's control surfaces on free loopback ports (OSC, OSCQuery, no mDNS) with OSC feedback to a
    socket of the test's: `osc_rig(show, timeout=2.0, **ControlOptions) -> (controls, feedback)`.
    Both are closed after the test."""
    import socket

    from livegan.control.surfaces import ControlOptions, Controls

    made = []

    def make(show, timeout: float = 2.0, log=None, **options):
        fb = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        fb.bind(("127.0.0.1", 0))
        fb.settimeout(timeout)
        o = dict(osc_host="127.0.0.1", osc_port=0, oscquery_port=0, mdns=False,
                 osc_out=f"127.0.0.1:{fb.getsockname()[1]}")
        o.update(options)
        ctl = Controls(show, ControlOptions(**o), log=log or (lambda m: None)).start()
        made.append((ctl, fb))
        return ctl, fb
    yield make
    for ctl, fb in made:
        ctl.stop()
        fb.close()


def livegan(*args, ok=True, cwd=ROOT):
    """`python -m livegan ARGS` in its own process; asserts it succeeded (ok=False: that it failed)."""
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "livegan", *args], capture_output=True, text=True, cwd=cwd,
                       timeout=300)
    assert (r.returncode == 0) == ok, (r.stdout, r.stderr)
    return r


def tick_until(show, ticks: int = 0, start: int = 0, until=None, what: str = "the condition") -> None:
    """Tick the show offline (every frame waits for its own picture) until `until()` holds (at most
    400 ticks; None: at once), then `ticks` more; the show is started and stopped here."""
    show.start()
    try:
        for i in range(start, start + 400):
            show.tick(i / 30, wait=True)
            if until is None or until():
                break
        else:
            raise AssertionError(f"{what} never happened in 400 frames")
        for k in range(ticks):
            show.tick((i + 1 + k) / 30, wait=True)
    finally:
        show.stop()


def free_port_pair() -> int:
    """A port P with UDP P and TCP P+1 free (checked by binding them)."""
    import socket

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


def record_and_render(app, ticks: int, events: dict, G) -> dict:
    """Run `app` offline for `ticks` frames, posting `events` ({tick: [Command or callable(show), ...]}, a recording
    started and stopped among them), then render the recording's control log again.  Returns the
    log (header, cmds, end), the live program frames by tick, the rendered ones by index and the
    recording's first tick: a replay is exact when rendered[i] equals live[first + i]."""
    from livegan.offline.replay import render_log
    from livegan.record import LOG_NAME, read_log
    from livegan.store import Store

    live, start = {}, {}

    def on_tick(i, s, d):
        if app.recording:
            start.setdefault("tick", app.recorder.start_tick)
        for cmd in events.get(i, ()):
            cmd(s) if callable(cmd) else s.post(cmd)        # a callable: wait for the show's own event
        live[s.tick_index] = d.renderer.read_program()
    app.run_headless(ticks, realtime=False, on_tick=on_tick)
    (walk,) = Store(app.out_dir).walks("recording")
    log = app.out_dir / str(walk["id"]) / LOG_NAME
    header, cmds, end = read_log(log)
    rendered = {}
    res = render_log(log, app.out_dir / "replay.mkv", progress=False, G=G,
                     on_frame=lambda i, req, img: rendered.__setitem__(i, img))
    return {"header": header, "cmds": cmds, "end": end, "live": live, "rendered": rendered,
            "first": start["tick"] + 1, "result": res, "video": app.out_dir / "replay.mkv"}


def finished(loader, timeout: float = 120.0) -> None:
    """Wait until a LatestLoader's jobs are done (their results handed over, or none pending):
    an offline run's frames are quick, a load on a busy machine may not be."""
    end = time.time() + timeout
    while loader.busy and not loader._results.qsize() and time.time() < end:
        time.sleep(0.01)


def assert_replays_exactly(run: dict) -> None:
    for i in range(run["end"]):
        assert np.array_equal(run["rendered"][i], run["live"][run["first"] + i]), \
            f"replay frame {i} differs from live tick {run['first'] + i}"
