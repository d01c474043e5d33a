"""Real-time runs compared with a baseline taken in the same test: a busy machine slows both, so
a claim such as 'a flood never stalls the show' is a ratio, never an absolute frame rate."""
from __future__ import annotations

import time
from typing import Callable, Optional


def realtime_run(app, frames: int, on_tick: Optional[Callable] = None) -> dict:
    """`app.run_headless(frames, realtime=True)` with the display gaps' 90th/95th percentiles."""
    gaps, last = [], [time.perf_counter()]

    def tick(i, s, d):
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now
        if on_tick is not None:
            on_tick(i, s, d)
    shown0 = app.show.stats.shown
    res = app.run_headless(frames, realtime=True, on_tick=tick)
    g = sorted(gaps[1:]) or [0.0]
    return dict(res, shown=res["shown"] - shown0, p90_gap=g[int(len(g) * 0.9)], p95_gap=g[int(len(g) * 0.95)])
