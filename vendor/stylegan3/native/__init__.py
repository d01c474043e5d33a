"""Compiled CPU kernels, built on first use with the system's C++ compiler and kept in a cache.

The kernels are plain C++ (no torch headers: a build takes about two seconds), called through
ctypes (which lets go of the GIL for the call) and run on torch's own OpenMP threads: the library
links libgomp.so.1, which torch has already loaded.  Each build is made for the CPU kernel set
torch chose (`ATEN_CPU_CAPABILITY`), so the tests that run under each set try the matching code.
Where no compiler is found or the build fails, `library()` is None, the torch path runs, and the
reason is said once on stderr.
"""
from __future__ import annotations

import ctypes
import functools
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

from .build import HEADERS, SOURCES, STALE_DAYS, build, build_flags

__all__ = ["HEADERS", "SOURCES", "STALE_DAYS", "build", "build_flags", "load", "library", "FilteredTaps",
           "filtered_lrelu", "CONV_MAX_CHANNELS", "conv_applies", "conv2d", "modulate", "pointwise", "fourier",
           "layer", "winograd", "winograd_applies", "WINOGRAD_MAX_CHANNELS", "WINOGRAD_MIN_TILES"]


class Geometry(ctypes.Structure):
    """The kernel's struct Geometry, field for field."""
    _fields_ = [(name, ctypes.c_int64) for name in (
        "n", "c", "h_in", "w_in", "s_n", "s_c", "s_h", "s_w", "up", "down", "jx0", "jx_taps",
        "jy0", "jy_taps", "d_taps", "h_out", "w_out")] + [
        ("slope", ctypes.c_float), ("clamp", ctypes.c_float), ("threads", ctypes.c_int64)]


def load(path: Path, rebuild=None) -> ctypes.CDLL:
    """The library at path with its signatures set; a file that does not load (a broken cache
    entry) is built again once through `rebuild`."""
    try:
        lib = ctypes.CDLL(str(path))
    except OSError:
        if rebuild is None:
            raise
        lib = ctypes.CDLL(str(rebuild()))
    fn = lib.livegan_filtered_lrelu
    fn.argtypes = [ctypes.POINTER(Geometry)] + [ctypes.c_void_p] * 6
    fn.restype = ctypes.c_int
    fn = lib.livegan_conv2d
    fn.argtypes = [ctypes.POINTER(ConvGeometry)] + [ctypes.c_void_p] * 3
    fn.restype = ctypes.c_int
    fn = lib.livegan_winograd
    fn.argtypes = [ctypes.POINTER(ConvGeometry)] + [ctypes.c_void_p] * 3
    fn.restype = ctypes.c_int
    lib.livegan_vector_floats.restype = ctypes.c_int
    fn = lib.livegan_modulate
    fn.argtypes = [ctypes.POINTER(ModGeometry)] + [ctypes.c_void_p] * 4
    fn.restype = ctypes.c_int
    fn = lib.livegan_pointwise
    fn.argtypes = [ctypes.POINTER(PointGeometry)] + [ctypes.c_void_p] * 4
    fn.restype = ctypes.c_int
    fn = lib.livegan_fourier
    fn.argtypes = [ctypes.POINTER(FourierGeometry)] + [ctypes.c_void_p] * 6
    fn.restype = ctypes.c_int
    fn = lib.livegan_layer
    fn.argtypes = [ctypes.POINTER(LayerGeometry)] + [ctypes.c_void_p] * 9
    fn.restype = ctypes.c_int
    return lib


class ModGeometry(ctypes.Structure):
    """The kernel's struct ModGeometry, field for field."""
    _fields_ = [(name, ctypes.c_int64) for name in ("n", "o", "i", "kk", "demodulate", "threads")]


class PointGeometry(ctypes.Structure):
    """The kernel's struct PointGeometry, field for field."""
    _fields_ = [(name, ctypes.c_int64) for name in ("n", "i", "hw", "o", "w_batch")] + [
        ("clamp", ctypes.c_float), ("threads", ctypes.c_int64)]


class FourierGeometry(ctypes.Structure):
    """The kernel's struct FourierGeometry, field for field."""
    _fields_ = [(name, ctypes.c_int64) for name in ("n", "c", "o", "w", "h")] + [
        ("sampling_rate", ctypes.c_double), ("bandwidth", ctypes.c_double), ("threads", ctypes.c_int64)]


class ConvGeometry(ctypes.Structure):
    """The kernel's struct ConvGeometry, field for field."""
    _fields_ = [(name, ctypes.c_int64) for name in ("n", "i", "h", "w", "o", "k", "pad", "w_batch", "threads")]


