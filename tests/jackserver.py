"""A JACK server for the MIDI and audio tests: dummy driver, a name of its own (two suites at once
never share one), and synchronous mode.  Asynchronous JACK (the default) lets a client that is late
in a cycle lose that cycle's buffer: on a busy CPU the test's own player or virtual controller then
dropped a MIDI event or moved a click by a period.  In sync mode the cycle waits for every client,
so what is measured is livegan, not the scheduler (a show's JACK is real-time and is the user's)."""
from __future__ import annotations

import os
import shutil
import subprocess
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def jack_server(name: str, rate: int, period: int) -> Iterator[subprocess.Popen]:
    """jackd running as `name` and the default server of this process (and its children)."""
    exe = shutil.which("jackd")
    assert exe, "jackd is needed for the MIDI and audio tests (make test installs Debian's jackd2)"
    env = dict(os.environ, JACK_NO_AUDIO_RESERVATION="1", JACK_NO_START_SERVER="1")
    proc = subprocess.Popen([exe, "--no-realtime", "--sync", "--timeout", "10000", "-n", name,
                             "-d", "dummy", "-r", str(rate), "-p", str(period)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    saved = {k: os.environ.get(k) for k in ("JACK_DEFAULT_SERVER", "JACK_NO_START_SERVER")}
    os.environ.update(JACK_DEFAULT_SERVER=name, JACK_NO_START_SERVER="1")
    try:
        yield proc
    finally:
        proc.terminate()
        proc.wait(5)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
