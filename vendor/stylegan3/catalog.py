"""NVIDIA's published StyleGAN2 and StyleGAN3 networks by short name (`stylegan3-r-afhqv2-512`).

They are NVIDIA's work under the NVIDIA Source Code License (non-commercial: research and
evaluation only), not this project's: the licence line is shown before any download starts.
Nothing is downloaded unless the user names one.  The sizes are estimates (G, D and G_ema in
fp32, counted from the official configurations); the server's own length is shown as it starts.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

BASE = "https://api.ngc.nvidia.com/v2/models/nvidia/research"
LICENCE = ("NVIDIA Source Code License for StyleGAN3 (non-commercial: research and evaluation only; "
           "https://github.com/NVlabs/stylegan3/blob/main/LICENSE.txt)")


@dataclass(frozen=True)
class Published:
    name: str             # short name: family-config-dataset-resolution
    file: str             # the file name NVIDIA publishes it under
    config: str
    resolution: int
    approx_mb: int        # estimate, see the module docstring
    about: str

    @property
    def url(self) -> str:
        base = os.environ.get("LIVEGAN_CATALOG_URL", BASE).rstrip("/")   # a mirror (or a test server)
        folder = "stylegan3" if self.file.startswith("stylegan3") else "stylegan2"
        return f"{base}/{folder}/versions/1/files/{self.file}"


def _entries() -> list[Published]:
    out = []
    for cfg, data, res, mb, about in [
        ("t", "ffhq", 1024, 282, "faces (FFHQ)"), ("t", "ffhqu", 1024, 282, "faces, unaligned (FFHQ-U)"),
        ("t", "ffhqu", 256, 275, "faces, unaligned (FFHQ-U)"), ("r", "ffhq", 1024, 219, "faces (FFHQ)"),
        ("r", "ffhqu", 1024, 219, "faces, unaligned (FFHQ-U)"), ("r", "ffhqu", 256, 212, "faces, unaligned (FFHQ-U)"),
        ("t", "metfaces", 1024, 282, "art portraits (MetFaces)"), ("t", "metfacesu", 1024, 282, "art portraits, unaligned"),
        ("r", "metfaces", 1024, 219, "art portraits (MetFaces)"), ("r", "metfacesu", 1024, 219, "art portraits, unaligned"),
        ("t", "afhqv2", 512, 290, "animal faces (AFHQv2)"), ("r", "afhqv2", 512, 226, "animal faces (AFHQv2)"),
    ]:
        out.append(Published(f"stylegan3-{cfg}-{data}-{res}", f"stylegan3-{cfg}-{data}-{res}x{res}.pkl",
                             f"StyleGAN3-{cfg.upper()}", res, mb, about))
    for data, res, mb, about in [
        ("ffhq", 1024, 364, "faces (FFHQ)"), ("ffhqu", 1024, 364, "faces, unaligned (FFHQ-U)"),
        ("ffhqu", 256, 290, "faces, unaligned (FFHQ-U)"), ("metfaces", 1024, 364, "art portraits (MetFaces)"),
        ("metfacesu", 1024, 364, "art portraits, unaligned"), ("afhqv2", 512, 348, "animal faces (AFHQv2)"),
    ]:
        out.append(Published(f"stylegan2-{data}-{res}", f"stylegan2-{data}-{res}x{res}.pkl", "StyleGAN2", res, mb,
                             about))
    return out


CATALOG: dict[str, Published] = {p.name: p for p in _entries()}


def lookup(name: str) -> Published | None:
    """The published network a short name (or its file name) means; None for anything else."""
    s = str(name).strip()
    if s in CATALOG:
        return CATALOG[s]
    return next((p for p in CATALOG.values() if p.file == s), None)
