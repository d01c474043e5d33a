"""`livegan` and `perform.py` on the command line: the commands live in `livegan/commands/`, one
module each; this name stays for `python -m livegan.cli` and `perform.py`."""
from __future__ import annotations

import sys

from .commands import build_parser, main, perform_main  # noqa: F401

if __name__ == "__main__":
    sys.exit(main())
