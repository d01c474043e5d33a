"""A training run's options, as one dataclass, and the choices its command line offers, from the
same constants (nothing heavy here: `livegan train --help` imports it)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

CFGS = ("stylegan2", "stylegan3-t", "stylegan3-r", "canvas-t", "canvas-r")
CONDS = ("plain", "blur", "edges")                 # the show's condition prepressing (conditions/prep.py)
AUGS = ("ada", "fixed", "noaug", "diffaug")
# ADA's augmentation pipelines by name: the groups each applies (augment.py's GROUPS).
PIPES = {
    "blit": ("blit",), "geom": ("geom",), "color": ("color",), "filter": ("filter",), "noise": ("noise",),
    "cutout": ("cutout",), "bg": ("blit", "geom"), "bgc": ("blit", "geom", "color"),
    "bgcf": ("blit", "geom", "color", "filter"), "bgcfn": ("blit", "geom", "color", "filter", "noise"),
    "bgcfnc": ("blit", "geom", "color", "filter", "noise", "cutout"),
}


@dataclass
class TrainOptions:
    data: str
    outdir: str
    cfg: Optional[str] = None         # None: stylegan2, or the --resume snapshot's (arch.py)
    batch: int = 32
    gamma: float = 10.0
    kimg: float = 25000.0
    tick: float = 4.0                 # kimg per tick
    snap: int = 50                    # ticks per snapshot
    keep: int = 0                     # resumable snapshots (.pt) kept, newest first; 0 = all
    seed: int = 0
    mirror: bool = False
    aug: str = "ada"
    p: float = 0.2                    # --aug fixed: the augmentation probability
    target: float = 0.6               # --aug ada: the r_t target
    augpipe: str = "bgc"
    ada_kimg: float = 500.0           # --aug ada: kimg for p to move from 0 to 1
    resume: Optional[str] = None
    freezed: int = 0
    fp32: bool = False
    batch_gpu: Optional[int] = None
    cbase: Optional[int] = None       # None: 32768, or the --resume snapshot's
    cmax: Optional[int] = None        # None: 512, or the --resume snapshot's
    glr: Optional[float] = None
    dlr: float = 0.002
    map_depth: Optional[int] = None
    mbstd_group: Optional[int] = None  # None: 4, or the --resume snapshot's
    w_dim: Optional[int] = None       # None: 512, or the --resume snapshot's (livegan: smaller for small data)
    device: str = "cpu"
    store: Optional[str] = None       # the store the run is a walk of (the gallery shows it); None: none
    labels: bool = False              # condition G and D on the dataset's labels (the official --cond=1)
    cond: str = "blur"                # canvas: the condition made from each real picture
    cond_blur: float = 21.0           # canvas: blur sigma in pixels of a 256-high picture (the show's cond_blur)
    euclidean: float = 1.0            # canvas: weight of the L2 target loss
    perceptual: float = 1.0           # canvas: weight of the VGG19 target loss (only with --vgg)
    vgg: Optional[str] = None         # canvas: VGG19 weights file for the perceptual term

    def check(self) -> "TrainOptions":
        if self.cfg not in CFGS:
            raise ValueError(f"--cfg {self.cfg!r}: one of {', '.join(CFGS)}")
        if self.aug not in AUGS:
            raise ValueError(f"--aug {self.aug!r}: one of {', '.join(AUGS)}")
        if self.augpipe not in PIPES:
            raise ValueError(f"--augpipe {self.augpipe!r}: one of {', '.join(PIPES)}")
        if not 0 <= self.p <= 1 or not 0 <= self.target <= 1:
            raise ValueError(f"--p {self.p} and --target {self.target} must lie in [0, 1]")
        if not self.ada_kimg > 0:
            raise ValueError(f"--ada-kimg {self.ada_kimg}: must be a positive number")
        if self.cond not in CONDS:
            raise ValueError(f"--cond {self.cond!r}: one of {', '.join(CONDS)}")
        if self.labels and self.cfg.startswith("canvas"):
            raise ValueError("--cond labels: a Canvas network is conditioned on a picture, not on labels")
        bg = self.batch_gpu or self.batch
        if self.batch < 1 or bg < 1 or self.batch % bg:
            raise ValueError(f"--batch {self.batch} must be a multiple of --batch-gpu {bg}")
        if bg < self.mbstd_group or bg % self.mbstd_group:
            raise ValueError(f"--batch-gpu {bg} must be a multiple of --mbstd-group {self.mbstd_group} "
                             "(minibatch standard deviation works on groups of that many)")
        for name in ("gamma", "kimg", "tick"):
            v = getattr(self, name)
            if not math.isfinite(v) or v < 0 or (name != "gamma" and v <= 0):
                raise ValueError(f"--{name} {v}: must be a positive number")
        return self
