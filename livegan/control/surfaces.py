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
    control: bool = True              # the control page at /control on the OSCQuery port
    control_allow: list = field(default_factory=list)   # other hosts that may open it (with the token)


class Controls:
    def __init__(self, show, opts: ControlOptions, log=print):
        self.show, self.opts, self.log = show, opts, log
        self.osc = self.query = self.feedback = self.midi = self.mapper = None
        self._status_t = 0.0
        self._notice_n = 0
        self.outputs: dict = {}                          # output/NAME/FIELD -> value, set by the app

    def start(self) -> "Controls":
        from .osc import OscReceiver
        from .oscfeedback import OscFeedback

        from .access import SenderPolicy

        o, post = self.opts, self.show.post
        self.policy = SenderPolicy(o.osc_allow)
        host = self.policy.bind_host(o.osc_host)
        self.page = None
        if o.osc:
            budget = getattr(self.show, "budget", None)       # one CPU budget for every surface
            self.osc = self._listen(lambda port: OscReceiver(post, host, port, self.policy, self.log, budget=budget),
                                    o.osc_port, "OSC").start()
            if o.oscquery:
                from .oscquery import OscQueryServer
                qhost = host
                if o.control:
                    from .page import ControlPage, PageAccess
                    access = PageAccess(o.control_allow)
                    folders = list(self.show.policy.folders())
                    if self.show.opts.save_dir:
                        folders.insert(0, self.show.opts.save_dir)
                    self.page = ControlPage(post, access, folders, log=self.log, budget=budget)
                    if access.remote and host in ("127.0.0.1", "::1", "localhost") and o.osc_host in ("auto", None):
                        qhost = "0.0.0.0"                # other devices reach the page; OSC stays local
                self.query = self._listen(lambda port: OscQueryServer(self.osc.port, qhost, port, mdns=o.mdns,
                                                                      log=self.log, policy=self.policy,
                                                                      page=self.page),
                                          o.oscquery_port, "OSCQuery").start()
                if self.page is not None:
                    self.page.problems = self.query.problems
                self.query.publish(self.show.status.values)
        if o.osc_out:
            self.feedback = OscFeedback(o.osc_out, log=self.log)
        if o.midi:
            from .midi import MidiInputs, MidiMapper
            from .midimap import load_map
            # Soft takeover compares the knob with the target (where the value is going), not the
            # smoothed value still gliding there; the MIDI thread reads the frozen status's.
            self.mapper = MidiMapper(load_map(o.midi_map), lambda: self.show.status.values, self.show.tempo)
            self.midi = MidiInputs(o.midi, self.mapper, post, o.midi_backend, self.log,
                                   budget=getattr(self.show, "budget", None)).start()
        self.log(self.exposure())
        self.sync()                                     # the initial state, to every target
        return self

    PORT_TRIES = 16                   # a second, third... show on this machine: ports two apart

    def _listen(self, make, port: int, what: str):
        """`make(port)`, or where that port is taken (another show on this machine), the next free
        one two further on (OSC and OSCQuery move together: 9002 and 9003 for a second show),
        said in one line.  Any other failure is the caller's one-line error."""
        from .osc import PortTaken

        for k in range(self.PORT_TRIES):
            try:
                made = make(port + 2 * k)
            except PortTaken:
                if k == self.PORT_TRIES - 1 or port + 2 * (k + 1) > 65535:
                    raise
                continue
            if k:
                self.log(f"livegan: {what} port {port} is taken (another show?): listening on {port + 2 * k} instead")
            return made
        raise AssertionError("unreachable")

    def refused(self) -> int:
        """What the surfaces refused or could not read (OSC datagrams, HTTP and page clients, MIDI
        feedback): with the show's own problems, the one count the HUD, the status and the
        end-of-show summary give."""
        n = sum(self.osc.errors.values()) if self.osc is not None else 0
        if self.query is not None:
            n += sum(self.query.problems.counts.values())
        if self.midi is not None:
            n += getattr(self.midi, "feedback_errors", 0)
        intake = getattr(self.show, "intake", None)       # commands a full backlog dropped
        if intake is not None:
            n += sum(intake.dropped.values())
        return n

    def status(self, recording: bool = False) -> dict:
        st = self.show.status                           # the show's frozen status of this tick
        return {"fps": st.fps, "frame": st.tick, "keyframe": st.keyframe, "recording": int(recording),
                "preset": st.preset, "network": st.network, "errors": st.problems + self.refused(), **self.outputs}

    def sync(self, recording: bool = False) -> None:
        """Every parameter and status value, now: at start, when a target asks
        (/livegan/status/sync), when a MIDI output appears."""
        values = self.show.status.values
        if self.query is not None:
            self.query.publish(values)
            self.query.publish_status(self.status(recording))
            self.query.publish_state(self.command_state())
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
        line = (f"livegan: controls: OSC on {self.osc.host}:{self.osc.port}{q}; accepting {self.policy.describe()}; "
                f"OSC may load presets/networks {self.show.policy.describe()}")
        return line + ("\n" + self.page_line() if self.page is not None else "")

    def page_line(self) -> str:
        """Where the control page is: this machine's URL, and the one with the token for the
        devices --control-allow admits."""
        from .mdns import local_ip

        url = f"http://127.0.0.1:{self.query.port}/control"
        if not self.page.access.remote:
            return f"livegan: control page: {url} (this machine only; other devices: --control-allow HOST|CIDR)"
        return (f"livegan: control page: {url} here; from {', '.join(self.page.access.allow)}: "
                f"http://{local_ip()}:{self.query.port}/control?token={self.page.access.token}")

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
        status = show.status                            # frozen at the end of this tick (status.py)
        changed, values = status.changed, status.values
        if self.query is not None and changed:
            self.query.publish(values, changed)
        if self.page is not None:
            if changed:
                self.page.publish(values, changed)
            self.page.publish_meters(status.meters)
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
            for k, v in status.meters.items():
                self.feedback.send(f"/livegan/audio/{k}", v)
        now = time.perf_counter()
        noticed = self.page is not None and status.notice[0] != self._notice_n
        if now - self._status_t > 0.5 or noticed:        # status twice a second (and news at once)
            self._status_t = now
            st = self.status(recording)
            if self.feedback is not None:
                self.feedback.status(st)
            if self.query is not None:
                self.query.publish_status(st)
                self.query.publish_state(self.command_state())
            if self.page is not None:
                self._notice_n = status.notice[0]
                self.page.publish_status(self.page_status(st))

    def command_state(self) -> dict:
        """What the command addresses hold now, for OSCQuery: the latent pad's corners (keyframes
        0..3, as the page shows them) and the seed of the keyframe being played."""
        from .osc import PREFIX

        st = self.show.status
        out = {f"{PREFIX}/pad/corner/{k}": [int(s)] for k, s in enumerate(st.corners()) if s is not None}
        if st.playing_seed is not None:
            out[f"{PREFIX}/seed"] = [int(st.playing_seed)]
        return out

    def page_status(self, st: dict) -> dict:
        """The control page's status: the OSC status plus what its panels show (keyframes and pad
        corners, direction slots, modulation routes and LFOs, recent problems, the last notice)."""
        status = self.show.status
        return {**st, "keyframes": len(status.seeds), "corners": status.corners(), **status.panels,
                "messages": list(status.messages), "notice": status.notice[1], "notice_n": status.notice[0]}

    def stop(self) -> None:
        for part in (self.osc, self.query, self.midi):
            if part is not None:
                part.stop()
        if self.feedback is not None:
            self.feedback.close()
