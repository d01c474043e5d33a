"""What a command from the network may make the show load.

Commands typed on the keyboard, bound in a MIDI map or given on the command line come from the
performer.  Commands that arrive over OSC may come from anyone the sender policy admits, so by
default they may load presets and networks only by name or from configured folders (the presets
folder and every `--load-dir`), never an arbitrary path or a URL; `--allow-remote-load` lifts this.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .presets import PRESET_DIR

REMOTE_SOURCES = frozenset({"osc", "page"})          # from the network: OSC and the control page


class LoadRefused(ValueError):
    pass


@dataclass(frozen=True)
class LoadPolicy:
    roots: tuple[Path, ...] = field(default_factory=tuple)
    allow_remote: bool = False

    def folders(self) -> list[Path]:
        return [Path(os.path.realpath(PRESET_DIR))] + [Path(os.path.realpath(r)) for r in self.roots]

    def check(self, kind: str, ref, source: str) -> None:
        """Raise LoadRefused (one line) if `source` may not load `ref` (a preset or network)."""
        if source not in REMOTE_SOURCES or self.allow_remote or isinstance(ref, (int, dict)):
            return
        s = str(ref)
        if kind == "network" and s.startswith("builtin:"):
            return
        if "://" in s:
            raise LoadRefused(f"{kind} {s[:80]!r}: loading URLs over OSC is off (start with --allow-remote-load)")
        if kind == "preset" and "/" not in s and os.sep not in s and not s.startswith("."):
            return                                            # a name in presets/
        real = Path(os.path.realpath(s))
        if not any(real == f or f in real.parents for f in self.folders()):
            raise LoadRefused(f"{kind} {s[:80]!r}: over OSC only names and files under "
                              f"{', '.join(str(f) for f in self.folders())} may be loaded "
                              "(add one with --load-dir, or --allow-remote-load)")

    def describe(self) -> str:
        if self.allow_remote:
            return "any path or URL (--allow-remote-load)"
        return "by name, or from " + ", ".join(str(f) for f in self.folders())
