"""OSCQuery: the OSC namespace as JSON over HTTP, advertised over mDNS (`_oscjson._tcp`).

Built from the same address table as the OSC receiver.  The HTTP thread reads a values snapshot
that the main thread publishes (an immutable mapping swapped atomically); it never touches params.
"""
from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import MappingProxyType
from typing import Callable, Mapping, Optional
from urllib.parse import urlsplit

from .osc import PREFIX, address_table

ACCESS_WRITE, ACCESS_RW = 2, 3
MAX_CLIENTS = 16                     # HTTP requests served at once


def namespace(values: Mapping[str, float]) -> dict:
    """The OSCQuery tree: nested CONTENTS nodes, one leaf per address."""
    root = {"FULL_PATH": "/", "DESCRIPTION": "livegan", "CONTENTS": {}}
    for a in address_table():
        node, path = root, ""
        parts = a.path.strip("/").split("/")
        for part in parts[:-1]:
            path += "/" + part
            node = node["CONTENTS"].setdefault(part, {"FULL_PATH": path, "CONTENTS": {}})
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
        else:
            leaf["ACCESS"] = ACCESS_WRITE
        node["CONTENTS"][parts[-1]] = leaf
    return root


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
                if url.query == "HOST_INFO":
                    body = server.host_info()
                else:
                    node = find(namespace(server._values), url.path)
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

    def host_info(self) -> dict:
        return {"NAME": self.name, "OSC_PORT": self.osc_port, "OSC_TRANSPORT": "UDP",
                "EXTENSIONS": {"ACCESS": True, "VALUE": True, "RANGE": True, "DESCRIPTION": True,
                               "TYPE": True, "LISTEN": False, "PATH_CHANGED": False}}

    def publish(self, values: Mapping[str, float]) -> None:
        self._values = MappingProxyType(dict(values))

    def start(self) -> "OscQueryServer":
        self._thread.start()
        if self._mdns:
            threading.Thread(target=self._advertise, name="livegan-mdns", daemon=True).start()
        return self

    def _advertise(self) -> None:
        """mDNS: `_oscjson._tcp` for OSCQuery browsers (and `_osc._udp` for plain OSC)."""
        try:
            from zeroconf import ServiceInfo, Zeroconf

            addr = socket.inet_aton(_local_ip())
            self._zc = Zeroconf()
            for stype, port in (("_oscjson._tcp.local.", self.port), ("_osc._udp.local.", self.osc_port)):
                self._zc.register_service(ServiceInfo(stype, f"{self.name}.{stype}", addresses=[addr], port=port,
                                                      properties={"txtvers": "1"}))
        except Exception as e:                     # no multicast here: OSCQuery over HTTP still works
            self.log(f"OSCQuery: mDNS advertising unavailable ({type(e).__name__}: {e})")

    def stop(self) -> None:
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
