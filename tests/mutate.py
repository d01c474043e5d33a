"""Structure-aware mutations of JSON documents (presets, MIDI maps, control logs): a key dropped,
a value of any JSON type anywhere, lists emptied or repeated, numbers flipped or scaled.  A
parser of data from outside must answer each with its own one-line error, never another
exception."""
from __future__ import annotations

import copy
import random
from typing import Any

ODD = [None, True, 0, -1, 1.5, float("nan"), float("inf"), 1e308, 2 ** 70, "", "x", "x" * 5000, [], {}, [None],
       [[]], {"a": 1}, "../../etc/passwd", -2 ** 63]


def mutate(v: Any, rng: random.Random) -> Any:
    r = rng.random()
    if isinstance(v, dict) and v and r < 0.7:
        v = dict(v)
        k = rng.choice(list(v))
        op = rng.random()
        if op < 0.2:
            del v[k]
        elif op < 0.4:
            v[k] = rng.choice(ODD)
        else:
            v[k] = mutate(v[k], rng)
        return v
    if isinstance(v, list) and v and r < 0.7:
        v = list(v)
        i = rng.randrange(len(v))
        op = rng.random()
        if op < 0.2:
            del v[i]
        elif op < 0.4:
            v[i] = rng.choice(ODD)
        elif op < 0.5:
            v = v * rng.choice([0, 50])
        else:
            v[i] = mutate(v[i], rng)
        return v
    if isinstance(v, (int, float)) and not isinstance(v, bool) and r < 0.5:
        return rng.choice([-v, v * 1e9, v + 0.5, 0, -1])
    return rng.choice(ODD)


def mutants(doc: Any, n: int, seed: int = 0):
    """`n` mutants of `doc`, one to four mutations each (the same ones for the same seed)."""
    rng = random.Random(seed)
    for _ in range(n):
        d = copy.deepcopy(doc)
        for _ in range(rng.randint(1, 4)):
            d = mutate(d, rng)
        yield d


def survivors(parse, doc: Any, allowed: type, n: int = 2000, seed: int = 0) -> list[str]:
    """The mutants `parse` answers with anything but `allowed` (or a multi-line `allowed`)."""
    bad = []
    for d in mutants(doc, n, seed):
        try:
            parse(d)
        except allowed as e:
            if "\n" in str(e):
                bad.append(f"multi-line: {str(e)[:120]}")
        except Exception as e:                   # the defect: anything else
            bad.append(f"{type(e).__name__}: {str(e)[:120]}")
    return bad
