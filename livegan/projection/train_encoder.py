"""`livegan train encoder`: the encoder's training run (encoder.py) with a progress line per tick,
a snapshot every few ticks (ENC.safetensors, written atomically, so a killed run leaves the last
one valid, and ENC.safetensors.state.pt beside it with the optimiser and the random streams) and
`--resume` from that state."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

STATE_FORMAT = "livegan-encoder-state/1"


@dataclass
class EncoderRun:
    out: Path
    kimg: float = 20.0
    batch: int = 16
    lr: float = 1e-3
    tick_kimg: float = 1.0
    snap_ticks: int = 5
    seed: int = 0
    resume: bool = False


def state_path(out: Path) -> Path:
    return out.with_name(out.name + ".state.pt")


def train(G, network_id: str, run: EncoderRun, say=print) -> dict:
    """Train (or resume) the encoder of G into run.out; returns the last tick's numbers."""
    from ..console import duration
    from ..safeio import atomic_write
    from .encoder import make_encoder, save_encoder, train_step

    G.eval().requires_grad_(False)
    dev = next(G.parameters()).device
    enc = make_encoder(G).to(dev)
    opt = torch.optim.Adam(enc.parameters(), lr=run.lr, betas=(0.9, 0.99))
    rng = np.random.RandomState(run.seed)
    nimg = 0
    sp = state_path(run.out)
    if run.resume:
        if not sp.is_file():
            raise ValueError(f"--resume: no {sp.name} beside {run.out} (a run's state is written with each snapshot)")
        from ..safeio import load_torch
        st = load_torch(sp, "encoder training state", map_location=dev)    # data only: no code runs
        if not isinstance(st, dict) or st.get("format") != STATE_FORMAT or st.get("network_id") != network_id:
            raise ValueError(f"--resume {sp}: not this network's encoder state")
        enc.load_state_dict(st["encoder"])
        opt.load_state_dict(st["opt"])
        r = st["rng"]
        rng.set_state(("MT19937", r["keys"].numpy().astype(np.uint32), int(r["pos"]), int(r["has_gauss"]), float(r["cached"])))
        nimg = int(st["nimg"])
        say(f"resumed at {nimg / 1000:.1f} kimg")
    total = int(run.kimg * 1000)
    tick, t_start, last = 0, time.perf_counter(), {}
    while nimg < total:
        t0, n0, losses = time.perf_counter(), nimg, []
        while nimg < total and nimg - n0 < run.tick_kimg * 1000:
            losses.append(train_step(enc, opt, G, run.batch, rng))
            nimg += run.batch
        tick += 1
        dt = time.perf_counter() - t0
        sec_kimg = dt / max(1e-9, (nimg - n0) / 1000)
        last = {"kimg": nimg / 1000, "loss": float(np.mean(losses)), "sec_per_kimg": sec_kimg}
        say(f"tick {tick:<4d} kimg {nimg / 1000:<8.1f} loss {last['loss']:<8.4f} sec/kimg {sec_kimg:<7.1f} "
            f"left {duration(max(0, total - nimg) / 1000 * sec_kimg)}")
        if tick % run.snap_ticks == 0 or nimg >= total:
            enc.eval()
            save_encoder(enc, run.out, network_id)
            enc.train()
            state = {"format": STATE_FORMAT, "network_id": network_id, "encoder": enc.state_dict(),
                     "opt": opt.state_dict(), "rng": _rng_state(rng), "nimg": nimg}
            atomic_write(sp, lambda f: torch.save(state, f))
    last["seconds"] = time.perf_counter() - t_start
    return last


def _rng_state(rng: np.random.RandomState) -> dict:
    """The random stream as tensors and numbers (a weights-only load reads no numpy objects)."""
    _, keys, pos, has_gauss, cached = rng.get_state()
    return {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos), "has_gauss": int(has_gauss),
            "cached": float(cached)}
