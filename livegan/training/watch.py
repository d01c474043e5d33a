"""`--network run:NAME`: play a training run's newest snapshot and, while the run goes on, crossfade
to each new one as the trainer writes it (watching the network learn, on stage).

A run is a trainer's --out folder: NAME is that folder, or a folder under recordings/training/.  Each
snapshot's G_ema is `network-KIMG.safetensors`, renamed into place only when complete, so a file
seen here is always whole."""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable, Optional

from ..params import Command

RUNS = Path("recordings") / "training"


def run_folder(name: str, root: Path = RUNS) -> Path:
    for cand in (Path(name), root / name):
        if cand.is_dir():
            return cand
    raise ValueError(f"run:{name}: no training run there (a `livegan train --out` folder, or one under {root})")


def newest_network(folder: Path) -> Optional[Path]:
    """The latest snapshot's network (names sort by kimg)."""
    nets = sorted(folder.glob("network-*.safetensors"))
    return nets[-1] if nets else None


def resolve_run(spec: str, root: Path = RUNS) -> tuple[Path, Path]:
    """'run:NAME' -> (its folder, its newest network); one line when there is none yet."""
    folder = run_folder(spec[len("run:"):], root)
    net = newest_network(folder)
    if net is None:
        raise ValueError(f"{spec}: no snapshot yet in {folder} (the first one is written after --snap ticks)")
    return folder, net


class RunWatcher:
    """Polls a run's folder; a newer snapshot becomes a network command (logged and replayed as any
    network switch, crossfaded by the show)."""

    def __init__(self, folder: Path, current: Path, post: Callable[[Command], None], interval: float = 2.0):
        self.folder, self.current, self.post, self.interval = folder, current, post, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="livegan-run-watch", daemon=True)
        self.switches = 0

    def start(self) -> "RunWatcher":
        self._thread.start()
        return self

    def check(self) -> Optional[Path]:
        net = newest_network(self.folder)
        if net is not None and net.name > self.current.name:
            self.current = net
            self.switches += 1
            self.post(Command("trigger", "network", str(net), "train"))
            return net
        return None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.check()
            except OSError:
                pass                                     # a folder gone for a moment: look again

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
