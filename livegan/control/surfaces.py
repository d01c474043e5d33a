"""Starts the control surfaces a show asked for and keeps them in step with it each frame:
OSCQuery values, OSC and MIDI feedback of changed parameters, soft-takeover release, MIDI learn."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Optional


@dataclass
class ControlOptions:
    osc: bool = True
    osc_host: str = "auto"            # auto: loopback unless --osc-allow admits other hosts
    osc_port: int = 9000
    osc_allow: list = field(default_factory=list)
    osc_out: Optional[str] = None
    oscquery: bool = True
    oscquery_port: int = 9001
    mdns: bool = True
    midi: list = field(default_factory=list)
    midi_map: str = "nanokontrol2"
    midi_backend: str = "rtmidi"


class Controls:
    def __init__(self, show, opts: ControlOptions, log=print):
        self.show, self.opts, self.log = show, opts, log
        self.osc = self.query = self.feedback = self.midi = self.mapper = None
        self._status_t = 0.0

    def start(self) -> "Controls":
        from .osc import OscFeedback, OscReceiver

        from .access import SenderPolicy

        o, post = self.opts, self.show.post
        self.policy = SenderPolicy(o.osc_allow)
        host = self.policy.bind_host(o.osc_host)
        if o.osc:
            self.osc = OscReceiver(post, host, o.osc_port, self.policy, self.log).start()
            if o.oscquery:
                from .oscquery import OscQueryServer
                self.query = OscQueryServer(self.osc.port, host, o.oscquery_port, mdns=o.mdns, log=self.log,
                                            policy=self.policy).start()
                self.query.publish(self.show.registry.target)
        if o.osc_out:
            self.feedback = OscFeedback(o.osc_out)
        if o.midi:
            from .midi import MidiInputs, MidiMapper, load_map
            self.mapper = MidiMapper(load_map(o.midi_map), lambda: self.show.registry.value, self.show.tempo)
            self.midi = MidiInputs(o.midi, self.mapper, post, o.midi_backend, self.log).start()
        self.log(self.exposure())
        return self

    def exposure(self) -> str:
        """One line saying what this show exposes to the network, printed at start."""
        if self.osc is None:
            return "livegan: controls: OSC off"
        q = f", OSCQuery on {self.osc.host}:{self.query.port}" if self.query else ""
        return (f"livegan: controls: OSC on {self.osc.host}:{self.osc.port}{q}; accepting {self.policy.describe()}; "
                f"OSC may load presets/networks {self.show.policy.describe()}")

    def learn(self, param: str) -> None:
        if self.mapper is None:
            raise ValueError("MIDI learn needs a MIDI port (--midi NAME)")
        self.mapper.learn(param)
        self.log(f"MIDI learn: move a control to drive {param}")

    def after_tick(self, recording: bool = False) -> None:
        show = self.show
        if self.osc is not None and not self.osc.alive:     # never deaf: revive the receiver
            why = self.osc.last_crash or "unknown reason"
            self.osc.restart()
            show.error("osc-restart", f"OSC receiver stopped ({why}); restarted")
        changed, show.changed = show.changed, set()
        values = show.registry.target
        if self.query is not None and changed:
            self.query.publish(values)
        if changed and self.mapper is not None:
            for name in changed:                       # moved by something else: knobs pick up again
                self.mapper.release(name)
            self.midi.send_feedback(values, changed)
        if self.feedback is not None:
            if changed:
                self.feedback.params(values, sorted(changed))
            now = time.perf_counter()
            if now - self._status_t > 0.5:
                self._status_t = now
                k = show.current.keyframe if show.current else 0
                self.feedback.status(show.stats.fps(), show.tick_index, k, recording)

    def stop(self) -> None:
        for part in (self.osc, self.query, self.midi):
            if part is not None:
                part.stop()
