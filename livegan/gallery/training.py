"""Training runs in the studio: a run's fakes over time, its curves (losses, D's signs, augment p)
and its snapshots as networks to play (`perform.py --network PATH`, or `run:NAME` to follow it)."""
from __future__ import annotations

import shlex

from flask import Blueprint, jsonify, render_template

from ..training.walk import STATS, read_stats
from .http import studio

training = Blueprint("training", __name__, template_folder="templates")
CURVES = ("loss_G", "loss_D", "signs_real", "signs_fake", "augment_p", "r1", "pl", "sec_per_kimg")


def _walk(walk_id: int) -> dict:
    w = studio().store.walk(walk_id)
    if w is None or w["kind"] != "training":
        raise KeyError(f"training run {walk_id}")
    return w


def shown_path(path: str) -> str:
    """A path as the play line shows it: relative to where the studio runs (where perform.py is run
    too) when it lies below it, so the line is short and works as it is; absolute otherwise."""
    import os
    from pathlib import Path

    if not path:
        return path
    p = Path(path)
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve())) if p.is_absolute() else path
    except ValueError:
        return os.path.normpath(path)


def run_json(walk_id: int) -> dict:
    st = studio()
    w = _walk(walk_id)
    rows = read_stats(st.store.walk_dir(walk_id) / STATS)
    curves = {k: [[r.get("kimg"), r.get(k)] for r in rows if isinstance(r.get(k), (int, float))] for k in CURVES}
    snaps = []
    for i in st.store.images(walk_id):
        if i["kind"] != "fakes":
            continue
        s = i["state"] or {}
        net = shown_path(s.get("network") or "")
        snaps.append({"image": i["id"], "kimg": s.get("kimg"), "url": f"/files/{walk_id}/{i['filename']}",
                      "network": net, "play": f"python perform.py --network {shlex.quote(net)}"})
    snaps.sort(key=lambda s: s["kimg"] or 0)
    info = w["info"] or {}
    run = shown_path(info.get("run") or "")
    return {"id": walk_id, "name": w["name"], "status": w["status"], "info": info, "curves": curves,
            "ticks": len(rows), "kimg": rows[-1].get("kimg") if rows else 0.0, "snapshots": snaps,
            "follow": f"python perform.py --network {shlex.quote('run:' + run)}" if run else None}


@training.get("/training/<int:walk_id>")
def training_page(walk_id: int):
    w = _walk(walk_id)
    return render_template("training.html", walk=w, walk_id=walk_id)


@training.get("/api/training/<int:walk_id>")
def api_training(walk_id: int):
    return jsonify(run_json(walk_id))
