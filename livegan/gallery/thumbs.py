"""Thumbnails: made once with Pillow, cached next to the walk (`<walk>/.thumbs/`), made again when
the source is newer than its thumbnail."""
from __future__ import annotations

from pathlib import Path

SIZE = 256


def thumbnail(source: Path) -> Path:
    from ..safeio import atomic_write

    cache = source.parent / ".thumbs" / (source.stem + ".jpg")
    try:
        if cache.stat().st_mtime >= source.stat().st_mtime:
            return cache
    except FileNotFoundError:
        pass
    cache.parent.mkdir(exist_ok=True)
    from ..pictures import read_picture

    im = read_picture(source, f"image {source.name}")
    im.thumbnail((SIZE, SIZE))
    atomic_write(cache, lambda f: im.save(f, format="JPEG", quality=85))
    return cache
