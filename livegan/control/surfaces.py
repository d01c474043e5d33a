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
        self.outputs: dict = {}                          # output/NAME/FIELD -> value, set by the app

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
            # Soft takeover compares the knob with the target (where the value is going), not the
            # smoothed value still gliding there.
            self.mapper = MidiMapper(load_map(o.midi_map), lambda: self.show.registry.target, self.show.tempo)
            self.midi = MidiInputs(o.midi, self.mapper, post, o.midi_backend, self.log).start()
        self.log(self.exposure())
        self.sync()                                     # the initial state, to every target
        return self

    def status(self, recording: bool = False) -> dict:
        show = self.show
        return {"fps": round(show.stats.fps(), 2), "frame": show.tick_index,
                "keyframe": show.current.keyframe if show.current else 0, "recording": int(recording),
                "preset": show.preset.name, "network": show.network,
                "errors": show.error_count + (sum(self.osc.errors.values()) if self.osc else 0), **self.outputs}

    def sync(self, recording: bool = False) -> None:
        """Every parameter and status value, now: at start, when a target asks
        (/livegan/status/sync), when a MIDI output appears."""
        values = self.show.registry.target
        if self.query is not None:
            self.query.publish(values)
            self.query.publish_status(self.status(recording))
        if self.feedback is not None:
            self.feedback.params(values, sorted(values))
            self.feedback.status(self.status(recording))
        if self.midi is not None:
            self.midi.send_feedback(values, list(values))

    def exposure(self) -> str:
        """One line saying what this show exposes to the network, printed at start."""
        if self.osc is None:
            return "livegan: controls: OSC off"
        q = f", OSCQuery on {self.osc.host}:{self.query.port}" if self.query else ""
        return (f"livegan: controls: OSC on {self.osc.host}:{self.osc.port}{q}; accepting {self.policy.describe()}; "
                f"OSC may load presets/networks {self.show.policy.describe()}")

    def hud_lines(self) -> list[str]:
        """The control surfaces' state for the HUD: what listens, and what is connected."""
        if self.osc is None:
            osc = "OSC off"
        else:
            bad = sum(self.osc.errors.values())
            osc = f"OSC {self.osc.host}:{self.osc.port}: {self.osc.received} messages" + (f", {bad} refused" if bad else "")
        out = [osc]
        if self.midi is not None:
            have = ", ".join(p.name for p in list(self.midi.ports.values()))
            waiting = [w for w in self.midi.names if w not in self.midi.ports]
            out.append(f"MIDI {have or 'no port'}" + (f"; waiting for {', '.join(waiting)}" if waiting else ""))
        return out

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
        changed, show.changed = show.changed, {}
        values = show.registry.target
        if self.query is not None and changed:
            self.query.publish(values, changed)
        if changed and self.mapper is not None:
            # Moved by something else (OSC, a preset, tap...): knobs pick up again, and LEDs and
            # motor faders follow.  A knob's own moves neither reset its pick-up nor echo back.
            others = [n for n, src in changed.items() if src != "midi"]
            for name in others:
                self.mapper.release(name)
            self.midi.send_feedback(values, others)
        if self.feedback is not None and changed:
            self.feedback.params(values, sorted(changed))
        if self.feedback is not None:                   # the analysed audio, every frame (TouchDesigner...)
            for k, v in show.mod.feedback().items():
                self.feedback.send(f"/livegan/audio/{k}", v)
        now = time.perf_counter()
        if now - self._status_t > 0.5:                  # status twice a second
            self._status_t = now
            st = self.status(recording)
            if self.feedback is not None:
                self.feedback.status(st)
            if self.query is not None:
                self.query.publish_status(st)

    def stop(self) -> None:
        for part in (self.osc, self.query, self.midi):
            if part is not None:
                part.stop()
