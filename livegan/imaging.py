"""Generator output -> 8-bit pictures and grids."""
from __future__ import annotations


import numpy as np


def to_uint8(img) -> np.ndarray:
    """[N, C, H, W] float in about [-1, 1] -> [N, H, W, C] uint8, as the official tools convert."""
    import torch

    x = (img.detach().float() * 127.5 + 128).clamp(0, 255).to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()


def grid(images: np.ndarray, rows: int, cols: int, pad: int = 0) -> np.ndarray:
    """[N, H, W, C] -> one [rows*H, cols*W, C] picture (missing cells black)."""
    n, h, w, c = images.shape
    out = np.zeros((rows * h + (rows - 1) * pad, cols * w + (cols - 1) * pad, c), np.uint8)
    for i in range(min(n, rows * cols)):
        r, k = divmod(i, cols)
        out[r * (h + pad): r * (h + pad) + h, k * (w + pad): k * (w + pad) + w] = images[i]
    return out


MAX_GRID_CELLS = 4096


def parse_grid(spec: str) -> tuple[int, int]:
    """'4x3' -> (cols=4, rows=3)."""
    try:
        c, r = (int(v) for v in spec.lower().split("x"))
        if c < 1 or r < 1:
            raise ValueError
    except ValueError:
        raise ValueError(f"bad grid {spec!r}: expected COLSxROWS like 4x4") from None
    if c * r > MAX_GRID_CELLS:
        raise ValueError(f"bad grid {spec!r}: {c * r} cells, at most {MAX_GRID_CELLS}")
    return c, r


def save_png(path, image: np.ndarray) -> None:
    """Written atomically: a full disk or a kill never leaves a zero-byte or half PNG."""
    from PIL import Image

    from .safeio import atomic_write

    pic = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
    atomic_write(path, lambda f: pic.save(f, format="PNG"))



def resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """HWC uint8 to (W, H), Lanczos (renders at another size than the network's)."""
    from PIL import Image

    if image.shape[1] == size[0] and image.shape[0] == size[1]:
        return image
    return np.asarray(Image.fromarray(np.ascontiguousarray(image)).resize(tuple(size), Image.LANCZOS))
