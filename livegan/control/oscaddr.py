"""OSC 1.0 address patterns, matched in linear time, and the structure check of raw datagrams.

A pattern from the network is untrusted input: a backtracking regex turns `/a/******...Q` into
exponential work while holding the interpreter.  Here a pattern is compiled into tokens per path
segment (wildcards never cross `/`) and matched by a forward set-of-states scan, whose cost is
bounded by len(segment) x tokens x alternatives, with hard limits on each.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Optional, Union

MAX_ADDRESS = 256            # characters in an address or pattern
MAX_WILDCARDS = 32           # ? * [..] {..} in one pattern
MAX_ALTERNATIVES = 32        # strings inside all {..} of one pattern
MAX_BUNDLE_DEPTH = 4
MAX_MESSAGES = 256           # messages in one datagram, bundles included


class PatternError(ValueError):
    pass


@dataclass(frozen=True)
class _Set:
    ranges: tuple[tuple[str, str], ...]
    negate: bool

    def match(self, c: str) -> bool:
        return any(a <= c <= b for a, b in self.ranges) != self.negate


Token = Union[str, _Set, tuple]          # literal char | '?'/'*' markers | set | ('alt', strings)
_ANY, _STAR = object(), object()


def _parse_set(body: str) -> _Set:
    neg = body.startswith("!")
    if neg:
        body = body[1:]
    if not body:
        raise PatternError("empty [] in address pattern")
    ranges, i = [], 0
    while i < len(body):
        if i + 2 < len(body) and body[i + 1] == "-":
            a, b = body[i], body[i + 2]
            ranges.append((min(a, b), max(a, b)))
            i += 3
        else:
            ranges.append((body[i], body[i]))
            i += 1
    return _Set(tuple(ranges), neg)


def compile_pattern(pattern: str) -> list[list]:
    """Tokens per path segment; raises PatternError (a ValueError) for malformed or too-large ones."""
    if not isinstance(pattern, str) or not pattern.startswith("/"):
        raise PatternError("an address must start with /")
    if len(pattern) > MAX_ADDRESS:
        raise PatternError(f"address longer than {MAX_ADDRESS} characters")
    if any(ord(c) < 32 or ord(c) > 126 or c in " #" for c in pattern):
        raise PatternError("address has characters OSC does not allow")
    segments, wild, alts = [], 0, 0
    for seg in pattern[1:].split("/"):
        toks: list = []
        i = 0
        while i < len(seg):
            c = seg[i]
            if c in "?*[{":
                wild += 1
            if c == "?":
                toks.append(_ANY)
            elif c == "*":
                if not (toks and toks[-1] is _STAR):         # ** == *
                    toks.append(_STAR)
            elif c == "[":
                j = seg.find("]", i + 1)
                if j < 0:
                    raise PatternError("unclosed [ in address pattern")
                toks.append(_parse_set(seg[i + 1: j]))
                i = j
            elif c == "{":
                j = seg.find("}", i + 1)
                if j < 0:
                    raise PatternError("unclosed { in address pattern")
                options = tuple(dict.fromkeys(seg[i + 1: j].split(",")))
                if any(ch in s for s in options for ch in "?*[]{"):
                    raise PatternError("wildcards inside {} are not supported")
                alts += len(options)
                toks.append(("alt", options))
                i = j
            elif c in "]}":
                raise PatternError(f"unmatched {c} in address pattern")
            else:
                toks.append(c)
            i += 1
        segments.append(toks)
    if wild > MAX_WILDCARDS or alts > MAX_ALTERNATIVES:
        raise PatternError(f"address pattern too complex (limits: {MAX_WILDCARDS} wildcards, "
                           f"{MAX_ALTERNATIVES} alternatives)")
    return segments


def _match_segment(toks: list, s: str) -> bool:
    """Forward scan: states[i] = token indices reachable after i characters.  Empty moves ('*'
    matching nothing, an empty {} option) only go from token t to t+1, so visiting tokens in
    increasing order at each position closes them in one pass: O(len(s) x tokens x options)."""
    n, m = len(s), len(toks)
    states = [bytearray(m + 1) for _ in range(n + 1)]
    states[0][0] = 1
    for i in range(n + 1):
        cur = states[i]
        for t in range(m):
            if not cur[t]:
                continue
            tok = toks[t]
            if tok is _STAR:
                cur[t + 1] = 1                            # matches nothing ...
                if i < n:
                    states[i + 1][t] = 1                  # ... or one more character
            elif isinstance(tok, tuple):
                for opt in tok[1]:
                    if s.startswith(opt, i):
                        states[i + len(opt)][t + 1] = 1
            elif i < n:
                c = s[i]
                if tok is _ANY or (isinstance(tok, _Set) and tok.match(c)) or tok == c:
                    states[i + 1][t + 1] = 1
    return bool(states[n][m])


def matches(compiled: list[list], address: str) -> bool:
    parts = address[1:].split("/")
    if len(parts) != len(compiled):
        return False
    return all(_match_segment(t, p) for t, p in zip(compiled, parts))


def check_datagram(data: bytes, depth: int = 0) -> int:
    """Walk a datagram's bundle structure before any parser does: element sizes positive, 4-aligned
    and inside the packet, nesting and message count bounded (a negative size made python-osc's
    bundle parser loop forever).  Returns the number of messages; raises ValueError."""
    if depth > MAX_BUNDLE_DEPTH:
        raise ValueError(f"bundles nested deeper than {MAX_BUNDLE_DEPTH}")
    if not data.startswith(b"#bundle\0"):
        if not data.startswith(b"/"):
            raise ValueError("neither a message nor a bundle")
        if len(data) % 4:
            raise ValueError("message length is not a multiple of 4")
        return 1
    if len(data) < 16:
        raise ValueError("bundle shorter than its header")
    i, count = 16, 0
    while i < len(data):
        if i + 4 > len(data):
            raise ValueError("truncated bundle element size")
        (size,) = struct.unpack_from(">i", data, i)
        if size <= 0 or size % 4 or i + 4 + size > len(data):
            raise ValueError(f"bundle element size {size} is invalid")
        count += check_datagram(data[i + 4: i + 4 + size], depth + 1)
        if count > MAX_MESSAGES:
            raise ValueError(f"more than {MAX_MESSAGES} messages in one datagram")
        i += 4 + size
    return count


def unplain_argument(params) -> Optional[str]:
    """What is wrong with a message's arguments, or None.  Every address takes numbers (i, f, h, d,
    r), strings (s) and T/F; python-osc also hands over blobs (bytes), time tags and MIDI messages
    (tuples), nil (None) and arrays (lists), which no address means and which the control log
    cannot record (one killed the recorder thread).  Refused here, once, for every address."""
    for i, v in enumerate(params, 1):
        if isinstance(v, (bool, int, float, str)):
            continue
        kind = ("a blob (b)" if isinstance(v, bytes) else "nil (N)" if v is None else
                "an array ([...])" if isinstance(v, list) else
                "a time tag (t)" if isinstance(v, tuple) and len(v) == 2 else
                "a MIDI message (m)" if isinstance(v, tuple) and len(v) == 4 else type(v).__name__)
        return f"argument {i} is {kind}: addresses take numbers, strings and T/F"
    return None


class AddressTree:
    """The known addresses as a tree of path segments, so a pattern is matched a segment at a time
    against the names at that level only, with fast paths for the shapes patterns take (`*`, a
    `{a,b,...}` list, a literal): a flood of long unique patterns costs a set lookup per
    alternative, not a scan of every address."""

    def __init__(self, paths):
        self.root: dict = {}
        for p in paths:
            node = self.root
            for part in p[1:].split("/"):
                node = node.setdefault(part, {})
            node[None] = p                                   # a path ends here

    def match(self, compiled: list[list]) -> list[str]:
        nodes = [self.root]
        for toks in compiled:
            nxt = []
            for node in nodes:
                names = [k for k in node if k is not None]
                if len(toks) == 1 and toks[0] is _STAR:
                    hits = names
                elif len(toks) == 1 and isinstance(toks[0], tuple):
                    hits = [o for o in toks[0][1] if o in node and o is not None]
                elif all(isinstance(t, str) for t in toks):
                    lit = "".join(toks)
                    hits = [lit] if lit in node else []
                else:
                    hits = [k for k in names if _match_segment(toks, k)]
                nxt += [node[k] for k in hits]
            nodes = nxt
            if not nodes:
                return []
        return [n[None] for n in nodes if None in n]
