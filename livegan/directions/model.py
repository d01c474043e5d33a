"""A direction in W: a unit vector with its σ (so a knob's ±1 is ±1σ), or a Gaussian class model
(mean and shrunk precision) whose knob follows the class log-density's gradient into the class and
stops at its mean.  Saved as NAME.npz (arrays) + NAME.json (how it was made)."""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

KINDS = ("linear", "gaussian")
GAUSS_STEPS = 16                  # gradient-flow steps per σ of knob travel


class DirectionError(ValueError):
    pass


@dataclass(frozen=True)
class Direction:
    name: str
    kind: str                                    # 'linear' or 'gaussian'
    vector: np.ndarray                           # [w_dim] unit (linear); unused for gaussian
    sigma: float = 1.0                           # std of the latents' projection: the knob's unit
    mean: Optional[np.ndarray] = None            # gaussian: class mean [w_dim]
    precision: Optional[np.ndarray] = None       # gaussian: inverse shrunk covariance [w_dim, w_dim]
    meta: dict = field(default_factory=dict, compare=False)

    @property
    def w_dim(self) -> int:
        return int((self.mean if self.kind == "gaussian" else self.vector).shape[0])

    def apply(self, w: np.ndarray, amount: float) -> np.ndarray:
        """Rows of w [n, w_dim] moved by `amount` (in σ).  Linear: along the unit vector.
        Gaussian: positive amounts follow -∇ of the Mahalanobis distance to the class mean, in
        steps of σ/GAUSS_STEPS, never past the mean (the distance only decreases, then stops);
        negative amounts move away along the same flow."""
        if amount == 0.0:
            return w
        if self.kind == "linear":
            return w + (amount * self.sigma) * self.vector
        out = np.array(w, np.float64)
        h = self.sigma / GAUSS_STEPS
        steps = int(round(abs(amount) * GAUSS_STEPS))
        sign = 1.0 if amount > 0 else -1.0
        for r in range(out.shape[0]):
            x = out[r]
            for _ in range(steps):
                g = self.precision @ (self.mean - x)             # towards the mean, in the metric
                n = np.linalg.norm(g)
                if n < 1e-12:
                    break
                step = sign * h * g / n
                if sign > 0:
                    d_now = self.mahalanobis(x)
                    if d_now <= 1e-9:
                        break
                    nxt = x + step
                    if self.mahalanobis(nxt) >= d_now:           # would overshoot: land on the mean
                        x = self.mean.copy()
                        break
                    x = nxt
                else:
                    x = x + step
            out[r] = x
        return out.astype(w.dtype)

    def mahalanobis(self, x: np.ndarray) -> float:
        d = x - self.mean
        return float(np.sqrt(max(d @ self.precision @ d, 0.0)))

    # -- files and logs --------------------------------------------------------------------------
    def save(self, folder: Path) -> Path:
        from ..safeio import atomic_bytes, atomic_write

        folder.mkdir(parents=True, exist_ok=True)
        arrays = {"vector": self.vector, "sigma": np.array(self.sigma)}
        if self.kind == "gaussian":
            arrays.update(mean=self.mean, precision=self.precision)
        atomic_write(folder / f"{self.name}.npz", lambda f: np.savez(f, **arrays))
        atomic_bytes(folder / f"{self.name}.json", (json.dumps(dict(self.meta, name=self.name, kind=self.kind,
                                                                     sigma=self.sigma), indent=2) + "\n").encode())
        return folder / f"{self.name}.npz"

    @staticmethod
    def load(path: Path) -> "Direction":
        from ..boundary import json_text
        from ..safeio import read_regular

        path = Path(path)
        try:
            meta = json_text(read_regular(path.with_suffix(".json"), 1 << 20, "direction").decode(), "metadata")
            from ..safeio import load_npz
            z = load_npz(read_regular(path, 64 << 20, "direction"), 64 << 20, f"direction {path.name}")
            kind = meta.get("kind")
            if kind not in KINDS:
                raise DirectionError(f"kind must be one of {', '.join(KINDS)}")
            d = Direction(str(meta.get("name", path.stem)), kind, np.asarray(z["vector"], np.float64),
                          float(z["sigma"]), np.asarray(z["mean"], np.float64) if kind == "gaussian" else None,
                          np.asarray(z["precision"], np.float64) if kind == "gaussian" else None, meta)
        except DirectionError as e:
            raise DirectionError(f"{path}: {e}") from None
        except Exception as e:
            raise DirectionError(f"{path}: not a direction file ({type(e).__name__}: {e})") from None
        d.check()
        return d

    def check(self) -> None:
        arrs = [self.vector] + ([self.mean, self.precision] if self.kind == "gaussian" else [])
        if not all(np.all(np.isfinite(a)) for a in arrs) or not np.isfinite(self.sigma) or self.sigma <= 0:
            raise DirectionError(f"{self.name}: non-finite values or a σ that is not positive")
        if self.kind == "gaussian" and self.precision.shape != (self.w_dim, self.w_dim):
            raise DirectionError(f"{self.name}: precision must be [{self.w_dim}, {self.w_dim}]")

    def to_log(self) -> dict:
        """Embedded in a control log, so a replay never depends on files or caches."""
        d = {"name": self.name, "kind": self.kind, "sigma": self.sigma, "vector": _b64(self.vector)}
        if self.kind == "gaussian":
            d.update(mean=_b64(self.mean), precision=_b64(self.precision))
        return d

    @staticmethod
    def from_log(d: dict) -> "Direction":
        g = d["kind"] == "gaussian"
        return Direction(d["name"], d["kind"], _unb64(d["vector"]), float(d["sigma"]),
                         _unb64(d["mean"]) if g else None, _unb64(d["precision"]) if g else None)


def _b64(a: np.ndarray) -> dict:
    a = np.ascontiguousarray(a, np.float64)
    return {"shape": list(a.shape), "f8": base64.b64encode(a.tobytes()).decode()}


def _unb64(d: dict) -> np.ndarray:
    return np.frombuffer(base64.b64decode(d["f8"]), np.float64).reshape(d["shape"]).copy()
