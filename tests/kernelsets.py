"""CPU kernel sets: which instruction set each numeric library may use.  A result compared with
numbers made on another CPU must hold under each set this machine can run, since the CPU changes
between machines and so do the kernels.

torch's own vector kernels follow ATEN_CPU_CAPABILITY; convolutions run in oneDNN, capped by
ONEDNN_MAX_CPU_ISA; matrix products in MKL, capped by MKL_ENABLE_INSTRUCTIONS.  Capping only the
first leaves the convolutions and matrix products as they were (seen here: the training check's
numbers did not move), so a set caps all three."""
from __future__ import annotations

import os
import subprocess
import sys

# name: (ATEN_CPU_CAPABILITY, ONEDNN_MAX_CPU_ISA, MKL_ENABLE_INSTRUCTIONS), lowest first.
SETS = {
    "default": ("default", "SSE41", "SSE4_2"),
    "avx2": ("avx2", "AVX2", "AVX2"),
    "avx512": ("avx512", "AVX512_CORE", "AVX512"),
}
VARIABLES = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")


def env_for(name: str, base: dict | None = None) -> dict:
    env = dict(os.environ if base is None else base)
    env.update(zip(VARIABLES, SETS[name]))
    return env


def capability(env: dict | None = None) -> str:
    """The ATen capability torch picks in a fresh process with this environment (it falls back to
    what the CPU has when asked for more)."""
    out = subprocess.run([sys.executable, "-c", "import torch; print(torch.backends.cpu.get_cpu_capability())"],
                         capture_output=True, text=True, env=env, timeout=120, check=True)
    return out.stdout.strip().lower()


def available() -> list[str]:
    """The sets this CPU can run: each whose capability torch really takes when asked for it."""
    clean = {k: v for k, v in os.environ.items() if k not in VARIABLES}
    best = capability(clean)
    names = list(SETS)
    if best not in names:            # another architecture (e.g. aarch64): its own set and the portable one
        return ["default"]
    return names[: names.index(best) + 1]


def describe() -> str:
    """What this process runs on, for the test report's header."""
    import torch

    caps = ", ".join(f"{k}={os.environ[k]}" for k in VARIABLES if k in os.environ) or "the CPU's own"
    return f"kernels: ATen {torch.backends.cpu.get_cpu_capability()} ({caps})"
