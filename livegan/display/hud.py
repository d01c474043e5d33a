"""The HUD: the show's status as text lines, drawn into an RGBA image the renderer lays over the
screen (never over the program)."""
from __future__ import annotations

import numpy as np


def hud_lines(status, display_fps: float, refused: int = 0) -> list[str]:
    """The HUD's lines from a frozen show status (show/status.py).  `refused`: what the control
    surfaces refused, counted with the show's own problems."""
    s = status
    lat = f"{s.latency[0]:.0f} ms / {s.latency[1]:.0f} fr" if s.latency else "-"
    k, n = s.keyframe, len(s.labels)
    label = s.labels[k] if 0 <= k < n else ""
    lines = [
        f"display {display_fps:5.1f} fps   generator {s.generator_ms:5.1f} ms/frame   batch {s.batch}",
        f"queue {s.queue}   dropped {s.dropped}   repeated {s.repeated}   latency {lat}",
        f"network {s.network}",
        f"preset {s.preset}   keyframe {k + 1}/{n} ({label})   bpm {s.bpm:.1f}",
        *s.inputs,
    ]
    # Problems fade from the HUD after a few seconds; the count stays.
    count = s.problems + refused
    if count:
        lines.append(f"{count} problem{'s' if count > 1 else ''} so far")
    return lines + [f"! {m}" for m in s.messages]


ROW_PX = 17                                               # a row of the 14 px font, descenders included


def _font():
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=14)
    except TypeError:                                     # older Pillow without sizes
        return ImageFont.load_default()


class HudPainter:
    """Text lines -> RGBA image (white on translucent black), each row drawn once: the HUD is
    redrawn four times a second on the main thread and most of its rows (network, preset,
    controls) stay the same, so a row's strip is kept (up to `keep` of them).  Drawing every row
    again, each measured word by word for wrapping, took 5.8 ms a redraw of eight rows (max 8),
    1.6 ms with two of them changing (max 2.6)."""

    def __init__(self, width: int = 460, keep: int = 256):
        from collections import OrderedDict

        self.width, self.keep = int(width), int(keep)
        self._font = None
        self._rows: "OrderedDict[str, np.ndarray]" = OrderedDict()

    def image(self, lines: list[str]) -> np.ndarray:
        font = self._font = self._font or _font()
        rows = [row for line in lines for row in wrap_text(line, font.getlength, self.width - 12)]
        img = np.empty((ROW_PX * len(rows) + 10, self.width, 4), np.uint8)
        img[:] = (0, 0, 0, 150)
        for i, row in enumerate(rows):
            img[5 + i * ROW_PX: 5 + (i + 1) * ROW_PX] = self._row(row, font)
        return img

    def _row(self, text: str, font) -> np.ndarray:
        strip = self._rows.get(text)
        if strip is not None:
            self._rows.move_to_end(text)
            return strip
        from PIL import Image, ImageDraw

        im = Image.new("RGBA", (self.width, ROW_PX), (0, 0, 0, 150))
        ImageDraw.Draw(im).text((6, 0), text, fill=(255, 255, 255, 255), font=font)
        strip = self._rows[text] = np.asarray(im)
        if len(self._rows) > self.keep:
            self._rows.popitem(last=False)
        return strip


def hud_image(lines: list[str], width: int = 460) -> np.ndarray:
    """Text lines -> RGBA image (white on translucent black), drawn once (see HudPainter)."""
    return HudPainter(width).image(lines)


def wrap_text(line: str, length, width: float) -> list[str]:
    """`line` broken at spaces (or anywhere, for one long word) into rows `width` wide as
    `length(text)` measures them; continuation rows are indented."""
    if length(line) <= width:                            # most lines: measured once
        return [line]
    rows, cur = [], ""
    for word in line.split(" "):
        cand = f"{cur} {word}" if cur else word
        if length(cand) <= width:
            cur = cand
            continue
        if cur:
            rows.append(cur)
            cur = "  " + word
        else:
            cur = word
        while length(cur) > width and len(cur) > 1:      # a word longer than the row
            k = len(cur)
            while k > 1 and length(cur[:k]) > width:
                k -= 1
            rows.append(cur[:k])
            cur = "  " + cur[k:]
    if cur or not rows:
        rows.append(cur)
    return rows
