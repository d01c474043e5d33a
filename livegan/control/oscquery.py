"""OSCQuery: the OSC namespace as JSON over HTTP, advertised over mDNS (`_oscjson._tcp`), with
LISTEN over a websocket on the same port (what Chataigne and other OSCQuery clients use to follow
values without polling).

Built from the same address table as the OSC receiver.  The HTTP threads read a values snapshot
that the main thread publishes (an immutable mapping swapped atomically); they never touch params.
Value changes for listened paths go to each websocket client through its own bounded queue.
"""
from __future__ import annotations

import errno
import json
import threading
from types import MappingProxyType
from typing import Callable, Mapping, Optional
from urllib.parse import urlsplit

from ..boundary import PAGE_CSP, OwnNames, host_allowed, origin_allowed, single_header
from .listener import BoundedListener, ClientProblems
from .mdns import Advertiser
from .osc import PREFIX, STATUS, address_table

# OSCQuery ACCESS: 0 no value (containers, argument-less methods), 1 read, 2 write, 3 both.
ACCESS_NONE, ACCESS_READ, ACCESS_WRITE, ACCESS_RW = 0, 1, 2, 3
# What a write-only method shows as its VALUE: strict clients (python-oscquery) take a node's
# argument types from its VALUE, so every node with ACCESS 1..3 carries one of the right type.
PLACEHOLDER = {"f": 0.0, "i": 0, "s": "", "T": False, "F": False}


OUTPUT_FIELDS = {"sent": "frames sent", "dropped": "frames dropped (not queued)", "error": "last error, '' when fine"}


def namespace(values: Mapping[str, float], status: Mapping[str, object] = {},
              state: Mapping[str, list] = {}) -> dict:
    """The OSCQuery tree: nested CONTENTS nodes, one leaf per address, plus read-only status.
    `state`: what a command address holds now (the latent pad's corner seeds, the keyframe's
    seed): such a node reads as its value, not a placeholder."""
    root = {"FULL_PATH": "/", "DESCRIPTION": "livegan", "CONTENTS": {}}
    st = root["CONTENTS"].setdefault("livegan", {"FULL_PATH": PREFIX, "CONTENTS": {}})
    snode = st["CONTENTS"].setdefault("status", {"FULL_PATH": f"{PREFIX}/status", "CONTENTS": {},
                                                  "DESCRIPTION": "show status (read only)"})
    for name, kind, doc in STATUS:
        leaf = {"FULL_PATH": f"{PREFIX}/status/{name}", "DESCRIPTION": doc, "TYPE": kind, "ACCESS": ACCESS_READ,
                "VALUE": [status[name] if name in status else PLACEHOLDER.get(kind[:1], 0)]}
        snode["CONTENTS"][name] = leaf
    for key, v in status.items():                       # per-output counters: output/NAME/FIELD
        if not key.startswith("output/"):
            continue
        node = snode
        for part in key.split("/")[:-1]:
            node = node["CONTENTS"].setdefault(part, {"FULL_PATH": f"{node['FULL_PATH']}/{part}", "CONTENTS": {}})
        field = key.rsplit("/", 1)[1]
        node["CONTENTS"][field] = {"FULL_PATH": f"{PREFIX}/status/{key}", "TYPE": "s" if isinstance(v, str) else "i",
                                   "ACCESS": ACCESS_READ, "VALUE": [v],
                                   "DESCRIPTION": f"{key.split('/')[1]} output: {OUTPUT_FIELDS[field]}"}
    for a in address_table():
        node, path = root, ""
        parts = a.path.strip("/").split("/")
        for part in parts[:-1]:
            path += "/" + part
            node = node["CONTENTS"].setdefault(part, {"FULL_PATH": path, "CONTENTS": {}})
            node.setdefault("CONTENTS", {})                 # a value's node may hold more (direction/0/pick)
        leaf: dict = {"FULL_PATH": a.path, "DESCRIPTION": a.doc}
        p = a.param
        if a.types and "|" not in a.types:
            leaf["TYPE"] = a.types
        elif "|" in a.types:
            leaf["TYPE"] = a.types.split("|")[0]
        if p is not None and a.path == f"{PREFIX}/{p.name}":
            leaf["ACCESS"] = ACCESS_RW
            v = values.get(p.name, p.default)
            leaf["VALUE"] = [bool(v) if p.kind == "bool" else (int(v) if p.kind == "int" else float(v))]
            if p.kind != "bool":
                leaf["RANGE"] = [{"MIN": p.lo, "MAX": p.hi}]
        elif p is not None and "/norm/" in a.path:
            leaf["ACCESS"] = ACCESS_RW
            leaf["VALUE"] = [p.to_norm(values.get(p.name, p.default))]
            leaf["RANGE"] = [{"MIN": 0.0, "MAX": 1.0}]
        elif leaf.get("TYPE") and a.path in state:
            leaf["ACCESS"] = ACCESS_RW
            leaf["VALUE"] = list(state[a.path])
        elif leaf.get("TYPE"):
            leaf["ACCESS"] = ACCESS_WRITE
            leaf["VALUE"] = [PLACEHOLDER.get(t, 0) for t in leaf["TYPE"]]
        else:                                           # a trigger: no argument, no value
            leaf["ACCESS"] = ACCESS_NONE
        node["CONTENTS"].setdefault(parts[-1], {}).update(leaf)
    _strict(root)
    return root


