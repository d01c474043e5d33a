"""The show's status, frozen once per tick: what every surface reads (the HUD, OSC feedback,
OSCQuery, the control page, MIDI feedback, soft takeover from the MIDI thread) instead of reaching
into the show.  It is immutable, so another thread may hold it while the main thread makes the
next one.  `Problems` is where the show's problems and notices are kept until a status takes them."""
from __future__ import annotations

import statistics
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from types import MappingProxyType
from typing import Callable, Mapping, Optional


def _empty() -> Mapping:
    return MappingProxyType({})


@dataclass(frozen=True)
class ShowStatus:
    tick: int = -1                                   # display frame number
    fps: float = 0.0                                 # display frames per second
    keyframe: int = 0                                # keyframe being played
    seeds: tuple = ()                                # each keyframe's seed (None: a stored w)
    labels: tuple = ()                               # each keyframe's label
    preset: str = ""
    network: str = ""
    bpm: float = 120.0                               # the tempo now (gliding to its target)
    problems: int = 0                                # the show's own problems since the start
    values: Mapping[str, float] = field(default_factory=_empty)            # every parameter's target
    changed: Mapping[str, str] = field(default_factory=_empty)             # parameter -> source, since the last status
    meters: Mapping[str, float] = field(default_factory=_empty)            # the analysed audio
    notice: tuple = (0, "")                          # (count, text): the last outcome a surface asked for
    messages: tuple = ()                             # recent problems (they fade)
    panels: Mapping[str, object] = field(default_factory=_empty)   # directions, routes, LFOs (twice a second)
    # The generator and the frame path (the HUD's first lines)
    generator_ms: float = 0.0
    batch: int = 1
    queue: int = 0
    dropped: int = 0
    repeated: int = 0
    latency: Optional[tuple] = None                  # (median ms, median frames) from a change to its picture
    inputs: tuple = ()                               # lines for the condition, audio, link and routes

    @property
    def playing_seed(self) -> Optional[int]:
        return self.seeds[self.keyframe] if 0 <= self.keyframe < len(self.seeds) else None

    def corners(self) -> list:
        """The latent pad's four corners: keyframes 0..3 (a shorter preset repeats its own)."""
        n = len(self.seeds)
        return [self.seeds[k % n] for k in range(4)] if n else []


class Problems:
    """Errors become data: counted, kept a few seconds for the HUD and the page, logged once per
    kind, never raised.  Notices are the outcomes a surface asked for (saved a preset...)."""

    FADE_S = 6.0

    def __init__(self, say: Callable[[str], None]):
        self.say = say
        self.messages: deque = deque(maxlen=6)
        self.times: deque = deque(maxlen=6)           # when each message came (the HUD fades them)
        self.count = 0                                # every problem reported since the start
        self.notice: tuple = (0, "")                  # (count, text)
        self._logged: set = set()

    def error(self, kind: str, msg: str) -> None:
        self.count += 1
        msg = " ".join(str(msg).split())
        if len(msg) > 240:                            # hostile input can make messages huge
            msg = msg[:237] + "..."
        self.messages.append(msg)
        self.times.append(time.monotonic())
        if kind not in self._logged:
            self._logged.add(kind)
            self.say(f"livegan: {msg}")

    def notify(self, text: str) -> None:
        self.notice = (self.notice[0] + 1, " ".join(str(text).split())[:240])

    def recent(self) -> list[str]:
        """The last few problems of the past FADE_S seconds."""
        now = time.monotonic()
        return [m for m, t in zip(self.messages, self.times) if now - t < self.FADE_S][-3:]


class Publisher:
    """Makes each tick's status from the show; the slower panels are refreshed twice a second."""

    PANELS_S = 0.5

    def __init__(self):
        self._panels: Mapping = _empty()
        self._panels_t = 0.0
        self._keys: tuple = (None, (), ())             # (preset, seeds, labels): made once per preset

    def publish(self, show) -> ShowStatus:
        now = time.monotonic()
        if now - self._panels_t >= self.PANELS_S or not self._panels:
            mod = show.mod.matrix
            self._panels = MappingProxyType({"directions": show.direction_state(), "bends": show.bend_state(),
                                             "routes": mod.describe_routes(),
                                             "lfos": [asdict(lfo) for lfo in mod.lfos]})
            self._panels_t = now
        changed, show.changed = show.changed, {}
        st, e = show.stats, show.engine.stats
        latency = (statistics.median(st.latency_ms), statistics.median(st.latency_frames)) if st.latency_ms else None
        inputs = [show.conditioner.status()] if show.G.family == "stylegan3-canvas" else []
        if show.netmix.hud_line():
            inputs.append(show.netmix.hud_line())
        bent = [f"{b['slot']}:{b['op']}@{b['layer']}" for b in show.bend_state() if b["amount"]]
        if bent:                                       # the slots playing now
            inputs.append("bend " + " ".join(bent))
        view = show.current.view if show.current is not None else ()
        if view:
            from ..engine.layerview import MODES
            inputs.append(f"layer view {view[0]} ch {view[1]} {MODES[view[2]]}{' fft' if view[4] else ''}"
                          f"{' on the program' if view[5] else ''}")
        if show.mirror.encoder is not None:
            inputs += [show.conditioner.status(), show.mirror.status()]
        if show.bank.c_dim:                            # a conditional network: the class the knob gives
            inputs.append(f"class {show.registry.value['class']:g} (classes 0..{show.bank.c_dim - 1})")
        if self._keys[0] is not show.preset:          # a preset has up to 4096 keyframes: not every tick
            keys = show.preset.keyframes
            self._keys = (show.preset, tuple(k.seed for k in keys), tuple(k.label() for k in keys))
        _, seeds, labels = self._keys
        p = show.problems
        return ShowStatus(
            tick=show.tick_index, fps=round(st.fps(), 2), keyframe=show.current.keyframe if show.current else 0,
            seeds=seeds, labels=labels, preset=show.preset.name,
            network=show.network, bpm=float(show.registry.value["bpm"]), problems=p.count,
            values=MappingProxyType(dict(show.registry.target)), changed=MappingProxyType(changed),
            meters=MappingProxyType(dict(show.mod.feedback())), notice=p.notice, messages=tuple(p.recent()),
            panels=self._panels, generator_ms=e.median_ms(), batch=e.batch, queue=show.engine.queue_depth(),
            dropped=st.dropped, repeated=st.repeated, latency=latency,
            inputs=tuple(inputs + show.mod.hud_lines()))
