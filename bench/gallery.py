#!/usr/bin/env python3
"""Gallery: how fast a store of many images opens (a benchmark, not a test).

Builds a store of N images (default 10,000; small PNGs with ws), then times, with Flask's test
client and medians of --repeats: the walks page, the images page, the first page of the grid's
JSON (60 images), a page deep in the grid, a filtered page (liked=1, tag=...), and the first
thumbnail of each (made once, then cached).

    python bench/gallery.py [--images 10000] [--repeats 15]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "vendor")]


def build(folder: Path, n: int) -> None:
    import numpy as np
    from PIL import Image

    from livegan.store import Store

    st = Store(folder)
    rng = np.random.default_rng(0)
    per_walk = 500
    for w in range((n + per_walk - 1) // per_walk):
        wid = st.create_walk("session", f"bench {w}", network="builtin:tiny", network_hash="bench" + str(w % 3))
        d = st.walk_dir(wid)
        img = Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
        conn = st._conn()
        conn.execute("BEGIN")
        for i in range(min(per_walk, n - w * per_walk)):
            name = f"snap-{i:05d}.png"
            if i < 3:
                img.save(d / name)
            conn.execute("INSERT INTO images (walk_id, filename, path, kind, frame, created, state, liked)"
                         " VALUES (?, ?, ?, 'snapshot', ?, ?, '{}', ?)",
                         (wid, name, f"{wid}/{name}", i, time.time() + i, int(i % 10 == 0)))
        conn.execute("COMMIT")
    conn = st._conn()
    conn.execute("INSERT INTO tags (image_id, tag) SELECT id, 'fire' FROM images WHERE id % 7 = 0")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=15)
    a = ap.parse_args()
    from livegan.gallery import create_app

    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        build(Path(d), a.images)
        print(f"# built a store of {a.images} images in {time.perf_counter() - t:.1f} s; medians of {a.repeats}")
        app = create_app(d)
        c = app.test_client()
        first = app.extensions["studio"].store._conn().execute(
            "SELECT id FROM images WHERE filename = 'snap-00000.png' LIMIT 1").fetchone()[0]
        cases = [("walks page", "/"), ("images page", "/images"), ("grid: first 60", "/api/images"),
                 ("grid: page 100", "/api/images?page=100"), ("liked=1", "/api/images?liked=1"),
                 ("tag=fire", "/api/images?tag=fire"), ("since + kind", "/api/images?since=2000-01-01&kind=session")]
        t = time.perf_counter()
        assert c.get(f"/thumb/{first}").status_code == 200
        print(f"{'first thumbnail (made)':<24} {1000 * (time.perf_counter() - t):8.1f} ms")
        cases.append(("thumbnail (cached)", f"/thumb/{first}"))
        print(f"{'request':<24} {'median ms':>9}")
        for label, url in cases:
            ts = []
            for _ in range(a.repeats):
                t = time.perf_counter()
                r = c.get(url)
                ts.append(time.perf_counter() - t)
                assert r.status_code == 200, (url, r.status_code)
            print(f"{label:<24} {1000 * statistics.median(ts):9.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
