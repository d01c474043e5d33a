"""What a training fixture's cases are measured with: the fixture itself (arrays, description and
its version-2 limits), relative errors in float64, and the measures a case returns (a value, each
tensor and all of them together, a step's updates), each naming the limit it is judged by."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

# The version-2 limits every fixture states (train-sg2-tiny/README.md, "Tolerances"): made from
# the official code's own spread across CPUs, so they hold on any CPU for an exact trainer.
TOLERANCE_KEYS = ("value_rel_l2", "grad_rel_l2_all", "grad_rel_l2_each", "adam_update_rel_l2_each",
                  "step_update_rel_l2_all", "step_update_rel_l2_each", "buffers_rel_l2")


class FixtureError(ValueError):
    """The fixture itself cannot be used (missing files, no version-2 limits)."""


@dataclass(frozen=True)
class Measure:
    """One comparison: a tensor, a value or a group of tensors taken together, and which of the
    fixture's limits applies to it."""
    name: str
    error: float
    limit_key: str


@dataclass
class CaseResult:
    case: str
    error: float                    # the error of the measure nearest its limit (or over it)
    limit: float
    worst: str = ""                 # which measure it was
    problem: str = ""               # why the case could not run
    measures: tuple = ()

    @property
    def ok(self) -> bool:
        return not self.problem and math.isfinite(self.error) and self.error <= self.limit

    def line(self) -> str:
        if self.problem:
            return f"FAIL  {self.case:18s} could not run: {self.problem}"
        verdict = "ok  " if self.ok else "FAIL"
        return f"{verdict}  {self.case:18s} relative error {self.error:.2e} (limit {self.limit:.0e}; worst {self.worst})"


def relative_error(got, want) -> float:
    """||got - want|| / ||want|| in float64 (L2 over the whole tensor; absolute when want is zero);
    infinite when there is nothing to compare or the shapes differ."""
    if got is None or want is None:
        return math.inf
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if got.shape != want.shape:
        return math.inf
    den = np.linalg.norm(want.ravel())
    num = np.linalg.norm((got - want).ravel())
    return float(num / den) if den > 0 else float(num)


def value(name: str, got, want) -> Measure:
    return Measure(name, relative_error(got, want), "value_rel_l2")


def buffers(label: str, got: dict, want: dict) -> list[Measure]:
    return [Measure(f"{label}.{k}", relative_error(got.get(k), v), "buffers_rel_l2") for k, v in want.items()]


def tensors(label: str, got: dict, want: dict, each_key: str, all_key: str) -> list[Measure]:
    """Each tensor alone, and all of them as one vector (a missing one makes the whole infinite)."""
    out = [Measure(f"{label}.{k}", relative_error(got.get(k), v), each_key) for k, v in want.items()]
    pairs = [(got.get(k), v) for k, v in want.items()]
    if not pairs:
        return out + [Measure(f"{label} (nothing to compare)", math.inf, all_key)]
    if any(g is None or np.shape(g) != np.shape(w) for g, w in pairs):
        whole = math.inf
    else:
        whole = relative_error(np.concatenate([np.ravel(g) for g, _ in pairs]),
                               np.concatenate([np.ravel(w) for _, w in pairs]))
    return out + [Measure(f"{label} (all {len(pairs)} tensors)", whole, all_key)]


def updates(label: str, before: dict, got_after: dict, want_after: dict, each_key: str,
            all_key: Optional[str]) -> list[Measure]:
    """Compare what a step changed (after minus before), not the weights: a first Adam step moves
    each element by about +-lr, far below the weights' own size."""
    def delta(after: dict) -> dict:
        return {k: (np.asarray(v, np.float64) - np.asarray(before[k], np.float64))
                for k, v in after.items() if k in before and v is not None and np.shape(v) == np.shape(before[k])}
    want = delta({k: v for k, v in want_after.items() if k in before})
    got = delta(got_after)
    if all_key is None:
        return [Measure(f"{label}.{k}", relative_error(got.get(k), v), each_key) for k, v in want.items()]
    return tensors(label, got, want, each_key, all_key)


class Fixture:
    def __init__(self, folder: Path):
        self.folder = folder
        try:
            self.meta = json.loads((folder / "cases.json").read_text())
            self.arrays = np.load(folder / "cases.npz")
        except (OSError, ValueError) as e:
            raise FixtureError(f"{folder}: {e}") from None
        self.limits = limits_of(self.meta, folder)

    def get(self, key: str) -> np.ndarray:
        return self.arrays[key]

    def has(self, key: str) -> bool:
        return key in self.arrays.files

    def prefixed(self, prefix: str) -> dict[str, np.ndarray]:
        return {k[len(prefix):]: self.arrays[k] for k in self.arrays.files if k.startswith(prefix)}

    @property
    def cases(self) -> dict:
        return self.meta.get("cases", {})


def limits_of(meta: dict, folder: Path) -> dict[str, float]:
    """The fixture's own limits; a fixture without them (version 1 hard-coded its limits in the
    checker, and they held only on the CPU it was made on) cannot be judged."""
    tol = meta.get("tolerances")
    if not isinstance(tol, dict) or not isinstance(tol.get("version"), int) or tol["version"] < 2:
        raise FixtureError(f"{folder}/cases.json states no version-2 'tolerances' (needed: {', '.join(TOLERANCE_KEYS)})")
    limits = {}
    for k in TOLERANCE_KEYS:
        v = tol.get(k)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not (0 < v < math.inf):
            raise FixtureError(f"{folder}/cases.json tolerances.{k} is {v!r}, not a positive number")
        limits[k] = float(v)
    return limits


def verdict(case: str, measures: list[Measure], limits: dict[str, float]) -> CaseResult:
    """The measure nearest its own limit (by ratio) speaks for the case."""
    if not measures:
        return CaseResult(case, math.inf, 0.0, problem="nothing was compared")
    def ratio(m: Measure) -> float:
        return m.error / limits[m.limit_key] if math.isfinite(m.error) else math.inf
    worst = max(measures, key=ratio)
    return CaseResult(case, worst.error, limits[worst.limit_key], worst.name, measures=tuple(measures))
