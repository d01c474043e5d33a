"""The perceptual term of StyleGAN-Canvas's target loss: distances between VGG19 features of the
picture made and of the real one.  The weights come only from a file the user names (`--vgg
PATH`: torchvision's vgg19 state dict, `.pth` or `.safetensors`); nothing downloads them."""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

# VGG19's convolutions (channels) and pools ("M"); features are taken after the ReLU before each pool.
LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M")
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


class VGGFeatures(nn.Module):
    def __init__(self):
        super().__init__()
        layers, cin = [], 3
        for v in LAYOUT:
            if v == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                layers += [nn.Conv2d(cin, v, 3, padding=1), nn.ReLU(inplace=False)]
                cin = v
        self.features = nn.Sequential(*layers)
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1))

    @classmethod
    def load(cls, path: str | Path) -> "VGGFeatures":
        p = Path(path)
        if not p.is_file():
            raise ValueError(f"--vgg {path}: no such file (torchvision's vgg19 weights, named by you; nothing is downloaded)")
        try:
            if p.suffix == ".safetensors":
                from safetensors.torch import load_file
                state = load_file(str(p))
            else:
                from ..safeio import load_torch
                state = load_torch(p, "VGG19 weights file")                   # data only: no code runs
        except Exception as e:
            raise ValueError(f"--vgg {path}: unreadable ({type(e).__name__})") from None
        net = cls()
        want = {k for k in net.state_dict() if k.startswith("features.")}
        got = {k: v for k, v in state.items() if k.startswith("features.")} if isinstance(state, dict) else {}
        if set(got) != want or any(tuple(got[k].shape) != tuple(net.state_dict()[k].shape) for k in want):
            raise ValueError(f"--vgg {path}: not VGG19 weights (torchvision's vgg19 state dict: features.N.weight/bias)")
        net.load_state_dict(got, strict=False)
        return net.eval().requires_grad_(False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = ((x + 1) / 2 - self.mean) / self.std
        out = []
        for layer in self.features:
            if isinstance(layer, nn.MaxPool2d):
                out.append(x)
                if min(x.shape[-2:]) < 2:
                    break
            x = layer(x)
        return out

    def distance(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Per picture: the mean over layers of each layer's mean squared feature difference."""
        fa, fb = self(a), self(b)
        return torch.stack([F.mse_loss(x, y, reduction="none").mean([1, 2, 3]) for x, y in zip(fa, fb)]).mean(0)
