"""`livegan gallery`: the studio (walks, images, detail, curation) and the walk service's HTTP API,
in one Flask app over the store.  Every asset is served by the app (no CDN, no build step).

Safety: the Host must name this machine (DNS rebinding); state changes only by POST/DELETE, and
a browser's request must come from this origin (a cross-site page cannot drive it); the one GET
that writes (the walk service's /next_image) refuses cross-site requests; data never becomes
markup (the JS builds elements and sets text; a Content-Security-Policy allows no inline script);
files are served only from inside the store; every error is a one-line JSON answer.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from flask import Flask, jsonify, request

from ..store import WalkBusy
from ..offline.walks import QueueFull
from .http import BadRequest
from .studio import Studio

MAX_BODY = 1 << 20


WRITING_GETS = {"walk_service.next_image"}          # a GET the seed's API made stateful


def create_app(outdir: str | Path = "recordings", network: Optional[str] = None, presets: Optional[Path] = None,
               show: Optional[str] = None, host_names: tuple = ()) -> Flask:
    import os

    from .projections import projections
    from .service import service
    from .training import training
    from .views import views

    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=MAX_BODY, JSON_SORT_KEYS=False)
    from ..defaults import DEFAULT_NETWORK
    net = network or os.environ.get("NETWORK_PKL") or DEFAULT_NETWORK
    app.extensions["studio"] = Studio(Path(outdir), net, presets, show)
    app.register_blueprint(views)
    app.register_blueprint(service)
    app.register_blueprint(training)
    app.register_blueprint(projections)

    from ..boundary import STUDIO_CSP, OwnNames, host_allowed, origin_allowed, single_header
    own = OwnNames()

    @app.before_request
    def same_origin():
        try:
            single_header(request.headers, "Host")
            single_header(request.headers, "Origin")
        except ValueError as e:                        # two Host headers: malformed, one answer
            return jsonify(error=str(e)), 400
        if not host_allowed(request.host, host_names, own):
            return jsonify(error=f"this server does not answer for host {request.host[:60]!r}"), 421
        site = request.headers.get("Sec-Fetch-Site")
        if request.method in ("GET", "HEAD", "OPTIONS"):
            if request.endpoint in WRITING_GETS and site not in (None, "same-origin", "none"):
                return jsonify(error="cross-site request refused: this GET saves a frame"), 403
            return None
        origin = request.headers.get("Origin")
        if not origin_allowed(origin, request.host):
            return jsonify(error=f"cross-origin {request.method} refused (from {origin[:80]})"), 403
        if site not in (None, "same-origin", "none"):
            return jsonify(error=f"cross-site {request.method} refused"), 403
        return None

    @app.after_request
    def safe_headers(resp):
        resp.headers.setdefault("Content-Security-Policy", STUDIO_CSP)
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Referrer-Policy", "no-referrer")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        return resp

    @app.errorhandler(BadRequest)
    @app.errorhandler(ValueError)
    def bad(e):
        return jsonify(error=" ".join(str(e).split())[:300]), 400

    @app.errorhandler(QueueFull)
    def full(e):
        return jsonify(error=" ".join(str(e).split())[:300]), 429

    @app.errorhandler(WalkBusy)
    def busy(e):
        return jsonify(error=" ".join(str(e).split())[:300]), 409

    @app.errorhandler(OverflowError)               # an id too large for SQLite: no such row
    @app.errorhandler(KeyError)
    @app.errorhandler(FileNotFoundError)
    def missing(e):
        msg = e.args[0] if e.args else "not found"
        return jsonify(error=f"not found: {str(msg)[:200]}"), 404

    @app.errorhandler(PermissionError)
    def refused(e):
        return jsonify(error="refused: outside the store"), 403

    @app.errorhandler(Exception)
    def http_or_internal(e):
        from werkzeug.exceptions import HTTPException

        if isinstance(e, HTTPException):
            return jsonify(error=f"{e.code} {e.name}: {' '.join(str(e.description or '').split())[:200]}"), e.code
        app.logger.exception("gallery: internal error")
        return jsonify(error=f"internal error: {type(e).__name__}: {' '.join(str(e).split())[:200]}"), 500

    return app


def run(outdir: str, host: str, port: int, network: Optional[str], presets: Optional[str], show: Optional[str]) -> None:
    names = () if host in ("0.0.0.0", "::", "127.0.0.1", "::1", "localhost") else (host,)
    app = create_app(outdir, network, Path(presets) if presets else None, show, host_names=names)
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"livegan gallery: listening on {host}:{port}: anyone who can reach this machine can browse "
              "and curate the store", flush=True)
    serve(app, host, port, f"livegan gallery: http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}/ "
                           f"(store {Path(outdir).resolve()}, network {app.extensions['studio'].network})")


def serve(app, host: str, port: int, started: str) -> None:
    """The studio on waitress, a production WSGI server (pure Python, every platform): no
    development-server banner, no line per request.  Its own log lines (a full task queue, a
    socket error) are said once per kind, as the show says its problems."""
    import logging

    from waitress import create_server

    from ..console import say

    seen: set = set()

    class Once(logging.Handler):
        def emit(self, record):
            if record.levelno >= logging.WARNING:
                kind = record.getMessage()[:40]
                if kind not in seen:
                    seen.add(kind)
                    say(f"livegan gallery: {record.getMessage()[:200]} (said once)")
    lg = logging.getLogger("waitress")
    lg.handlers, lg.propagate, lg.level = [Once()], False, logging.WARNING
    try:
        from .projections import MAX_PICTURE            # Flask holds every other route to MAX_BODY
        server = create_server(app, host=host, port=port, threads=8, ident="livegan", channel_timeout=60,
                               connection_limit=100, max_request_body_size=MAX_PICTURE)
    except OSError as e:
        raise OSError(f"gallery: cannot listen on {host}:{port} ({e.strerror or e}); choose another --port") from None
    say(started)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
