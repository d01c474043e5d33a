#!/usr/bin/env python3
"""The pictures in docs/instrument.md, made by the code they show (builtin:twemoji, a trained
StyleGAN2 network that ships with livegan):

    python docs/pictures.py            # writes docs/bends.png and docs/layer-views.png
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "vendor")]

SEEDS = (3, 11, 42)
SCALE = 4                                    # 32 px pictures shown at 128


def tile(img, scale: int = SCALE):
    import numpy as np
    return np.kron(img, np.ones((scale, scale, 1), np.uint8))


def label(img, text: str):
    from PIL import Image, ImageDraw

    im = Image.fromarray(img)
    ImageDraw.Draw(im).text((3, 2), text, fill=(255, 255, 255), stroke_width=2, stroke_fill=(0, 0, 0))
    return im


def bends(G, ws, out: Path) -> None:
    """One row per seed: the picture, then each op on layer 5 (b16.conv0), all channels, amount 1."""
    import numpy as np
    import torch
    from PIL import Image
    from stylegan3.bending import OPS, Bender, BendSpec

    from livegan.imaging import to_uint8

    cols = ["plain", *OPS]
    rows = []
    with torch.inference_mode():
        for op in cols:
            bend = None if op == "plain" else Bender.for_batch([[(BendSpec(op, 5, None, OPS[op][0]), 1.0)]] * len(ws), "cpu")
            rows.append(to_uint8(G.synthesis(ws, bend=bend)))
    sheet = Image.new("RGB", (len(cols) * 32 * SCALE, len(ws) * 32 * SCALE))
    for c, op in enumerate(cols):
        for r in range(len(ws)):
            sheet.paste(label(tile(rows[c][r]), op if r == 0 else ""), (c * 32 * SCALE, r * 32 * SCALE))
    sheet.save(out, optimize=True)
    print(f"wrote {out} ({sheet.size[0]}x{sheet.size[1]})", np.asarray(sheet).shape)


def main() -> None:
    import numpy as np
    import torch
    from stylegan3 import load_network

    G = load_network("builtin:twemoji").eval()
    z = torch.from_numpy(np.stack([np.random.RandomState(s).randn(G.z_dim) for s in SEEDS]).astype(np.float32))
    with torch.inference_mode():
        ws = G.mapping(z, None, truncation_psi=0.7)
    bends(G, ws, ROOT / "docs" / "bends.png")
    if "--bends-only" not in sys.argv:
        from livegan.engine.layerview import sheet
        sheet(G, ws[:1], ROOT / "docs" / "layer-views.png")


if __name__ == "__main__":
    main()
