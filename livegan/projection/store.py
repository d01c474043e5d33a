"""A projection kept in the store: a curated walk named "projections" holds each target picture
and the picture its ws draw (with the ws file, the PSNR and the settings in its state), so the
gallery shows them, filters them and its curators can tag and like them."""
from __future__ import annotations

from pathlib import Path

import numpy as np

WALK_NAME = "projections"


def keep(outdir: Path, res, ws_file: Path, network: str) -> tuple[int, int]:
    """(target image id, result image id) in the store at `outdir`."""
    from ..imaging import save_png
    from ..safeio import atomic_write
    from ..store import Store, network_identity

    store = Store(outdir)
    try:
        wid = next((w["id"] for w in store.walks("curated") if w["name"] == WALK_NAME), None)
        if wid is None:
            wid = store.create_walk("curated", WALK_NAME, network=network, network_hash=network_identity(network))
        folder = store.walk_dir(wid)
        n = len(store.images(wid)) // 2
        stem = f"p{n:04d}-{ws_file.stem[:40]}"
        save_png(folder / f"{stem}-target.png", res.target)
        save_png(folder / f"{stem}.png", res.image)
        atomic_write(folder / f"{stem}.npy", lambda f: np.save(f, res.ws))
        state = {"ws": f"{stem}.npy", "projection": {**res.settings, "psnr": round(res.psnr, 2), "psnr_average": round(res.psnr_average, 2),
                                "ws_file": f"{stem}.npy", "target": f"{stem}-target.png", "exported": str(ws_file)},
                 "network": network}
        t = store.add_image(wid, f"{stem}-target.png", kind="target", state={"projection_target": True, "network": network})
        r = store.add_image(wid, f"{stem}.png", kind="projection", state=state)
        return t, r
    finally:
        store.close()
