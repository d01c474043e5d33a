"""The studio: walks page, image grid, detail, and the JSON API the pages use."""
from __future__ import annotations

import json
from pathlib import Path
import time

from flask import Blueprint, jsonify, render_template, request

from ..store import check_tag
from . import recall
from .http import BadRequest, body, number, serve, studio
from .filters import declaration, parse_filters
from .thumbs import thumbnail

views = Blueprint("studio", __name__, template_folder="templates", static_folder="static",
                  static_url_path="/static")
PER_PAGE = 60


def walk_card(st, w: dict) -> dict:
    n, liked = st.store.image_count(w["id"])
    first = st.store._conn().execute("SELECT id FROM images WHERE walk_id = ? ORDER BY id LIMIT 1",
                                     (w["id"],)).fetchone()
    renders = st.store.renders(w["id"])
    folder = st.store.walk_dir(w["id"])
    videos = sorted(p.name for p in folder.glob("*") if p.suffix in (".mp4", ".webm", ".mov", ".mkv")
                    and not p.name.startswith(".")) if folder.is_dir() else []
    return {"id": w["id"], "kind": w["kind"], "name": w["name"], "created": w["created"],
            "date": time.strftime("%Y-%m-%d %H:%M", time.localtime(w["created"])),
            "network": w["network"], "network_hash": (w["network_hash"] or "")[:12], "preset": w["preset"],
            "status": w["status"], "archived": bool(w.get("archived")), "images": n, "liked": liked,
            "thumb": first[0] if first else None, "videos": videos,
            "render": renders[-1]["status"] if renders else None}


def image_json(st, r: dict) -> dict:
    state = r.get("state") or {}
    return {"id": r["id"], "walk_id": r["walk_id"], "filename": r["filename"], "kind": r["kind"], "frame": r["frame"],
            "created": r["created"], "liked": bool(r.get("liked")), "tags": st.store.tags(r["id"]),
            "walk_kind": r.get("walk_kind"), "network_hash": (r.get("network_hash") or "")[:12],
            "has_ws": bool(state.get("ws")), "psi": state.get("psi"), "seed": state.get("seed")}


# -- pages ---------------------------------------------------------------------------------------
@views.get("/")
def walks_page():
    st = studio()
    archived = request.args.get("archived") == "1"
    cards = [walk_card(st, w) for w in reversed(st.store.walks()) if bool(w.get("archived")) == archived]
    return render_template("walks.html", walks=cards, archived=archived)


@views.get("/images")
def images_page():
    st = studio()
    parse_filters(request.args)                     # a bad filter is a 400 here too
    return render_template("images.html", filters=json.dumps(declaration(st.store.all_tags())),
                           show=bool(st.show))


@views.get("/image/<int:image_id>")
def image_page(image_id: int):
    st = studio()
    r = st.image_row(image_id)
    state = r.get("state") or {}
    w = st.store.walk(r["walk_id"])
    name = f"recall-{image_id}"
    video = None
    rec = state.get("recording") or {}
    if rec.get("walk") is not None:                  # the session video it was taken during
        folder = st.store.walk_dir(int(rec["walk"]))
        for cand in ("session.mp4", "session.mov", "session.mkv"):
            if (folder / cand).is_file():
                video = {"walk": int(rec["walk"]), "file": cand, "time": max(0.0, float(rec.get("time") or 0.0))}
    shown = {k: state.get(k) for k in ("network", "network_id", "preset", "keyframe", "seed", "seeds", "position",
                                        "frame", "time", "psi", "truncation_cutoff", "mix", "transform", "effects")
             if k in state}
    return render_template("image.html", image=image_json(st, r), walk=w, state=json.dumps(shown, indent=1),
                           raw=state.get("raw"), video=video, osc=recall.osc_messages(state, name),
                           preset=json.dumps(recall.preset_snippet(state, name, f"{name}.npy"), indent=1),
                           show=st.show, has_ws=bool(state.get("ws")))


@views.get("/thumb/<int:image_id>")
def thumb(image_id: int):
    st = studio()
    r = st.image_row(image_id)
    return serve(thumbnail(st.image_path(r)), "image/jpeg")


@views.get("/files/<int:walk_id>/<path:filename>")
def files(walk_id: int, filename: str):
    return serve(studio().file(walk_id, filename))


# -- JSON API ------------------------------------------------------------------------------------
@views.get("/api/filters")
def api_filters():
    return jsonify(declaration(studio().store.all_tags()))


