"""A training run as a walk in the store (kind 'training'): the gallery shows its fakes over time,
its loss, sign and augmentation curves, and its snapshots as networks to play.

The run's own folder keeps everything a resume needs; the walk's folder keeps copies of what the
gallery shows (the fakes grids and training_stats.jsonl), so the gallery serves nothing from
outside the store.  A store that fails (a full disk, a locked file) never stops the training: the
first failure is said in one line and the walk stops following the run.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable

STATS = "training_stats.jsonl"


class TrainingWalk:
    def __init__(self, store_dir: str | Path, run: Path, options: dict, log: Callable[[str], None] = print):
        from ..store import Store

        self.run, self.log, self.failed = Path(run).resolve(), log, False
        self.store = Store(store_dir)
        mine = [w for w in self.store.walks("training") if w["info"].get("run") == str(self.run)]
        info = {"run": str(self.run), "cfg": options.get("cfg"), "data": options.get("data"),
                "kimg": options.get("kimg"), "batch": options.get("batch"), "aug": options.get("aug")}
        if mine:                                             # a resumed run continues its walk
            self.id = mine[-1]["id"]
            self.store.set_walk(self.id, status="training", info={**mine[-1]["info"], **info})
        else:
            self.id = self.store.create_walk("training", self.run.name, status="training", info=info)
        self.folder = self.store.walk_dir(self.id)

    def _guard(self, what: str, fn) -> None:
        if self.failed:
            return
        try:
            fn()
        except Exception as e:                               # the training goes on without its walk
            self.failed = True
            self.log(f"livegan train: the store stopped following this run ({what}: {type(e).__name__}: "
                     f"{str(e).splitlines()[0] if str(e) else ''})")

    def tick(self, stats: dict) -> None:
        def write():
            with open(self.folder / STATS, "a") as f:
                f.write(json.dumps(stats) + "\n")
        self._guard("stats", write)

    def snapshot(self, kimg: float, fakes: Path, network: Path, snapshot: Path) -> None:
        def write():
            name = fakes.name
            tmp = self.folder / f".{name}.part"
            shutil.copyfile(fakes, tmp)
            tmp.replace(self.folder / name)
            if not any(i["filename"] == name for i in self.store.images(self.id)):
                self.store.add_image(self.id, name, kind="fakes", frame=int(round(kimg * 1000)),
                                     state={"kimg": kimg, "network": str(network.resolve()),
                                            "snapshot": str(snapshot.resolve()), "run": str(self.run)})
            self.store.set_walk(self.id, network=str(network.resolve()))
        self._guard("snapshot", write)

    def close(self, status: str = "done") -> None:
        self._guard("close", lambda: self.store.set_walk(self.id, status=status))


def read_stats(path: Path, limit: int = 100_000) -> list[dict]:
    """training_stats.jsonl as a list; a torn last line (a kill mid-write) is left out."""
    out = []
    if not path.is_file():
        return out
    with open(path) as f:
        for line in f:
            if len(out) >= limit:
                break
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict):
                out.append(row)
    return out
