"""A livegan process keeps freed memory for its next step or frame: a large array comes from the heap, not
from a fresh mapping, and the heap keeps it when it is freed (glibc's own accounting, in a fresh
process each way), so reusing it costs no page faults."""
from __future__ import annotations

import subprocess
import sys

from conftest import ROOT

PROBE = """
import ctypes, sys, torch
class Info(ctypes.Structure):
    _fields_ = [(k, ctypes.c_size_t) for k in
                "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Info
if sys.argv[1] == "tuned":
    from livegan.engine.devices import keep_freed_memory
    assert keep_freed_memory()
before = libc.mallinfo2()
a = torch.empty(48 << 18)                    # 48 MiB: more than glibc's largest automatic threshold
mapped = libc.mallinfo2().hblkhd - before.hblkhd
del a
print(mapped >> 20, (libc.mallinfo2().arena - before.arena) >> 20)
"""


def probe(mode: str) -> tuple[int, int]:
    r = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    mapped, heap = r.stdout.split()[-2:]
    return int(mapped), int(heap)


def test_a_livegan_process_keeps_large_arrays_in_its_heap():
    mapped, kept = probe("plain")
    assert mapped >= 48 and kept < 48                # plain: its own mapping, handed back when freed
    mapped, kept = probe("tuned")
    assert mapped < 48 and kept >= 48                # tuned: from the heap, which keeps it
