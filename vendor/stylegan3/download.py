"""Networks named by URL: downloaded once into the cache, atomically, bounded in time and size, and
only what looks like a checkpoint (an HTML error page never enters the cache)."""
from __future__ import annotations

import hashlib
import tempfile
import os
from pathlib import Path
from typing import Optional

from .pickle_safe import CheckpointError

def cache_dir() -> Path:
    return Path(os.environ.get("LIVEGAN_CACHE", Path.home() / ".cache" / "livegan"))


def cached_path(url: str) -> Path:
    """Where `fetch_url` keeps `url` (whether or not it is there yet)."""
    name = url.rstrip("/").rsplit("/", 1)[-1].split("?")[0][:100] or "network.pkl"
    name = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)
    return cache_dir() / f"{hashlib.sha256(url.encode()).hexdigest()[:16]}-{name}"


def looks_like_checkpoint(head: bytes) -> bool:
    """A pickle (protocol 2-5), a zip (torch.save) or a safetensors header: the first bytes decide."""
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return True
    if head.startswith(b"PK\x03\x04"):
        return True
    return len(head) >= 9 and int.from_bytes(head[:8], "little") < (100 << 20) and head[8:9] == b"{"


def download_deadline() -> float:
    """LIVEGAN_DOWNLOAD_S (default 900): seconds a whole download may take."""
    from .settings import env_number

    return env_number("LIVEGAN_DOWNLOAD_S", 900, 1, 7 * 86400, meaning="seconds a download may take")


def fetch_url(url: str, progress: bool = True, timeout: float = 20.0, deadline: Optional[float] = None,
              limit: Optional[int] = None) -> Path:
    """Download `url` into the cache (once).  Bounded in time (`deadline` seconds in all, default
    LIVEGAN_DOWNLOAD_S or 900; `timeout` per read) and size (`limit`, default twice the network
    memory limit); the first bytes must look like a checkpoint (an HTML error page never enters
    the cache); a partial download never lands under the final name."""
    import time

    from .bounds import max_network_bytes

    deadline = download_deadline() if deadline is None else deadline
    limit = max_network_bytes() * 2 if limit is None else limit
    dest = cached_path(url)
    name = dest.name.split("-", 1)[1]
    if dest.exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".download-", suffix=".part")
    end = time.monotonic() + deadline
    watchdog = _Watchdog(end)
    try:
        with os.fdopen(fd, "wb") as out, _open_bounded(url, timeout, watchdog) as resp:
            total = int(resp.headers.get("Content-Length") or 0) or None
            if total is not None and total > limit:
                raise CheckpointError(f"{url}: {total / (1 << 20):.0f} MiB is more than the {limit / (1 << 20):.0f} MiB limit")
            bar = _progress(total, name) if progress else None
            got = 0
            # read1: whatever has arrived (a trickling server cannot hold one read for long)
            while chunk := resp.read1(1 << 20):
                if got == 0 and not looks_like_checkpoint(chunk[:16]):
                    kind = resp.headers.get("Content-Type", "unknown type")
                    raise CheckpointError(f"{url}: the server sent {kind}, not a network checkpoint")
                out.write(chunk)
                got += len(chunk)
                if got > limit:
                    raise CheckpointError(f"{url}: more than the {limit / (1 << 20):.0f} MiB limit; stopped")
                if time.monotonic() > end:
                    raise CheckpointError(f"{url}: download took longer than {deadline:.0f} s; stopped")
                if bar is not None:
                    bar.update(len(chunk))
            if bar is not None:
                bar.close()
            if watchdog.fired:                     # its shutdown ended the body early: not complete
                raise CheckpointError(f"{url}: download took longer than {deadline:.0f} s; stopped")
            if total is not None and got != total:
                raise CheckpointError(f"{url}: download interrupted ({got} of {total} bytes)")
            if got == 0:
                raise CheckpointError(f"{url}: the server sent nothing")
        os.replace(tmp, dest)
    except Exception as e:
        if watchdog.fired:
            raise CheckpointError(f"{url}: download took longer than {deadline:.0f} s (connect, headers and "
                                  "body together); stopped") from None
        if isinstance(e, CheckpointError):
            raise
        raise CheckpointError(f"{url}: download failed ({type(e).__name__}: {e})") from None
    finally:
        watchdog.cancel()
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest


class _Watchdog:
    """Shuts the download's socket at an absolute deadline: a server that trickles its response
    headers a byte at a time holds no read for long, so per-read timeouts alone never end it."""

    def __init__(self, end: float):
        import threading
        import time

        self.fired, self.sock = False, None
        self._timer = threading.Timer(max(0.0, end - time.monotonic()), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def watch(self, sock) -> None:
        self.sock = sock
        if self.fired:
            self._fire()

    def _fire(self) -> None:
        import socket

        self.fired = True
        if self.sock is not None:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cancel(self) -> None:
        self._timer.cancel()


def _open_bounded(url: str, timeout: float, watchdog: _Watchdog, redirects: int = 5):
    """GET `url` (http or https, following up to `redirects` redirects) with the watchdog on
    every connection; the response to read from."""
    import http.client
    import ssl
    from urllib.parse import urljoin, urlsplit

    for _ in range(redirects + 1):
        u = urlsplit(url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise CheckpointError(f"{url}: only http(s) URLs are downloaded")
        cls = http.client.HTTPSConnection if u.scheme == "https" else http.client.HTTPConnection
        kw = {"context": ssl.create_default_context()} if u.scheme == "https" else {}
        conn = cls(u.hostname, u.port, timeout=timeout, **kw)
        conn.connect()
        watchdog.watch(conn.sock)
        conn.request("GET", (u.path or "/") + (f"?{u.query}" if u.query else ""),
                     headers={"User-Agent": "livegan", "Accept": "*/*"})
        resp = conn.getresponse()
        if resp.status in (301, 302, 303, 307, 308) and resp.getheader("Location"):
            url = urljoin(url, resp.getheader("Location"))
            resp.close()
            conn.close()
            continue
        if resp.status != 200:
            resp.close()
            conn.close()
            raise CheckpointError(f"{url}: the server answered {resp.status} {resp.reason}")
        return resp
    raise CheckpointError(f"{url}: more than {redirects} redirects")


def _progress(total: Optional[int], name: str):
    from tqdm import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, desc=f"downloading {name}", leave=False)


# ----------------------------------------------------------------------------------------------