class LayerGeometry(ctypes.Structure):
    """The kernel's struct LayerGeometry: the three kernels' own, in the order they run, and
    whether the convolution runs as Winograd's F(2x2, 3x3) (1) or directly (0)."""
    _fields_ = [("mod", ModGeometry), ("conv", ConvGeometry), ("act", Geometry), ("winograd", ctypes.c_int64)]


def _layer_geometry(ts: tuple, padding: int, taps: "FilteredTaps", slope: float, clamp: Optional[float],
                    th: int) -> Optional[LayerGeometry]:
    """native.layer's checks and geometry for (x, weight, styles, gain, b); None where it does not apply."""
    x, weight, styles, gain, b = ts
    if (any(a.device.type != "cpu" or a.dtype != torch.float32 for a in ts) or x.ndim != 4 or weight.ndim != 4
            or styles.ndim != 2 or gain.numel() != 1):
        return None
    n, i, h, wd = x.shape
    o, k = weight.shape[0], weight.shape[-1]
    ho, wo = h + 2 * padding - k + 1, wd + 2 * padding - k + 1
    if (weight.shape[1:] != (i, k, k) or styles.shape != (n, i) or b.shape != (o,) or wo < 16 or ho < 1
            or not conv_applies(i, o, k)):
        return None
    return LayerGeometry(ModGeometry(n, o, i, k * k, 1, th), ConvGeometry(n, i, h, wd, o, k, padding, n, th),
                         Geometry(n, o, ho, wo, o * ho * wo, ho * wo, wo, 1, taps.up, taps.down, taps.jx0,
                                  taps.hx.shape[1], taps.jy0, taps.hy.shape[1], taps.gd.numel(), *taps.out_size,
                                  slope, -1.0 if clamp is None or clamp < 0 else clamp, th),
                         int(_winograd_over_direct(i, o, k, ho, wo, padding)))


@functools.lru_cache(maxsize=None)
def library(capability: Optional[str] = None) -> Optional[ctypes.CDLL]:
    """The loaded kernels for torch's kernel set, or None (the reason said once on stderr)."""
    try:
        return load(build(capability), rebuild=lambda: build(capability, fresh=True))
    except (RuntimeError, OSError) as e:
        print(f"livegan: the compiled kernels (filtered activation, few-channel convolution) are unavailable ({str(e).splitlines()[0]}); "
              "the slower torch path runs", file=sys.stderr)
        return None


@dataclass(frozen=True)
class FilteredTaps:
    """One layer's filtered activation as the kernel takes it: polyphase up taps per axis (the
    activation gain in the rows' taps), the flipped down filter, and the output size."""
    up: int
    down: int
    jx0: int
    hx: torch.Tensor      # [up, Jx] float32
    jy0: int
    hy: torch.Tensor      # [up, Jy] float32
    gd: torch.Tensor      # [taps] float32
    out_size: tuple[int, int]

    @staticmethod
    def applies(up: int, down: int) -> bool:
        return 1 <= down <= up <= 8 and up % down == 0


def filtered_lrelu(taps: FilteredTaps, x: torch.Tensor, b: torch.Tensor, slope: float,
                   clamp: Optional[float]) -> Optional[torch.Tensor]:
    """bias -> up -> leaky ReLU and clamp -> down for a float32 CPU x [N, C, H, W] (any strides),
    as [N, C, ho, wo]; None where the kernel does not apply or is unavailable."""
    if x.device.type != "cpu" or x.dtype != torch.float32 or x.ndim != 4 or x.requires_grad:
        return None
    lib = library(None)
    if lib is None:
        return None
    n, c, h, w = x.shape
    ho, wo = taps.out_size
    out = torch.empty((n, c, ho, wo), dtype=torch.float32)
    if out.numel() == 0:
        return out
    b = b.detach().to(torch.float32).contiguous()
    g = Geometry(n, c, h, w, *x.stride(), taps.up, taps.down, taps.jx0, taps.hx.shape[1],
                 taps.jy0, taps.hy.shape[1], taps.gd.numel(), ho, wo, slope,
                 -1.0 if clamp is None or clamp < 0 else clamp, torch.get_num_threads())
    rc = lib.livegan_filtered_lrelu(ctypes.byref(g), x.data_ptr(), b.data_ptr(), taps.hx.data_ptr(),
                                    taps.hy.data_ptr(), taps.gd.data_ptr(), out.data_ptr())
    return out if rc == 0 else None


