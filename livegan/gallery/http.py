"""What the gallery's blueprints share: the request's studio, its body and numbers, file answers.
(Its own module, below app.py and the blueprints, so that none of them imports another.)"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from flask import request, send_file

from .studio import Studio


class BadRequest(ValueError):
    pass


def studio() -> Studio:
    from flask import current_app

    return current_app.extensions["studio"]


def body() -> dict:
    """The request's JSON object, or its form/query values; BadRequest for a non-object body."""
    if request.data and request.mimetype == "application/json":
        import json

        from ..boundary import json_text
        try:
            data = json_text(request.get_data(cache=True), "the body")
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise BadRequest("the body is not valid JSON") from None
        except ValueError as e:             # not text (a lone surrogate: SQLite refuses it), too deep
            raise BadRequest(str(e)) from None
        if not isinstance(data, dict):
            raise BadRequest("the body must be a JSON object")
        return data
    if request.data and request.mimetype not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        raise BadRequest(f"expected a JSON object (Content-Type: application/json), got {request.mimetype or 'no type'}")
    out = dict(request.args)
    out.update(request.form)
    return out


def number(data: dict, name: str, default, lo: float, hi: float, integer: bool = False):
    from ..boundary import number as check

    v = data.get(name)
    if v is None:                    # absent or null: the default (a null once reached arithmetic)
        v = default
    if v is None:
        return None
    try:
        return check(v, name, lo, hi, integer, text=True)
    except ValueError as e:
        raise BadRequest(str(e)) from None


def serve(path: Path, mimetype: Optional[str] = None):
    return send_file(path, mimetype=mimetype, conditional=True, max_age=0)
