"""Network bending (Broad, Kantosalo, Ojha & Colton, "Network Bending", 2021): operations on one
synthesis layer's feature maps, applied inside the synthesis loop.

The synthesis networks take `bend=` a `Bender` (or None: nothing is done, not even a call) and
hand it every layer's output with the layer's index as `synthesis_layers` numbers them.  The
bender applies the bends of that layer, batched over the whole batch, each faded in by its own
amount per sample; it can also keep a copy of chosen layers' maps (`taps`: layer views, channel
clustering).  Every operation is plain tensor work without host synchronisation (index tensors
made once per spec and device), so a captured CUDA graph can hold it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import torch
import torch.nn.functional as F

# op -> (default argument, lowest, highest, what the argument means)
OPS: dict[str, tuple[float, float, float, str]] = {
    "translate": (0.25, -1.0, 1.0, "shift to the right, as a share of the map's width"),
    "rotate": (45.0, -360.0, 360.0, "degrees, counter-clockwise"),
    "scale": (1.5, 0.05, 8.0, "zoom factor (above 1 enlarges)"),
    "flip": (0.0, 0.0, 1.0, "0 left-right, 1 up-down"),
    "invert": (0.0, 0.0, 0.0, "(none) each map mirrored within its own range"),
    "multiply": (2.0, -8.0, 8.0, "factor"),
    "threshold": (0.5, 0.0, 1.0, "level within each map's range; above it the map's top, below its bottom"),
    "erode": (3.0, 1.0, 15.0, "kernel size, pixels"),
    "dilate": (3.0, 1.0, 15.0, "kernel size, pixels"),
    "ablate": (0.0, 0.0, 0.0, "(none) the maps set to 0"),
    "sobel": (1.0, 0.0, 8.0, "gain of the edge magnitude"),
    "noise": (1.0, 0.0, 8.0, "strength, in units of each map's standard deviation"),
}


class BendError(ValueError):
    pass


@dataclass(frozen=True)
class BendSpec:
    """One bend, resolved: `channels` the channel indices (None: every channel)."""
    op: str
    layer: int
    channels: Optional[tuple[int, ...]] = None
    arg: float = 0.0
    seed: int = 0                     # the noise op's constant draw

    def __post_init__(self):
        if self.op not in OPS:
            raise BendError(f"unknown bend op {self.op!r}; choose from {', '.join(OPS)}")
        _, lo, hi, _ = OPS[self.op]
        a = float(self.arg)
        if not math.isfinite(a) or not lo <= a <= hi:
            raise BendError(f"{self.op}: argument {self.arg!r} out of range {lo:g}..{hi:g}")


def _affine(x: torch.Tensor, theta: Sequence[Sequence[float]], cache: dict, spec: "BendSpec") -> torch.Tensor:
    """Resample maps by a 2x3 matrix from output to input coordinates ([-1, 1]); outside is 0.
    The sampling grid is made once per spec, shape and device."""
    key = ("grid", spec, tuple(x.shape), x.device, x.dtype)
    grid = cache.get(key)
    if grid is None:
        t = torch.tensor(theta, dtype=torch.float32, device=x.device).unsqueeze(0).expand(x.shape[0], 2, 3)
        grid = cache[key] = F.affine_grid(t, list(x.shape), align_corners=False).to(x.dtype)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _range(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return x.amin(dim=(2, 3), keepdim=True), x.amax(dim=(2, 3), keepdim=True)


def _odd(k: float) -> int:
    return 2 * (int(round(k)) // 2) + 1


def apply_op(spec: BendSpec, x: torch.Tensor, cache: dict, noise: Optional[torch.Tensor] = None) -> torch.Tensor:
    """The bent maps (a new tensor) of x [N, C, H, W]; `cache` keeps grids and kernels."""
    op, a = spec.op, float(spec.arg)
    if op == "translate":
        return _affine(x, [[1.0, 0.0, -2.0 * a], [0.0, 1.0, 0.0]], cache, spec)
    if op == "rotate":
        r = math.radians(a)
        c, s = math.cos(r), math.sin(r)
        h, w = x.shape[-2:]
        # Output pixel -> input pixel, in normalised coordinates of a non-square map.
        return _affine(x, [[c, s * h / w, 0.0], [-s * w / h, c, 0.0]], cache, spec)
    if op == "scale":
        return _affine(x, [[1.0 / a, 0.0, 0.0], [0.0, 1.0 / a, 0.0]], cache, spec)
    if op == "flip":
        return torch.flip(x, dims=[3 if a < 0.5 else 2])
    if op == "invert":
        lo, hi = _range(x)
        return lo + hi - x
    if op == "multiply":
        return x * a
    if op == "threshold":
        lo, hi = _range(x)
        return torch.where(x >= lo + (hi - lo) * a, hi, lo)
    if op in ("erode", "dilate"):
        k = _odd(a)
        y = x if op == "dilate" else -x
        y = F.max_pool2d(y, k, stride=1, padding=k // 2)
        return y if op == "dilate" else -y
    if op == "ablate":
        return torch.zeros_like(x)
    if op == "sobel":
        c = x.shape[1]
        k = cache.get(("sobel", c, x.device, x.dtype))
        if k is None:
            kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], dtype=x.dtype, device=x.device)
            k = cache[("sobel", c, x.device, x.dtype)] = torch.stack([kx, kx.t()]).unsqueeze(1).repeat(c, 1, 1, 1)
        g = F.conv2d(F.pad(x, [1, 1, 1, 1], mode="replicate"), k, groups=c)
        gx, gy = g[:, 0::2], g[:, 1::2]
        return torch.sqrt(gx * gx + gy * gy) * a
    if op == "noise":
        std = x.std(dim=(2, 3), keepdim=True)
        return x + noise.to(x.dtype) * std * a
    raise BendError(f"unknown bend op {op!r}")


class Bender:
    """The bends of one batch: {layer: [(spec, amounts [N] or None for all 1)]} and the layers
    to keep (`taps`).  `cache` (owned by the caller, kept across batches) holds index and noise
    tensors per spec and device."""

    def __init__(self, by_layer: dict, taps: Sequence[int] = (), cache: Optional[dict] = None,
                 all_taps: bool = False):
        self.by_layer, self.taps, self.all_taps = by_layer, set(taps), all_taps
        self.cache = {} if cache is None else cache
        self.tapped: dict[int, torch.Tensor] = {}
        self._static: dict = {}                    # static benders (CUDA graphs): spec -> amounts

    @classmethod
    def for_batch(cls, bends: Sequence[Sequence[tuple]], device, taps: Sequence[int] = (),
                  cache: Optional[dict] = None) -> Optional["Bender"]:
        """bends: per sample, its (spec, amount) pairs. None when no sample bends and nothing is
        tapped (the synthesis then runs as if bending did not exist)."""
        n = len(bends)
        specs: dict[BendSpec, list[float]] = {}
        for i, sample in enumerate(bends):
            for spec, amount in sample:
                specs.setdefault(spec, [0.0] * n)[i] = float(amount)
        if not specs and not taps:
            return None
        by_layer: dict[int, list] = {}
        for spec, amounts in specs.items():
            w = None if all(a == 1.0 for a in amounts) else torch.tensor(amounts, dtype=torch.float32, device=device)
            by_layer.setdefault(spec.layer, []).append((spec, w))
        return cls(by_layer, taps, cache)

    @staticmethod
    def structure(bends: Sequence[Sequence[tuple]], taps: Sequence[int] = ()) -> tuple:
        """What a captured graph depends on: the specs a batch uses and the layers it keeps (not
        the amounts, which a static bender takes in place)."""
        specs = {spec for sample in bends for spec, _ in sample}
        return tuple(sorted(specs, key=repr)), tuple(sorted(taps))

    @classmethod
    def static(cls, structure: tuple, n: int, device, cache: Optional[dict] = None) -> "Bender":
        """A bender for a CUDA graph: every spec of `structure` with its own amount tensor [n],
        filled by `update` before each replay (a lerp at 0 or 1 is exact, so a sample whose slot
        is at rest gets its maps back unchanged)."""
        specs, taps = structure
        by_layer: dict[int, list] = {}
        for spec in specs:
            by_layer.setdefault(spec.layer, []).append((spec, torch.zeros(n, device=device)))
        b = cls(by_layer, taps, cache)
        b._static = {spec: w for ws in by_layer.values() for spec, w in ws}
        return b

    def update(self, bends: Sequence[Sequence[tuple]]) -> None:
        """A static bender's amounts for this batch, copied into its tensors in place."""
        n = len(bends)
        amounts = {spec: [0.0] * n for spec in self._static}
        for i, sample in enumerate(bends):
            for spec, a in sample:
                amounts[spec][i] = float(a)
        for spec, w in self._static.items():
            w.copy_(torch.tensor(amounts[spec], dtype=w.dtype), non_blocking=True)

    def __call__(self, index: int, x: torch.Tensor) -> torch.Tensor:
        for spec, w in self.by_layer.get(index, ()):
            x = self._bend(spec, w, x)
        if self.all_taps or index in self.taps:
            self.tapped[index] = x
        return x

    def _bend(self, spec: BendSpec, w: Optional[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        sel = None
        if spec.channels is not None:
            key = ("idx", spec.channels, x.device)
            sel = self.cache.get(key)
            if sel is None:
                bad = [c for c in spec.channels if not 0 <= c < x.shape[1]]
                if bad:
                    raise BendError(f"layer {spec.layer} has {x.shape[1]} channels; no channel {bad[0]}")
                sel = self.cache[key] = torch.tensor(spec.channels, dtype=torch.long, device=x.device)
        part = x if sel is None else x.index_select(1, sel)
        noise = self._noise(spec, part) if spec.op == "noise" else None
        bent = apply_op(spec, part, self.cache, noise)
        if w is not None:
            bent = torch.lerp(part, bent, w.to(part.dtype).view(-1, 1, 1, 1))
        return bent if sel is None else x.index_copy(1, sel, bent)

    def _noise(self, spec: BendSpec, part: torch.Tensor) -> torch.Tensor:
        key = ("noise", spec, tuple(part.shape[1:]), part.device)
        z = self.cache.get(key)
        if z is None:
            g = torch.Generator().manual_seed(int(spec.seed) * 1_000_003 + spec.layer)
            z = self.cache[key] = torch.randn(tuple(part.shape[1:]), generator=g).to(part.device)
        return z
