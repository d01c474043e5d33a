"""Status lines on standard output, whole: a line printed from one thread never breaks into
another thread's line (print() writes the text and its newline separately; a recorder thread's
"recording to" once landed in the middle of the main thread's line, and a script reading lines
never saw it)."""
from __future__ import annotations

import sys
import threading

_LOCK = threading.Lock()          # one process, one standard output


def say(line: str) -> None:
    with _LOCK:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
