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
    """Make glibc keep freed large blocks in the heap instead of handing them back to the system.

    By default an array over glibc's mmap threshold (128 KiB, rising to at most 32 MiB) gets its own
    mapping, unmapped when freed, and the heap's top is trimmed above twice that, so every reuse of
    a fresh activation page-faults in again, 4 KiB at a time.  Measured on a 2-core CPU: builtin:tiny
    37 -> 25 ms/frame once the threshold was raised; StyleGAN3-T training at 32 px about 190,000 ->
    44,000 faults a step and 1.54 -> 1.33 s a step with the threshold above any array's size, no
    trimming and the heap grown 256 MiB at a time.  The process keeps its peak memory until it
    ends.  A process-wide setting (every livegan command applies it once); False where the C
    library is not glibc.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False                          # musl and others: nothing to tune
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
    return all(mallopt(k, v) == 1 for k, v in ((m_mmap_threshold, 1 << 30), (m_trim_threshold, 2 ** 31 - 1),
                                               (m_top_pad, 256 << 20)))


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
