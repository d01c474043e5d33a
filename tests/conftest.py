"""Shared fixtures: where the golden reference data lives, and small loaded networks."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def golden_dir() -> Path:
    d = Path(os.environ.get("LIVEGAN_GOLDEN", ROOT.parent / "shared" / "golden"))
    if not d.is_dir():
        raise RuntimeError(f"golden fixtures not found at {d} (set LIVEGAN_GOLDEN)")
    return d


@pytest.fixture(scope="session")
def golden() -> Path:
    return golden_dir()


@pytest.fixture(scope="session")
def tiny():
    from stylegan3 import load_network
    return load_network("builtin:tiny")


@pytest.fixture(scope="session")
def xvfb():
    """A virtual X screen for the window tests (make test installs Debian's xvfb)."""
    import shutil
    import subprocess
    import time

    exe = shutil.which("Xvfb")
    assert exe, "Xvfb is needed for the window tests (make test installs Debian's xvfb)"
    display = ":73"
    proc = subprocess.Popen([exe, display, "-screen", "0", "1280x720x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    yield display
    proc.terminate()
    proc.wait(5)
