"""An encoder from a picture to the ws that draw it, for one network, learnt from that network's
own samples (no data set: draw w, render, learn the way back).

The network: the picture at 64x64 (or less for a smaller network) through four stride-2 3x3
convolutions (32, 64, 128, 256 channels, leaky ReLU), 4x4x256 features, a 512-wide hidden layer, and
one linear layer to ws - w_avg in units of w's spread [num_ws, w_dim].  Small on purpose: it runs
beside the generator in the live mirror, at a fraction of its time (bench/encoder.py).

Training: each step a batch of z (and, half the time, a second one mixed in from a random layer,
and a random truncation), mapped and rendered; the loss is the mean squared error of the encoded
ws against the true ones, in units of w's spread.  The file is .safetensors: the weights, and in
its metadata the network it belongs to (identity, num_ws, w_dim) and w_avg/w_std, so an encoder
for another network is refused in one line.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

FORMAT = "livegan-encoder/1"
SIDE = 64


class Encoder(nn.Module):
    def __init__(self, num_ws: int, w_dim: int, side: int = SIDE, channels=(32, 64, 128, 256), hidden: int = 512):
        super().__init__()
        self.num_ws, self.w_dim, self.side = num_ws, w_dim, side
        convs, cin = [], 3
        for c in channels:
            convs.append(nn.Conv2d(cin, c, 3, stride=2, padding=1))
            cin = c
        self.convs = nn.ModuleList(convs)
        cells = (side // 2 ** len(channels)) ** 2
        self.fc = nn.Linear(cin * cells, hidden)
        self.out = nn.Linear(hidden, num_ws * w_dim)
        nn.init.zeros_(self.out.weight)                   # starts at w_avg: never worse than the average
        nn.init.zeros_(self.out.bias)
        self.register_buffer("w_avg", torch.zeros(w_dim))
        self.register_buffer("w_std", torch.ones([]))

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        """Pictures [N, 3, H, W] in [-1, 1] -> ws [N, num_ws, w_dim]."""
        x = img.float()
        if x.shape[-1] != self.side or x.shape[-2] != self.side:
            x = F.interpolate(x, size=(self.side, self.side), mode="area" if x.shape[-1] > self.side else "bilinear")
        for conv in self.convs:
            x = F.leaky_relu(conv(x), 0.2)
        x = F.leaky_relu(self.fc(x.flatten(1)), 0.2)
        d = self.out(x).view(-1, self.num_ws, self.w_dim)
        return self.w_avg + d * self.w_std

    def guess(self, image: np.ndarray) -> np.ndarray:
        """One picture (HWC uint8) -> ws [num_ws, w_dim] float32."""
        dev = self.w_avg.device
        t = torch.from_numpy(np.array(image, np.uint8)).to(dev).permute(2, 0, 1)[None].float() / 127.5 - 1
        with torch.no_grad():
            return self(t)[0].cpu().numpy().astype(np.float32)


def side_for(G) -> int:
    return min(SIDE, max(16, G.img_resolution))


def make_encoder(G) -> Encoder:
    from .search import w_stats

    enc = Encoder(G.num_ws, G.w_dim, side_for(G))
    avg, std = w_stats(G)
    enc.w_avg.copy_(avg.cpu())
    enc.w_std.fill_(std / G.w_dim ** 0.5)                  # per coordinate: the loss starts near 1
    return enc


def save_encoder(enc: Encoder, path: Path, network_id: str) -> None:
    from safetensors.torch import save_file

    from ..safeio import atomic_write

    meta = {"format": FORMAT, "network_id": network_id, "num_ws": str(enc.num_ws), "w_dim": str(enc.w_dim),
            "side": str(enc.side)}
    state = {k: v.detach().cpu().contiguous() for k, v in enc.state_dict().items()}
    tmp = Path(path).with_name(Path(path).name + ".tmp")
    save_file(state, str(tmp), metadata=meta)
    atomic_write(path, lambda f: f.write(tmp.read_bytes()))
    tmp.unlink()


def load_encoder(path: str, G, network_id: Optional[str] = None) -> Encoder:
    """An encoder file for G; one line when it is not one, or is another network's."""
    from safetensors import safe_open

    from ..boundary import number
    from ..safeio import read_regular
    from ..store import network_identity

    p = Path(path)
    read_regular(p, 1 << 30, "encoder")                    # a regular file, of sane size
    try:
        with safe_open(str(p), "pt") as f:
            meta = f.metadata() or {}
            state = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:
        raise ValueError(f"{path}: not an encoder file ({type(e).__name__})") from None
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path}: not a livegan encoder (made by `livegan train encoder`)")
    sizes = {}
    for key, lo, hi in (("num_ws", 1, 256), ("w_dim", 1, 4096), ("side", 16, 256)):
        try:                                   # the file's own words: sizes checked before anything is built
            sizes[key] = number(meta.get(key), key, lo, hi, integer=True, text=True)
        except ValueError as e:
            raise ValueError(f"{path}: not a livegan encoder (its {e})") from None
    meta.update({k: str(v) for k, v in sizes.items()})
    want = network_id or network_identity(getattr(G, "source", "") or "")
    if (int(meta["num_ws"]), int(meta["w_dim"])) != (G.num_ws, G.w_dim):
        raise ValueError(f"{path}: an encoder for another network ({meta['num_ws']}x{meta['w_dim']} ws; "
                         f"this one has {G.num_ws}x{G.w_dim})")
    if want and meta.get("network_id") not in (want, ""):
        raise ValueError(f"{path}: an encoder for another network (made for {str(meta.get('network_id', '?'))[:40]}, "
                         f"this is {want[:40]})")
    if not all(t.is_floating_point() for t in state.values()):
        raise ValueError(f"{path}: its weights are not floating-point numbers")
    enc = Encoder(int(meta["num_ws"]), int(meta["w_dim"]), int(meta["side"]))
    try:
        enc.load_state_dict(state)
    except RuntimeError as e:
        raise ValueError(f"{path}: its weights do not fit an encoder ({str(e).splitlines()[0][:80]})") from None
    enc.network_id = meta.get("network_id", "")
    return enc.to(next(G.parameters()).device).eval()


def sample_batch(G, n: int, rng: np.random.RandomState) -> tuple[torch.Tensor, torch.Tensor]:
    """(pictures [n, 3, H, W], their ws [n, num_ws, w_dim]) from the network's own samples: a random
    truncation in [0.5, 1], and half of them style-mixed from a random layer."""
    from ..latents import classes_for
    from .search import synth

    dev = next(G.parameters()).device
    with torch.no_grad():
        z = torch.from_numpy(rng.randn(2 * n, G.z_dim).astype(np.float32)).to(dev)
        psi = torch.from_numpy(rng.uniform(0.5, 1.0, (2 * n, 1, 1)).astype(np.float32)).to(dev)
        w = G.mapping(z, classes_for(G, 2 * n, rng=rng))
        w = G.mapping.w_avg + psi * (w - G.mapping.w_avg)
        ws, other = w[:n].clone(), w[n:]
        for i in range(n):
            if rng.rand() < 0.5:
                k = rng.randint(1, G.num_ws)
                ws[i, k:] = other[i, k:]
        return synth(G, ws), ws


def train_step(enc: Encoder, opt, G, batch: int, rng) -> float:
    img, ws = sample_batch(G, batch, rng)
    loss = ((enc(img) - ws) / enc.w_std).pow(2).mean()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return float(loss.detach())