# The direct convolution takes layers with at most this many channels in and out.  From 32 channels
# oneDNN's own speed is as good or better (60-90% of the matrix-product rate), but its NHWC layout
# costs a copy before it and the activation's gather after it: up to 32 the direct convolution
# made StyleGAN3-T's frames at 128 and 256 px 0.83-0.94x the time under AVX-512, AVX2 and the
# default set (builtin:tiny 0.94x, 1.00x under AVX2); at 64 channels it takes 1.5-1.7x oneDNN's.
CONV_MAX_CHANNELS = 32


def conv_applies(in_channels: int, out_channels: int, kernel: int) -> bool:
    """Whether a float32 CPU convolution of this shape runs in the compiled kernel (a layer then
    keeps its input in NCHW, the layout the kernel reads)."""
    return (in_channels <= CONV_MAX_CHANNELS and out_channels <= CONV_MAX_CHANNELS and kernel > 1
            and library(None) is not None)


# Where Winograd's F(2x2, 3x3) also beats the direct convolution (both kernels compiled for the
# set): from this many channels in and out, per CPU kernel set.  Measured against it at 36-276
# px (AMD EPYC, 2 threads): under the default set 0.51-0.57x at 16-32 channels and 0.82-0.91x at 8;
# under AVX2 0.65-0.84x at 16-32 but 1.23-1.37x at 8; under AVX-512 0.82-0.93x at 32 up to 148 px,
# 1.10x at 276 and 1.13-2.17x with 16 or fewer: the direct convolution stays.
_WINOGRAD_OVER_DIRECT = {"DEFAULT": 8, "AVX2": 16}


def _winograd_over_direct(i: int, o: int, k: int, ho: int, wo: int, padding: int) -> bool:
    least = _WINOGRAD_OVER_DIRECT.get(torch.backends.cpu.get_cpu_capability())
    return least is not None and k == 3 and 0 <= padding <= 2 and min(i, o) >= least and _enough_tiles(ho, wo)


def conv2d(x: torch.Tensor, w: torch.Tensor, padding: int, algorithm: str = "auto") -> Optional[torch.Tensor]:
    """F.conv2d(x, w, padding=padding) for a float32 CPU x [N, I, H, W] and w [O, I, k, k] (shared)
    or [N, O, I, k, k] (per image), without a gradient; None where it does not apply.  Other
    layouts (the Fourier input's NHWC features) are copied into NCHW first: a tenth of the
    convolution's time, where oneDNN on them took 1.2x the direct convolution's.  `algorithm`:
    "direct", or "auto" (Winograd's where it is the faster of the two for this kernel set)."""
    if (x.device.type != "cpu" or x.dtype != torch.float32 or w.dtype != torch.float32 or x.ndim != 4
            or x.requires_grad or w.requires_grad or torch.is_grad_enabled()):
        return None
    n, i, h, wd = x.shape
    o, k = w.shape[-4], w.shape[-1]
    if w.shape[-3] != i or w.shape[-2] != k or not conv_applies(i, o, k):
        return None
    ho, wo = h + 2 * padding - k + 1, wd + 2 * padding - k + 1
    if wo < 16 or ho < 1:
        return None
    if algorithm == "auto" and _winograd_over_direct(i, o, k, ho, wo, padding):
        return winograd(x, w, padding)
    x, w = x.contiguous(), w.contiguous()
    out = torch.empty((n, o, ho, wo), dtype=torch.float32)
    g = ConvGeometry(n, i, h, wd, o, k, padding, w.shape[0] if w.ndim == 5 else 1, torch.get_num_threads())
    rc = library(None).livegan_conv2d(ctypes.byref(g), x.data_ptr(), w.data_ptr(), out.data_ptr())
    return out if rc == 0 else None


# Winograd's F(2x2, 3x3) takes 3x3 convolutions with more channels than the direct convolution
# and at most WINOGRAD_MAX_CHANNELS, over at least WINOGRAD_MIN_TILES 2x2 tiles of output: there it
# took 0.41-0.76x oneDNN's time under AVX2 and 0.48-0.94x under AVX-512 (36-148 px at 40-64 channels,
# 16-64 px at 128-256; AMD EPYC, 2 threads).  With 512 channels its transformed weights (16 MiB,
# made every frame from the modulated ones) outgrow the caches (1.3-15x oneDNN's time), and under
# 64 tiles (8x8 outputs) the weights' transform is most of the work (1.0-1.7x).
WINOGRAD_MAX_CHANNELS = 256
WINOGRAD_MIN_TILES = 64