@views.get("/api/images")
def api_images():
    st = studio()
    f = parse_filters(request.args)
    page = number(request.args, "page", 1, 1, 1e9, integer=True)
    per = number(request.args, "per", PER_PAGE, 1, 500, integer=True)
    where, args = f.where()
    rows, total = st.store.query_images(where, args, (page - 1) * per, per)
    return jsonify(images=[image_json(st, r) for r in rows], total=total, page=page, per=per,
                   pages=max(1, -(-total // per)), filters=f.query())


@views.post("/api/images/<int:image_id>/like")
def api_like(image_id: int):
    data = body()
    liked = data.get("liked", True)
    if isinstance(liked, str):
        liked = liked.lower() in ("1", "true", "yes", "on")
    studio().store.set_liked(image_id, bool(liked))
    return jsonify(id=image_id, liked=bool(liked))


@views.post("/api/images/<int:image_id>/tags")
def api_tag(image_id: int):
    st = studio()
    st.store.add_tag(image_id, check_tag(body().get("tag", "")))
    return jsonify(id=image_id, tags=st.store.tags(image_id))


@views.delete("/api/images/<int:image_id>/tags/<path:tag>")   # a tag may hold a slash
def api_untag(image_id: int, tag: str):
    st = studio()
    st.store.remove_tag(image_id, tag)
    return jsonify(id=image_id, tags=st.store.tags(image_id))


@views.post("/api/walks/<int:walk_id>")
def api_walk(walk_id: int):
    st = studio()
    if st.store.walk(walk_id) is None:
        raise KeyError(f"walk {walk_id}")
    data, fields = body(), {}
    if "name" in data:
        name = " ".join(str(data["name"]).split())
        if len(name) > 200:
            raise BadRequest("name: at most 200 characters")
        fields["name"] = name
    if "archived" in data:
        fields["archived"] = int(str(data["archived"]).lower() in ("1", "true", "yes", "on"))
    if not fields:
        raise BadRequest("nothing to change: send name and/or archived")
    st.store.set_walk(walk_id, **fields)
    return jsonify(walk_card(st, st.store.walk(walk_id)))


@views.delete("/api/walks/<int:walk_id>")
def api_delete_walk(walk_id: int):
    studio().delete_walk(walk_id)
    return jsonify(deleted=walk_id)


@views.post("/api/curate")
def api_curate():
    """Selected snapshots, in order -> a curated walk: a preset file and/or a render job."""
    from ..offline.walks import INTERPOLATIONS, CustomWalk

    st = studio()
    data = body()
    ids = data.get("images")
    if not isinstance(ids, list) or not 2 <= len(ids) <= 256 or not all(isinstance(i, int) for i in ids):
        raise BadRequest("images: a list of 2..256 image ids, in order")
    interp = data.get("interpolation", "spline")
    if interp not in INTERPOLATIONS:
        raise BadRequest(f"interpolation: one of {', '.join(INTERPOLATIONS)}")
    fpk = number(data, "frames_per_key", 30, 1, 1000, integer=True)
    psi = number(data, "psi", 1.0, -1, 2)
    fps = number(data, "fps", 30, 1, 120)
    loop = bool(data.get("loop", False))
    name = recall.check_name(data.get("name") or f"curated-{int(time.time())}")
    want_preset, want_render = bool(data.get("preset", True)), bool(data.get("render", True))
    if not (want_preset or want_render):
        raise BadRequest("ask for a preset, a render, or both")
    rows = [st.image_row(i) for i in ids]
    ws = [st.image_ws(r) for r in rows]
    out: dict = {"name": name}
    if want_preset and (Path(st.presets) / f"{name}.json").exists() and data.get("overwrite") is not True:
        return jsonify(error=f"preset {name} exists in {st.presets}: choose another name, or send "
                             "overwrite: true to replace it"), 409
    if want_preset:
        path = recall.curated_preset(st.presets, name, ws, interp, fpk, loop, psi, fps)
        out["preset"] = path.stem
        out["preset_path"] = str(path)
    if want_render:
        walk = CustomWalk([("image", r["id"]) for r in rows], 0, st.store, frames_per_key=fpk, interpolation=interp,
                          loop=loop, psi=psi, name=name)
        rid = st.videos.submit(walk, fps=fps)
        out["render_id"] = rid
        out["walk_id"] = st.store.render(rid)["walk_id"]
    return jsonify(out)


@views.get("/api/renders")
def api_renders():
    st = studio()
    out = []
    for r in reversed(st.store.renders()[-50:]):
        w = st.store.walk(r["walk_id"]) or {}
        out.append({"id": r["id"], "walk_id": r["walk_id"], "name": w.get("name"), "status": r["status"],
                    "progress": r["progress"], "error": r["error"], "path": r["path"],
                    "url": f"/files/{r['path']}" if r["status"] == "done" and r["path"] else None})
    return jsonify(renders=out)


@views.post("/api/renders/<int:render_id>/cancel")
def api_cancel(render_id: int):
    return jsonify(id=render_id, cancelled=studio().videos.cancel(render_id))


@views.post("/api/images/<int:image_id>/recall")
def api_recall(image_id: int):
    """Write the recall preset into the presets folder and send the OSC that plays it."""
    st = studio()
    if not st.show:
        raise BadRequest("no show to send to: start the gallery with --show HOST:PORT")
    r = st.image_row(image_id)
    name = recall.write_preset(st.presets, image_id, r.get("state") or {}, st.image_ws(r))
    msgs = recall.osc_messages(r.get("state") or {}, name)["with_preset"]
    sent = recall.send(st.show, msgs)
    from ..presets import PRESET_DIR
    note = "" if Path(st.presets).resolve() == PRESET_DIR.resolve() else (
        f"the show finds {name} only if it was started with --load-dir {st.presets}")
    return jsonify(sent=sent, preset=name, to=st.show, note=note)
