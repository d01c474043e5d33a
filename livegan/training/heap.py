"""Keep a training process's freed memory for its next step.

glibc hands an array of more than its mmap threshold (at most 32 MiB, by default much less)
straight back to the system when it is freed, and trims the heap's top above twice that; a
training step frees and reallocates dozens of such arrays (activations, their gradients), and
every reuse then costs a page fault per 4 KiB: 10,000 for one 42 MB activation, 3-6 million faults
per StyleGAN3 step at 32 px.  Raising the threshold, never trimming and padding the heap's growth
took that to ~0.8 million and the step from 1.54 to 1.33 s (bench/train.py).  The process keeps its
peak memory until it ends, which is what a training run does anyway.  The live show is left alone
(its frames allocate the same sizes each time and fault almost never: 0.2 faults per frame).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3


def keep_freed_memory() -> bool:
    """Tune glibc's malloc for this process (training only); False where it is not glibc."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False                       # musl and others: nothing to tune
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return all(mallopt(k, v) == 1 for k, v in ((_M_MMAP_THRESHOLD, 1 << 30),
                                               (_M_TRIM_THRESHOLD, 2 ** 31 - 1), (_M_TOP_PAD, 256 << 20)))
