"""The dataset a run trains on, as `livegan dataset` (or the official dataset_tool) wrote it: a zip
or a folder of PNGs, and with `labels`, each image's label from dataset.json (conditional training)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..safeio import read_regular, read_zip_entry
from .dataset import MAX_FILE_BYTES, check_label


class ImageSet:
    """A dataset `livegan dataset` (or the official dataset_tool) wrote: zip or folder of PNGs."""

    def __init__(self, path: str, labels: bool = False):
        import zipfile

        self.path = Path(path)
        if not self.path.exists():
            raise ValueError(f"--data {path}: no such dataset")
        if self.path.suffix.lower() == ".zip":
            try:
                z = zipfile.ZipFile(self.path)
            except zipfile.BadZipFile:
                raise ValueError(f"--data {path}: not a zip archive") from None
            names = sorted(n for n in z.namelist() if n.lower().endswith(".png"))
            self._read = lambda n, z=z: read_zip_entry(z, z.getinfo(n), MAX_FILE_BYTES)      # never beyond what it declares
            self._json = lambda z=z: read_zip_entry(z, z.getinfo("dataset.json"), MAX_FILE_BYTES) if "dataset.json" in z.namelist() else None
        else:
            names = sorted(str(p.relative_to(self.path)) for p in self.path.rglob("*.png"))
            self._read = lambda n: (self.path / n).read_bytes()
            js = self.path / "dataset.json"
            self._json = lambda: read_regular(js, MAX_FILE_BYTES, "dataset.json") if js.is_file() else None
        if not names:
            raise ValueError(f"--data {path}: no images (make one with `livegan dataset`)")
        self.names = names
        first = self.image(0)
        self.resolution, self.channels = first.shape[1], first.shape[0]
        if first.shape[1] != first.shape[2] or self.resolution & (self.resolution - 1) or self.resolution < 8:
            raise ValueError(f"--data {path}: images are {first.shape[2]}x{first.shape[1]}; training needs square, "
                             "power-of-two sizes of at least 8 (`livegan dataset --res N`)")
        self.labels = self._labels() if labels else None          # [N, label_dim] float32

    @property
    def label_dim(self) -> int:
        return 0 if self.labels is None else int(self.labels.shape[1])

    def _labels(self) -> np.ndarray:
        """Each image's label from dataset.json, as the official loader reads it: a class index
        becomes a one-hot vector over (largest index + 1) classes; a vector is taken as it is."""
        where = f"--data {self.path}: dataset.json"
        raw = self._json()
        if raw is None:
            raise ValueError(f"--data {self.path}: no dataset.json, so no labels to condition on "
                             "(make the dataset from a folder with a dataset.json: `livegan dataset`)")
        try:
            pairs = json.loads(raw).get("labels")
        except (ValueError, AttributeError):
            raise ValueError(f"{where}: not a dataset.json (expected {{\"labels\": [[name, label], ...]}})") from None
        if not pairs:
            raise ValueError(f"{where}: its labels are null: a dataset without labels trains unconditioned")
        try:
            by_name = {str(k).replace("\\", "/"): check_label(Path(where), str(k), v) for k, v in pairs}
        except (TypeError, ValueError) as e:
            raise ValueError(str(e) if str(e) else f"{where}: malformed labels") from None
        missing = [n for n in self.names if n.replace("\\", "/") not in by_name]
        if missing:
            raise ValueError(f"{where}: no label for {missing[0]} ({len(missing)} images without one)")
        got = [by_name[n.replace("\\", "/")] for n in self.names]
        if all(isinstance(v, int) for v in got):
            out = np.zeros((len(got), max(got) + 1), np.float32)
            out[np.arange(len(got)), got] = 1.0
            return out
        if any(isinstance(v, int) for v in got) or len({len(v) for v in got}) != 1:
            raise ValueError(f"{where}: labels mix class indices and vectors, or vectors of different lengths")
        return np.asarray(got, np.float32)

    def __len__(self) -> int:
        return len(self.names)

    def image(self, i: int) -> np.ndarray:
        import io

        from ..pictures import read_picture

        try:                                    # refused by its declared size (a network is at most 4096 px)
            im = read_picture(io.BytesIO(self._read(self.names[i])), self.names[i], max_pixels=4096 * 4096)
        except (ValueError, OSError) as e:
            raise ValueError(f"--data {self.path}: {e}") from None
        return np.asarray(im).transpose(2, 0, 1)
