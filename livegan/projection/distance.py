"""Which distance a projection lowers (losses.py, vgg16.py), by the same rule for the command and
the gallery: `d` the network file's own discriminator, `pixels`, `vgg:PATH`, or `auto` (D when the
file carries one, else pixels and multi-scale SSIM)."""
from __future__ import annotations

from pathlib import Path


def distance_for(kind: str, network: str, G, target):
    """The distance: the network file's discriminator when it has one (or --perceptual d), else
    pixels and multi-scale SSIM."""
    from .losses import DFeatures, Structural
    from .search import to_tensor

    t = to_tensor(target, next(G.parameters()).device)
    if kind == "pixels":
        return Structural(t)
    if kind.startswith("vgg:"):
        from .vgg16 import VGGDistance
        return VGGDistance(kind[4:], t)
    D = discriminator_of(network, next(G.parameters()).device)
    if D is None:
        if kind == "d":
            raise ValueError(f"{network}: no discriminator in this file (official pickles and training "
                             "snapshots carry one); use --perceptual pixels")
        return Structural(t)
    return DFeatures(D, t)


def discriminator_of(source: str, device):
    """D from an official network pickle or snapshot that carries one, else None (no code runs)."""
    p = Path(source)
    if p.suffix != ".pkl" or not p.is_file():
        return None
    from stylegan3.checkpoints import _check_file, discriminator_from_record
    from stylegan3.pickle_safe import PersistentRecord, safe_load_pickle

    _check_file(p)
    with open(p, "rb") as f:
        data = safe_load_pickle(f, str(p))
    rec = data.get("D") if isinstance(data, dict) else None
    return discriminator_from_record(rec, f"{p} D").to(device) if isinstance(rec, PersistentRecord) else None
