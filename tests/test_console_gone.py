"""The console going away never stops a show (the class: a standard stream that fails).  A pipe
whose reader left (`| head`, a logger restarted), a terminal hung up (the SSH session dropped:
SIGHUP, then EIO on every write), a full disk under a log file and a stream closed at the start
each stopped the show with the stream's own error, or killed it (SIGHUP).  Real processes, real
pipes and a real pseudo-terminal."""
from __future__ import annotations

import errno
import fcntl
import os
import signal
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import pytest

from livegan.console import _Guarded, guarded_streams, say
from livegan.record import LOG_NAME, read_log
from livegan.store import Store

ROOT = Path(__file__).resolve().parents[1]
SHOW = [sys.executable, str(ROOT / "perform.py"), "--headless", "--no-osc", "--video", ""]
ENV = dict(os.environ, PYTHONUNBUFFERED="1")


def _marked(log: Path) -> int:
    try:
        return read_log(log)[0]["frames_marked"]
    except Exception:                        # not written yet
        return 0


def _grows(log: Path, by: int, show: subprocess.Popen, timeout: float = 120.0) -> None:
    """Wait until the recording's log marks `by` more frames than now: the show is still playing."""
    start, deadline = _marked(log), time.time() + timeout
    while _marked(log) < start + by:
        assert show.poll() is None, f"the show ended ({show.returncode}) at frame {_marked(log)}"
        assert time.time() < deadline, f"the show stopped recording at frame {_marked(log)}"
        time.sleep(0.1)


def _finished_recording(store: Path) -> None:
    (walk,) = Store(store).walks("recording")
    assert walk["status"] == "done", walk
    header, cmds, end = read_log(store / str(walk["id"]) / LOG_NAME)
    assert end is not None and header["frames_marked"] >= 30


def _controlling_tty(slave: int):
    def become() -> None:                    # the show's own session, the pty its terminal (as an SSH login)
        os.setsid()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    return become


def test_a_hung_up_terminal_does_not_stop_the_show(tmp_path):
    master, slave = os.openpty()
    p = subprocess.Popen([*SHOW, "--duration", "120", "--record", "--out", str(tmp_path)], stdin=slave,
                         stdout=slave, stderr=slave, env=ENV, cwd=ROOT, preexec_fn=_controlling_tty(slave))
    os.close(slave)
    try:
        seen = b""
        while b"recording to" not in seen:                   # the show is playing and recording
            chunk = os.read(master, 4096)
            assert chunk, seen
            seen += chunk
        _grows(tmp_path / "1" / LOG_NAME, 30, p)
        os.close(master)                                     # the terminal hangs up: SIGHUP, then EIO
        master = None
        _grows(tmp_path / "1" / LOG_NAME, 30, p)             # ...and the show plays on
        assert p.poll() is None
        p.send_signal(signal.SIGTERM)                        # stopped as a show is stopped
        assert p.wait(120) == 128 + signal.SIGTERM
    finally:
        if master is not None:
            os.close(master)
        if p.poll() is None:
            p.kill()
    _finished_recording(tmp_path)


def test_a_pipe_whose_reader_left_does_not_stop_the_show(tmp_path):
    p = subprocess.Popen([*SHOW, "--duration", "120", "--record", "--out", str(tmp_path)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=ENV, cwd=ROOT)
    err: list[bytes] = []
    reader = threading.Thread(target=lambda: err.append(p.stderr.read()), daemon=True)
    reader.start()
    try:
        while b"recording to" not in p.stdout.readline():   # `| head`: it read what it wanted and left
            assert p.poll() is None
        p.stdout.close()
        _grows(tmp_path / "1" / LOG_NAME, 30, p)
        p.send_signal(signal.SIGTERM)                        # its summary now meets the closed pipe
        assert p.wait(120) == 128 + signal.SIGTERM
    finally:
        if p.poll() is None:
            p.kill()
    reader.join(30)
    text = err[0].decode()
    assert "livegan: standard output is gone (BrokenPipeError" in text and "Traceback" not in text, text
    _finished_recording(tmp_path)


@pytest.mark.parametrize("stdout, said", [
    ("closed", None),                        # `perform.py >&-`: Python's sys.stdout is None
    ("/dev/full", "No space left on device"),  # a log file on a full disk
])
def test_a_show_with_no_usable_output_still_plays(tmp_path, stdout, said):
    kw = dict(preexec_fn=lambda: os.close(1)) if stdout == "closed" else dict(stdout=open(stdout, "w"))
    r = subprocess.run([*SHOW, "--offline", "--frames", "12", "--record", "--out", str(tmp_path)],
                       stderr=subprocess.PIPE, text=True, env=ENV, cwd=ROOT, timeout=300, **kw)
    assert r.returncode == 0, r.stderr
    assert (said is None) == ("standard output is gone" not in r.stderr), r.stderr
    if said:
        assert said in r.stderr
    (walk,) = Store(tmp_path).walks("recording")
    assert walk["status"] == "done" and walk["info"]["frames"] == 12


class _Failing:
    """A stream whose every write fails as a hung-up terminal's does."""
    encoding = "utf-8"

    def __init__(self):
        self.tries = 0

    def write(self, text):
        self.tries += 1
        raise OSError(errno.EIO, "Input/output error")

    def flush(self):
        raise OSError(errno.EIO, "Input/output error")

    def fileno(self):
        raise OSError(errno.EBADF, "no descriptor")


def test_both_streams_gone_is_quiet_and_each_is_tried_once(monkeypatch):
    out, err = _Failing(), _Failing()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    with guarded_streams():
        say("one line")                                      # stdout fails, tells stderr, which fails too
        say("another")
        print("to stderr", file=sys.stderr, flush=True)
        assert sys.stdout.gone and sys.stderr.gone
    assert sys.stdout is out and sys.stderr is err           # put back after the command
    assert out.tries == 1 and err.tries == 1                 # no retry loop between the two


def test_the_guard_keeps_a_working_stream_as_it_was(capsys):
    with guarded_streams():
        say("plain")
        assert isinstance(sys.stdout, _Guarded) and sys.stdout.gone is None
        assert sys.stdout.encoding
    assert capsys.readouterr().out == "plain\n"