def _strict(node: dict) -> None:
    """What strict clients need (the spec's model: a node is a container or a method, never
    both): every container says ACCESS 0; a value that also has children (mod/K and its route,
    curve...) moves to a `value` child, which the receiver accepts as well."""
    kids = node.get("CONTENTS")
    if kids is not None and not kids:
        del node["CONTENTS"]
        kids = None
    if kids:
        if "VALUE" in node or "TYPE" in node:
            moved = {k: node.pop(k) for k in ("TYPE", "VALUE", "RANGE", "ACCESS") if k in node}
            kids["value"] = dict(moved, FULL_PATH=f"{node['FULL_PATH']}/value",
                                 DESCRIPTION=node.get("DESCRIPTION", ""))
        node["ACCESS"] = ACCESS_NONE
        for child in kids.values():
            _strict(child)


def find(tree: dict, path: str) -> Optional[dict]:
    if path in ("", "/"):
        return tree
    node = tree
    for part in path.strip("/").split("/"):
        node = node.get("CONTENTS", {}).get(part)
        if node is None:
            return None
    return node


class OscQueryServer:
    """OSCQuery over HTTP and LISTEN over websockets, both served by the `websockets` library's
    threaded server (plain GETs answered in `process_request`); `publish(values)` from the main
    thread updates VALUEs.

    What a peer controls is bounded: the whole request must arrive within OPEN_TIMEOUT (a byte
    every few seconds gets nowhere), each peer holds at most PER_PEER connections and everyone
    together MAX_CONNECTIONS, a websocket that listens to nothing is closed after IDLE_S, messages
    are at most MAX_MESSAGE bytes.  The Host header must name this machine and a browser's Origin
    must be this server's own (DNS rebinding, other pages).  Client errors are counted lines."""

    OPEN_TIMEOUT = 5.0
    PER_PEER = 12                   # a browser opens ~6 at once, plus the page's socket
    MAX_CONNECTIONS = 64
    IDLE_S = 30.0
    MAX_MESSAGE = 4096

    def __init__(self, osc_port: int, host: str = "0.0.0.0", port: int = 9001, name: str = "livegan",
                 mdns: bool = True, log: Callable[[str], None] = print, policy=None, names: tuple = (),
                 page=None):
        from websockets.sync.server import serve

        self.osc_port, self.name, self.log, self.policy = osc_port, name, log, policy
        self.page = page                            # the control page (control/page.py), or None
        self.names = tuple(names)                   # extra Host names admitted (besides this machine's)
        self._values: Mapping[str, float] = MappingProxyType({})
        self._status: Mapping[str, object] = MappingProxyType({})
        self._state: Mapping[str, list] = MappingProxyType({})
        self._clients: set = set()                 # websocket clients (LISTEN)
        self._clients_lock = threading.Lock()
        self._stopping = threading.Event()
        self.problems = ClientProblems(log)
        self._own = OwnNames()
        try:
            sock = BoundedListener.create(host, port, self.PER_PEER, self.MAX_CONNECTIONS, self.problems,
                                          trusted=self._trusted)
        except (OSError, OverflowError) as e:
            from .osc import PortTaken
            kind = PortTaken if getattr(e, "errno", None) == errno.EADDRINUSE else OSError
            raise kind(f"OSCQuery: cannot listen on {host}:{port} ({getattr(e, 'strerror', None) or e}); "
                       "choose another --oscquery-port") from None
        self.server = serve(self._websocket, sock=sock, process_request=self._request, compression=None,
                            open_timeout=self.OPEN_TIMEOUT, ping_interval=20, ping_timeout=20, close_timeout=2,
                            max_size=self.MAX_MESSAGE, max_queue=4, server_header=None,
                            logger=self.problems.logger())
        self.port = sock.getsockname()[1]
        self.listener = sock
        self._thread = threading.Thread(target=self.server.serve_forever, name="livegan-oscquery", daemon=True)
        self._adv = Advertiser(name, self.port, osc_port, log) if mdns else None

    def _trusted(self, peer: str) -> bool:
        """A host the user admitted by name or network (--control-allow, --osc-allow); loopback
        addresses other than the machine's own user are not (anyone on it can take millions)."""
        from .page import _loopback

        if _loopback(peer):
            return False
        page = self.page.access.policy if self.page is not None else None
        return bool((page is not None and page.admitted(peer)) or (self.policy is not None and self.policy.admitted(peer)))

    # -- requests (the server's connection threads) -------------------------------------------
    def _is_page(self, path: str) -> bool:
        return self.page is not None and (path == "/control" or path.startswith("/control/"))

    def _request(self, connection, request):
        """Every request, websocket or not: who may ask, then a JSON answer for a plain GET (or
        the control page: its own access rule, see control/page.py)."""
        peer = connection.remote_address[0] if connection.remote_address else ""
        if len(request.path) > 1024:
            return self._reply(connection, 414, {"error": "path too long"})
        url = urlsplit(request.path)
        page = self._is_page(url.path)
        if page:
            from urllib.parse import parse_qs
            token = (parse_qs(url.query).get("token") or [None])[0]
            why = self.page.access.check(peer, token)
            if why is not None:
                self.problems.count("page-access", f"control page: refused {peer} ({why})")
                return self._reply(connection, 403, {"error": why})
        elif self.policy is not None and not self.policy.allows(peer):
            return self._reply(connection, 403, {"error": "not allowed: see --osc-allow"})
        try:
            host, origin = single_header(request.headers, "Host"), single_header(request.headers, "Origin")
        except ValueError as e:                     # two Host headers: malformed, not a crash
            self.problems.count("headers", f"OSCQuery: refused a request with {e}")
            return self._reply(connection, 400, {"error": str(e)})
        if not host_allowed(host, self.names, self._own):
            self.problems.count("host", f"OSCQuery: refused a request for host {str(host)[:60]!r} "
                                        "(not this machine: DNS rebinding?)")
            return self._reply(connection, 421, {"error": "this server does not answer for that host name"})
        if not origin_allowed(origin, host):
            self.problems.count("origin", f"OSCQuery: refused a page from {str(origin)[:60]!r}")
            return self._reply(connection, 403, {"error": "only this server's own pages may talk to it"})
        if request.headers.get("Upgrade", "").lower() == "websocket":
            if page and url.path != "/control/ws":
                return self._reply(connection, 404, {"error": "the control page's socket is /control/ws"})
            return None                             # on to the websocket handshake
        if page:
            return self._page_request(connection, url, host)
        if url.query == "HOST_INFO":
            return self._reply(connection, 200, self.host_info())
        node = find(namespace(self._values, self._status, self._state), url.path)
        if node is None:
            return self._reply(connection, 404, {"error": "no such OSC address"})
        attr = url.query.upper()
        if not attr:
            return self._reply(connection, 200, node)
        if attr not in node:
            return self._reply(connection, 204 if attr in ("VALUE", "RANGE", "TYPE") else 400, None)
        return self._reply(connection, 200, {attr: node[attr]})

    @staticmethod
    def _reply(connection, status: int, body):
        from http import HTTPStatus

        from websockets.datastructures import Headers
        from websockets.http11 import Response

        data = b"" if body is None else json.dumps(body).encode()
        headers = Headers([("Content-Length", str(len(data))), ("Connection", "close")])
        if body is not None:
            headers["Content-Type"] = "application/json"
        return Response(status, HTTPStatus(status).phrase, headers, data)

    def _page_request(self, connection, url, host: str):
        """The control page's files, its state and preset thumbnails."""
        from urllib.parse import parse_qs, unquote
        token = (parse_qs(url.query).get("token") or [""])[0]
        if url.path == "/control/state":
            return self._reply(connection, 200, self.page.state())
        if url.path in ("/control/preview.jpg", "/control/layerview.png"):
            got = self.page.preview.picture("preview" if url.path.endswith(".jpg") else "layerview")
            if got is None:                            # nothing yet (or no layer view): not an error
                return self._raw(204, b"", "image/png")
            data, kind, tick = got
            return self._raw(200, data, kind, [("X-Livegan-Tick", str(tick))] if tick is not None else [])
        if url.path.startswith("/control/thumb/"):
            data = self.page.thumbnail(unquote(url.path[len("/control/thumb/"):]))
            if data is None:
                return self._reply(connection, 404, {"error": "no thumbnail"})
            return self._raw(200, data, "image/png")
        got = self.page.asset(url.path, token)
        if got is None:
            return self._reply(connection, 404, {"error": "no such page"})
        data, kind = got
        return self._raw(200, data, kind, [("Content-Security-Policy", PAGE_CSP.format(host=host))])

    @staticmethod
    def _raw(status: int, data: bytes, kind: str, extra: list = ()):
        from http import HTTPStatus

        from websockets.datastructures import Headers
        from websockets.http11 import Response

        headers = Headers([("Content-Length", str(len(data))), ("Connection", "close"), ("Content-Type", kind),
                           ("X-Content-Type-Options", "nosniff"), ("Cache-Control", "no-store"),
                           ("Referrer-Policy", "no-referrer"), *extra])
        return Response(status, HTTPStatus(status).phrase, headers, data)

    def _websocket(self, ws) -> None:
        """One LISTEN client: JSON commands in (text frames), OSC packets out (binary frames); or a
        control page (its socket is /control/ws)."""
        if self._is_page(urlsplit(ws.request.path).path):
            peer = ws.remote_address[0] if ws.remote_address else ""
            try:
                self.page.serve(ws, peer, self._stopping)
            except Exception as e:                   # a page going away mid-send: counted
                self.problems.count(f"page:{type(e).__name__}", f"control page: a page's socket ended ({type(e).__name__})")
            return
        client = _Listener(ws, self)
        with self._clients_lock:
            self._clients.add(client)
        try:
            client.run(self._stopping, self.IDLE_S)
        except Exception as e:                       # a peer going away mid-send: counted, never a traceback
            self.problems.count(f"ws:{type(e).__name__}", f"OSCQuery: a websocket client ended ({type(e).__name__})")
        finally:
            with self._clients_lock:
                self._clients.discard(client)

    def host_info(self) -> dict:
        return {"NAME": self.name, "OSC_PORT": self.osc_port, "OSC_TRANSPORT": "UDP",
                "EXTENSIONS": {"ACCESS": True, "VALUE": True, "RANGE": True, "DESCRIPTION": True,
                               "TYPE": True, "LISTEN": True, "PATH_CHANGED": False}}

    def publish(self, values: Mapping[str, float], changed: Mapping[str, str] = {}) -> None:
        """New parameter values (main thread); listeners of the changed paths are sent them."""
        self._values = MappingProxyType(dict(values))
        if changed:
            self._notify({f"{PREFIX}/{n}": float(values[n]) for n in changed if n in values})

    def publish_state(self, state: Mapping[str, list]) -> None:
        """What command addresses hold now (path -> value list); listeners hear the changes."""
        old, self._state = self._state, MappingProxyType({k: list(v) for k, v in state.items()})
        self._notify({k: v[0] if len(v) == 1 else v for k, v in self._state.items() if old.get(k) != v})

    def publish_status(self, status: Mapping[str, object]) -> None:
        old, self._status = self._status, MappingProxyType(dict(status))
        self._notify({f"{PREFIX}/status/{k}": v for k, v in status.items() if old.get(k) != v})

    def _notify(self, updates: Mapping[str, object]) -> None:
        with self._clients_lock:
            clients = list(self._clients)
        for c in clients:
            c.offer(updates)

    def current(self, path: str):
        """The value of a path (parameter or status), for a LISTEN's first message."""
        if path.startswith(f"{PREFIX}/status/"):
            return self._status.get(path[len(PREFIX) + len("/status/"):])
        if path in self._state:
            v = self._state[path]
            return v[0] if len(v) == 1 else v
        v = self._values.get(path[len(PREFIX) + 1:])
        return None if v is None else float(v)

    def start(self) -> "OscQueryServer":
        self._thread.start()
        if self._adv is not None:
            self._adv.start()
        return self

    @property
    def mdns_names(self) -> list[str]:
        """The names registered so far (none without multicast or with mdns off)."""
        return [] if self._adv is None else list(self._adv.names)

    def stop(self) -> None:
        self._stopping.set()
        if self._adv is not None:
            self._adv.stop()
        self.server.shutdown()


