"""Labelled latents for fitting: from the store (liked images, a tag) or from a CSV that any
classifier wrote (a CLIP zero-shot classifier over exported snapshots, say): one row per image id
or seed, and a label column of 1/0 (true/false, yes/no).

    image,label            seed,fire
    12,1                   1003,1
    13,0                   1004,0
"""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Optional

import numpy as np

from ..latents import classes_for, z_from_seed
from ..store import Store
from .model import DirectionError

TRUE, FALSE = ("1", "true", "yes", "y"), ("0", "false", "no", "n", "")


def _image_w(store: Store, row: dict) -> Optional[np.ndarray]:
    """The first w of an image's saved ws (what the snapshot rendered, truncation included)."""
    state = row.get("state") or {}
    ws = state.get("ws")
    if not ws:
        return None
    try:
        from ..safeio import read_regular
        w = np.load(io.BytesIO(read_regular(store.walk_dir(row["walk_id"]) / ws, 64 << 20, "ws")), allow_pickle=False)
    except (OSError, ValueError):
        return None
    return np.asarray(w, np.float64).reshape(-1, w.shape[-1])[0]


class Labels:
    """Resolves label specs ('liked', 'tag:T', 'file.csv[:column]') to latent arrays."""

    def __init__(self, store: Optional[Store], space: str = "w", G=None):
        if space not in ("w", "z"):
            raise DirectionError("--space is w or z")
        self.store, self.space, self.G = store, space, G
        self.networks: set = set()

    def _images(self, where: str, args: tuple) -> list[dict]:
        if self.store is None:
            raise DirectionError("store labels need --store (the store's folder)")
        rows, _ = self.store.query_images(where, args, 0, 1_000_000)
        return rows

    def _from_rows(self, rows: list[dict]) -> np.ndarray:
        out = []
        for r in rows:
            v = self._image_latent(r)
            if v is not None:
                out.append(v)
                self.networks.add(r.get("network_hash"))
        return np.array(out, np.float64).reshape(len(out), -1) if out else np.zeros((0, 0))

    def _image_latent(self, row: dict) -> Optional[np.ndarray]:
        state = row.get("state") or {}
        if self.space == "z":
            s = state.get("seed")
            return None if s is None or self.G is None else z_from_seed(int(s), self.G.z_dim)[0]
        return _image_w(self.store, row)

    def _seeds(self, seeds: list[int]) -> np.ndarray:
        if self.G is None:
            raise DirectionError("seed labels need the network (--network)")
        z = np.concatenate([z_from_seed(s, self.G.z_dim) for s in seeds]).astype(np.float32)
        if self.space == "z":
            return z.astype(np.float64)
        import torch
        with torch.inference_mode():
            return self.G.mapping(torch.from_numpy(z), classes_for(self.G, len(z), cls=0.0))[:, 0].double().numpy()

    def resolve(self, spec: str, positive: bool = True) -> np.ndarray:
        """Latents [n, dim] for a spec; for a CSV, its truthy rows (positive) or falsy rows."""
        if spec == "liked":
            return self._from_rows(self._images("i.liked = ?", (1 if positive else 0,)))
        if spec.startswith("tag:"):
            tag = spec[4:].strip().lower()
            if not tag:
                raise DirectionError("tag: needs a tag, e.g. tag:fire")
            q = "EXISTS (SELECT 1 FROM tags t WHERE t.image_id = i.id AND t.tag = ?)"
            return self._from_rows(self._images(q if positive else "NOT " + q, (tag,)))
        return self._csv(spec, positive)

    def everything(self) -> np.ndarray:
        return self._from_rows(self._images("", ()))

    def _csv(self, spec: str, positive: bool) -> np.ndarray:
        from ..safeio import read_regular

        path, _, column = spec.partition(".csv")
        path = Path(path + ".csv")
        column = column.lstrip(":") or "label"
        if not spec.lower().split(":")[0].endswith(".csv"):
            raise DirectionError(f"{spec!r}: a label is liked, tag:T or a file.csv[:column]")
        try:
            text = read_regular(path, 64 << 20, "labels").decode("utf-8")
        except (OSError, ValueError) as e:
            raise DirectionError(str(e)) from None
        rows = list(csv.DictReader(io.StringIO(text)))
        if not rows:
            raise DirectionError(f"{path}: no rows")
        if column not in rows[0]:
            raise DirectionError(f"{path}: no column {column!r} (columns: {', '.join(rows[0])})")
        key = "image" if "image" in rows[0] else ("seed" if "seed" in rows[0] else None)
        if key is None:
            raise DirectionError(f"{path}: needs an 'image' (store image id) or a 'seed' column")
        ids = []
        for n, r in enumerate(rows, start=2):
            v = (r[column] or "").strip().lower()
            if v not in TRUE + FALSE:
                raise DirectionError(f"{path}: line {n}: {column} must be 1/0, true/false or yes/no, got {v[:20]!r}")
            if (v in TRUE) != positive:
                continue
            try:
                ids.append(int(r[key]))
            except (TypeError, ValueError):
                raise DirectionError(f"{path}: line {n}: {key} must be an integer") from None
        if key == "seed":
            return self._seeds(ids) if ids else np.zeros((0, 0))
        rows = [self.store.image(i) for i in ids] if self.store is not None else []
        return self._from_rows([r for r in rows if r is not None])
