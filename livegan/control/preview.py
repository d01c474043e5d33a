"""The control page's monitor: a small picture of the program and of the layer view, a few times a
second, for a performer whose phone is the only monitor.  The app hands over the read-back the
outputs already share (`offer`, only while a page is open and a preview is due: no extra
read-back otherwise); a page fetches `/control/preview.jpg` and `/control/layerview.png`, each
encoded once per new frame on the page's HTTP thread, never on the frame loop.  Each picture says
which show tick it is (the reply's `X-Livegan-Tick`), so a page or a test can tell how old it is."""
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
        self._tick: Optional[int] = None
        self._encoded: dict = {}          # kind -> (frame number, bytes)
        self._last = 0.0
        self.offered = 0

    def due(self) -> bool:
        return time.monotonic() - self._last >= 1.0 / self.hz

    def offer(self, program: np.ndarray, view: Optional[np.ndarray], tick: Optional[int] = None) -> None:
        """The program's pixels (HWC uint8, as read back), the layer view or None, and the tick
        whose picture the read-back is."""
        with self._lock:
            self._frame, self._view, self._n, self._tick = program, view, self._n + 1, tick
            self._last = time.monotonic()
            self.offered += 1

    def picture(self, kind: str) -> Optional[tuple[bytes, str, Optional[int]]]:
        """('preview' JPEG of the program | 'layerview' PNG, its MIME type, its tick), or None
        when there is none yet."""
        with self._lock:
            n, tick, img = self._n, self._tick, (self._frame if kind == "preview" else self._view)
            got = self._encoded.get(kind)
        if img is None:
            return None
        if got is not None and got[0] == n:
            return got[1], _MIME[kind], tick
        data = _encode(img, self.width, "JPEG" if kind == "preview" else "PNG")
        with self._lock:
            self._encoded[kind] = (n, data)
        return data, _MIME[kind], tick


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
