"""The show's side of modulation: the audio input, Ableton Link, the matrix, audio triggers and
tempo following, stepped once per display frame on the main thread.  Everything it changes goes
through commands (logged, replayed) or through the matrix's logged per-frame offsets."""
from __future__ import annotations

from typing import Callable, Mapping, Optional

from ..boundary import number
from ..params import Command
from .lfo import LFO
from .matrix import SLOTS, ModMatrix, check_route, check_trigger


class Modulation:
    def __init__(self, params: Mapping, post: Callable[[Command], None], error: Callable[[str, str], None],
                 log: Optional[Callable[[int, dict], None]] = None):
        self.params, self.post, self.error = params, post, error
        self.matrix = ModMatrix(params, log)
        self.audio = None                       # audio.input.AudioSource
        self.link = None                        # link.LinkClock
        self.follow_bpm = False                 # the beat tracker sets the show's tempo
        self.triggers: list[dict] = []
        self._counts = {"onset": 0, "beat": 0}
        self.snapshot = None                    # the last AudioSnapshot (HUD, feedback)
        self.onset_flash = 0
        self._bpm_sent = 0.0
        self._bpm_t = -1e9
        self.frame_time = 0.0

    # -- configuration (presets, OSC) -------------------------------------------------------------
    def use_preset(self, preset) -> None:
        for k in range(SLOTS):
            self.matrix.set_route(k, None)
        for d in preset.modulation:
            slot, route, _ = check_route(d, self.params)
            self.matrix.set_route(slot, route)
        for i, d in enumerate(preset.lfos):
            self.matrix.set_lfo(i, LFO.from_json(d))
        self.triggers = [dict(t) for t in preset.audio_triggers]

    def command(self, name: str, value) -> None:
        """mod_route {slot, source, target, ...} | mod_clear slot | lfo {index, shape, ...} | audio_trigger {...}"""
        if name == "mod_route":
            old = self.matrix.routes[int(value.get("slot", -1))] if 0 <= int(value.get("slot", -1)) < SLOTS else None
            if old is not None:                  # a partial change (curve, smoothing, range) keeps the rest
                value = {**old.to_json(int(value["slot"])), **value}
            slot, route, amount = check_route(value, self.params)
            self.matrix.set_route(slot, route)
            if amount is not None:
                self.post(Command("set", f"mod/{slot}", amount, "mod"))
        elif name == "mod_clear":
            slot = number(value, "modulation slot", 0, SLOTS - 1, integer=True)
            self.matrix.set_route(slot, None)
        elif name == "lfo":
            d = dict(value)
            self.matrix.set_lfo(int(d.pop("index", 0)), LFO.from_json(d))
        elif name == "audio_trigger":
            t = check_trigger(value)
            if len(self.triggers) >= 16:
                raise ValueError("at most 16 audio triggers")
            self.triggers.append(t)
        else:
            raise ValueError(f"unknown modulation command {name}")

    # -- every frame ------------------------------------------------------------------------------
    def tick(self, dt: float, bpm: float, replaying: bool = False) -> None:
        audio = None
        if self.audio is not None and not replaying:
            snap = self.audio.state.take()
            self.snapshot = snap
            audio = {"level": snap.level, "bass": snap.bands[0], "mid": snap.bands[1], "high": snap.bands[2],
                     "onset": snap.onsets, "beat": snap.beats}
            self.onset_flash = 6 if snap.onsets else max(0, self.onset_flash - 1)
            self._fire(snap)
            self._follow(snap)
        if self.link is not None and not replaying:
            self.link.follow(bpm, self.post)
            # Beat-synced LFOs take the session's beat phase (their values reach frames through the
            # logged offsets, so a replay stays exact without Link).
            self.matrix.beats = self.link.beat - dt * bpm / 60.0
        self.matrix.step(dt, bpm, audio)
        self.frame_time += dt

    def _fire(self, snap) -> None:
        for ev, n in (("onset", snap.onsets), ("beat", snap.beats)):
            for _ in range(n):
                self._counts[ev] += 1
                for t in self.triggers:
                    if t["on"] == ev and self._counts[ev] % t["every"] == 0:
                        value = None
                        if t["command"] == "seed":                  # a new random seed, as a number
                            value = (self._counts[ev] * 2654435761) % (2 ** 32)
                        self.post(Command("trigger", t["command"], value, "audio"))

    def _follow(self, snap) -> None:
        """The beat tracker sets the tempo (a logged command) when it is sure and it moved."""
        if not self.follow_bpm or not 20 <= snap.bpm <= 300 or snap.confidence < 0.1:
            return
        if abs(snap.bpm - self._bpm_sent) > 0.5 and self.frame_time - self._bpm_t > 2.0:
            self._bpm_sent, self._bpm_t = snap.bpm, self.frame_time
            self.post(Command("set", "bpm", round(snap.bpm, 2), "audio"))

    def tempo_changed(self, bpm: float, source: str) -> None:
        """The show's tempo moved (tap, MIDI clock, OSC): Link peers follow."""
        if self.link is not None and source != "link":
            self.link.send(bpm)

    # -- frames -----------------------------------------------------------------------------------
    def values_for(self, frame: int, values: Mapping[str, float], count: bool = False) -> Mapping[str, float]:
        if not self.matrix.active and not self.matrix.replaying:
            return values
        return self.matrix.modulated(values, self.matrix.for_frame(frame, values), count)

    # -- show it ----------------------------------------------------------------------------------
    def feedback(self) -> dict:
        """/livegan/audio/* values for OSC feedback (empty without audio)."""
        s = self.snapshot
        if s is None:
            return {}
        return {"level": s.level, "bass": s.bands[0], "mid": s.bands[1], "high": s.bands[2],
                "onset": int(s.onsets), "beat": int(s.beats), "bpm": s.bpm}

    def hud_lines(self) -> list[str]:
        lines = []
        s = self.snapshot
        if self.audio is not None and s is not None:
            bar = lambda v: "|" * int(round(v * 10)) + "." * (10 - int(round(v * 10)))   # noqa: E731
            err = f"  ! {self.audio.error[:40]}" if self.audio.error else ""
            lines.append(f"audio {bar(s.level)}  bass {bar(s.bands[0])}  mid {bar(s.bands[1])}  high {bar(s.bands[2])}"
                         f"{'  ONSET' if self.onset_flash else ''}  tracked {s.bpm:5.1f} bpm{err}")
        if self.link is not None:
            lines.append(f"link {self.link.peers} peer(s), {self.link.tempo:.1f} bpm")
        routes = [f"{r.source}>{r.target}" for r in self.matrix.routes if r is not None]
        if routes:
            lines.append("mod " + "  ".join(routes) + (f"   clamped {self.matrix.clamped}" if self.matrix.clamped else ""))
        return lines

    def stop(self) -> None:
        for part in (self.audio, self.link):
            if part is not None:
                part.stop()
