"""Dropping a picture on the gallery projects it (projection/jobs.py): POST /project with the
picture as the body starts a job, GET /project/<job> follows it; the result lands in the store's
"projections" walk with its target and ws, so it shows here, filters, and plays as a keyframe."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from .http import number, studio

projections = Blueprint("projections", __name__)
MAX_PICTURE = 16 << 20                         # a phone's photo fits; the rest of the gallery stays at 1 MiB


@projections.post("/project")
def start():
    from ..projection.jobs import QueueFull

    request.max_content_length = MAX_PICTURE
    if not (request.mimetype or "").startswith("image/"):
        raise ValueError(f"expected a picture as the body (Content-Type: image/...), got {request.mimetype or 'no type'}")
    steps = number(dict(request.args), "steps", 200, 0, 2000, integer=True)
    name = "".join(c for c in str(request.args.get("name", "dropped")) if c.isalnum() or c in "-_")[:60] or "dropped"
    try:
        jid = studio().projector.submit(request.get_data(cache=False), steps, name)
    except QueueFull as e:
        return jsonify(error=str(e)), 429
    return jsonify(job=jid, status="queued", steps=steps), 202


@projections.get("/project/<int:job>")
def follow(job: int):
    return jsonify(studio().projector.status(job))
