"""The control page: every knob of the show in a browser (laptop, phone, tablet), served by the
show's own OSCQuery HTTP server at /control, its websocket at /control/ws.

Built at run time from the parameter registry and the OSC address table, so a parameter added to
the registry appears with no page edit.  A change on the page becomes the same Command an OSC
message to that address makes (source 'page': logged, replayed, fed back, and loading files only as
OSC may); every change from elsewhere reaches every open page.  Who may open it: this machine, and
hosts admitted with --control-allow, which must also show the token printed in the page's URL.
The HTTP threads never touch the show: the main thread publishes values and status here.
"""
from __future__ import annotations

import hmac
import ipaddress
import json
import math
import secrets
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterable, Mapping, Optional

from ..boundary import json_text
from ..params import PARAMS, Command
from .access import LOOPBACK, SenderPolicy

ASSETS = Path(__file__).with_name("page_assets")
FILES = {"/control": ("index.html", "text/html; charset=utf-8"),
         "/control/app.js": ("app.js", "text/javascript; charset=utf-8"),
         "/control/style.css": ("style.css", "text/css; charset=utf-8")}
SCENES = 8


def _loopback(peer: str) -> bool:
    try:
        ip = ipaddress.ip_address(peer.split("%")[0])
    except ValueError:
        return False
    ip = getattr(ip, "ipv4_mapped", None) or ip
    return any(ip in n for n in LOOPBACK if n.version == ip.version)


class PageAccess:
    """Loopback always (no token: the browser on the show machine); a host admitted with
    --control-allow only with the token.  Everyone else is refused before anything is read."""

    def __init__(self, allow: Iterable[str] = (), token: Optional[str] = None):
        self.allow = list(allow)
        try:
            self.policy = SenderPolicy(self.allow) if self.allow else None
        except ValueError as e:
            raise ValueError(str(e).replace("--osc-allow", "--control-allow")) from None
        self.token = token or secrets.token_urlsafe(18)

    @property
    def remote(self) -> bool:
        return self.policy is not None

    def check(self, peer: str, token: Optional[str]) -> Optional[str]:
        """None if this peer may use the page, else the one-line reason."""
        if _loopback(peer):
            return None
        if self.policy is None or not self.policy.allows(peer):
            return "the control page answers this machine only (start the show with --control-allow HOST|CIDR)"
        if not token or not hmac.compare_digest(str(token), self.token):
            return "this page needs the token printed in its URL when the show started"
        return None


