"""The video codecs livegan writes, in one table (no heavy import: the commands' --help reads it)."""
from __future__ import annotations

from pathlib import Path

# The one codec table: name -> (FFmpeg encoder, pixel format, file extension).  A recording and a
# render take the first three (--codec); a file's extension picks its codec when none is named.
CODECS = {"h264": ("libx264", "yuv420p", ".mp4"), "prores": ("prores_ks", "yuv422p10le", ".mov"),
          "ffv1": ("ffv1", "yuv444p", ".mkv"), "vp9": ("libvpx-vp9", "yuv420p", ".webm")}
RECORD_CODECS = ("h264", "prores", "ffv1")


def suffix_for(codec: str) -> str:
    """The file extension a codec is written with ('.mp4' for h264)."""
    return CODECS[codec][2]


def codec_for(path: Path) -> str:
    """The codec a file's extension implies (h264 for .mp4 and anything unknown)."""
    return next((c for c, (_, _, ext) in CODECS.items() if ext == path.suffix.lower()), "h264")