class _Listener:
    """A websocket client of LISTEN: the paths it listens to and a bounded queue of updates (a slow
    client loses updates, counted; it never slows the show)."""

    MAX_PATHS = 512
    MAX_QUEUE = 256

    def __init__(self, ws, server: OscQueryServer):
        import queue

        self.ws, self.server = ws, server
        self.paths: set = set()
        self.queue: "queue.Queue" = queue.Queue(maxsize=self.MAX_QUEUE)
        self.dropped = 0

    def offer(self, updates: Mapping[str, object]) -> None:
        import queue

        for path, value in updates.items():
            if path in self.paths and value is not None:
                try:
                    self.queue.put_nowait((path, value))
                except queue.Full:
                    self.dropped += 1

    def _send(self, path: str, value) -> None:
        from pythonosc.osc_message_builder import OscMessageBuilder

        from ..boundary import utf8_text

        m = OscMessageBuilder(path)
        m.add_arg(utf8_text(value))
        self.ws.send(m.build().dgram)

    def run(self, stopping: threading.Event, idle_s: float) -> None:
        import queue
        import time

        from websockets.exceptions import ConnectionClosed

        opened = time.monotonic()
        try:
            while not stopping.is_set():
                try:
                    msg = self.ws.recv(timeout=0.05)    # a JSON command
                except TimeoutError:
                    msg = None
                if isinstance(msg, str):
                    self._command(msg)
                if not self.paths and time.monotonic() - opened > idle_s:
                    self.ws.close(1008, "listening to nothing")   # an idle socket holds no slot
                    return
                while True:
                    try:
                        path, value = self.queue.get_nowait()
                    except queue.Empty:
                        break
                    self._send(path, value)
        except ConnectionClosed:
            pass

    def _command(self, text: str) -> None:
        try:
            cmd = json.loads(text)
            op, path = str(cmd.get("COMMAND", "")).upper(), str(cmd.get("DATA", ""))
        except (ValueError, AttributeError, RecursionError):
            return                                  # not a command we know: ignored, as the spec says
        if op == "LISTEN" and len(self.paths) < self.MAX_PATHS and len(path) <= 256:
            self.paths.add(path)
            v = self.server.current(path)
            if v is not None:
                self._send(path, v)
        elif op == "IGNORE":
            self.paths.discard(path)
