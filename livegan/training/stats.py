"""A tick's statistics (the means of what the loss reported since the last tick; one line of
`training_stats.jsonl`) and the progress line the terminal shows."""
from __future__ import annotations

import math
import time

import torch


def tick_stats(loss, tick: int, cur_nimg: int, dt: float, kimg: float, augment_p: float, nan_steps: int) -> dict:
    """Takes the loss's reports (they start afresh for the next tick)."""
    r = loss.reports
    mean = lambda k: float(torch.cat(r[k]).mean()) if r.get(k) else None    # noqa: E731
    stats = {"tick": tick, "kimg": cur_nimg / 1000, "sec_per_kimg": dt / max(kimg, 1e-9),
             "loss_G": mean("Loss/G/loss"), "loss_D": mean("Loss/D/loss"), "r1": mean("Loss/r1_penalty"),
             "pl": mean("Loss/pl_penalty"), "signs_real": mean("Loss/signs/real"),
             "signs_fake": mean("Loss/signs/fake"), "target": mean("Loss/G/target"), "augment_p": augment_p,
             "time": time.time()}
    bad = [k for k, v in stats.items() if isinstance(v, float) and not math.isfinite(v)]
    if bad:
        stats["nan"] = bad
    stats["nan_steps"] = nan_steps
    loss.reports = {}
    return stats


def progress_line(s: dict, total: int, cur_nimg: int) -> str:
    from ..console import duration

    left = (total - cur_nimg) / 1000 * s["sec_per_kimg"]
    f = lambda v: "-" if v is None else f"{v:.3f}"                            # noqa: E731
    return (f"tick {s['tick']:<4d} kimg {s['kimg']:<8.3f} sec/kimg {s['sec_per_kimg']:<7.1f} "
            f"G {f(s['loss_G'])} D {f(s['loss_D'])} " + (f"target {f(s['target'])} " if s.get("target") is not None else "")
            + f"signs real {f(s['signs_real'])} fake {f(s['signs_fake'])} "
            f"augment {s['augment_p']:.3f} " + (f"non-finite steps {s['nan_steps']} " if s.get("nan_steps") else "")
            + f"ETA {duration(left)}")
