"""Training StyleGAN-Canvas: the condition the encoder reads for each real picture, the losses
that compare its output with the real picture, and resuming our own Canvas snapshot."""
from __future__ import annotations

import json

import numpy as np
import torch

from .networks import is_canvas_r
from .options import CONDS


class CanvasTraining:
    """The Trainer's Canvas parts (a part of Trainer: it uses its state)."""

    def _canvas_from_snapshot(self):
        """Resuming our own Canvas snapshot: the architecture it was built with."""
        if not (self.o.resume and self.o.resume.endswith(".pt")):
            return None
        from stylegan3 import build_generator

        from ..safeio import load_torch

        try:
            st = load_torch(self.o.resume, "Canvas training snapshot")
            arch = json.loads(st["G_arch"])
            family, kwargs = arch["family"], arch["init_kwargs"]
        except Exception:
            raise ValueError(f"--resume {self.o.resume}: not a livegan Canvas training snapshot") from None
        G = build_generator(family, kwargs)
        if is_canvas_r(G) != (self.o.cfg == "canvas-r"):
            raise ValueError(f"--resume {self.o.resume}: a snapshot of --cfg canvas-{'r' if is_canvas_r(G) else 't'}")
        return G.train().requires_grad_(False)

    def condition(self, real: torch.Tensor) -> torch.Tensor:
        """What the encoder reads for a real picture: resized to the network's condition size, then
        the show's own preprocessing (conditions/prep.py) with --cond and --cond-blur."""
        from ..conditions.prep import prepare
        h, w = self.G.cond_shape[1:]
        x = real if tuple(real.shape[-2:]) == (h, w) else torch.nn.functional.interpolate(
            real, size=(h, w), mode="bilinear", align_corners=False)
        mode = CONDS.index(self.o.cond)
        return prepare(x, mode, self.o.cond_blur * h / 256.0)

    def _setup_canvas_loss(self) -> None:
        o = self.o
        self.loss.condition = self.condition
        self.loss.target_l2 = o.euclidean
        if o.vgg:
            from .perceptual import VGGFeatures
            vgg = VGGFeatures.load(o.vgg).to(self.dev)
            self.loss.perceptual, self.loss.perceptual_weight = vgg.distance, o.perceptual
        n = min(64, len(self.data))                  # the fakes grid: the same reals' conditions every snapshot
        reals = torch.from_numpy(np.stack([self.data.image(i) for i in range(n)]).astype(np.float32)) / 127.5 - 1
        with torch.no_grad():
            self.grid_cond = self.condition(reals.to(self.dev))
