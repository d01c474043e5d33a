"""The show's command queue: what the control threads post (through the intake, intake.py), what
waits for its time tag, and what waits behind a preset load.  The main thread drains it once a
frame, within a time budget, so a flood is spread over frames and never stalls one."""
from __future__ import annotations

import heapq
import itertools
import time
from collections import deque
from typing import Callable

from ..params import Command

MAX_COMMANDS_PER_FRAME = 2000     # a flood is spread over frames, never stalls one
DRAIN_BUDGET_S = 0.004            # the main thread's time for commands per frame (then next frame)
MAX_SCHEDULED = 1024              # time-tagged commands waiting for their time
MAX_AHEAD_S = 60.0                # how far ahead a time tag may point
MAX_HELD = 4096                   # commands waiting behind a preset load


class CommandQueue:
    """`post` is thread-safe and never blocks; `drain` runs on the main thread only.

    A time tag is wall-clock time (OSC's NTP time), so it is read against the wall clock once, when
    the command is taken, and waits on the monotonic clock from then: a wall clock set back while
    a command waited (NTP stepping a machine that just found the venue's network) held it for as
    long as the step, an hour's step an hour."""

    def __init__(self, error: Callable[[str, str], None], wall: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic):
        from ..intake import Intake

        self.intake = Intake()                   # every control input's one door
        self.error = error
        self.wall, self.monotonic = wall, monotonic
        self.scheduled: list = []                # heap of (monotonic deadline, seq, Command)
        self.held: deque = deque()               # commands queued behind a preset load
        self.deferred = 0                        # frames whose command budget ran out
        self._seq = itertools.count()

    def post(self, cmd: Command, record: bool = False) -> None:
        """Sets are coalesced, the rest waits in a bounded backlog per kind (intake.py); a
        control log's commands (`record`) are never coalesced, dropped or deferred."""
        self.intake.post(cmd, record)

    def drain(self, handle: Callable[[Command], None], holding: Callable[[], bool], take_new: bool = True) -> None:
        """Apply queued commands: timed ones when due, at most MAX_COMMANDS_PER_FRAME and about
        DRAIN_BUDGET_S of the frame now (the rest waits a frame: the picture never stalls).
        While `holding()` (a preset is loading) commands wait behind it, in order.  Without
        `take_new` the new ones stay in the intake this frame; those whose time tag is due still
        apply (their sender chose the time)."""
        wall, mono = self.wall(), self.monotonic()
        end = time.perf_counter() + DRAIN_BUDGET_S
        k = 0
        while take_new:
            if (k >= MAX_COMMANDS_PER_FRAME or k % 16 == 15 and time.perf_counter() > end) \
                    and not self.intake.records_waiting():     # a replayed frame is taken whole
                self.deferred += k < MAX_COMMANDS_PER_FRAME
                break
            k += 1
            cmd = self.intake.take()
            if cmd is None:
                break
            if cmd.due > wall + MAX_AHEAD_S:
                self.error("schedule", f"{cmd.source} {cmd.name}: time tag {cmd.due - wall:.0f} s ahead "
                                       f"refused (at most {MAX_AHEAD_S:.0f} s)")
            elif cmd.due > wall:
                if len(self.scheduled) >= MAX_SCHEDULED:
                    self.error("schedule-full", f"{MAX_SCHEDULED} timed commands already waiting: "
                                                f"{cmd.name} dropped")
                else:
                    heapq.heappush(self.scheduled, (mono + (cmd.due - wall), next(self._seq), cmd))
            else:
                self._apply_or_hold(cmd, handle, holding)
        while self.scheduled and self.scheduled[0][0] <= mono:
            self._apply_or_hold(heapq.heappop(self.scheduled)[2], handle, holding)

    def _apply_or_hold(self, cmd: Command, handle, holding) -> None:
        if holding() and cmd.name != "preset" and cmd.op != "apply_preset":
            if len(self.held) >= MAX_HELD:
                self.error("held-full", f"commands waiting for a preset load: {cmd.name} dropped")
            else:
                self.held.append(cmd)
            return
        handle(cmd)

    def release_held(self) -> list[Command]:
        """The commands that waited behind a preset load, in their order (the load is done)."""
        held, self.held = list(self.held), deque()
        return held
