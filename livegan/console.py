"""Status lines on standard output, whole: a line printed from one thread never breaks into
another thread's line (print() writes the text and its newline separately; a recorder thread's
"recording to" once landed in the middle of the main thread's line, and a script reading lines
never saw it)."""
from __future__ import annotations

import sys
import threading

from .boundary import utf8_text

_LOCK = threading.Lock()          # one process, one standard output


def printable(text: str, stream=None) -> str:
    """`text` as `stream` can write it: a name that is not Unicode (a file name's undecodable
    bytes, a lone surrogate someone sent) is escaped, never an exception in the middle of a show."""
    return utf8_text(text, getattr(stream or sys.stdout, "encoding", None) or "utf-8")


def say(line: str) -> None:
    with _LOCK:
        sys.stdout.write(printable(line) + "\n")
        sys.stdout.flush()


def duration(seconds: float) -> str:
    """A time as a person reads it: '40 s', '3 min 05 s', '2 h 07 min', '3 d 4 h' (never '0.0 h'
    with three minutes left); '?' for a time not known yet."""
    import math

    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "?"
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def reason(e: BaseException, limit: int = 120) -> str:
    """An exception as part of one line: 'OSError: image file is truncated' (its first words,
    whitespace folded), or only its type when it says nothing."""
    detail = " ".join(str(e).split())[:limit]
    return f"{type(e).__name__}: {detail}" if detail else type(e).__name__
