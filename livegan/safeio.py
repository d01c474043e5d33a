"""File I/O that a show can survive: bounded reads of regular files only, atomic writes, and
output names that never collide between instances.

A path named in a command may be /dev/zero, a FIFO, a directory or a 10 GB file; reading it must
fail at once with one line, not grow memory or block.  A file we write must never be seen half
written under its final name (a kill or a full disk leaves the old file or none).
"""
from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path
from typing import Callable, Union

PathLike = Union[str, os.PathLike]
MiB = 1 << 20


def check_regular(path: PathLike, limit: int, what: str = "file") -> int:
    """Size of `path` if it is a regular file of at most `limit` bytes; OSError/ValueError naming
    the path otherwise.  stat() never opens (so never blocks on a FIFO)."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise OSError(e.errno, f"{path}: cannot read {what} ({e.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise ValueError(f"{path}: not a regular file (a {what} must be a plain file)")
    if st.st_size > limit:
        raise ValueError(f"{path}: {what} is {st.st_size / MiB:.1f} MiB, more than the {limit / MiB:.0f} MiB limit")
    return st.st_size


def read_regular(path: PathLike, limit: int, what: str = "file") -> bytes:
    """The bytes of a regular file of at most `limit` bytes.  Opened non-blocking and checked again
    on the open descriptor (the name may be swapped for a FIFO between stat and open)."""
    check_regular(path, limit, what)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(f"{path}: not a regular file (a {what} must be a plain file)")
        chunks, got = [], 0
        while True:
            b = os.read(fd, min(1 << 20, limit + 1 - got))
            if not b:
                break
            chunks.append(b)
            got += len(b)
            if got > limit:
                raise ValueError(f"{path}: {what} is larger than the {limit / MiB:.0f} MiB limit")
        return b"".join(chunks)
    finally:
        os.close(fd)


def atomic_write(path: PathLike, write: Callable[[object], None], mode: str = "wb") -> Path:
    """Call `write(fileobj)` on a temporary file beside `path`, fsync, then rename over `path`.
    On any error the temporary file is removed and the error raised: no half file, no empty file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def atomic_bytes(path: PathLike, data: bytes) -> Path:
    return atomic_write(path, lambda f: f.write(data))


def claim_unique(folder: PathLike, name: str) -> Path:
    """Create and return `folder/name`, or `stem-2.ext`, `stem-3.ext`... if taken: created with
    O_EXCL, so two instances writing to one folder never pick the same file."""
    folder, p = Path(folder), Path(name)
    stem, ext = p.stem, p.suffix
    for i in range(1, 10000):
        cand = folder / (name if i == 1 else f"{stem}-{i}{ext}")
        try:
            os.close(os.open(cand, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
            return cand
        except FileExistsError:
            continue
    raise OSError(f"{folder}: no free name like {name}")


def device_problem(path: PathLike) -> str:
    """'' if `path` is a character device (a camera, a virtual camera), else why not."""
    import stat

    try:
        st = os.stat(path)
    except OSError:
        return "no such device"
    return "" if stat.S_ISCHR(st.st_mode) else "not a device"
