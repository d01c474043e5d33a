"""The gallery's filters, declared once.  `parse_filters` is the one server function that turns
query parameters into a filter object (and its SQL); `declaration()` is what the page's script
builds its controls from.  A new filter is one more `Field` here and nothing else on the server;
the page needs no change unless it wants a new kind of control."""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any, Mapping, Optional

from ..store import WALK_KINDS


class FilterError(ValueError):
    pass


@dataclass(frozen=True)
class Field:
    name: str
    kind: str                      # 'flag' | 'int' | 'choice' | 'text' | 'date'
    label: str
    sql: str                       # a WHERE term with one ? (none for flags)
    choices: tuple = ()
    prefix: bool = False           # text matched as a prefix (hashes)


FIELDS: tuple[Field, ...] = (
    Field("liked", "flag", "liked only", "i.liked = 1"),
    Field("walk", "int", "walk", "i.walk_id = ?"),
    Field("kind", "choice", "kind of walk", "w.kind = ?", choices=WALK_KINDS),
    Field("network", "text", "network hash", "w.network_hash LIKE ?", prefix=True),
    # A conditional network's class (a blend of K and K+1 counts as K)
    Field("class", "int", "class", "CAST(json_extract(i.state, '$.class') AS INTEGER) = ?"),
    Field("tag", "text", "tag", "EXISTS (SELECT 1 FROM tags t WHERE t.image_id = i.id AND t.tag = ?)"),
    Field("since", "date", "since", "i.created >= ?"),
    Field("until", "date", "until", "i.created < ?"),
)


def _date(text: str, name: str) -> float:
    """YYYY-MM-DD, an ISO date-time, or Unix seconds -> Unix seconds."""
    try:
        v = float(text)
    except ValueError:
        v = None
    if v is not None:
        if math.isfinite(v) and abs(v) < 1e11:               # seconds within a few thousand years
            return v
        raise FilterError(f"{name}: expected a date like 2026-11-27 or Unix seconds, got {text[:40]!r}")
    try:
        d = dt.datetime.fromisoformat(text)
    except ValueError:
        raise FilterError(f"{name}: expected a date like 2026-11-27 or Unix seconds, got {text[:40]!r}") from None
    return d.timestamp()


@dataclass(frozen=True)
class Filters:
    values: Mapping[str, Any]

    def where(self) -> tuple[str, tuple]:
        terms, args = [], []
        for f in FIELDS:
            if f.name not in self.values:
                continue
            terms.append(f.sql)
            if f.kind != "flag":
                v = self.values[f.name]
                args.append(v.replace("%", "").replace("_", "\\_") + "%" if f.prefix else v)
        return " AND ".join(terms), tuple(args)

    def query(self) -> dict:
        return {k: (1 if v is True else v) for k, v in self.values.items()}


def parse_filters(args: Mapping[str, str]) -> Filters:
    """Query parameters -> Filters; FilterError (a 400) for a bad value.  Unknown parameters are
    not filters (paging and such) and are ignored here."""
    out: dict[str, Any] = {}
    for f in FIELDS:
        raw = args.get(f.name)
        if raw is None or raw == "":
            continue
        raw = str(raw)
        if len(raw) > 200:
            raise FilterError(f"{f.name}: value too long")
        if f.kind == "flag":
            if raw.lower() in ("1", "true", "yes", "on"):
                out[f.name] = True
            elif raw.lower() not in ("0", "false", "no", "off"):
                raise FilterError(f"{f.name}: expected 1 or 0, got {raw[:40]!r}")
        elif f.kind == "int":
            if not raw.isdigit() or int(raw) > 2 ** 62:
                raise FilterError(f"{f.name}: expected a number, got {raw[:40]!r}")
            out[f.name] = int(raw)
        elif f.kind == "choice":
            if raw not in f.choices:
                raise FilterError(f"{f.name}: expected one of {', '.join(f.choices)}, got {raw[:40]!r}")
            out[f.name] = raw
        elif f.kind == "date":
            out[f.name] = _date(raw, f.name)
        else:
            out[f.name] = raw.strip().lower() if f.name == "tag" else raw.strip()
    return Filters(out)


def declaration(tags: Optional[list[str]] = None) -> list[dict]:
    """For the page: each filter's name, control kind, label and choices (tags offered as choices)."""
    out = []
    for f in FIELDS:
        d = {"name": f.name, "kind": f.kind, "label": f.label}
        if f.choices:
            d["choices"] = list(f.choices)
        if f.name == "tag" and tags:
            d["suggest"] = tags
        out.append(d)
    return out
