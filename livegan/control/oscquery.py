"""OSCQuery: the OSC namespace as JSON over HTTP, advertised over mDNS (`_oscjson._tcp`), with
LISTEN over a websocket on the same port (what Chataigne and other OSCQuery clients use to follow
values without polling).

Built from the same address table as the OSC receiver.  The HTTP threads read a values snapshot
that the main thread publishes (an immutable mapping swapped atomically); they never touch params.
Value changes for listened paths go to each websocket client through its own bounded queue.
"""
from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import MappingProxyType
from typing import Callable, Mapping, Optional
from urllib.parse import urlsplit

from .osc import PREFIX, STATUS, address_table
from .websocket import WebSocket, WebSocketError, handshake_response

# OSCQuery ACCESS: 0 no value (containers, argument-less methods), 1 read, 2 write, 3 both.
ACCESS_NONE, ACCESS_READ, ACCESS_WRITE, ACCESS_RW = 0, 1, 2, 3
MAX_CLIENTS = 16                     # HTTP requests served at once
# What a write-only method shows as its VALUE: strict clients (python-oscquery) take a node's
# argument types from its VALUE, so every node with ACCESS 1..3 carries one of the right type.
PLACEHOLDER = {"f": 0.0, "i": 0, "s": "", "T": False, "F": False}


OUTPUT_FIELDS = {"sent": "frames sent", "dropped": "frames dropped (not queued)", "error": "last error, '' when fine"}


def namespace(values: Mapping[str, float], status: Mapping[str, object] = {}) -> dict:
    """The OSCQuery tree: nested CONTENTS nodes, one leaf per address, plus read-only status."""
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
    """HTTP JSON on its own thread; `publish(values)` from the main thread updates VALUEs."""

    def __init__(self, osc_port: int, host: str = "0.0.0.0", port: int = 9001, name: str = "livegan",
                 mdns: bool = True, log: Callable[[str], None] = print, policy=None):
        self.osc_port, self.name, self.log = osc_port, name, log
        self._values: Mapping[str, float] = MappingProxyType({})
        self._status: Mapping[str, object] = MappingProxyType({})
        self._clients: set = set()                 # websocket clients (LISTEN)
        self._clients_lock = threading.Lock()
        self._stopping = threading.Event()
        self.mdns_names: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                if policy is not None and not policy.allows(self.client_address[0]):
                    self.send_error(403, "not allowed: see --osc-allow")
                    return
                if len(self.path) > 1024:
                    self.send_error(414)
                    return
                url = urlsplit(self.path)
                if self.headers.get("Upgrade", "").lower() == "websocket":
                    server._serve_websocket(self)
                    return
                if url.query == "HOST_INFO":
                    body = server.host_info()
                else:
                    node = find(namespace(server._values, server._status), url.path)
                    if node is None:
                        self.send_error(404, "no such OSC address")
                        return
                    attr = url.query.upper()
                    if attr:
                        if attr not in node:
                            self.send_error(204 if attr in ("VALUE", "RANGE", "TYPE") else 400)
                            return
                        body = {attr: node[attr]}
                    else:
                        body = node
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *a):
                pass

            timeout = 5                      # a client that never finishes its request lets go

        slots = threading.BoundedSemaphore(MAX_CLIENTS)

        class Server(ThreadingHTTPServer):
            address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

            def process_request(self, request, client_address):
                if not slots.acquire(blocking=False):      # a connection flood: refuse, never pile up threads
                    self.shutdown_request(request)
                    return
                super().process_request(request, client_address)

            def process_request_thread(self, request, client_address):
                try:
                    super().process_request_thread(request, client_address)
                finally:
                    slots.release()
        try:
            self.httpd = Server((host, port), Handler)
        except (OSError, OverflowError) as e:
            raise OSError(f"OSCQuery: cannot listen on {host}:{port} ({getattr(e, 'strerror', None) or e}); "
                          "choose another --oscquery-port") from None
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="livegan-oscquery", daemon=True)
        self._zc = None
        self._mdns = mdns
        self._adv: Optional[threading.Thread] = None

    def host_info(self) -> dict:
        return {"NAME": self.name, "OSC_PORT": self.osc_port, "OSC_TRANSPORT": "UDP",
                "EXTENSIONS": {"ACCESS": True, "VALUE": True, "RANGE": True, "DESCRIPTION": True,
                               "TYPE": True, "LISTEN": True, "PATH_CHANGED": False}}

    def publish(self, values: Mapping[str, float], changed: Mapping[str, str] = {}) -> None:
        """New parameter values (main thread); listeners of the changed paths are sent them."""
        self._values = MappingProxyType(dict(values))
        if changed:
            self._notify({f"{PREFIX}/{n}": float(values[n]) for n in changed if n in values})

    def publish_status(self, status: Mapping[str, object]) -> None:
        old, self._status = self._status, MappingProxyType(dict(status))
        self._notify({f"{PREFIX}/status/{k}": v for k, v in status.items() if old.get(k) != v})

    def _notify(self, updates: Mapping[str, object]) -> None:
        with self._clients_lock:
            clients = list(self._clients)
        for c in clients:
            c.offer(updates)

    def _serve_websocket(self, handler) -> None:
        """One LISTEN client: JSON commands in (text frames), OSC packets out (binary frames)."""
        key = handler.headers.get("Sec-WebSocket-Key", "")
        try:
            handler.wfile.write(handshake_response(key))
            handler.wfile.flush()
        except (ValueError, OSError):
            return
        client = _Listener(WebSocket(handler.connection), self)
        with self._clients_lock:
            self._clients.add(client)
        try:
            client.run(self._stopping)
        finally:
            with self._clients_lock:
                self._clients.discard(client)

    def current(self, path: str):
        """The value of a path (parameter or status), for a LISTEN's first message."""
        if path.startswith(f"{PREFIX}/status/"):
            return self._status.get(path[len(PREFIX) + len("/status/"):])
        v = self._values.get(path[len(PREFIX) + 1:])
        return None if v is None else float(v)

    def start(self) -> "OscQueryServer":
        self._thread.start()
        if self._mdns:
            self._adv = threading.Thread(target=self._advertise, name="livegan-mdns", daemon=True)
            self._adv.start()
        return self

    def _advertise(self) -> None:
        """mDNS: `_oscjson._tcp` for OSCQuery browsers (and `_osc._udp` for plain OSC).  A second
        livegan on the network gets 'livegan (2)' and so on (zeroconf renames on conflict)."""
        try:
            from zeroconf import ServiceInfo, Zeroconf

            addr = socket.inet_aton(_local_ip())
            self._zc = Zeroconf()
            for stype, port in (("_oscjson._tcp.local.", self.port), ("_osc._udp.local.", self.osc_port)):
                if self._stopping.is_set():
                    return
                info = ServiceInfo(stype, f"{self.name}.{stype}", addresses=[addr], port=port,
                                   properties={"txtvers": "1"})
                self._zc.register_service(info, allow_name_change=True)
                self.mdns_names.append(info.name)
        except Exception as e:                     # no multicast here: OSCQuery over HTTP still works
            if not self._stopping.is_set():        # a short run stopping mid-registration is no error
                self.log(f"OSCQuery: mDNS advertising unavailable ({type(e).__name__}: {e})")

    def stop(self) -> None:
        self._stopping.set()
        if self._adv is not None:
            self._adv.join(timeout=5)              # registration probes take a moment: let it end
        if self._zc is not None:
            try:
                self._zc.unregister_all_services()
                self._zc.close()
            except Exception as e:
                self.log(f"OSCQuery: mDNS shutdown: {e}")
        self.httpd.shutdown()
        self.httpd.server_close()


