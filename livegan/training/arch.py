"""The architecture a training run builds: what the user gave, else (fine-tuning an official
snapshot with --resume NAME.pkl) the snapshot's own, else the official defaults.  Artists fine-tune
NVIDIA's networks without knowing their channel base or mapping depth: a run takes them from the
file, and a flag the user did give that disagrees with it is one line naming both values."""
from __future__ import annotations

from dataclasses import replace

# The official train.py's defaults (StyleGAN3's mapping depth is 2, StyleGAN2's 8).
DEFAULTS = {"cfg": "stylegan2", "cbase": 32768, "cmax": 512, "w_dim": 512, "mbstd_group": 4}
FLAGS = {"cfg": "--cfg", "cbase": "--cbase", "cmax": "--cmax", "w_dim": "--w-dim", "map_depth": "--map-depth",
         "mbstd_group": "--mbstd-group"}


def of_snapshot(path: str) -> dict:
    """The architecture options an official training snapshot was trained with (read through the
    restricted unpickler: nothing in the file runs)."""
    from stylegan3.checkpoints import load_training_snapshot

    snap = load_training_snapshot(path)
    G, D = snap["G"], snap["D"]
    kw, dkw = dict(getattr(G, "init_kwargs", {}) or {}), dict(getattr(D, "init_kwargs", {}) or {})
    family = getattr(G, "family", "")
    if family == "stylegan2":
        cfg = "stylegan2"
    elif family == "stylegan3":
        cfg = "stylegan3-r" if kw.get("use_radial_filters") else "stylegan3-t"
    else:
        raise ValueError(f"--resume {path}: a {family or 'unknown'} network; fine-tune a Canvas network with "
                         "--cfg canvas-t or canvas-r")
    r = 2 if cfg == "stylegan3-r" else 1                # R doubles the channels it is given (train.py)
    out = {"cfg": cfg, "cbase": int(kw["channel_base"]) // r, "cmax": int(kw["channel_max"]) // r,
           "w_dim": int(kw["w_dim"]), "map_depth": int((kw.get("mapping_kwargs") or {}).get("num_layers", 8 if cfg == "stylegan2" else 2))}
    group = (dkw.get("epilogue_kwargs") or {}).get("mbstd_group_size")
    if group:
        out["mbstd_group"] = int(group)
    if int(kw.get("z_dim", out["w_dim"])) != out["w_dim"]:
        raise ValueError(f"--resume {path}: z_dim {kw.get('z_dim')} differs from w_dim {out['w_dim']}; "
                         "livegan trains networks whose z and w have one size")
    return out


def resolve(o):
    """`o` (TrainOptions) with every architecture option set."""
    taken: dict = {}
    official = bool(o.resume) and str(o.resume).endswith(".pkl") and not str(o.cfg or "").startswith("canvas")
    if official:
        taken = of_snapshot(o.resume)
        for name, value in taken.items():
            given = getattr(o, name)
            if given is not None and given != value:
                raise ValueError(f"--resume {o.resume}: it was trained with {FLAGS[name]} {value}; {FLAGS[name]} "
                                 f"{given} differs (leave {FLAGS[name]} out to take the snapshot's)")
    values = {k: (getattr(o, k) if getattr(o, k) is not None else taken.get(k, DEFAULTS.get(k)))
              for k in FLAGS}
    return replace(o, **values)


def described(o) -> str:
    """The architecture in one line, for the start of a run."""
    return (f"--cfg {o.cfg} --cbase {o.cbase} --cmax {o.cmax} --w-dim {o.w_dim} --map-depth "
            f"{o.map_depth or (8 if o.cfg == 'stylegan2' else 2)} --mbstd-group {o.mbstd_group}")
