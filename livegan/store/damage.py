"""A store whose database file is damaged (a disk's bad sector, a copy cut short, another
program's bytes) must not stop a show from recording: the damaged file is set aside, whole, for
the person to recover (`sqlite3 livegan.db.damaged-... .recover`), and a fresh database takes its
place; the walks' folders are never touched, and new walks never reuse one (core._next_id)."""
from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

# what SQLite says of a file that is not a database any more; 'database is locked' and the like
# are OperationalErrors of a healthy file and never set it aside
_DAMAGE_CODES = {11, 26}                       # SQLITE_CORRUPT, SQLITE_NOTADB


def is_damage(e: BaseException) -> bool:
    if isinstance(e, (Damaged, UnicodeDecodeError)):    # the latter: SQLite's message quotes a broken schema
        return True
    code = getattr(e, "sqlite_errorcode", None)
    return isinstance(e, sqlite3.DatabaseError) and code is not None and (code & 0xFF) in _DAMAGE_CODES


class Damaged(sqlite3.DatabaseError):
    """PRAGMA integrity_check found the file inconsistent."""


def check(conn: sqlite3.Connection) -> None:
    """Raise Damaged unless SQLite's integrity check says 'ok' (its quick check missed damage that a
    write then met; the full check takes about 130 ms for 100,000 images, once per opening)."""
    rows = [r[0] for r in conn.execute("PRAGMA integrity_check(3)").fetchall()]
    if rows != ["ok"]:
        raise Damaged("; ".join(str(r) for r in rows)[:200])


def set_aside(path: Path) -> Path:
    """Rename the damaged database (and its WAL and shared-memory files) out of the way."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.damaged-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        src = Path(f"{path}{suffix}")
        if src.exists():
            os.replace(src, Path(f"{target}{suffix}"))
    return target
