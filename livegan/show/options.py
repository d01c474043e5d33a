"""What a show is started with (Options) and what it counts as it plays (Stats)."""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional


@dataclass
class Options:
    network: Optional[str] = None
    preset: str = "default"
    fps: float = 30.0
    batch: int = 1
    dtype: str = "auto"
    device: str = "auto"
    canvas: Optional[str] = None
    fit: str = "fit"
    dev: bool = False
    hud: bool = True
    lookahead: int = 2                # frames planned beyond the next one the engine can deliver
    cuda_graphs: bool = False         # replay captured CUDA graphs (CUDA only)
    load_roots: tuple = ()            # folders OSC may load presets/networks from (see load_policy)
    save_dir: Optional[Path] = None   # where "save as preset" writes (None: presets/)
    directions: bool = False          # at start: load fitted directions, compute the network's pca/sefa
                                      # (otherwise on the first pick that needs them)
    allow_remote_load: bool = False   # OSC may load any path or URL
    inputs: tuple = ()                # StyleGAN-Canvas condition sources (--input), the first one live
    live_lookahead: int = 0           # frames planned ahead while a moving input (camera, audio) drives them
    mirror: Optional[str] = None      # the live mirror's encoder file (livegan train encoder)


@dataclass
class Stats:
    shown: int = 0                    # generator frames shown
    repeated: int = 0                 # display frames that reshowed the previous image
    dropped: int = 0                  # frames generated in time but never shown: a newer one was due
    discarded: int = 0                # frames planned ahead, then invalidated by a change (not lost)
    clamped: int = 0
    present_times: deque = field(default_factory=lambda: deque(maxlen=120))
    latency_ms: deque = field(default_factory=lambda: deque(maxlen=64))
    latency_frames: deque = field(default_factory=lambda: deque(maxlen=64))
    shown_ids: deque = field(default_factory=lambda: deque(maxlen=100_000))  # (tick, frame id, generation)

    def fps(self) -> float:
        t = self.present_times
        return (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 and t[-1] > t[0] else 0.0
