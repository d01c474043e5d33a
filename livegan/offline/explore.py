"""Exploration outside the live show: seed grids, truncation sheets, morphs between seeds."""
from __future__ import annotations

from typing import Iterator, Optional, Sequence

import numpy as np

from ..imaging import grid, to_uint8
from ..latents import lerp, slerp, smoothstep, z_from_seed
from ..conditions.render import synthesize


def _z(G, seeds: Sequence[int]):
    import torch

    return torch.from_numpy(np.concatenate([z_from_seed(s, G.z_dim) for s in seeds])).float()


def _c(G, n: int, class_idx: Optional[int]):
    import torch

    if not G.c_dim:
        if class_idx is not None:
            raise ValueError("--class given, but this network is unconditional")
        return None
    if class_idx is None:
        raise ValueError(f"this network is conditional: pass --class 0..{G.c_dim - 1}")
    if not 0 <= class_idx < G.c_dim:
        raise ValueError(f"--class {class_idx} is out of range 0..{G.c_dim - 1}")
    c = torch.zeros(n, G.c_dim)
    c[:, class_idx] = 1
    return c


def render_seeds(G, seeds: Sequence[int], psi: float = 1.0, cutoff: Optional[int] = None,
                 class_idx: Optional[int] = None, noise_mode: str = "const", batch: int = 8,
                 device=None, cond: Optional[np.ndarray] = None) -> np.ndarray:
    """One uint8 HWC image per seed."""
    import torch

    out = []
    with torch.inference_mode():
        for i in range(0, len(seeds), batch):
            part = list(seeds[i: i + batch])
            z = _z(G, part)
            c = _c(G, len(part), class_idx)
            if device is not None:
                z = z.to(device)
                c = None if c is None else c.to(device)
            ws = G.mapping(z, c, truncation_psi=psi, truncation_cutoff=cutoff)
            out.append(to_uint8(synthesize(G, ws, cond, noise_mode)))
    return np.concatenate(out)


def seed_grid(G, seeds: Sequence[int], cols: int, rows: int, **kw) -> np.ndarray:
    return grid(render_seeds(G, seeds[: cols * rows], **kw), rows, cols)


def truncation_sheet(G, seeds: Sequence[int], psis: Sequence[float], **kw) -> np.ndarray:
    """Rows are seeds, columns are psi values."""
    per_psi = [render_seeds(G, seeds, psi=p, **kw) for p in psis]
    cells = np.stack(per_psi, axis=1).reshape(-1, *per_psi[0].shape[1:])
    sheet = grid(cells, len(seeds), len(psis))
    return label_columns(sheet, [f"psi {p:g}" for p in psis])


def _font():
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=14)
    except TypeError:
        return ImageFont.load_default()


def label_rows(image: np.ndarray, labels: Sequence[str]) -> np.ndarray:
    """A strip left of `image` with one label beside each of len(labels) equal rows."""
    from PIL import Image, ImageDraw

    h = image.shape[0]
    strip = Image.new("RGB", (label_rows.width, h), (0, 0, 0))
    d = ImageDraw.Draw(strip)
    row = h / len(labels)
    for i, text in enumerate(labels):
        d.text((4, i * row + row / 2 - 8), text[:16], fill=(255, 255, 255), font=_font())
    return np.concatenate([np.asarray(strip), image[..., :3]], axis=1)


label_rows.width = 120


def label_columns(image: np.ndarray, labels: Sequence[str], height: int = 22, first: int = 0) -> np.ndarray:
    """A strip above `image` with one label centred over each of len(labels) equal columns (after
    `first` pixels; with `first`, labels[0] is skipped: it stands over the row labels)."""
    from PIL import Image, ImageDraw

    h, w = image.shape[:2]
    strip = Image.new("RGB", (w, height), (0, 0, 0))
    d = ImageDraw.Draw(strip)
    font = _font()
    if first:
        labels = list(labels)[1:]
    col = (w - first) / len(labels)
    for i, text in enumerate(labels):
        tw = d.textlength(text, font=font)
        d.text((first + i * col + (col - tw) / 2, 3), text, fill=(255, 255, 255), font=font)
    return np.concatenate([np.asarray(strip), image[..., :3]], axis=0)


def morph_frames(G, seeds: Sequence[int], frames: int, space: str = "w", psi: float = 1.0,
                 class_idx: Optional[int] = None, loop: bool = False, ease: bool = True,
                 device=None, cond: Optional[np.ndarray] = None) -> Iterator[np.ndarray]:
    """`frames` frames per transition between consecutive seeds (and back to the first if loop),
    linear in W or spherical in Z, with smoothstep easing at the keyframes."""
    import torch

    keys = list(seeds) + ([seeds[0]] if loop else [])
    zs = [z_from_seed(s, G.z_dim) for s in keys]
    c = _c(G, 1, class_idx)
    with torch.inference_mode():
        ws = [G.mapping(torch.from_numpy(z).float().to(device), None if c is None else c.to(device),
                        truncation_psi=psi) for z in zs]
        for k in range(len(keys) - 1):
            last = k == len(keys) - 2 and not loop
            for i in range(frames + (1 if last else 0)):
                t = i / frames
                t = smoothstep(t) if ease else t
                if space == "z":
                    z = torch.from_numpy(slerp(zs[k], zs[k + 1], t)).float().to(device)
                    w = G.mapping(z, None if c is None else c.to(device), truncation_psi=psi)
                elif space == "w":
                    w = lerp(ws[k], ws[k + 1], t)
                else:
                    raise ValueError(f"bad interpolation space {space!r}: expected w or z")
                yield to_uint8(synthesize(G, w, cond))[0]
