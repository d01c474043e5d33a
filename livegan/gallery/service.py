"""The walk service's HTTP API, as the latent-walk Flask app offered it (scripts written against it
keep working): start a random walk, load one, stream its frames one by one as PNG (each saved
into the walk's folder), queue renders, follow and cancel them, delete walks, fetch images."""
from __future__ import annotations

import io
import time

import numpy as np
from flask import Blueprint, jsonify

from .http import BadRequest, body, number, serve, studio

service = Blueprint("walk_service", __name__)
MAX_STEPS = 10_000


@service.post("/start_random_walk")
def start_random_walk():
    from ..offline.walks import RandomWalk

    st = studio()
    data = body()
    steps = data.get("steps", data.get("n_vectors", 120))
    steps = number({"steps": steps}, "steps", 120, 2, MAX_STEPS, integer=True)
    keyframes = number(data, "keyframes", 4, 2, 1000, integer=True)
    extent = number(data, "extent", 1.5, 1e-6, 100)
    sobol = number(data, "sobol", 0.0, 0, 1)
    seed = number(data, "seed", int(time.time()) % (2 ** 31), 0, 2 ** 32 - 1, integer=True)
    if keyframes > steps:
        raise BadRequest("keyframes: at most as many as steps")
    G = st.G
    walk = RandomWalk(G.z_dim, keyframes=keyframes, steps=steps, extent=extent, sobol=sobol, seed=seed,
                      name=f"random walk {time.strftime('%H:%M:%S')}")
    from ..store import network_identity
    wid = st.store.create_walk("random", walk.name, network=st.network, network_hash=network_identity(st.network),
                               info={"steps": steps, "keyframes": keyframes, "extent": extent, "sobol": sobol,
                                     "seed": seed})
    walk.save_spec(st.store, wid)
    _load(st, wid, walk)
    return jsonify(walk_id=wid, frames=len(walk), keyframes=keyframes, extent=extent, sobol=sobol, seed=seed)


def _load(st, wid: int, walk) -> None:
    from .studio import Cursor

    keys = walk.mapped_keys(st.G)
    with st.cursor_lock:
        st.cursor = Cursor(wid, walk, keys)


@service.post("/load_walk/<int:walk_id>")
def load_walk(walk_id: int):
    from ..offline.walks import walk_from_store

    st = studio()
    walk = walk_from_store(st.store, walk_id)
    _load(st, walk_id, walk)
    return jsonify(walk_id=walk_id, frames=len(walk))


@service.get("/next_image")
def next_image():
    """The loaded walk's next frame as PNG (wrapping at the end), saved into its folder once."""
    import torch
    from PIL import Image

    from ..imaging import save_png, to_uint8
    from ..safeio import atomic_write

    st = studio()
    with st.cursor_lock:
        cur = st.cursor
        if cur is None:
            raise BadRequest("no walk loaded: POST /start_random_walk or /load_walk/<id> first")
        i = cur.index
        cur.index = (cur.index + 1) % len(cur.walk)
    w = cur.walk.w_at(cur.keys, i)
    G = st.G
    # One frame at a time: many clients wait their turn (or get a 503), never N syntheses at once.
    if not st.synth_lock.acquire(timeout=10):
        from flask import jsonify
        return jsonify(error="busy: another client's frame is being rendered; try again"), 503
    try:
        with torch.inference_mode():
            img = to_uint8(G.synthesis(torch.from_numpy(w[None]).to(next(G.parameters()).device)))[0]
    finally:
        st.synth_lock.release()
    name = f"frame-{i:05d}.png"
    folder = st.store.walk_dir(cur.walk_id)
    if not (folder / name).exists():
        atomic_write(folder / f"frame-{i:05d}.npy", lambda f: np.save(f, w))
        save_png(folder / name, img)
        try:
            st.store.add_image(cur.walk_id, name, "frame", i, {"ws": f"frame-{i:05d}.npy", "psi": cur.walk.psi})
        except Exception:
            pass                                   # a concurrent request saved the same frame
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    buf.seek(0)
    from flask import send_file
    resp = send_file(buf, mimetype="image/png")
    resp.headers["X-Walk-Id"], resp.headers["X-Frame"] = str(cur.walk_id), str(i)
    return resp


@service.post("/enqueue_walk/<int:walk_id>")
def enqueue_walk(walk_id: int):
    from ..offline.walks import walk_from_store

    st = studio()
    walk = walk_from_store(st.store, walk_id)
    fps = number(body(), "fps", 30, 1, 120)
    rid = st.videos.submit(walk, fps=fps, walk_id=walk_id)
    return jsonify(render_id=rid, walk_id=walk_id, frames=len(walk))


@service.get("/queue_status")
def queue_status():
    st = studio()
    return jsonify(queue=[{"id": r["id"], "walk_id": r["walk_id"], "status": r["status"], "progress": r["progress"],
                           "error": r["error"], "path": r["path"]} for r in st.store.renders()])


@service.delete("/queue_item/<int:render_id>")
def queue_item(render_id: int):
    return jsonify(id=render_id, cancelled=studio().videos.cancel(render_id))


@service.delete("/delete_walk/<int:walk_id>")
def delete_walk(walk_id: int):
    st = studio()
    with st.cursor_lock:
        if st.cursor is not None and st.cursor.walk_id == walk_id:
            st.cursor = None
    st.delete_walk(walk_id)
    return jsonify(deleted=walk_id)


@service.get("/generated_images/<int:walk_id>/<path:filename>")
def generated_images(walk_id: int, filename: str):
    return serve(studio().file(walk_id, filename))


@service.get("/gallery")
def gallery_alias():
    from flask import redirect
    return redirect("/images")
