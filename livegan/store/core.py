"""The walk/snapshot store: one SQLite database (WAL) in the output folder.

A walk is a live session, a random walk, a curated walk or a recording; its files live in
`<outdir>/<walk_id>/` and the database keeps paths relative to `<outdir>`.  WAL mode and a busy
timeout let the live app write while another process (the gallery, a render job) reads.
Every write is one short transaction, so a crash at any moment leaves the database consistent.
"""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Optional

from ..boundary import utf8_text
from ..console import reason, say
from . import damage
from .schema import FOREIGN_KEYS_OFF, MIGRATIONS

DB_NAME = "livegan.db"
LIVE_STATES = ("recording", "rendering", "queued", "training")   # a process is working on the walk
OWNER_FILE = ".owner.lock"
WALK_KINDS = ("session", "random", "curated", "recording", "training")
RENDER_STATES = ("queued", "rendering", "done", "failed")
MAX_TAG = 64


class _TextConnection(sqlite3.Connection):
    """Every statement's text parameters pass `utf8_text` (one place, whatever the caller): a name
    that is not Unicode failed the recording and every snapshot; it is kept escaped instead."""

    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        if isinstance(params, dict):
            params = {k: utf8_text(v) for k, v in params.items()}
        elif params:
            params = tuple(utf8_text(v) for v in params)
        return super().execute(sql, params)


class WalkBusy(RuntimeError):
    """A walk a live process is writing into (recording, rendering) cannot be deleted."""


