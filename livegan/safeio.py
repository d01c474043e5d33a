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
        raise ValueError(f"{path}: not a regular file ({'an' if what[:1].lower() in 'aeiou' else 'a'} {what} must be a plain file)")
    if st.st_size > limit:
        raise ValueError(f"{path}: {what} is {st.st_size / MiB:.1f} MiB, more than the {limit / MiB:.0f} MiB limit")
    return st.st_size


def open_regular(path: PathLike, limit: int, what: str = "file"):
    """A regular file of at most `limit` bytes, open for reading.  Opened non-blocking (a FIFO
    never blocks the open) and checked again on the open descriptor (the name may be swapped for
    a FIFO between stat and open)."""
    check_regular(path, limit, what)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(f"{path}: not a regular file ({'an' if what[:1].lower() in 'aeiou' else 'a'} {what} must be a plain file)")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: PathLike, limit: int, what: str = "file") -> bytes:
    """The bytes of a regular file of at most `limit` bytes (see open_regular)."""
    with open_regular(path, limit, what) as f:
        chunks, got = [], 0
        while True:
            b = f.read(min(1 << 20, limit + 1 - got))
            if not b:
                break
            chunks.append(b)
            got += len(b)
            if got > limit:
                raise ValueError(f"{path}: {what} is larger than the {limit / MiB:.0f} MiB limit")
        return b"".join(chunks)


def load_torch(path: PathLike, what: str, limit: int = 64 << 30, map_location="cpu"):
    """A torch.save file's data (torch's weights-only unpickler: no code from it runs) from a
    regular file: a FIFO named like a snapshot blocked `--resume` forever.  Any failure to read
    it is one ValueError line naming it."""
    import torch

    with open_regular(path, limit, what) as f:
        try:
            return torch.load(f, map_location=map_location, weights_only=True)
        except Exception as e:
            from .console import reason
            raise ValueError(f"{path}: not a readable {what} ({reason(e)})") from None


def atomic_write(path: PathLike, write: Callable[[object], None], mode: str = "wb") -> Path:
    """Call `write(fileobj)` on a temporary file beside `path`, fsync, then rename over `path`.
    On any error the temporary file is removed and the error raised: no half file, no empty file."""
    path = Path(path)
    # The writer's pid in the name: `remove_dead_temporaries` can tell a killed writer's leftover.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".part")
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
    """Reserve and return `folder/name`, or `stem-2.ext`, `stem-3.ext`... if taken.  The name is
    held by a hidden marker created with O_EXCL (two instances never pick the same one), and the
    file itself does not exist yet: its writer renames a complete file there (a kill leaves no
    empty or half file under it).  `release_claim` drops the marker."""
    folder, p = Path(folder), Path(name)
    stem, ext = p.stem, p.suffix
    for i in range(1, 10000):
        cand = folder / (name if i == 1 else f"{stem}-{i}{ext}")
        if cand.exists():
            continue
        try:
            fd = os.open(claim_marker(cand), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if not _marker_dead(claim_marker(cand)):
                continue
            os.unlink(claim_marker(cand))                # a killed claimer's: the name is free again
            fd = os.open(claim_marker(cand), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        if cand.exists():                                # written meanwhile by an older livegan
            os.unlink(claim_marker(cand))
            continue
        return cand
    raise OSError(f"{folder}: no free name like {name}")


def claim_marker(path: PathLike) -> Path:
    p = Path(path)
    return p.with_name(f".{p.name}.claim")


def release_claim(path: PathLike) -> None:
    try:
        os.unlink(claim_marker(path))
    except FileNotFoundError:
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _marker_dead(marker: Path) -> bool:
    try:
        return not _alive(int(marker.read_text() or "0"))
    except (OSError, ValueError):
        return False


def remove_dead_temporaries(folder: PathLike) -> list[str]:
    """Hidden temporaries and claim markers of writers that died (their pid is gone): atomic
    writes' `.NAME.PID.*.part`, videos' `.STEM.PID.partial.EXT`, claims' `.NAME.claim`.  Returns
    what it removed.  A live writer's files are never touched."""
    import re

    removed = []
    pattern = re.compile(r"^\.(?P<name>.+?)\.(?P<pid>\d+)\.(?:.+\.part|partial\..+)$")
    for p in Path(folder).glob(".*"):
        if not p.is_file():
            continue
        m = pattern.match(p.name)
        dead = (m is not None and not _alive(int(m.group("pid")))) or \
            (p.name.endswith(".claim") and _marker_dead(p))
        if dead:
            try:
                p.unlink()
                removed.append(p.name)
            except OSError:
                pass
    return removed


def device_problem(path: PathLike) -> str:
    """'' if `path` is a character device (a camera, a virtual camera), else why not."""
    import stat

    try:
        st = os.stat(path)
    except OSError:
        return "no such device"
    return "" if stat.S_ISCHR(st.st_mode) else "not a device"


def load_npz(data: bytes, limit: int, what: str = "arrays") -> dict:
    """The arrays of an .npz held in `data`, checked by their declared sizes before anything is
    inflated: a few MB of deflated zeros claiming gigabytes is refused, not decompressed.  Every
    member must be a plain .npy (no pickles) whose header shape fits `limit` bytes in all."""
    import io
    import zipfile

    import numpy as np

    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise ValueError(f"{what}: not an .npz archive ({e})") from None
    if len(infos) > 256 or sum(i.file_size for i in infos) > limit:
        raise ValueError(f"{what}: declares {sum(i.file_size for i in infos) / MiB:.0f} MiB in {len(infos)} "
                         f"arrays, more than the {limit / MiB:.0f} MiB limit")
    out, total = {}, 0
    for info in infos:
        with zf.open(info) as f:
            try:
                version = np.lib.format.read_magic(f)
                read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                shape, _, dtype = read(f)
            except ValueError as e:
                raise ValueError(f"{what}: {info.filename}: not a plain array ({e})") from None
            if dtype.hasobject:
                raise ValueError(f"{what}: {info.filename}: object arrays are refused")
            total += int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
            if total > limit:
                raise ValueError(f"{what}: its arrays would take more than {limit / MiB:.0f} MiB")
    for info in infos:                                    # every header fits: inflate, bounded reads
        with zf.open(info) as f:
            out[info.filename[:-4] if info.filename.endswith(".npy") else info.filename] = \
                np.lib.format.read_array(f, allow_pickle=False)
    return out


def read_zip_entry(z, info, limit: int) -> bytes:
    """A zip entry's bytes, refused by its declared size before anything is inflated, then
    inflated a chunk at a time and never beyond what it declares: an entry declaring 1 KB that
    inflates to 300 MB is corrupt at its 1 KB + 1st byte.  ValueError, one line."""
    if info.file_size > limit:
        raise ValueError(f"{info.filename[:120]}: declares {info.file_size / MiB:.0f} MiB, more than the "
                         f"{limit / MiB:.0f} MiB limit")
    out = bytearray()
    with z.open(info) as f:
        while len(out) <= info.file_size:
            chunk = f.read(min(1 << 20, info.file_size + 1 - len(out)))
            if not chunk:
                break
            out += chunk
    if len(out) != info.file_size:
        raise ValueError(f"{info.filename[:120]}: inflates to other than the {info.file_size} bytes it declares")
    return bytes(out)
