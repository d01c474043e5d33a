"""`livegan train check DIR`: run a training fixture of the official trainer's results (D forward,
each loss phase's gradients, the optimisers, one whole iteration) through our trainer and report
each case's relative error against the fixture's own limits (cases.json "tolerances", version 2).
A case we cannot run is a failure, never a skip; so is a fixture that states no limits."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

from .check_measures import CaseResult, Fixture, FixtureError, verdict


def case_names(fx: Fixture) -> list[str]:
    from .check_cases import derived
    return [n for case in fx.cases for n in [case] + derived(fx, case)]


def run_fixture(folder: str | Path, only: Optional[list[str]] = None) -> list[CaseResult]:
    """Every case the fixture lists (cases.json), ours against theirs."""
    import torch

    from .check_cases import runner

    folder = Path(folder)
    try:
        fx = Fixture(folder)
    except FixtureError as e:
        return [CaseResult("fixture", math.inf, 0.0, problem=str(e))]
    names = case_names(fx)
    results = []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)                  # the fixtures were made single-threaded; summation order
    try:
        for name in names:
            if only and name not in only:
                continue
            fn = runner(name)
            if fn is None:
                results.append(CaseResult(name, math.inf, 0.0, problem="no runner for this case"))
                continue
            try:
                measures = fn(fx, name)
            except Exception as e:                # a case we cannot run is a failure, with the reason
                results.append(CaseResult(name, math.inf, 0.0, problem=f"{type(e).__name__}: {e}"))
                continue
            results.append(verdict(name, measures, fx.limits))
    finally:
        torch.set_num_threads(threads)
    for name in only or []:
        if name not in names:
            results.append(CaseResult(name, math.inf, 0.0, problem=f"not a case of this fixture (it has: {', '.join(names)})"))
    return results
