"""Rendering any network the same way, a StyleGAN-Canvas one with its condition picture: what the
show's first frame, `generate` and `morph` share."""
from __future__ import annotations

from typing import Optional

import numpy as np


def condition_for(G, image: Optional[str] = None) -> Optional[np.ndarray]:
    """A StyleGAN-Canvas network's condition picture: `image` fitted to its size, or the show's
    default pattern; None for other networks (an image for one of those is refused)."""
    from . import condition_size, is_canvas, pattern, read_image

    if not is_canvas(G):
        if image:
            raise ValueError(f"--input needs a StyleGAN-Canvas network; this {G.family} network takes no condition")
        return None
    size = condition_size(G)
    return read_image(image, size) if image else pattern(size)


def synthesize(G, ws, cond: Optional[np.ndarray] = None, noise_mode: str = "const"):
    """G.synthesis for any network: a Canvas network's first rows and skips come from its
    condition (as the show combines them: 4 rows, the official default)."""
    if cond is None:
        return G.synthesis(ws, noise_mode=noise_mode)
    from .prep import to_tensor

    enc_ws, skips = G.encoder(to_tensor(cond, 0, 0.0, ws.device))
    n = ws.shape[0]
    mixed = G.combine(ws, enc_ws.expand(n, -1, -1), min(G.replace_w_num, G.num_ws))
    return G.synthesis(mixed, [s.expand(n, *s.shape[1:]) for s in skips], noise_mode=noise_mode)
