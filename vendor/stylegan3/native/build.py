"""How the compiled kernels are built: one shared library from the sources below, for the CPU
kernel set torch runs, by the system's C++ compiler, kept in a per-user cache under a name that
hashes the sources, the compiler and the flags (stale builds pruned after STALE_DAYS)."""
from __future__ import annotations

import hashlib
import os
import platform
import subprocess
import tempfile
from pathlib import Path
from typing import Optional

import torch

HERE = Path(__file__).parent
SOURCES = [HERE / "filtered_lrelu.cpp", HERE / "conv2d.cpp", HERE / "modulate.cpp", HERE / "pointwise.cpp",
           HERE / "fourier.cpp", HERE / "layer.cpp", HERE / "winograd.cpp"]
HEADERS = [HERE / "combine.h", HERE / "geometry.h"]

# torch's kernel set -> the x86-64 level built for (v4: AVX-512, v3: AVX2 + FMA, v2: SSE4.2).
_X86_LEVEL = {"AVX512": "x86-64-v4", "AVX2": "x86-64-v3", "DEFAULT": "x86-64-v2"}
# The same levels as instruction-set flags, for compilers that predate the level names (GCC
# before 11, clang before 12).
_V2 = ["-msse4.2", "-mpopcnt", "-mcx16", "-msahf"]
_V3 = _V2 + ["-mavx", "-mavx2", "-mfma", "-mbmi", "-mbmi2", "-mf16c", "-mlzcnt", "-mmovbe"]
_X86_FEATURES = {"x86-64-v2": _V2, "x86-64-v3": _V3,
                 "x86-64-v4": _V3 + ["-mavx512f", "-mavx512bw", "-mavx512cd", "-mavx512dq", "-mavx512vl"]}


def build_flags(capability: Optional[str] = None) -> list[str]:
    """Compiler flags for torch's CPU kernel set (default: the one this process runs)."""
    flags = ["-O3", "-std=c++17", "-fopenmp", "-shared", "-fPIC", "-fno-math-errno"]
    if platform.machine() in ("x86_64", "AMD64"):
        cap = capability or torch.backends.cpu.get_cpu_capability()
        flags.append(f"-march={_X86_LEVEL.get(cap, 'x86-64-v2')}")
    return flags


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "livegan" / "native"


def build(capability: Optional[str] = None, cache: Optional[Path] = None, fresh: bool = False) -> Path:
    """The compiled library for this source, compiler and kernel set: from the cache (unless
    `fresh`), or built into it (atomically: processes building at once each rename a whole file
    into place).  Raises RuntimeError with the compiler's first error line."""
    cxx = os.environ.get("CXX") or "c++"
    flags = build_flags(capability)
    try:
        version = subprocess.run([cxx, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError) as e:
        raise RuntimeError(f"no C++ compiler ({cxx}: {e})") from None
    text = b"".join(p.read_bytes() for p in SOURCES + HEADERS)
    key = hashlib.sha256(text + " ".join([cxx, *flags, version]).encode()).hexdigest()[:16]
    cache = cache or _cache_dir()
    target = cache / f"kernels-{key}.so"
    if target.exists() and not fresh:
        try:
            os.utime(target)                       # in use: not stale (see _prune)
        except OSError:
            pass
        return target
    cache.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=cache)
    os.close(fd)
    try:
        done = _compile(cxx, flags, tmp)
        level = next((f.split("=", 1)[1] for f in flags if f.startswith("-march=")), None)
        if done.returncode != 0 and level in _X86_FEATURES and level in done.stderr:
            # A compiler that does not know the level's name: the same instructions by their flags.
            done = _compile(cxx, [f for f in flags if not f.startswith("-march=")] + _X86_FEATURES[level], tmp)
        if done.returncode != 0:
            first = next((ln for ln in done.stderr.splitlines() if "error" in ln), done.stderr.strip()[:200])
            raise RuntimeError(f"{cxx} failed: {first}")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    _prune(cache, keep=target)
    return target


def _compile(cxx: str, flags: list[str], out: str) -> subprocess.CompletedProcess:
    return subprocess.run([cxx, *flags, "-o", out, *map(str, SOURCES)], capture_output=True, text=True, timeout=300)


# A build unused this long is another version's or kernel set's: removed when a new one is made.
STALE_DAYS = 30


def _prune(cache: Path, keep: Path) -> None:
    """Remove libraries not modified or loaded for STALE_DAYS (each load touches its file)."""
    import time

    limit = time.time() - STALE_DAYS * 86400
    for old in cache.glob("*.so"):
        try:
            if old != keep and max(old.stat().st_mtime, old.stat().st_atime) < limit:
                old.unlink()
        except OSError:
            pass                                   # another process's, or gone already
