"""What the gallery serves from: the store, the network (loaded once, on first need), the render
jobs, the walk service's cursor, the presets folder and the show to send recalls to."""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
from ..defaults import DEFAULT_NETWORK

from ..store import Store


@dataclass
class Cursor:
    """The walk loaded for the walk service's /next_image."""
    walk_id: int
    walk: object
    keys: list
    index: int = 0


@dataclass
class Studio:
    outdir: Path
    network: str = DEFAULT_NETWORK
    presets: Optional[Path] = None
    show: Optional[str] = None                       # HOST:PORT of a running show (OSC)
    store: Store = field(init=False)
    _G: object = field(default=None, init=False)
    _videos: object = field(default=None, init=False)
    _projector: object = field(default=None, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    cursor: Optional[Cursor] = field(default=None, init=False)
    cursor_lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    synth_lock: threading.Lock = field(default_factory=threading.Lock, init=False)   # one frame at a time

    def __post_init__(self) -> None:
        from ..presets import PRESET_DIR

        self.outdir = Path(self.outdir)
        self.store = Store(self.outdir)               # opening repairs jobs a dead process left
        self.presets = Path(self.presets) if self.presets else PRESET_DIR

    @property
    def G(self):
        with self._lock:
            if self._G is None:
                from stylegan3 import load_network
                self._G = load_network(self.network, device="cpu")
            return self._G

    @property
    def projector(self):
        """Projections of dropped pictures (projection/jobs.py), made on first use."""
        from ..projection.jobs import Projector

        with self._lock:
            if self._projector is None:
                self._projector = Projector(self.outdir, self.network)
            return self._projector

    @property
    def videos(self):
        from ..offline.walks import VideoManager

        G = self.G
        with self._lock:
            if self._videos is None:
                self._videos = VideoManager(self.store, G, self.network)
            return self._videos

    def file(self, walk_id: int, filename: str) -> Path:
        """A file inside walk `walk_id`'s folder: no '..', no absolute path, no link out of the store."""
        if "\x00" in filename or filename.startswith(("/", "\\")) or ".." in Path(filename).parts:
            raise PermissionError("outside the store")
        root = os.path.realpath(self.outdir)
        p = self.outdir / str(int(walk_id)) / filename
        real = os.path.realpath(p)
        if not real.startswith(root + os.sep):
            raise PermissionError("outside the store")
        if not os.path.isfile(real):
            raise FileNotFoundError(filename)
        return Path(real)

    def delete_walk(self, walk_id: int) -> None:
        """A walk this gallery renders is cancelled first, then deleted; one that another process
        records or renders into raises store.WalkBusy (409): its files are still being written."""
        for r in self.store.renders():
            if r["walk_id"] == walk_id and r["status"] in ("queued", "rendering"):
                self.videos.cancel(r["id"])
                self.videos.wait(r["id"], 60)
        self.store.delete_walk(walk_id)

    def image_row(self, image_id: int) -> dict:
        r = self.store.image(image_id)
        if r is None:
            raise KeyError(f"image {image_id}")
        return r

    def image_path(self, row: dict) -> Path:
        return self.file(row["walk_id"], row["filename"])

    def image_ws(self, row: dict) -> np.ndarray:
        import io

        from ..safeio import read_regular

        ws = (row.get("state") or {}).get("ws")
        if not ws:
            raise ValueError(f"image {row['id']} keeps no ws")
        return np.load(io.BytesIO(read_regular(self.file(row["walk_id"], ws), 64 << 20, "ws")), allow_pickle=False)
