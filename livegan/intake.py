"""The one door every control input goes through on its way to the show (OSC, the control page,
MIDI, keys, modulation, a training run's new snapshots), and the one budget their threads share.

A source address is not a person (UDP sources can be forged, and loopback alone offers millions),
so nothing here is counted per address.  What a flood can do is bounded by *kind* instead:

- a parameter's `set`s are coalesced across every source: the newest wins, and only it waits for
  the next frame, so a thousand senders of `hue` cost what one does, and another parameter's
  change (the performer's `psi`) is never behind them;
- everything else waits in a bounded backlog per kind (`seed`, `snapshot`, `add:psi`...): when a
  kind is full its oldest goes, counted; when the whole backlog is full the most crowded kind
  loses its oldest, so a kind nobody floods always gets through;
- the surfaces' threads (parsing datagrams, page messages, MIDI) spend CPU time from one
  `Budget`, so together they can take only a share of the interpreter from the frame loop.

Commands replayed from a control log (`record`, or source 'log') are the show's own record: never
coalesced or dropped, and a frame takes every one waiting (queue.py).  A replay whose intake
coalesced two logged nudges (5 then -1 on a switch: 1 then 0 live, one +4 replayed: 1) or spread a
frame's commands over two frames did not render what the show showed."""
from __future__ import annotations

import itertools
import threading
import time
from collections import Counter, OrderedDict, deque
from typing import Optional

from . import triggers
from .params import Command


class Intake:
    MAX_PER_KIND = 32                 # commands of one kind waiting (a trigger flood keeps its newest)
    MAX_WAITING = 2048                # everything waiting; beyond it the most crowded kind loses its oldest
    IDEMPOTENT = {"feedback_sync"}    # triggers whose second copy adds nothing: coalesced like sets

    def __init__(self):
        self._lock = threading.Lock()
        self._waiting: "OrderedDict[int, Command]" = OrderedDict()
        self._kind_of: dict[int, str] = {}
        self._kinds: dict[str, deque] = {}        # kind -> ids waiting, oldest first
        self._set_of: dict[str, int] = {}         # kind (a parameter's sets) -> id of the one waiting
        self._seq = itertools.count()
        self.posted = 0
        self.coalesced = 0                        # sets replaced by a newer one before they were applied
        self.dropped: Counter = Counter()         # kind -> commands dropped from a full backlog

    @staticmethod
    def kind(cmd: Command) -> str:
        if cmd.op in ("set", "add", "toggle"):
            return f"{cmd.op}:{cmd.name}" + (":timed" if cmd.due else "")
        return f"{cmd.op}:{cmd.name}"

    def post(self, cmd: Command, record: bool = False) -> bool:
        """Thread-safe and never blocks.  False when it replaced nothing and was itself dropped.
        `record`: a control log's command, replayed with its own source."""
        with self._lock:
            self.posted += 1
            if record or cmd.source == "log":
                self._append(cmd, "log")
                return True
            kind = self.kind(cmd)
            if (cmd.op == "set" or cmd.name in self.IDEMPOTENT) and not cmd.due:
                old = self._set_of.pop(kind, None)
                if old is not None and self._remove(old):
                    self.coalesced += 1
                self._set_of[kind] = self._append(cmd, kind)
                return True
            if cmd.op == "add" and not cmd.due and self._waiting:
                last_id = next(reversed(self._waiting))
                last = self._waiting[last_id]
                if last.op == "add" and last.name == cmd.name and last.source == cmd.source and not last.due:
                    # consecutive nudges of one parameter: one add of their sum (nothing between them)
                    self._waiting[last_id] = Command("add", cmd.name, float(last.value) + float(cmd.value),
                                                     cmd.source, last.received, 0.0)
                    self.coalesced += 1
                    return True
            self._append(cmd, kind)
            waiting = self._kinds[kind]
            # Time-tagged commands (an automation sent ahead) go on to the show's own bounded
            # schedule: only the whole backlog bounds them here.
            # costly triggers wait in shorter backlogs (the command table's): a flood of them keeps
            # only its newest few
            if len(waiting) > triggers.backlog(cmd.name, self.MAX_PER_KIND) and not cmd.due:
                self._drop_oldest(kind)
            crowded = [k for k in self._kinds if k != "log"]
            if len(self._waiting) > self.MAX_WAITING and crowded:
                self._drop_oldest(max(crowded, key=lambda k: len(self._kinds[k])))
            return True

    def take(self) -> Optional[Command]:
        """The oldest waiting command (main thread), or None."""
        with self._lock:
            if not self._waiting:
                return None
            i, cmd = self._waiting.popitem(last=False)
            kind = self._kind_of.pop(i)
            q = self._kinds[kind]
            q.popleft()                            # the oldest overall is its kind's oldest
            if not q:
                del self._kinds[kind]
            if self._set_of.get(kind) == i:
                del self._set_of[kind]
            return cmd

    def records_waiting(self) -> int:
        """Replayed commands waiting: the frame takes them all, whatever its budget."""
        with self._lock:
            return len(self._kinds.get("log", ()))

    def __len__(self) -> int:
        with self._lock:
            return len(self._waiting)

    def empty(self) -> bool:
        return len(self) == 0

    def stats(self) -> dict:
        with self._lock:
            return {"waiting": len(self._waiting), "posted": self.posted, "coalesced": self.coalesced,
                    "dropped": sum(self.dropped.values())}

    # -- under the lock ------------------------------------------------------------------------
    def _append(self, cmd: Command, kind: str) -> int:
        i = next(self._seq)
        self._waiting[i] = cmd
        self._kind_of[i] = kind
        self._kinds.setdefault(kind, deque()).append(i)
        return i

    def _remove(self, i: int) -> bool:
        if i not in self._waiting:
            return False
        del self._waiting[i]
        kind = self._kind_of.pop(i)
        q = self._kinds[kind]
        q.remove(i)
        if not q:
            del self._kinds[kind]
        return True

    def _drop_oldest(self, kind: str) -> None:
        q = self._kinds.get(kind)
        if not q:
            return
        i = q[0]
        self._remove(i)
        if self._set_of.get(kind) == i:
            del self._set_of[kind]
        self.dropped[kind] += 1


