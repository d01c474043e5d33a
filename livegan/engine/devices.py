"""Device choice, resolved once at start-up (no literal 'cuda' scattered through the code)."""
from __future__ import annotations


def resolve_device(name: str = "auto"):
    """'auto' -> CUDA when available, else CPU; anything else is passed to torch.device."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available on this machine")
    return dev


def keep_freed_memory() -> bool:
    """Make glibc keep freed large blocks instead of unmapping them.

    By default blocks over 128 KiB come from mmap and go back to the OS on free, so every frame's
    fresh activations page-fault in again (measured: builtin:tiny 37 -> 25 ms/frame on a 2-core
    CPU once this is set).  Raising the mmap threshold to 32 MiB (glibc's maximum) and the trim
    threshold keeps them in the heap.  A process-wide setting, applied once; harmless elsewhere.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        m_trim_threshold, m_mmap_threshold = -1, -3
        ok = libc.mallopt(m_mmap_threshold, 32 << 20) == 1
        ok &= libc.mallopt(m_trim_threshold, 512 << 20) == 1
        return bool(ok)
    except (OSError, AttributeError):
        return False


def precision_notes(device, dtype: str, cuda_graphs: bool, wide_canvas: bool = False) -> list[str]:
    """One line for each option that does something other than its name says on this device."""
    notes = []
    cuda = getattr(device, "type", str(device)) == "cuda"
    if cuda_graphs and not cuda:
        notes.append("--cuda-graphs is CUDA only: off on the CPU (frames render eagerly)")
    elif cuda_graphs and wide_canvas:
        notes.append("--cuda-graphs: not with --canvas (the wide input changes shapes); rendering eagerly")
    if dtype == "auto" and not cuda:
        notes.append("--dtype auto on the CPU: every layer in fp32 (the checkpoint's fp16 layers are for CUDA)")
    elif dtype == "fp16" and not cuda:
        notes.append("--dtype fp16 on the CPU: every synthesis layer in float16, which most CPUs compute slowly; "
                     "bf16 is the CPU's fast half precision")
    return notes