class ControlPage:
    """State for the page (`state()`), its websocket clients (`serve`), and what the main thread
    publishes (`publish`, `publish_status`, `publish_meters`)."""

    MAX_RATE, BURST = 240.0, 480.0      # page messages per second per connection
    SEND_HZ = 30.0                      # updates to a page at most this often (coalesced)

    def __init__(self, post: Callable[[Command], None], access: PageAccess, folders: Iterable[Path] = (),
                 problems=None, log: Callable[[str], None] = print, budget=None):
        from ..intake import Budget
        from .osc import address_table

        self.post, self.access, self.log, self.problems = post, access, log, problems
        self.budget = budget if budget is not None else Budget()   # shared with OSC (intake.Budget)
        self.folders = [Path(f) for f in folders]
        self.thumb_dirs: list = []              # also: what presets looked like when they last played (App)
        self.table = {a.path: a for a in address_table()}
        self._values: dict = {p.name: p.default for p in PARAMS}
        self._status: dict = {}
        self._meters: dict = {}
        self._scenes: list = [None] * SCENES
        self._clients: set = set()
        self._lock = threading.Lock()
        self._sender: Optional[threading.Thread] = None
        self.received = self.refused = 0
        from .preview import Preview
        self.preview = Preview()                 # the monitor: program and layer view (preview.py)

    def wants_preview(self) -> bool:
        """A page is open and its next preview is due (the app then shares its read-back)."""
        with self._lock:
            open_ = bool(self._clients)
        return open_ and self.preview.due()

    # -- what the page is built from (HTTP threads) ----------------------------------------------
    def state(self) -> dict:
        with self._lock:
            values, status, scenes = dict(self._values), dict(self._status), list(self._scenes)
        groups: dict = {}
        for p in PARAMS:
            groups.setdefault(p.group, []).append(
                {"name": p.name, "address": f"/livegan/{p.name}", "kind": p.kind, "lo": p.lo, "hi": p.hi,
                 "default": p.default, "unit": p.unit, "doc": p.doc, "value": values.get(p.name, p.default)})
        triggers = [{"address": a.path, "types": a.types, "doc": a.doc} for a in self.table.values()
                    if a.param is None and not a.path.startswith("/livegan/mod/") and a.path != "/livegan/status/sync"]
        return {"groups": [{"name": g, "params": ps} for g, ps in groups.items()], "triggers": triggers,
                "presets": self.presets(), "networks": self.networks(), "directions": self.directions(),
                "status": status, "scenes": scenes, "remote": self.access.remote}

    def presets(self) -> list:
        out, seen = [], set()
        for folder in self.folders:
            for f in sorted(folder.glob("*.json")) if folder.is_dir() else []:
                if f.stem in seen:
                    continue
                seen.add(f.stem)
                thumb = f.with_suffix(".png").is_file() or any((d / f"{f.stem}.png").is_file() for d in self.thumb_dirs)
                out.append({"name": f.stem, "thumb": thumb})
        return out

    def networks(self) -> list:
        from stylegan3 import builtin

        nets = [f"builtin:{n}" for n in builtin.names()]
        for folder in self.folders:
            if folder.is_dir():
                nets += [str(f) for f in sorted(folder.iterdir()) if f.suffix in (".pkl", ".safetensors")]
        return nets

    def directions(self) -> list:
        names = [f"pca:{k}" for k in range(8)] + [f"sefa:{k}" for k in range(8)]
        for folder in self.folders:
            d = folder / "directions"
            if d.is_dir():
                names += sorted(f.stem for f in d.glob("*.npz"))
        return names

    def thumbnail(self, name: str) -> Optional[bytes]:
        """A preset's thumbnail, by plain name only: NAME.png beside it ('save as preset' writes one),
        else its program frame from when it last played."""
        if not name or len(name) > 64 or not all(c.isalnum() or c in "-_" for c in name):
            return None
        for folder in self.folders + self.thumb_dirs:
            f = folder / f"{name}.png"
            if f.is_file() and f.stat().st_size < (4 << 20):
                return f.read_bytes()
        return None

    def asset(self, path: str, token: str) -> Optional[tuple[bytes, str]]:
        if path not in FILES:
            return None
        name, kind = FILES[path]
        data = (ASSETS / name).read_text(encoding="utf-8")
        if name == "index.html":                 # the token rides along in asset and socket URLs
            data = data.replace("{{TOKEN}}", token if self.access.remote else "")
        return data.encode(), kind

    # -- what the show publishes (main thread) ---------------------------------------------------
    def publish(self, values: Mapping[str, float], changed: Iterable[str] = ()) -> None:
        upd = {n: float(values[n]) for n in changed if n in values}
        with self._lock:
            self._values = dict(values)
            clients = list(self._clients)
        if upd:
            for c in clients:
                c.offer("values", upd)

    def publish_status(self, status: Mapping[str, object]) -> None:
        with self._lock:
            self._status = dict(status)
            clients = list(self._clients)
        for c in clients:
            c.offer("status", dict(status))

    def publish_meters(self, meters: Mapping[str, float]) -> None:
        if not meters:
            return
        with self._lock:
            clients = list(self._clients)
        for c in clients:
            c.offer("meters", {k: float(v) for k, v in meters.items()})

    # -- the page's messages (connection threads) ------------------------------------------------
    def handle(self, msg: dict) -> Optional[dict]:
        """One message from a page: an OSC address with its arguments, or a scene operation.
        Returns a reply for that page (an error line, the scenes), or None."""
        if not isinstance(msg, dict):
            raise ValueError("a page message is a JSON object")
        if msg.get("alive") is not None and len(msg) == 1:      # the page's heartbeat: nothing to do
            return None
        if "scene" in msg:
            return self._scene(msg)
        address, args = msg.get("address"), msg.get("args", [])
        if not isinstance(address, str) or not isinstance(args, list) or len(args) > 4:
            raise ValueError("expected {\"address\": \"/livegan/...\", \"args\": [...]}")
        a = self.table.get(address)
        if a is None:
            raise ValueError(f"no such address {address[:80]!r}")
        for v in args:
            if isinstance(v, float) and not math.isfinite(v):
                raise ValueError(f"{address}: not a finite number")
            if not isinstance(v, (int, float, str, bool)) or (isinstance(v, str) and len(v) > 1024):
                raise ValueError(f"{address}: arguments are numbers or short strings")
        cmd = a.make(list(args))
        self.post(replace(cmd, source="page", received=time.perf_counter()))
        self.received += 1
        return None

    def _scene(self, msg: dict) -> dict:
        k = msg.get("scene")
        if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < SCENES:
            raise ValueError(f"scene must be 0..{SCENES - 1}")
        if msg.get("op") == "store":
            from ..params import NETWORK
            with self._lock:
                self._scenes[k] = {p.name: float(self._values.get(p.name, p.default)) for p in PARAMS
                                   if p.cost != NETWORK and p.name not in ("pad", "record")}
                scenes, clients = list(self._scenes), list(self._clients)
            for c in clients:
                c.offer("scenes", scenes)
            return {"type": "notice", "text": f"scene {k + 1} stored"}
        if msg.get("op") == "clear":
            with self._lock:
                self._scenes[k] = None
                scenes, clients = list(self._scenes), list(self._clients)
            for c in clients:
                c.offer("scenes", scenes)
            return {"type": "notice", "text": f"scene {k + 1} cleared"}
        raise ValueError("scene op is store or clear")

    IDLE_S = 90.0                       # a page that says nothing this long is closed (it sends a
                                        # heartbeat every 20 s while it is visible; hidden, it waits)

    def serve(self, ws, peer: str, stopping: Optional[threading.Event] = None) -> None:
        """One page's websocket: its messages in (this thread waits on the socket), coalesced
        updates out (one sender thread for every page, SEND_HZ: a slow page misses intermediate
        values, never the latest).  A page silent for IDLE_S is closed."""
        from websockets.exceptions import ConnectionClosed

        from ..jobs import RateLimit

        client = _PageClient(ws)
        limit = RateLimit(self.MAX_RATE, self.BURST)
        with self._lock:
            self._clients.add(client)
            first = {"type": "values", "values": dict(self._values)}
        self._start_sender(stopping)
        heard = time.monotonic()
        try:
            client.send(first)
            while stopping is None or not stopping.is_set():
                try:
                    text = ws.recv(timeout=1.0)
                except TimeoutError:
                    if time.monotonic() - heard > self.IDLE_S:
                        ws.close(1000, "idle: no message for a while (a visible page sends one every 20 s)")
                        return
                    continue
                except ConnectionClosed:
                    return
                heard = time.monotonic()
                # Every surface's threads share one CPU budget: sixty pages cannot starve the frame
                # loop, and a page waiting here reads nothing more (its sender slows down).
                self.budget.wait(stopping, most=1.0)
                t0 = time.thread_time()       # CPU this thread used, not its waits
                if not limit.allow():
                    self.refused += 1
                    if limit.dropped == 1:
                        client.send({"type": "error", "text": f"too many messages: at most {self.MAX_RATE:g} a second"})
                else:
                    try:
                        reply = self.handle(json_text(text, "message") if isinstance(text, str) else None)
                    except (ValueError, TypeError, RecursionError) as e:
                        self.refused += 1
                        if self.problems is not None:
                            self.problems.count("page", f"control page: refused a message from {peer} ({e})")
                        reply = {"type": "error", "text": str(e)[:200]}
                    if reply is not None:
                        client.send(reply)
                self.budget.spend(time.thread_time() - t0)
        finally:
            with self._lock:
                self._clients.discard(client)

    def _start_sender(self, stopping: Optional[threading.Event]) -> None:
        with self._lock:
            if self._sender is not None and self._sender.is_alive():
                return
            self._sender = threading.Thread(target=self._send_loop, args=(stopping,), name="livegan-page-send",
                                            daemon=True)
            self._sender.start()

    def _send_loop(self, stopping: Optional[threading.Event]) -> None:
        """Every open page's pending updates, SEND_HZ times a second, from this one thread."""
        while stopping is None or not stopping.is_set():
            t0 = time.monotonic()
            with self._lock:
                clients = list(self._clients)
            if not clients:
                return                                  # started again by the next page
            for c in clients:
                try:
                    c.flush()
                except Exception:                       # gone: its own thread ends it
                    pass
            time.sleep(max(0.0, 1.0 / self.SEND_HZ - (time.monotonic() - t0)))


class _PageClient:
    """What one page has not been sent yet, merged: the newest value of each parameter, the
    newest status and meters (bounded by the registry's size, whatever the show does)."""

    def __init__(self, ws):
        self.ws = ws
        self._pending: dict = {}
        self._lock = threading.Lock()
        self._sending = threading.Lock()        # the sender thread and the page's own thread

    def offer(self, kind: str, data) -> None:
        with self._lock:
            if kind == "values":
                self._pending.setdefault("values", {}).update(data)
            else:
                self._pending[kind] = data

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
        for kind, data in pending.items():
            self.send({"type": kind, kind: data})

    def send(self, obj: dict) -> None:
        text = json.dumps(obj)
        with self._sending:
            self.ws.send(text)
