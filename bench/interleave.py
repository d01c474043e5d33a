"""Shared by the benches: run variants interleaved over rounds (so a change in the machine's load
hits every variant alike) and take each measure's median."""
from __future__ import annotations

import statistics
from typing import Callable, Hashable, Iterable


def interleaved_medians(variants: Iterable[Hashable], rounds: int, run: Callable[[Hashable], dict]) -> dict:
    """{variant: {measure: median over rounds}}; `run(variant)` returns one round's measures."""
    variants = list(variants)
    rows: dict = {v: [] for v in variants}
    for _ in range(max(1, rounds)):
        for v in variants:
            rows[v].append(run(v))
    return {v: {k: statistics.median(r[k] for r in rows[v]) for k in rows[v][0]} for v in variants}
