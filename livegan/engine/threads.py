"""Thread use, chosen together: the generator's intra-op threads, the video encoder's threads and
the software GL rasteriser's threads share the same few cores.

Left to themselves each takes every core, and on a 2-core machine under load (an encoder, another
program) OpenMP's spinning barriers turned 37 ms frames into 1,300 ms ones.  The plan: the
generator gets the cores minus one for everything else (at least one), live encoders one thread,
llvmpipe one thread.  `--threads N` (or LIVEGAN_THREADS) overrides the generator's share;
LIVEGAN_ENCODER_THREADS and LP_NUM_THREADS override the others.  Every other command (render, generate, train...) takes the
same generator share: one training step of a small network took 0.05 s with one thread and 0.9-4 s
with two while another program kept one of the two cores busy.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class ThreadPlan:
    generator: int
    encoder: int
    gl: int

    def describe(self) -> str:
        return f"threads: generator {self.generator}, encoder {self.encoder}, GL {self.gl}"


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def plan(generator: Optional[int] = None) -> ThreadPlan:
    """`generator` (a --threads option), else LIVEGAN_THREADS (for a script that runs several
    commands at once: the cores shared out), else the cores minus one."""
    from .. import settings

    gen = generator or settings.threads() or max(1, cores() - 1)
    return ThreadPlan(gen, settings.encoder_threads(), max(1, settings.gl_threads()))


def apply(p: ThreadPlan) -> None:
    """Process-wide, once at start (before the first torch op and the first GL context)."""
    import torch

    torch.set_num_threads(p.generator)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:                     # already set once in this process
        pass
    os.environ.setdefault("LP_NUM_THREADS", str(p.gl))


def encoder_threads() -> int:
    return plan().encoder
