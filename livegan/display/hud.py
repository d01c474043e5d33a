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


def hud_image(lines: list[str], width: int = 460) -> np.ndarray:
    """Text lines -> RGBA image (white on translucent black)."""
    from PIL import Image, ImageDraw, ImageFont

    try:
        font = ImageFont.load_default(size=14)
    except TypeError:                                     # older Pillow without sizes
        font = ImageFont.load_default()
    lh = 17
    rows = [row for line in lines for row in wrap_text(line, lambda t: font.getlength(t), width - 12)]
    img = Image.new("RGBA", (width, lh * len(rows) + 10), (0, 0, 0, 150))
    d = ImageDraw.Draw(img)
    for i, line in enumerate(rows):
        d.text((6, 5 + i * lh), line, fill=(255, 255, 255, 255), font=font)
    return np.asarray(img)


def wrap_text(line: str, length, width: float) -> list[str]:
    """`line` broken at spaces (or anywhere, for one long word) into rows `width` wide as
    `length(text)` measures them; continuation rows are indented."""
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
