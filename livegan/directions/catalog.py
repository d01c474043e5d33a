"""The directions a show can pick from: fitted ones in presets/directions/*.npz, and the network's
own pca:K / sefa:K, computed (or read from the cache) on a background thread whenever a network
is loaded, so picking one on stage never stalls a frame."""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Optional

from .model import Direction, DirectionError

FOLDER = Path(__file__).resolve().parents[2] / "presets" / "directions"
MAX_FILES = 256                  # fitted directions read from the folder at most


class Catalog:
    def __init__(self, folder: Path = FOLDER, log=print):
        self.folder, self.log = Path(folder), log
        self._lock = threading.Lock()
        self._named: dict[str, Direction] = {}
        self._net: dict[str, list[Direction]] = {}      # 'pca'/'sefa' -> directions of the current network
        self.status = {"pca": "not started", "sefa": "not started"}
        self._generation = 0
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    def load_folder(self, wait: bool = False) -> None:
        """Read every NAME.npz (on a thread unless `wait`); a bad file is one line, the others load."""
        def work():
            found = {}
            files = sorted(self.folder.glob("*.npz")) if self.folder.is_dir() else []
            if len(files) > MAX_FILES:                 # a folder flooded with files: the first ones only
                self.log(f"livegan: directions: {len(files)} files in {self.folder}; reading the first {MAX_FILES}")
            for p in files[:MAX_FILES]:
                try:
                    d = Direction.load(p)
                    found[d.name] = d
                except DirectionError as e:
                    self.log(f"livegan: direction {p.name}: {e}")
            with self._lock:
                self._named.update(found)
        if wait:
            work()
        else:
            threading.Thread(target=work, name="livegan-directions", daemon=True).start()

    def network_changed(self, G, network_id: str, samples: Optional[int] = None) -> None:
        """Drop the old network's pca/sefa and compute (or read) the new one's in the background,
        from a copy made here (the engine owns G and runs it meanwhile; see OwnedCopy)."""
        from .unsupervised import OwnedCopy, cached, env_samples

        G = OwnedCopy(G)
        with self._lock:
            self._generation += 1
            gen = self._generation
            self._net = {}
            self.status = {"pca": "computing", "sefa": "computing"}
        n = samples or env_samples()

        def work(kind: str):
            def progress(f: float) -> None:
                if self._stopping.is_set():          # the show is ending: stop between batches
                    raise DirectionError("stopped")
                with self._lock:
                    if gen == self._generation:
                        self.status[kind] = f"computing {f:.0%}"
            try:
                found = cached(G, network_id, kind, n, progress)
                with self._lock:
                    if gen == self._generation:
                        self._net[kind], self.status[kind] = found, "ready"
            except Exception as e:
                with self._lock:
                    if gen == self._generation:
                        self.status[kind] = f"failed: {e}"
        self._threads = [t for t in self._threads if t.is_alive()]
        for kind in ("sefa", "pca"):
            t = threading.Thread(target=work, args=(kind,), name=f"livegan-{kind}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self, timeout: float = 30.0) -> None:
        """End the background computations before the interpreter does: a daemon thread still
        inside torch at exit can abort the process ('terminate called ...')."""
        self._stopping.set()
        for t in self._threads:
            t.join(timeout)

    def add(self, d: Direction) -> None:
        with self._lock:
            self._named[d.name] = d

    def resolve(self, ref: str) -> Direction:
        """NAME, pca:K or sefa:K; DirectionError (one line) when unknown or not ready yet."""
        ref = str(ref).strip()
        kind, sep, idx = ref.partition(":")
        with self._lock:
            if sep and kind in ("pca", "sefa"):
                if not idx.isdigit():
                    raise DirectionError(f"{ref!r}: expected {kind}:K with K a number")
                have = self._net.get(kind)
                if have is None:
                    raise DirectionError(f"{kind} directions are not ready ({self.status[kind]})")
                if int(idx) >= len(have):
                    raise DirectionError(f"{ref!r}: there are {len(have)} {kind} directions (0..{len(have) - 1})")
                return have[int(idx)]
            if ref in self._named:
                return self._named[ref]
            names = ", ".join(sorted(self._named)) or "none"
        raise DirectionError(f"no direction {ref[:60]!r} (fitted: {names}; or pca:K, sefa:K)")

    def ready(self, ref: str) -> bool:
        try:
            self.resolve(ref)
            return True
        except DirectionError:
            return False
