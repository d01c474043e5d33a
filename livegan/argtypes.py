"""Command-line value types with their ranges: every numeric option is parsed by one of these, so a
bad value is one argparse line ('argument --fps: must be 1..1000, got inf'), never a traceback."""
from __future__ import annotations

import argparse
import math
from typing import Callable, Optional


def number(lo: float, hi: float, integer: bool = False, allow_none: bool = False) -> Callable[[str], Optional[float]]:
    """A finite number in [lo, hi] (an integer when `integer`)."""
    from .boundary import number as check

    def parse(text: str):
        if allow_none and text.lower() in ("none", ""):
            return None
        try:
            return check(text, "", lo, hi, integer, text=True)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    parse.__name__ = "integer" if integer else "number"
    return parse


def size(lo: int = 16, hi: int = 8192, max_pixels: int = 0) -> Callable[[str], tuple[int, int]]:
    """'WxH' with both sides in [lo, hi] and, if given, at most `max_pixels` in all (what a frame
    costs: every queue, encoder and read-back holds it per frame)."""
    def parse(text: str) -> tuple[int, int]:
        try:
            w, h = (int(v) for v in text.lower().split("x"))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected WxH such as 1920x1080, got {text!r}") from None
        if not (lo <= w <= hi and lo <= h <= hi):
            raise argparse.ArgumentTypeError(f"each side must be {lo}..{hi} pixels, got {text!r}")
        if max_pixels and w * h > max_pixels:
            raise argparse.ArgumentTypeError(
                f"{text} is {w * h / 1e6:.0f} megapixels ({w * h * 3 / (1 << 20):.0f} MiB a frame): at most "
                f"{max_pixels / 1e6:.1f} megapixels (4096x4096)")
        return w, h
    parse.__name__ = "size"
    return parse


def ratio(text: str) -> str:
    """'W:H' (or 'WxH') with positive finite sides and an aspect between 1:8 and 8:1."""
    sep = ":" if ":" in text else "x"
    try:
        a, b = (float(v) for v in text.lower().split(sep))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an aspect such as 16:9, got {text!r}") from None
    if not (math.isfinite(a) and math.isfinite(b) and a > 0 and b > 0 and 1 / 8 <= a / b <= 8):
        raise argparse.ArgumentTypeError(f"aspect must be two positive numbers between 1:8 and 8:1, got {text!r}")
    return f"{a:g}:{b:g}"


def host_port(text: str) -> str:
    from .boundary import host_port as check

    try:
        check(text, "address")
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def port(text: str) -> int:
    """A UDP/TCP port 1..65535, or 0 for any free one."""
    return number(0, 65535, integer=True)(text)


def stream_url(text: str) -> str:
    from .outputs.stream import check_url

    try:
        return check_url(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def ndi_name(text: str) -> str:
    from .outputs.ndi import check_name

    try:
        return check_name(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