class Store:
    """Thread-safe: each thread gets its own connection to the same file."""

    def __init__(self, outdir: str | Path):
        self.outdir = Path(outdir)
        self.outdir.mkdir(parents=True, exist_ok=True)
        self.path = self.outdir / DB_NAME
        self._local = threading.local()
        self._owned: dict[int, int] = {}                  # walk id -> fd holding its owner lock
        self.set_aside: Optional[Path] = None             # where a damaged database went
        try:
            self._open()
        except (sqlite3.DatabaseError, UnicodeDecodeError) as e:
            if not damage.is_damage(e):
                raise
            self.close()
            self.set_aside = damage.set_aside(self.path)
            say(f"livegan: the store's database {self.path} is damaged ({reason(e)}): set aside as "
                f"{self.set_aside.name}; a fresh one is used from now (the walks' folders are untouched)")
            self._open()
        self.repaired = self.repair()

    def _open(self) -> None:
        mode = self._conn().execute("PRAGMA journal_mode=WAL").fetchone()[0]   # outside a transaction
        if mode != "wal":
            raise RuntimeError(f"{self.path}: cannot use WAL mode (got {mode}); is the folder on a network share?")
        damage.check(self._conn())
        self._migrate()

    # -- ownership: a walk in a live state is held by the process working on it ------------------
    def _lock_fd(self, walk_id: int, block: bool) -> Optional[int]:
        import fcntl
        import os

        folder = self.walk_dir(walk_id)
        if not folder.is_dir():
            return None
        fd = os.open(folder / OWNER_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if block else fcntl.LOCK_NB))
            return fd
        except OSError:
            os.close(fd)
            return None

    def release(self, walk_id: int) -> None:
        """Give up ownership of a walk (after setting its final status)."""
        import os

        fd = self._owned.pop(walk_id, None)
        if fd is not None:
            os.close(fd)

    def repair(self) -> list[int]:
        """Walks left 'recording'/'rendering'/'queued' by a process that died (nobody holds their
        owner lock) become 'interrupted', with what survived; their renders become 'failed' with
        the reason.  Runs when the store opens."""
        import os

        from ..safeio import remove_dead_temporaries

        for folder in self.outdir.iterdir() if self.outdir.is_dir() else ():
            # walk folders and the show's own hidden ones (.preset-thumbs): killed writers' files
            if folder.is_dir() and (folder.name.isdigit() or folder.name.startswith(".")) and not folder.is_symlink():
                remove_dead_temporaries(folder)
        remove_dead_temporaries(self.outdir)
        self._remove_orphan_snapshots()
        fixed = []
        rows = self._conn().execute(
            f"SELECT id, info FROM walks WHERE status IN ({','.join('?' * len(LIVE_STATES))})", LIVE_STATES).fetchall()
        for r in rows:
            wid = r["id"]
            if wid in self._owned:
                continue
            fd = self._lock_fd(wid, block=False)
            if fd is None and self.walk_dir(wid).is_dir():
                continue                                    # a live process owns it
            try:
                folder = self.walk_dir(wid)
                survived = {p.name: p.stat().st_size for p in sorted(folder.iterdir())
                            if p.is_file() and not p.name.startswith(".")} if folder.is_dir() else {}
                info = _json_field(r["info"])
                info = info if isinstance(info, dict) else {}
                info.update(interrupted=time.time(), survived=survived)
                with self._tx() as db:
                    db.execute("UPDATE walks SET status = 'interrupted', info = ? WHERE id = ?", (json.dumps(info), wid))
                    db.execute("UPDATE renders SET status = 'failed', error = ?, updated = ? "
                               "WHERE walk_id = ? AND status IN ('queued', 'rendering')",
                               ("interrupted: the process working on it ended", time.time(), wid))
                fixed.append(wid)
            finally:
                if fd is not None:
                    os.close(fd)
        return fixed

    ORPHAN_AGE_S = 600                 # a snapshot's files get their row within seconds

    def _remove_orphan_snapshots(self) -> None:
        """Snapshot files (snap-*.npy/.png) that never got their row (a full disk or a kill between
        the files and the row) and are older than ORPHAN_AGE_S: removed, in session walks only."""
        rows = self._conn().execute("SELECT id FROM walks WHERE kind = 'session'").fetchall()
        now = time.time()
        for r in rows:
            folder = self.walk_dir(r["id"])
            if not folder.is_dir() or folder.is_symlink():
                continue
            known = {x["filename"].rsplit(".", 1)[0] for x in self._conn().execute(
                "SELECT filename FROM images WHERE walk_id = ?", (r["id"],)).fetchall()}
            for f in folder.glob("snap-*"):
                stem = f.name.split(".")[0].removesuffix("-raw")
                try:
                    if stem not in known and f.is_file() and now - f.stat().st_mtime > self.ORPHAN_AGE_S:
                        f.unlink()
                except OSError:
                    pass

    def _conn(self) -> sqlite3.Connection:
        c = getattr(self._local, "conn", None)
        if c is None:
            c = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, factory=_TextConnection)
            c.row_factory = sqlite3.Row
            c.text_factory = _text                        # a damaged row's bytes never fail a listing
            c.execute("PRAGMA foreign_keys=ON")
            c.execute("PRAGMA busy_timeout=30000")
            c.execute("PRAGMA synchronous=NORMAL")         # WAL + NORMAL: consistent after a crash
            self._local.conn = c
        return c

    class _Tx:
        def __init__(self, conn: sqlite3.Connection):
            self.conn = conn

        def __enter__(self) -> sqlite3.Connection:
            self.conn.execute("BEGIN IMMEDIATE")
            return self.conn

        def __exit__(self, exc_type, exc, tb) -> bool:
            self.conn.execute("COMMIT" if exc_type is None else "ROLLBACK")
            return False

    def _next_id(self, db: sqlite3.Connection, table: str) -> int:
        """The next id of `table`, above every id it ever had (inside the caller's transaction)."""
        floor = db.execute("SELECT last FROM id_floor WHERE tbl = ?", (table,)).fetchone()[0]
        top = db.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}").fetchone()[0]
        nid = max(floor, top) + 1
        while table == "walks" and (self.outdir / str(nid)).exists():
            nid += 1                                      # a folder a set-aside database knew
        db.execute("UPDATE id_floor SET last = ? WHERE tbl = ?", (nid, table))
        return nid

    def _tx(self) -> "_Tx":
        return Store._Tx(self._conn())

    def _migrate(self) -> None:
        conn = self._conn()
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        rebuild = any(MIGRATIONS[v].startswith(FOREIGN_KEYS_OFF) for v in range(version, len(MIGRATIONS)))
        if rebuild:                              # outside a transaction, or SQLite ignores it
            conn.execute("PRAGMA foreign_keys=OFF")
        try:
            with self._tx() as db:
                version = db.execute("PRAGMA user_version").fetchone()[0]
                if version > len(MIGRATIONS):
                    raise RuntimeError(f"{self.path}: schema version {version} is newer than this livegan "
                                       f"({len(MIGRATIONS)}); upgrade livegan")
                for v in range(version, len(MIGRATIONS)):
                    for stmt in (s.strip() for s in MIGRATIONS[v].removeprefix(FOREIGN_KEYS_OFF).split(";")):
                        if stmt:
                            db.execute(stmt)
                    db.execute(f"PRAGMA user_version={v + 1}")
                if rebuild and db.execute("PRAGMA foreign_key_check").fetchone() is not None:
                    raise RuntimeError(f"{self.path}: the schema upgrade broke a reference; nothing was changed")
        finally:
            if rebuild:
                conn.execute("PRAGMA foreign_keys=ON")

    def schema_version(self) -> int:
        return self._conn().execute("PRAGMA user_version").fetchone()[0]

    # -- walks ---------------------------------------------------------------------------------
    def create_walk(self, kind: str, name: str = "", network: Optional[str] = None,
                    network_hash: Optional[str] = None, preset: Optional[str] = None,
                    status: str = "open", info: Optional[dict] = None) -> int:
        """A new walk and its folder.  A walk created in a live state ('recording', 'rendering',
        'queued') is owned by this process until `release` (or its death, which `repair` sees)."""
        if kind not in WALK_KINDS:
            raise ValueError(f"walk kind must be one of {', '.join(WALK_KINDS)}, got {kind!r}")
        live = status in LIVE_STATES
        with self._tx() as db:
            wid = self._next_id(db, "walks")
            db.execute("INSERT INTO walks (id, kind, name, created, network, network_hash, preset, status, info)"
                       " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (wid, kind, name, time.time(), network, network_hash, preset,
                        "open" if live else status, json.dumps(info or {})))
        self.walk_dir(wid).mkdir(parents=True, exist_ok=True)
        if live:                                 # owned first, live second: repair never races us
            fd = self._lock_fd(wid, block=True)
            if fd is not None:
                self._owned[wid] = fd
            self.set_walk(wid, status=status)
        return wid

    def walk_dir(self, walk_id: int) -> Path:
        return self.outdir / str(walk_id)

    def set_walk(self, walk_id: int, **fields: Any) -> None:
        allowed = {"name", "status", "info", "network", "network_hash", "preset", "archived"}
        bad = set(fields) - allowed
        if bad:
            raise ValueError(f"cannot set walk fields {sorted(bad)}")
        if "info" in fields and not isinstance(fields["info"], str):
            fields["info"] = json.dumps(fields["info"])
        if fields.get("status") in LIVE_STATES and walk_id not in self._owned:
            fd = self._lock_fd(walk_id, block=True)      # owned before it looks live (see repair)
            if fd is not None:
                self._owned[walk_id] = fd
        cols = ", ".join(f"{k} = ?" for k in fields)
        with self._tx() as db:
            db.execute(f"UPDATE walks SET {cols} WHERE id = ?", (*fields.values(), walk_id))
        if fields.get("status") not in (None, *LIVE_STATES):
            self.release(walk_id)                # a final status ends ownership

    def walk(self, walk_id: int) -> Optional[dict]:
        r = self._conn().execute("SELECT * FROM walks WHERE id = ?", (walk_id,)).fetchone()
        return _row(r)

    def walks(self, kind: Optional[str] = None) -> list[dict]:
        q, args = "SELECT * FROM walks", ()
        if kind:
            q, args = q + " WHERE kind = ?", (kind,)
        return [_row(r) for r in self._conn().execute(q + " ORDER BY id", args)]

    # -- images --------------------------------------------------------------------------------
    def add_image(self, walk_id: int, filename: str, kind: str = "snapshot", frame: Optional[int] = None,
                  state: Optional[dict] = None) -> int:
        """Register a file already written at <outdir>/<walk_id>/<filename>."""
        rel = f"{walk_id}/{filename}"
        with self._tx() as db:
            iid = self._next_id(db, "images")
            db.execute("INSERT INTO images (id, walk_id, filename, path, kind, frame, created, state)"
                       " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (iid, walk_id, filename, rel, kind, frame, time.time(), json.dumps(state or {})))
            return iid

    def images(self, walk_id: int) -> list[dict]:
        return [_row(r) for r in self._conn().execute(
            "SELECT * FROM images WHERE walk_id = ? ORDER BY id", (walk_id,))]

    def image(self, image_id: int) -> Optional[dict]:
        return _row(self._conn().execute("SELECT * FROM images WHERE id = ?", (image_id,)).fetchone())

    def image_count(self, walk_id: int) -> tuple[int, int]:
        """(images, liked images) of a walk."""
        r = self._conn().execute("SELECT COUNT(*), COALESCE(SUM(liked), 0) FROM images WHERE walk_id = ?",
                                 (walk_id,)).fetchone()
        return int(r[0]), int(r[1])

    def query_images(self, where: str = "", args: tuple = (), offset: int = 0, limit: int = 60) -> tuple[list[dict], int]:
        """A page of images (newest first) matching a WHERE clause built from a filter object
        (gallery/filters.py builds it from declared filters only, with parameters), and the total."""
        base = " FROM images i JOIN walks w ON w.id = i.walk_id" + (f" WHERE {where}" if where else "")
        total = self._conn().execute("SELECT COUNT(*)" + base, args).fetchone()[0]
        rows = self._conn().execute("SELECT i.*, w.kind AS walk_kind, w.network_hash AS network_hash" + base +
                                    " ORDER BY i.created DESC, i.id DESC LIMIT ? OFFSET ?", (*args, limit, offset))
        return [_row(r) for r in rows], int(total)

    # -- curation ------------------------------------------------------------------------------
    def set_liked(self, image_id: int, liked: bool) -> None:
        with self._tx() as db:
            if db.execute("UPDATE images SET liked = ? WHERE id = ?", (int(bool(liked)), image_id)).rowcount != 1:
                raise KeyError(f"no image {image_id}")

    def tags(self, image_id: int) -> list[str]:
        return [r[0] for r in self._conn().execute("SELECT tag FROM tags WHERE image_id = ? ORDER BY tag", (image_id,))]

    def all_tags(self) -> list[str]:
        return [r[0] for r in self._conn().execute("SELECT DISTINCT tag FROM tags ORDER BY tag")]

    def add_tag(self, image_id: int, tag: str) -> None:
        tag = check_tag(tag)
        with self._tx() as db:
            if db.execute("SELECT 1 FROM images WHERE id = ?", (image_id,)).fetchone() is None:
                raise KeyError(f"no image {image_id}")
            db.execute("INSERT OR IGNORE INTO tags (image_id, tag) VALUES (?, ?)", (image_id, tag))

    def remove_tag(self, image_id: int, tag: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM tags WHERE image_id = ? AND tag = ?", (image_id, tag))

    def delete_walk(self, walk_id: int) -> None:
        """Its rows (images, tags, renders cascade) and its folder, nothing outside the store."""
        import os
        import shutil

        row = self.walk(walk_id)
        if row is None:
            raise KeyError(f"no walk {walk_id}")
        if row["status"] in LIVE_STATES:                 # someone is recording or rendering into it
            fd = None if walk_id in self._owned else self._lock_fd(walk_id, block=False)
            if fd is None and self.walk_dir(walk_id).is_dir():
                raise WalkBusy(f"walk {walk_id} is {row['status']}: stop it first (its files are being written)")
            if fd is not None:
                os.close(fd)
        with self._tx() as db:
            db.execute("DELETE FROM walks WHERE id = ?", (walk_id,))
        self.release(walk_id)
        folder = self.walk_dir(walk_id)
        root = os.path.realpath(self.outdir)
        if folder.is_symlink():                      # never follow a link out of the store
            folder.unlink()
        elif folder.is_dir() and os.path.realpath(folder).startswith(root + os.sep):
            shutil.rmtree(folder, ignore_errors=True)

    # -- renders -------------------------------------------------------------------------------
    def add_render(self, walk_id: int, options: Optional[dict] = None) -> int:
        now = time.time()
        with self._tx() as db:
            rid = self._next_id(db, "renders")
            db.execute("INSERT INTO renders (id, walk_id, status, created, updated, options) VALUES (?, ?, 'queued', ?, ?, ?)",
                       (rid, walk_id, now, now, json.dumps(options or {})))
            return rid

    def update_render(self, render_id: int, status: Optional[str] = None, progress: Optional[float] = None,
                      path: Optional[str] = None, error: Optional[str] = None) -> None:
        if status is not None and status not in RENDER_STATES:
            raise ValueError(f"render status must be one of {', '.join(RENDER_STATES)}")
        sets, args = ["updated = ?"], [time.time()]
        for k, v in (("status", status), ("progress", progress), ("path", path), ("error", error)):
            if v is not None:
                sets.append(f"{k} = ?")
                args.append(v)
        with self._tx() as db:
            db.execute(f"UPDATE renders SET {', '.join(sets)} WHERE id = ?", (*args, render_id))

    def render(self, render_id: int) -> Optional[dict]:
        return _row(self._conn().execute("SELECT * FROM renders WHERE id = ?", (render_id,)).fetchone())

    def renders(self, walk_id: Optional[int] = None) -> list[dict]:
        q, args = "SELECT * FROM renders", ()
        if walk_id is not None:
            q, args = q + " WHERE walk_id = ?", (walk_id,)
        return [_row(r) for r in self._conn().execute(q + " ORDER BY id", args)]

    def close(self) -> None:
        for wid in list(self._owned):
            self.release(wid)
        c = getattr(self._local, "conn", None)
        if c is not None:
            c.close()
            self._local.conn = None


def check_tag(tag: str) -> str:
    """A tag: 1..64 printable characters, trimmed and lower-cased; ValueError otherwise."""
    t = " ".join(str(tag).split()).lower()
    if not t or len(t) > MAX_TAG or not t.isprintable():
        raise ValueError(f"a tag is 1..{MAX_TAG} printable characters, got {str(tag)[:40]!r}")
    return t


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def _row(r: Optional[sqlite3.Row]) -> Optional[dict]:
    if r is None:
        return None
    d = dict(r)
    for k in ("info", "state", "options"):
        if k in d and isinstance(d[k], str):
            d[k] = _json_field(d[k])
    return d


def _json_field(text: Optional[str]) -> Any:
    """A row's JSON field; a damaged one reads as {"damaged": its text} (the row still lists)."""
    try:
        return json.loads(text or "{}")
    except ValueError:
        return {"damaged": str(text)[:200]}


def file_hash(path: str | Path, chunk: int = 1 << 20) -> str:
    """sha256 of a network file: the network's identity in the store and in recordings."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        while b := f.read(chunk):
            h.update(b)
    return h.hexdigest()


def network_identity(source: str) -> str:
    """A stable id for a network source: the file's sha256, or the built-in's name and spec."""
    import hashlib

    if source.startswith("builtin:"):
        from stylegan3 import builtin
        spec = builtin._SPECS.get(source[len("builtin:"):], {})
        cal = builtin._CALIBRATION.get(source[len("builtin:"):], {})
        return "builtin-" + hashlib.sha256(json.dumps([source, spec.get("init_kwargs"), spec.get("seed"), cal],
                                                        sort_keys=True, default=str).encode()).hexdigest()[:16]
    p = Path(source).expanduser()
    if p.is_file():                          # a regular file only: hashing a FIFO waits for a writer
        return file_hash(p)
    return "url-" + hashlib.sha256(source.encode()).hexdigest()[:16]