def _local_ip() -> str:
    """This host's address for the mDNS record (loopback when the name does not resolve)."""
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"


class _Listener:
    """A websocket client of LISTEN: the paths it listens to and a bounded queue of updates (a slow
    client loses updates, counted; it never slows the show)."""

    MAX_PATHS = 512
    MAX_QUEUE = 256

    def __init__(self, ws: WebSocket, server: OscQueryServer):
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

        m = OscMessageBuilder(path)
        m.add_arg(value)
        self.ws.send_binary(m.build().dgram)

    def run(self, stopping: threading.Event) -> None:
        import queue

        try:
            while not stopping.is_set():
                msg = self.ws.poll(0.05)            # a JSON command, or None
                if msg is not None:
                    self._command(msg)
                while True:
                    try:
                        path, value = self.queue.get_nowait()
                    except queue.Empty:
                        break
                    self._send(path, value)
        except (WebSocketError, OSError):
            pass
        finally:
            self.ws.close()

    def _command(self, text: str) -> None:
        try:
            cmd = json.loads(text)
            op, path = str(cmd.get("COMMAND", "")).upper(), str(cmd.get("DATA", ""))
        except (ValueError, AttributeError):
            return                                  # not a command we know: ignored, as the spec says
        if op == "LISTEN" and len(self.paths) < self.MAX_PATHS and len(path) <= 256:
            self.paths.add(path)
            v = self.server.current(path)
            if v is not None:
                self._send(path, v)
        elif op == "IGNORE":
            self.paths.discard(path)
