"""Planning frames ahead and picking the one to show.

The timeline is frame-locked, so the show can ask the engine for frames before their ticks come
(`Planner.plan`: exact predictions); `Picker` takes what the engine finished and returns, each
tick, the newest frame of the current generation that is due."""
from __future__ import annotations

import math
import time
from typing import Optional

from ..timeline import FrameRequest, frame_request


class Planner:
    """The show's planning (a part of Show: it reads the show's parameters, transport and bank)."""

    def plan(self, first: int, count: int) -> list[FrameRequest]:
        """Requests for display ticks first .. first+count-1, predicted exactly: parameter slews
        and travel are stepped forward with the same functions the ticks will use, so a frame
        rendered ahead is identical to the one its own tick would ask for (unless a command
        arrives, which starts a new generation)."""
        from ..clock import next_position
        from ..params import FrameParams, glide

        dt = 1.0 / self.opts.fps
        reg, n = self.registry, self.transport.n
        vals, pos = dict(reg.value), self.transport.position
        out = []
        for tick in range(self.tick_index + 1, first + count):
            vals = glide(reg.params, vals, reg.target, dt)
            pos = next_position(pos, n, dt, vals["speed"], vals["bpm"], bool(vals["beat_sync"]), bool(vals["loop"]))
            if tick >= first:                        # (modulation adds the offsets this frame keeps)
                fv = self.mod.values_for(tick, vals)
                out.append(frame_request(self.preset, FrameParams(fv, reg.version), pos,
                                         self.bank, frame=tick, generation=self.generation, slots=tuple(self.knobs.slots), bends=self.bends,
                                         layers=len(self.bends.channels), mirror=self.mirror.for_tick(tick, fv)))
        if first <= self.tick_index:                 # the current tick itself (start-up)
            now = FrameParams(self.mod.values_for(self.tick_index, dict(reg.value)), reg.version)
            out.insert(0, frame_request(self.preset, now, self.transport.position, self.bank,
                                        frame=self.tick_index, generation=self.generation, slots=tuple(self.knobs.slots), bends=self.bends,
                                        layers=len(self.bends.channels), mirror=self.mirror.for_tick(self.tick_index, now.values)))
        if out:                                      # the live mirror's targets start after this
            self.planned_until = max(self.planned_until, out[-1].frame)
        if self.G.family == "stylegan3-canvas":      # each frame keeps the condition it was first planned with
            from dataclasses import replace
            out = [replace(r, cond=self.conditioner.for_frame(r.frame)) for r in out]
        return out

    def lead(self) -> int:
        """How many ticks ahead a request must be made to be ready in time."""
        ms = self.engine.stats.median_ms() * self.opts.batch
        return max(1, math.ceil(ms / (1000.0 / self.opts.fps)))


class Picker:
    """Finished frames by their tick, and when each generation began (for the latency stats)."""

    def __init__(self, stats):
        self.stats = stats
        self.ready: dict[int, object] = {}
        self.marks: dict[int, tuple[float, int]] = {}     # generation -> (received, tick)
        self.last_id = -1                                  # the frame shown last: time never runs back

    def mark(self, generation: int, received: float, tick: int) -> None:
        self.marks[generation] = (received, tick)

    def wait_for(self, engine, n: int, generation: int, timeout: float = 120.0) -> None:
        """Block until tick n's own frame of this generation is finished (offline rendering);
        FrameFailed at once when the generator gave it up."""
        from ..engine.core import MAX_TRIES, FrameFailed

        deadline = time.perf_counter() + timeout
        while not (n in self.ready and self.ready[n].generation == generation):
            for f in engine.take():
                self.ready[f.id] = f
            why = engine.failed(generation, n)
            if why is not None and n not in self.ready:
                raise FrameFailed(f"frame {n} not rendered: {why} ({MAX_TRIES} tries)")
            if time.perf_counter() > deadline:
                raise TimeoutError(f"frame {n} not rendered within {timeout:.0f} s")
            time.sleep(0.0005)

    def pick(self, engine, n: int, generation: int, showing: bool) -> Optional[object]:
        """The newest frame of this generation due by tick n (None: keep showing the last one)."""
        for f in engine.take():
            self.ready[f.id] = f
        stale = [k for k, f in self.ready.items() if f.generation != generation]
        for k in stale:
            del self.ready[k]
        self.stats.discarded += len(stale)
        # A frame older than the one on screen is never shown: when the planning lead shrinks, an
        # earlier tick's frame can be finished after a later one was shown (a busy machine).
        late = [k for k in self.ready if k <= self.last_id]
        for k in late:
            del self.ready[k]
        self.stats.dropped += len(late)
        due = [k for k in self.ready if k <= n]
        if not due:
            self.stats.repeated += showing
            return None
        best = max(due)
        self.stats.dropped += len(due) - 1
        frame = self.ready.pop(best)
        for k in due:
            self.ready.pop(k, None)
        self.stats.shown += 1
        self.last_id = frame.id
        self.stats.shown_ids.append((n, frame.id, frame.generation))
        for g in [g for g in self.marks if g <= frame.generation]:
            received, tick = self.marks.pop(g)
            self.stats.latency_ms.append((time.perf_counter() - received) * 1000)
            self.stats.latency_frames.append(n - tick)
        return frame