class Budget:
    """CPU time the control surfaces' threads may spend, shared by all of them: `share` of one
    core on average, with a burst of `burst` seconds.  A thread asks before it works (`wait`,
    which sleeps while the budget is spent, so the frame loop keeps the interpreter) and pays
    after (`spend`) the CPU time it used (`time.thread_time`: the wall time would charge it for
    waiting on the interpreter while the frame loop ran, and stall it for nothing).  Waiters queue on a lock and only the first of them sleeps until tokens
    come: sixty waiting threads cost what one does (they would otherwise wake together, again
    and again, and fight the frame loop for the interpreter)."""

    def __init__(self, share: float = 0.1, burst: float = 0.05):
        self.share, self.burst = share, burst
        self._tokens = burst
        self._t = time.monotonic()
        self._lock = threading.Lock()
        self._turn = threading.Lock()             # the one waiter that sleeps for tokens
        self.waited = 0.0                         # seconds surfaces waited for it (a flood's mark)

    def _refill(self) -> None:
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._t) * self.share)
        self._t = now

    def available(self) -> bool:
        with self._lock:
            self._refill()
            return self._tokens > 0

    def wait(self, stop: Optional[threading.Event] = None, most: float = 0.25) -> bool:
        """Until there is budget (True), or `most` seconds pass / `stop` is set (False)."""
        if self.available():
            return True
        end = time.monotonic() + most
        if not self._turn.acquire(timeout=most):
            return self.available()
        try:
            while True:
                with self._lock:
                    self._refill()
                    if self._tokens > 0:
                        return True
                    need = -self._tokens / self.share
                now = time.monotonic()
                if now >= end or (stop is not None and stop.is_set()):
                    return False
                pause = min(need + 0.001, end - now, 0.05)
                self.waited += pause
                time.sleep(pause)
        finally:
            self._turn.release()

    def spend(self, seconds: float) -> None:
        with self._lock:
            self._refill()
            self._tokens -= max(0.0, seconds)
