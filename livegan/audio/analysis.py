"""Audio analysis in small blocks: level, bands, spectral-flux onsets and a beat tracker.

A Hann-windowed FFT over the last `window` samples (hop = block) gives the bass/mid/high energies.
Onsets come from a spectral flux of the newest block alone: its energy in twelve log-spaced bands,
in dB, and the sum of the rises since the previous block.  Peaks above an adaptive threshold (the
recent typical flux, scaled by the sensitivity) are onsets, so they land within one block of the
attack, for a click as for a kick drum, while steady noise stays quiet.  Tempo and
beats come from aubio's beat tracker (aubio-ledfx, the maintained fork of aubio 0.4.9) fed the same
blocks.  Pure computation: no threads, no devices (input.py feeds it).
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

FLOOR_DB = -60.0                     # levels are mapped from [FLOOR_DB, 0] dBFS to [0, 1]


@dataclass
class Features:
    """The analysis of one block (all in [0, 1] except bpm; onset/beat are events)."""
    time: float = 0.0                # seconds of audio analysed when this block ended
    level: float = 0.0               # RMS, dB-mapped
    bands: tuple = (0.0, 0.0, 0.0)   # bass, mid, high (dB-mapped band energy)
    flux: float = 0.0
    onset: bool = False
    onset_time: Optional[float] = None   # the onset's time in the audio stream (s)
    beat: bool = False
    bpm: float = 0.0
    confidence: float = 0.0


def db01(power: float) -> float:
    """Mean-square power -> [0, 1] over FLOOR_DB..0 dBFS (a full-scale sine is about 0.95)."""
    if power <= 1e-12:
        return 0.0
    return float(min(1.0, max(0.0, (10 * math.log10(power) - FLOOR_DB) / -FLOOR_DB)))


@dataclass
class AnalysisSettings:
    block: int = 512                 # samples per analysis step (<= 512 at 48 kHz: ~10 ms)
    window: int = 1024               # FFT window
    bass_hz: float = 150.0           # bass: below this
    high_hz: float = 2500.0          # high: above this; mid: between
    sensitivity: float = 0.5         # onsets: 0 = only big attacks .. 1 = every small one
    min_gap_s: float = 0.06          # no two onsets closer than this
    extra: dict = field(default_factory=dict)

    def check(self) -> "AnalysisSettings":
        if not 64 <= self.block <= 512 or self.block & (self.block - 1):
            raise ValueError(f"audio block must be a power of two 64..512, got {self.block}")
        if not 20 <= self.bass_hz < self.high_hz <= 20000:
            raise ValueError(f"band edges must satisfy 20 <= bass ({self.bass_hz:g}) < high ({self.high_hz:g}) <= 20000 Hz")
        if not 0 <= self.sensitivity <= 1:
            raise ValueError(f"onset sensitivity must be 0..1, got {self.sensitivity:g}")
        return self


class Analyzer:
    def __init__(self, samplerate: int, settings: Optional[AnalysisSettings] = None, beats: bool = True):
        self.sr = int(samplerate)
        self.s = (settings or AnalysisSettings()).check()
        self.window = max(self.s.window, self.s.block)
        self._buf = np.zeros(self.window, np.float32)
        self._hann = np.hanning(self.window).astype(np.float32)
        freqs = np.fft.rfftfreq(self.window, 1.0 / self.sr)
        self._bands = [freqs < self.s.bass_hz, (freqs >= self.s.bass_hz) & (freqs < self.s.high_hz),
                       freqs >= self.s.high_hz]
        self._prev_db: Optional[np.ndarray] = None
        # Flux bands as runs of bins (np.add.reduceat: one call per block, no Python loop).
        bf = np.fft.rfftfreq(self.s.block, 1.0 / self.sr)
        starts = np.unique(np.searchsorted(bf, np.geomspace(30.0, self.sr / 2, 13)[:-1]))
        self._flux_starts = starts[starts < len(bf)]
        self._flux: deque = deque(maxlen=max(8, int(0.5 * self.sr / self.s.block)))   # half a second
        self._last_onset = -1e9
        self.samples = 0
        self._tempo = None
        if beats:
            import aubio

            self._tempo = aubio.tempo("default", self.window, self.s.block, self.sr)

    def set_bands(self, bass_hz: float, high_hz: float) -> None:
        self.s.bass_hz, self.s.high_hz = bass_hz, high_hz
        self.s.check()
        freqs = np.fft.rfftfreq(self.window, 1.0 / self.sr)
        self._bands = [freqs < bass_hz, (freqs >= bass_hz) & (freqs < high_hz), freqs >= high_hz]

    def process(self, block: np.ndarray) -> Features:
        """One block of mono float32 samples in [-1, 1] (exactly `block` long)."""
        x = np.asarray(block, np.float32).reshape(-1)
        n = len(x)
        if n != self.s.block:
            raise ValueError(f"expected blocks of {self.s.block} samples, got {n}")
        self._buf = np.concatenate([self._buf[n:], x])
        self.samples += n
        f = Features(time=self.samples / self.sr)
        f.level = db01(float(np.mean(x.astype(np.float64) ** 2)))
        spec = np.fft.rfft(self._buf * self._hann)
        power = (spec.real ** 2 + spec.imag ** 2) / (self.window * self.window / 4)
        f.bands = tuple(db01(float(power[m].sum())) for m in self._bands)     # (three: cheap enough)
        blk = np.fft.rfft(x)
        bp = (blk.real ** 2 + blk.imag ** 2) / (n * n / 4)
        db = np.maximum(FLOOR_DB, 10 * np.log10(np.add.reduceat(bp, self._flux_starts) + 1e-12))
        if self._prev_db is not None:
            f.flux = float(np.maximum(db - self._prev_db, 0.0).sum())     # dB of rise, over the bands
        self._prev_db = db
        past = np.median(self._flux) if len(self._flux) >= 4 else 0.0
        # Threshold: above the recent typical flux by a margin the sensitivity shrinks.
        k = 2.0 + 6.0 * (1.0 - self.s.sensitivity)
        floor = 6.0 + 24.0 * (1.0 - self.s.sensitivity)
        if f.flux > max(past * k, floor) and f.time - self._last_onset >= self.s.min_gap_s:
            f.onset = True
            self._last_onset = f.time
            # The attack is in the newest block: its time is the block's start (within a block).
            f.onset_time = (self.samples - n) / self.sr
        self._flux.append(f.flux)
        if self._tempo is not None:
            f.beat = bool(self._tempo(x)[0])
            f.bpm = float(self._tempo.get_bpm())
            f.confidence = float(self._tempo.get_confidence())
        return f