def winograd_applies(in_channels: int, out_channels: int, kernel: int, out_h: int, out_w: int) -> bool:
    """Whether a float32 CPU convolution of this shape, not the direct convolution's, runs as
    Winograd's F(2x2, 3x3) (the kernels are then built)."""
    return (kernel == 3 and max(in_channels, out_channels) <= WINOGRAD_MAX_CHANNELS and _enough_tiles(out_h, out_w)
            and not conv_applies(in_channels, out_channels, kernel) and library(None) is not None)


def _enough_tiles(out_h: int, out_w: int) -> bool:
    return ((out_h + 1) // 2) * ((out_w + 1) // 2) >= WINOGRAD_MIN_TILES


def winograd(x: torch.Tensor, w: torch.Tensor, padding: int) -> Optional[torch.Tensor]:
    """F.conv2d(x, w, padding=padding) for a 3x3 kernel as Winograd's F(2x2, 3x3) (winograd.cpp),
    for a float32 CPU x [N, I, H, W] and w [O, I, 3, 3] (shared) or [N, O, I, 3, 3] (per image),
    without a gradient: the same sums up to rounding with 2.25x fewer multiply-adds.  None where
    it does not apply or is unavailable."""
    if (x.device.type != "cpu" or x.dtype != torch.float32 or w.dtype != torch.float32 or x.ndim != 4
            or w.ndim not in (4, 5) or x.requires_grad or w.requires_grad or torch.is_grad_enabled()
            or not 0 <= padding <= 2):
        return None
    n, i, h, wd = x.shape
    o = w.shape[-4]
    if w.shape[-3:] != (i, 3, 3) or (w.ndim == 5 and w.shape[0] not in (1, n)):
        return None
    ho, wo = h + 2 * padding - 2, wd + 2 * padding - 2
    lib = library(None)
    if lib is None or ho < 2 or wo < 2 or n * i * o == 0:
        return None
    x, w = x.contiguous(), w.contiguous()
    out = torch.empty((n, o, ho, wo), dtype=torch.float32)
    g = ConvGeometry(n, i, h, wd, o, 3, padding, w.shape[0] if w.ndim == 5 else 1, torch.get_num_threads())
    rc = lib.livegan_winograd(ctypes.byref(g), x.data_ptr(), w.data_ptr(), out.data_ptr())
    return out if rc == 0 else None


def modulate(weight: torch.Tensor, styles: torch.Tensor, demodulate: bool,
             input_gain: Optional[torch.Tensor] = None) -> Optional[torch.Tensor]:
    """Per-image weights [N, O, I, k, k] for float32 CPU inference in one call: the styles [N, I]
    normalised (with demodulation), the weight [O, I, k, k] (normalised already) scaled by them,
    demodulated, times the input gain (a one-element tensor); None where it does not apply."""
    if (weight.device.type != "cpu" or weight.dtype != torch.float32 or styles.dtype != torch.float32
            or styles.device.type != "cpu" or weight.ndim != 4 or styles.ndim != 2 or torch.is_grad_enabled()
            or styles.shape[1] != weight.shape[1]):
        return None
    lib = library(None)
    if lib is None:
        return None
    if input_gain is not None:
        if input_gain.numel() != 1 or input_gain.dtype != torch.float32 or input_gain.device.type != "cpu":
            return None
        input_gain = input_gain.contiguous()
    weight, styles = weight.contiguous(), styles.contiguous()
    n, (o, i, kh, kw) = styles.shape[0], weight.shape
    out = torch.empty((n, o, i, kh, kw), dtype=torch.float32)
    g = ModGeometry(n, o, i, kh * kw, int(demodulate), torch.get_num_threads())
    rc = lib.livegan_modulate(ctypes.byref(g), styles.data_ptr(), weight.data_ptr(),
                              None if input_gain is None else input_gain.data_ptr(), out.data_ptr())
    return out if rc == 0 else None


def pointwise(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, clamp: Optional[float]) -> Optional[torch.Tensor]:
    """(conv2d(x, w) + b).clamp(-clamp, clamp) for a 1x1 kernel in one pass (ToRGB): x [N, I, H, W]
    float32 on the CPU without a gradient, w [O, I, 1, 1] (shared) or [N, O, I, 1, 1] (per
    image), b [O]; None where it does not apply."""
    if (any(a.device.type != "cpu" or a.dtype != torch.float32 for a in (x, w, b)) or x.ndim != 4
            or torch.is_grad_enabled() or x.requires_grad or w.requires_grad):
        return None
    n, i, h, wd = x.shape
    if w.shape[-3:] != (i, 1, 1) or w.ndim not in (4, 5) or (w.ndim == 5 and w.shape[0] != n) \
            or b.shape != (w.shape[-4],) or h * wd < 16:
        return None
    lib = library(None)
    if lib is None:
        return None
    x, w, b = x.contiguous(), w.contiguous(), b.contiguous()
    o = w.shape[-4]
    out = torch.empty((n, o, h, wd), dtype=torch.float32)
    g = PointGeometry(n, i, h * wd, o, w.shape[0] if w.ndim == 5 else 1,
                      -1.0 if clamp is None or clamp < 0 else clamp, torch.get_num_threads())
    rc = lib.livegan_pointwise(ctypes.byref(g), x.data_ptr(), w.data_ptr(), b.data_ptr(), out.data_ptr())
    return out if rc == 0 else None


def fourier(t: torch.Tensor, user: torch.Tensor, freqs: torch.Tensor, phases: torch.Tensor, weight: torch.Tensor,
            sampling_rate: float, bandwidth: float, size: tuple[int, int]) -> Optional[torch.Tensor]:
    """StyleGAN3's Fourier features mixed by the input layer's weight, as planes [N, O, H, W]: t
    [N, 4] the affine's output (rotation and translation), user [N, 3, 3] the inverse transform,
    freqs [C, 2], phases [C], weight [O, C] (already over sqrt(C)), size (W, H).  Float32 on the
    CPU without a gradient; None where it does not apply."""
    ts = (t, user, freqs, phases, weight)
    if (any(a.device.type != "cpu" or a.dtype != torch.float32 for a in ts) or torch.is_grad_enabled()
            or t.ndim != 2 or t.shape[1] != 4 or user.shape != (t.shape[0], 3, 3) or freqs.ndim != 2
            or freqs.shape[1] != 2 or phases.shape != (freqs.shape[0],) or weight.ndim != 2
            or weight.shape[1] != freqs.shape[0] or sampling_rate <= 2 * bandwidth):
        return None
    lib = library(None)
    if lib is None:
        return None
    (w, h), n, o = size, t.shape[0], weight.shape[0]
    if w * h < 64:
        return None
    t, user, freqs, phases, weight = (a.contiguous() for a in ts)
    out = torch.empty((n, o, h, w), dtype=torch.float32)
    g = FourierGeometry(n, freqs.shape[0], o, w, h, float(sampling_rate), float(bandwidth), torch.get_num_threads())
    rc = lib.livegan_fourier(ctypes.byref(g), t.data_ptr(), user.data_ptr(), freqs.data_ptr(), phases.data_ptr(),
                             weight.data_ptr(), out.data_ptr())
    return out if rc == 0 else None


def layer(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, gain: torch.Tensor, padding: int,
          taps: FilteredTaps, b: torch.Tensor, slope: float, clamp: Optional[float],
          plans: Optional[dict] = None) -> Optional[torch.Tensor]:
    """A StyleGAN3 layer in one call: `modulate(weight, styles, True, gain)`, `conv2d` with each
    image's weights, `filtered_lrelu(taps, ...)` -- the same pixels as the three calls, without
    their returns to Python in between.  weight [O, I, k, k] normalised already, styles [N, I], gain
    a one-element tensor; float32 on the CPU without a gradient; None where it does not apply.
    `plans`: the caller's dict where the call's checked geometry is kept for the next frame."""
    if torch.is_grad_enabled():
        return None
    th = torch.get_num_threads()
    ts = (x, weight, styles, gain, b)
    key = (tuple((a.shape, a.dtype, a.device) for a in ts), padding, id(taps), slope, clamp, th)
    g = None if plans is None else plans.get(key)
    if g is None:
        g = _layer_geometry(ts, padding, taps, slope, clamp, th)
        if g is None:
            return None
        if plans is not None:
            if len(plans) >= 8:                            # sizes and batches come and go: keep a few
                plans.clear()
            plans[key] = g
    x, weight, styles, gain, b = (a.contiguous() for a in ts)
    out = torch.empty((g.act.n, g.act.c, g.act.h_out, g.act.w_out))
    rc = library(None).livegan_layer(ctypes.byref(g), x.data_ptr(), styles.data_ptr(), weight.data_ptr(),
                                     gain.data_ptr(), b.data_ptr(), taps.hx.data_ptr(), taps.hy.data_ptr(),
                                     taps.gd.data_ptr(), out.data_ptr())
    return out if rc == 0 else None
