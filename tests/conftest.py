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
