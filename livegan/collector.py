"""Python's cycle collector kept off the stage.

A full collection walks every object the collector tracks, and holds the interpreter while it
does: with torch, scipy and the show loaded that is some 340,000 objects and 160-270 ms on the
2-core VM, the length of five to eight display frames at 30 fps.  It came when the startup
objects were young and, mid-show, whenever something made many new ones (loading a network:
one 236 ms pause, four frames dropped).  What exists when the loop starts (modules, torch's
tables, the network, the show's own structures) lives as long as the show, so for the length of
the loop it is moved out of the collector's reach (`gc.freeze`): collections still run, and
still free the cycles the show makes, but they walk only what was made since.  At the end it
is given back (`gc.unfreeze`), so a process that runs several shows (the tests) loses nothing.

What is frozen and later dropped is still freed by its reference count; only a reference cycle
among startup objects dropped mid-show waits for the end (the networks hold none: tested).
"""
from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def startup_frozen() -> Iterator[int]:
    """For the body, the objects that exist now are left out of the cycle collector's walks;
    yields how many were moved.  The young garbage is collected first (cheap: the oldest
    generation, the slow walk, is not)."""
    gc.collect(1)
    before = gc.get_freeze_count()
    gc.freeze()
    try:
        yield gc.get_freeze_count() - before
    finally:
        gc.unfreeze()


__all__ = ["startup_frozen"]
