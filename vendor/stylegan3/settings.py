"""Numbers read from the environment (LIVEGAN_MAX_NETWORK_GB, LIVEGAN_DOWNLOAD_S and livegan's
own): unset or empty is the default; anything else must be a finite number in range, or it is a
ValueError naming the variable.  'nan' once meant no download deadline at all, 'inf' an
OverflowError deep inside a network's size check, and junk a traceback at the first download."""
from __future__ import annotations

import math
import os


def env_number(name: str, default: float, lo: float, hi: float, integer: bool = False, meaning: str = "",
               unset: str = ""):
    """The variable's number, `default` when unset; `unset` says what unset means when the
    default is not a number a person would read (0 for 'the cores minus one')."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        v = float(raw)
    except ValueError:
        v = math.nan
    if not (math.isfinite(v) and lo <= v <= hi and (not integer or v.is_integer())):
        kind = "a whole number" if integer else "a number"
        span = f"{int(lo)}..{int(hi)}" if integer else f"{lo:g}..{hi:g}"
        raise ValueError(f"{name}={raw[:40]!r}: must be {kind} {span} ({meaning}; unset: {unset or f'{default:g}'})")
    return int(v) if integer else v
