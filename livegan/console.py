"""Status lines on standard output, whole: a line printed from one thread never breaks into
another thread's line (print() writes the text and its newline separately; a recorder thread's
"recording to" once landed in the middle of the main thread's line, and a script reading lines
never saw it)."""
from __future__ import annotations

import contextlib
import os
import sys
import threading
from typing import Iterator, TextIO

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


class _Guarded:
    """A standard stream whose writes never raise: a pipe whose reader left (`| head`, a logger
    restarted), a terminal hung up (an SSH session dropped: EIO), a full disk under a log file, a
    stream closed at the start (`>&-`) each stopped the show with the stream's error.  At the
    first failure the stream's file descriptor is pointed at /dev/null (so every later writer,
    Python's or a library's, succeeds), the other stream is told once, and the show goes on."""

    def __init__(self, stream: TextIO | None, name: str, other: "TextIO | None") -> None:
        self._stream, self._name, self._other = stream, name, other
        self.gone: str | None = None if stream is not None else "closed at the start"

    def _failed(self, e: BaseException) -> None:
        if self.gone is not None:
            return
        self.gone = reason(e)
        try:
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, self._stream.fileno())       # the buffered bytes and every later write land there
            os.close(null)
        except (OSError, ValueError, AttributeError):  # no descriptor (a test's capture): writes are dropped
            pass
        with contextlib.suppress(OSError, ValueError, AttributeError):
            self._other.write(f"livegan: standard {self._name} is gone ({self.gone}); going on without it\n")
            self._other.flush()

    def write(self, text: str) -> int:
        if self.gone is None:
            try:
                return self._stream.write(text)
            except (OSError, ValueError) as e:         # ValueError: the stream was closed
                self._failed(e)
        return len(text)

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if self.gone is None:
            try:
                self._stream.flush()
            except (OSError, ValueError) as e:
                self._failed(e)

    def isatty(self) -> bool:
        return self.gone is None and self._stream.isatty()

    def __getattr__(self, name: str):                  # encoding, fileno, buffer, ...
        if self._stream is None:
            raise AttributeError(name)
        return getattr(self._stream, name)


@contextlib.contextmanager
def guarded_streams() -> Iterator[None]:
    """sys.stdout and sys.stderr wrapped in `_Guarded` for a command's run, put back after it."""
    before = sys.stdout, sys.stderr
    out = _Guarded(sys.stdout, "output", sys.stderr)
    err = _Guarded(sys.stderr, "error", sys.stdout)
    out._other, err._other = err, out                  # each tells the other, itself guarded
    sys.stdout, sys.stderr = out, err
    try:
        yield
    finally:
        sys.stdout, sys.stderr = before
