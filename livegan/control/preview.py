"""The control page's monitor: a small picture of the program and of the layer view, a few times a
second, for a performer whose phone is the only monitor.  The app hands over the read-back the
outputs already share (`offer`, only while a page is open and a preview is due: no extra
read-back otherwise); a page fetches `/control/preview.jpg` and `/control/layerview.png`, each
encoded once per new frame on the page's HTTP thread, never on the frame loop."""
from __future__ import annotations

import io
import threading
import time
from typing import Optional

import numpy as np

HZ = 4.0                                 # previews a second
WIDTH = 320                              # pixels across, at most


class Preview:
    def __init__(self, hz: float = HZ, width: int = WIDTH):
        self.hz, self.width = hz, width
        self._lock = threading.Lock()
        self._frame: Optional[np.ndarray] = None
        self._view: Optional[np.ndarray] = None
        self._n = 0
        self._encoded: dict = {}          # kind -> (frame number, bytes)
        self._last = 0.0
        self.offered = 0

    def due(self) -> bool:
        return time.monotonic() - self._last >= 1.0 / self.hz

    def offer(self, program: np.ndarray, view: Optional[np.ndarray]) -> None:
        """The program's pixels (HWC uint8, as read back) and the layer view, or None."""
        with self._lock:
            self._frame, self._view, self._n = program, view, self._n + 1
            self._last = time.monotonic()
            self.offered += 1

    def picture(self, kind: str) -> Optional[tuple[bytes, str]]:
        """('preview' JPEG of the program | 'layerview' PNG), or None when there is none yet."""
        with self._lock:
            n, img = self._n, (self._frame if kind == "preview" else self._view)
            got = self._encoded.get(kind)
        if img is None:
            return None
        if got is not None and got[0] == n:
            return got[1], _MIME[kind]
        data = _encode(img, self.width, "JPEG" if kind == "preview" else "PNG")
        with self._lock:
            self._encoded[kind] = (n, data)
        return data, _MIME[kind]


_MIME = {"preview": "image/jpeg", "layerview": "image/png"}


def _encode(img: np.ndarray, width: int, fmt: str) -> bytes:
    from PIL import Image

    im = Image.fromarray(np.ascontiguousarray(img[..., :3]))
    if im.width > width:
        im = im.resize((width, max(1, round(im.height * width / im.width))), Image.BILINEAR)
    elif fmt == "PNG" and im.width < width // 2:            # small maps: whole pixels, bigger
        k = (width // 2) // im.width
        im = im.resize((im.width * k, im.height * k), Image.NEAREST)
    out = io.BytesIO()
    im.save(out, fmt, **({"quality": 70} if fmt == "JPEG" else {}))
    return out.getvalue()
