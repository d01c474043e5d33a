"""Pictures from outside (a dropped photo, a condition image, a dataset's files, a recording's
stored frames, the store's images): opened by the formats a picture comes in, refused by declared
size before any pixel is decoded, decoded and turned into 8-bit RGB by one rule, and any failure
on the way is one ValueError line naming the picture.  Pillow raises a different exception per
format for a damaged file (OSError, SyntaxError, NotImplementedError, struct.error, ...), and
hands anything that looks like PostScript to Ghostscript: neither reaches the callers."""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from .console import reason

MAX_IMAGE_PIXELS = 64_000_000                 # 8000 x 8000: far above any picture a show needs
# the formats cameras, phones, browsers and image editors write; not PostScript (Ghostscript runs
# on it), not the icon, game-texture and scientific formats nobody drops on a show
FORMATS = ("PNG", "JPEG", "MPO", "GIF", "BMP", "TIFF", "WEBP", "PPM", "TGA")


def open_image(source: Any, what: str = "image", max_pixels: int = MAX_IMAGE_PIXELS):
    """A PIL image opened lazily (only its header read) and refused by its declared size before
    any pixel is decoded: a 30000 x 30000 PNG of a few kilobytes is one line, never a decompression
    bomb or Pillow's own exception.  `source` is a path or a file object."""
    from PIL import Image

    # no warnings.catch_warnings here: it swaps the process's filters and is not thread-safe
    # (pictures are read on the studio's, the projector's and the sources' threads at once); a
    # picture past Pillow's own warning size is refused below by ours, which is smaller
    try:
        im = Image.open(source, formats=FORMATS)
    except Image.DecompressionBombError:
        raise ValueError(f"{what}: declares more pixels than a picture may have here") from None
    except Exception as e:
        raise ValueError(f"{what}: not a readable image ({reason(e)})") from None
    if im.width * im.height > max_pixels:
        im.close()
        raise ValueError(f"{what}: {im.width}x{im.height} is too large (at most {max_pixels // 1_000_000} megapixels)")
    return im


def decode(im, what: str = "image", draft: Optional[tuple[int, int]] = None):
    """An opened image's pixels as 8-bit RGB (a new image, independent of the file): EXIF
    orientation applied, alpha over black, 16-bit scaled down; `draft` lets a JPEG decode at a
    smaller scale still at least that size.  Any failure is one ValueError line."""
    try:
        if draft is not None:
            im.draft("RGB", draft)
        im.load()
        return to_rgb(im)
    except Exception as e:
        raise ValueError(f"{what}: not a readable image ({reason(e)})") from None


def read_picture(source: Any, what: str = "image", max_pixels: int = MAX_IMAGE_PIXELS,
                 draft: Optional[tuple[int, int]] = None):
    """open_image, then decode: a path or file object -> an 8-bit RGB PIL image, or ValueError."""
    with open_image(source, what, max_pixels) as im:
        return decode(im, what, draft)


def to_rgb(im):
    """Any mode to 8-bit RGB: EXIF orientation applied, alpha over black, 16-bit scaled down."""
    from PIL import Image, ImageOps

    im = ImageOps.exif_transpose(im)
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        a = np.asarray(im)
        top = 65535.0 if a.max() > 255 else 255.0
        im = Image.fromarray(_to_8bit(a, top), "L")
    if im.mode == "P":
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA"):
        rgba = im.convert("RGBA")
        bg = Image.new("RGB", rgba.size)
        bg.paste(rgba, mask=rgba.getchannel("A"))
        return bg
    return im.convert("RGB")


def _to_8bit(a: np.ndarray, top: float) -> np.ndarray:
    """16-bit (or 32-bit integer) grey to 8 bits, a band of rows at a time: a float64 copy of a
    64-megapixel picture would be 512 MB."""
    out = np.empty(a.shape, np.uint8)
    step = max(1, (1 << 22) // max(1, a.shape[1]))
    for y in range(0, a.shape[0], step):
        out[y:y + step] = np.clip(a[y:y + step] / top * 255 + 0.5, 0, 255).astype(np.uint8)
    return out

