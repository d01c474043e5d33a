"""Projections asked for by the gallery (a dropped picture): one at a time on a worker thread with
its own copy of the network (the studio's serves frames meanwhile), a short queue (a full one
refuses: 429), each job's progress and result (the store image it became) kept for polling."""
from __future__ import annotations

import io
import itertools
import threading
from collections import OrderedDict, deque
from pathlib import Path
from typing import Optional

MAX_QUEUE = 4
KEEP = 64                                    # finished jobs remembered for polling


class QueueFull(RuntimeError):
    pass


class Projector:
    def __init__(self, outdir: Path, network: str):
        self.outdir, self.network = Path(outdir), network
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._jobs: "OrderedDict[int, dict]" = OrderedDict()
        self._queue: deque = deque()
        self._wake = threading.Condition(self._lock)
        self._thread: Optional[threading.Thread] = None
        self._G = None
        # a 64-megapixel picture takes about 700 MB while it is decoded and made RGB: requests
        # check theirs one at a time, and a full queue refuses before any decoding
        self._checking = threading.Lock()

    def submit(self, data: bytes, steps: int, name: str = "dropped") -> int:
        """A picture's bytes (checked here: one line when it is not a picture) -> a job id."""
        from ..pictures import read_picture

        self._room()
        with self._checking:
            read_picture(io.BytesIO(data), "the dropped picture")    # decoded now: a broken file is refused here
        with self._lock:
            self._room()
            jid = next(self._ids)
            self._jobs[jid] = {"job": jid, "status": "queued", "progress": 0.0, "image": None, "error": None,
                               "steps": steps, "name": name[:60]}
            self._queue.append((jid, data, steps))
            while len(self._jobs) > KEEP + MAX_QUEUE:
                self._jobs.popitem(last=False)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._work, name="livegan-projector", daemon=True)
                self._thread.start()
            self._wake.notify()
        return jid

    def _room(self) -> None:
        if len(self._queue) >= MAX_QUEUE:
            raise QueueFull(f"{MAX_QUEUE} projections are waiting; try again when one is done")

    def status(self, jid: int) -> dict:
        with self._lock:
            if jid not in self._jobs:
                raise KeyError(f"projection {jid}")
            return dict(self._jobs[jid])

    def _set(self, jid: int, **kw) -> None:
        with self._lock:
            self._jobs[jid].update(kw)

    def _work(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    return
                jid, data, steps = self._queue.popleft()
            self._set(jid, status="projecting")
            try:
                self._set(jid, status="done", progress=1.0, image=self._project(jid, data, steps))
            except Exception as e:                   # one line on the job; the next one runs
                self._set(jid, status="failed", error=" ".join(f"{type(e).__name__}: {e}".split())[:300])

    def _project(self, jid: int, data: bytes, steps: int) -> int:
        import numpy as np

        from ..conditions.sources import fit_to
        from ..pictures import read_picture
        from .distance import distance_for
        from .search import project
        from .store import keep

        if self._G is None:
            from stylegan3 import load_network
            self._G = load_network(self.network, device="cpu")
        G = self._G
        pixels = np.asarray(read_picture(io.BytesIO(data), "the dropped picture"))
        target = fit_to(pixels, (G.img_resolution, G.img_resolution))
        name = self.status(jid)["name"]

        def step(i, loss, img):
            if i % 10 == 0:
                self._set(jid, progress=round(i / max(1, steps), 3))
        res = project(G, target, distance_for("auto", self.network, G, target), steps=steps, on_step=step)
        res.settings.update(network=self.network, image=name)
        _, image_id = keep(self.outdir, res, Path(f"{name}.npy"), self.network)
        return image_id
