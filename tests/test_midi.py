"""MIDI through real rtmidi ports over JACK (dummy driver): maps, 14-bit, relative modes, takeover,
learn, note triggers, clock -> BPM, and a device that goes away and comes back."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import mido
import pytest

from jackserver import jack_server
from livegan.clock import Tempo
from livegan.control.midi import MidiInputs, MidiMapper
from livegan.control.midimap import MidiMapError, load_map, parse_map, relative_delta
from livegan.params import Command, Registry
from livegan.show import Options
from livegan.show import Show

JACK = "mido.backends.rtmidi/UNIX_JACK"


@pytest.fixture(scope="module")
def jack():
    with jack_server(f"livegan-midi-{os.getpid()}", 48000, 128):
        backend = mido.Backend(JACK)
        for _ in range(50):                             # wait until the server takes clients
            time.sleep(0.1)
            try:
                backend.get_input_names()
                probe = backend.open_output("livegan-probe", virtual=True)
                probe.close()
                break
            except Exception:
                continue
        yield backend


DONE = object()                          # posted after each message's own commands


class Rig:
    """A virtual controller (JACK output port) wired to MidiInputs with a map, registry applied."""

    def __init__(self, backend, data, name, poll=0.3):
        self.reg = Registry()
        self.tempo = Tempo()
        self.map = parse_map(data, "rig.json")
        self.mapper = MidiMapper(self.map, lambda: self.reg.target, self.tempo)
        self.out = backend.open_output(name, virtual=True)
        self.cmds, self.done = [], 0
        handle = self.mapper.handle
        # a message is done once the input's thread has posted all its commands: the mapper
        # counts it as it starts, so a count alone raced the posting on a busy machine
        self.mapper.handle = lambda msg, now=None: handle(msg, now) + [DONE]
        self.inputs = MidiInputs([name], self.mapper, self._post, backend=JACK, log=lambda m: None, poll=poll).start()

    def _post(self, cmd) -> None:
        if cmd is DONE:
            self.done += 1
        else:
            self.cmds.append(cmd)

    def send(self, *msgs, timeout=5.0):
        """Send and wait until every message's commands are posted (JACK delivers per period)."""
        goal = self.done + len(msgs)
        for m in msgs:
            self.out.send(m)
        end = time.time() + timeout
        while self.done < goal and time.time() < end:
            time.sleep(0.005)
        assert self.done >= goal, "MIDI messages did not arrive"
        for c in self.cmds:
            self.reg.apply(c)
        self.cmds.clear()

    def close(self):
        self.inputs.stop()
        self.out.close()


def wait_for(cond, timeout=10.0):
    """Until cond() holds (JACK delivers per period, later on a busy CPU)."""
    end = time.time() + timeout
    while not cond() and time.time() < end:
        time.sleep(0.005)


def cc(control, value, ch=0):
    return mido.Message("control_change", channel=ch, control=control, value=value)


def test_absolute_14bit_relative_and_notes(jack):
    rig = Rig(jack, {"controls": [
        {"cc": 7, "param": "psi", "lo": 0.0, "hi": 1.0, "takeover": False},
        {"cc": 1, "param": "rotate", "mode": "14bit", "takeover": False},
        {"cc": 20, "param": "hue", "mode": "relative_twos", "step": 0.01},
        {"cc": 21, "param": "hue", "mode": "relative_signed", "step": 0.01},
        {"cc": 22, "param": "hue", "mode": "relative_offset", "step": 0.01},
        {"cc": 8, "param": "zoom", "curve": "exp", "takeover": False, "channel": 3}],
        "notes": [{"note": 60, "trigger": "keyframe_next"}],
        "buttons": [{"cc": 41, "trigger": "snapshot"}]}, "ctl-a")
    try:
        rig.send(cc(7, 127))
        assert rig.reg.target["psi"] == 1.0
        rig.send(cc(7, 0))
        assert rig.reg.target["psi"] == 0.0
        rig.send(cc(1, 100), cc(33, 50))                   # MSB then LSB
        expected = -360 + ((100 << 7) | 50) / 16383 * 720
        assert rig.reg.target["rotate"] == pytest.approx(expected, abs=1e-3)
        assert abs(rig.reg.target["rotate"] - (-360 + 100 / 127 * 720)) > 1e-2   # finer than 7-bit
        rig.send(cc(20, 3), cc(20, 127))                    # +3, -1
        assert rig.reg.target["hue"] == pytest.approx(2 * 0.01 * 360)
        rig.send(cc(21, 64 + 5))                            # signed bit: -5
        assert rig.reg.target["hue"] == pytest.approx(-3 * 0.01 * 360)
        rig.send(cc(22, 66))                                # binary offset: +2
        assert rig.reg.target["hue"] == pytest.approx(-1 * 0.01 * 360)
        rig.send(cc(8, 64, ch=3))
        assert rig.reg.target["zoom"] == pytest.approx(0.25 + (64 / 127) ** 2 * 3.75, abs=1e-6)
        rig.send(cc(8, 127, ch=2))                           # other channel: ignored
        assert rig.reg.target["zoom"] == pytest.approx(0.25 + (64 / 127) ** 2 * 3.75, abs=1e-6)
        got = []
        rig.inputs.post = lambda c: rig._post(c) if c is DONE else got.append(c)
        rig.send(mido.Message("note_on", note=60, velocity=90),
                 mido.Message("note_on", note=60, velocity=0),      # note-off as velocity 0
                 cc(41, 127))
        assert [c.name for c in got] == ["keyframe_next", "snapshot"]
    finally:
        rig.close()


def test_soft_takeover(jack):
    rig = Rig(jack, {"controls": [{"cc": 7, "param": "psi", "lo": 0.0, "hi": 2.0}]}, "ctl-b")
    try:
        rig.reg.apply(Command("set", "psi", 1.0))
        rig.send(cc(7, 127))                                 # knob at max, value at half: nothing
        assert rig.reg.target["psi"] == 1.0 and rig.mapper.ignored == 1
        rig.send(cc(7, 90))
        assert rig.reg.target["psi"] == 1.0
        rig.send(cc(7, 60))                                  # passes the value (63.5): picked up
        assert rig.reg.target["psi"] == pytest.approx(60 / 127 * 2)
        rig.send(cc(7, 30))
        assert rig.reg.target["psi"] == pytest.approx(30 / 127 * 2)
        rig.reg.apply(Command("set", "psi", 0.2))             # moved by OSC (knob now at 0.236) ...
        rig.mapper.release("psi")                            # ... so the knob must pick it up again
        rig.send(cc(7, 40))
        assert rig.reg.target["psi"] == 0.2                  # 0.31 of the way: not passed 0.1 yet
        rig.send(cc(7, 5))                                   # passes it: picked up
        assert rig.reg.target["psi"] == pytest.approx(5 / 127 * 2)
    finally:
        rig.close()


def test_a_knobs_late_command_after_a_release_keeps_the_knob_live():
    """The reader makes a knob's command, another source moves the value and releases the knob,
    then the knob's command lands: the show holds the knob's own value, so the knob keeps control
    (it used to wait to cross a value it had set itself, and the rest of the sweep was lost)."""
    reg = Registry()
    mapper = MidiMapper(parse_map({"controls": [{"cc": 7, "param": "contrast"}]}, "m.json"), lambda: reg.target)
    reg.apply(Command("set", "contrast", 3.0, "midi"))
    late = mapper.handle(cc(7, 127))                 # picks up at 3.0 and is made, not yet applied
    assert [c.value for c in late] == [3.0]
    reg.apply(Command("set", "contrast", 1.5, "osc"))     # OSC lands first ...
    mapper.release("contrast")                            # ... and releases the knob
    for v in (120, 110, 100, 90):                         # above 1.5: waiting to pick it up
        assert mapper.handle(cc(7, v)) == []
    for c in late:                                        # the knob's own command lands late
        reg.apply(c)
    got = [c for v in (60, 30, 0) for c in mapper.handle(cc(7, v))]
    assert [c.value for c in got] == pytest.approx([60 / 127 * 3, 30 / 127 * 3, 0.0])
    # A release that stays (nothing of the knob's lands after it) still needs the pick-up.
    reg.apply(Command("set", "contrast", 2.0, "osc"))
    mapper.release("contrast")
    assert mapper.handle(cc(7, 10)) == []


def test_learn_writes_the_map_file(jack, tmp_path):
    path = tmp_path / "learned.json"
    path.write_text(json.dumps({"name": "mine", "controls": []}))
    m = load_map(path)
    reg = Registry()
    mapper = MidiMapper(m, lambda: reg.target)
    out = jack.open_output("ctl-c", virtual=True)
    cmds = []
    inputs = MidiInputs(["ctl-c"], mapper, cmds.append, backend=JACK, log=lambda m: None).start()
    try:
        mapper.learn("saturation")
        out.send(cc(12, 127, ch=5))
        wait_for(lambda: cmds)
        assert cmds and cmds[-1].name == "saturation" and cmds[-1].value == 3.0
        saved = json.loads(path.read_text())
        assert saved["controls"] == [{"cc": 12, "channel": 5, "param": "saturation", "mode": "absolute"}]
        assert load_map(path).controls[0].cc == 12
        out.send(cc(12, 0, ch=5))
        wait_for(lambda: len(cmds) == 2)
        assert cmds[-1].value == 0.0
    finally:
        inputs.stop()
        out.close()


def test_clock_sets_bpm_within_one_percent(jack):
    rig = Rig(jack, {"controls": []}, "ctl-d", poll=30)   # no port listing (a JACK client) mid-measurement
    try:
        period = 60.0 / 128.0 / 24                           # 128 BPM
        t = time.perf_counter()
        for i in range(24 * 6):
            t += period
            time.sleep(max(0.0, t - time.perf_counter()))
            rig.out.send(mido.Message("clock"))
        end = time.time() + 5
        while rig.done < 24 * 6 and time.time() < end:     # every clock's tempo posted
            time.sleep(0.01)
        rig.send()
        assert rig.reg.target["bpm"] == pytest.approx(128.0, rel=0.01)
    finally:
        rig.close()


def test_missing_port_warns_and_replug_is_picked_up(jack):
    logs = []
    reg = Registry()
    mapper = MidiMapper(parse_map({"controls": [{"cc": 7, "param": "contrast", "takeover": False}]}), lambda: reg.target)
    cmds = []
    inputs = MidiInputs(["later-device"], mapper, cmds.append, backend=JACK, log=logs.append, poll=0.2).start()
    try:
        assert any("no port matching 'later-device'" in m and "ports:" in m for m in logs)
        assert "\n" not in logs[0]
        def until(value, timeout=4.0):
            # JACK connects a newly opened input port asynchronously: resend until it arrives.
            end = time.time() + timeout
            while time.time() < end:
                out.send(cc(7, 127 if value == 3.0 else 0))
                time.sleep(0.2)
                if cmds and cmds[-1].value == value:
                    return True
            return False
        out = jack.open_output("later-device", virtual=True)      # plugged in
        assert until(3.0), (logs, list(inputs.ports))
        out.close()                                             # unplugged ...
        end = time.time() + 3
        while "later-device" in inputs.ports and time.time() < end:
            time.sleep(0.05)
        assert "later-device" not in inputs.ports
        out = jack.open_output("later-device", virtual=True)    # ... and back
        assert until(0.0), (logs, list(inputs.ports))
        out.close()
    finally:
        inputs.stop()


def test_no_midi_system_at_the_start_is_one_line_and_it_is_picked_up_later(monkeypatch):
    """No MIDI system when the show starts (no ALSA sequencer on the machine, JACK started after
    the show): the whole show refused to start.  Now it is one line, the show goes on, and when
    the system answers (here a JACK server started later) the controller's port is picked up."""
    name = f"livegan-late-{os.getpid()}"
    monkeypatch.setenv("JACK_DEFAULT_SERVER", name)
    monkeypatch.setenv("JACK_NO_START_SERVER", "1")
    logs, cmds = [], []
    mapper = MidiMapper(parse_map({"controls": [{"cc": 7, "param": "contrast", "takeover": False}]}), lambda: {})
    inputs = MidiInputs(["late-desk"], mapper, cmds.append, backend=JACK, log=logs.append, poll=0.2).start()
    try:
        said = [m for m in logs if "MIDI system is not available" in m]
        assert len(said) == 1 and "tries again" in said[0] and all("\n" not in m for m in logs), logs
        with jack_server(name, 48000, 128):
            backend = mido.Backend(JACK)
            out = None
            end = time.time() + 20
            while time.time() < end and not cmds:
                try:
                    out = out or backend.open_output("late-desk", virtual=True)    # once the server takes clients
                    out.send(cc(7, 127))
                except Exception:
                    pass
                time.sleep(0.2)
            assert cmds and cmds[-1].name == "contrast", logs
            assert sum("MIDI system is not available" in m for m in logs) == 1       # said once, not per try
            assert any("answers now" in m for m in logs)
            inputs.stop()
            out.close()
    finally:
        inputs.stop()


def test_shipped_maps_and_bad_maps(tmp_path):
    for name in ("nanokontrol2", "midimix"):
        m = load_map(name)
        assert len(m.controls) >= 8 and (m.notes or m.buttons)
    with pytest.raises(MidiMapError, match="controls\\[0\\].param: unknown parameter"):
        parse_map({"controls": [{"cc": 1, "param": "nope"}]}, "x.json")
    with pytest.raises(MidiMapError, match="no such MIDI map"):
        load_map("nonexistent")
    from mutate import survivors                 # any JSON anywhere: the map's own one line
    for name in ("nanokontrol2", "midimix"):
        doc = json.loads(load_map(name).path.read_text())
        assert survivors(lambda d: parse_map(d, "x.json"), doc, MidiMapError) == []
    assert relative_delta(1, "relative_twos") == 1 and relative_delta(127, "relative_twos") == -1
    assert relative_delta(65, "relative_signed") == -1 and relative_delta(63, "relative_offset") == -1


def test_feedback_messages_follow_values():
    m = parse_map({"controls": [{"cc": 7, "param": "psi", "lo": 0.0, "hi": 1.0},
                                {"cc": 2, "param": "rotate", "mode": "14bit"}]})
    mapper = MidiMapper(m, dict)
    msgs = mapper.feedback({"psi": 0.5, "rotate": 0.0}, ["psi", "rotate"])
    assert msgs[0].control == 7 and msgs[0].value == 64
    assert [x.control for x in msgs[1:]] == [2, 34] and (msgs[1].value << 7 | msgs[2].value) in (8191, 8192)


@pytest.mark.parametrize("ms", [1, 5, 20, 50])
def test_soft_takeover_follows_the_hand_at_any_speed(jack, tiny, tmp_path, ms):
    """A fader swept through a live show (over JACK, with the documented backend spelling): once it
    has picked the value up it follows to the end of the sweep, up and down, also after OSC moved
    the value in between (then it picks up again where it crosses the new value)."""
    import json as _json
    import threading

    from livegan.control.surfaces import ControlOptions, Controls
    from livegan.presets import parse_preset
    from livegan.show import Options, Show

    mp = tmp_path / "fader.json"
    mp.write_text(_json.dumps({"controls": [{"cc": 7, "param": "contrast"}]}))
    name = f"fader-{ms}"
    out = jack.open_output(name, virtual=True)
    show = Show(Options(fps=30), parse_preset({"keyframes": [1], "speed": 0.0}, "f.json"), G=tiny)
    ctl = Controls(show, ControlOptions(osc=False, midi=[name], midi_map=str(mp), midi_backend="rtmidi/UNIX_JACK"),
                   log=lambda m: None).start()
    try:
        assert ctl.midi.ports, "the documented backend spelling must find the port"

        seen: list = []                                   # CC 7 values the mapper has handled
        made, posted = [0], [0]                           # commands it made, and those posted to the show
        handle, post = ctl.mapper.handle, ctl.midi.post

        def spy(msg, now=None):
            cmds = list(handle(msg, now))
            made[0] += len(cmds)
            if msg.type == "control_change" and msg.control == 7:
                seen.append(msg.value)
            return cmds

        def spy_post(cmd):
            post(cmd)
            posted[0] += 1
        ctl.mapper.handle, ctl.midi.post = spy, spy_post

        def play_once(values) -> bool:
            # until the mapper has handled this whole sweep (JACK delivers late on a busy machine)
            start = len(seen)
            done = threading.Event()

            def play():
                for v in values:
                    out.send(cc(7, v))
                    time.sleep(ms / 1000)
                done.set()
            t = threading.Thread(target=play)
            t.start()
            end, count, quiet = time.time() + 30, 0, time.time()
            while not (done.is_set() and seen[start:] == values) and time.time() < end:
                show.tick(0.0)
                ctl.after_tick()
                time.sleep(1 / 30)
                if len(seen) != count:
                    count, quiet = len(seen), time.time()
                elif done.is_set() and time.time() - quiet > 3.0:
                    break                              # nothing more is coming: it was lost
            t.join()
            return seen[start:] == values

        def sweep(values):
            # every event arrives, in order, also on a busy CPU (livegan polls rtmidi's queue: no
            # Python runs in JACK's thread), then its commands are applied
            assert play_once(values), f"the mapper saw {seen[-8:]} for a sweep ending {values[-8:]}"
            # The callback posts a message's commands after the mapper made them: wait for those
            # events (not for frames), then apply everything queued.
            end = time.time() + 30
            while posted[0] < made[0] and time.time() < end:
                time.sleep(0.001)
            while not show.intake.empty() or show.preset_loader.busy:
                show.tick(0.0)
            show.tick(0.0)
            ctl.after_tick()
            return show.registry.target["contrast"]

        # the port connects asynchronously: nudge an unmapped controller until the show hears it
        end = time.time() + 5
        while ctl.mapper.handled == 0 and time.time() < end:
            out.send(cc(99, 0))
            time.sleep(0.05)
        time.sleep(0.2)
        up, down = list(range(0, 128, 2)) + [127], list(range(127, -1, -2)) + [0]
        assert sweep(up) == pytest.approx(3.0)
        assert sweep(down) == pytest.approx(0.0)
        show.post(Command("set", "contrast", 1.5, "osc"))
        assert sweep(up) == pytest.approx(3.0)               # picked up again crossing 1.5
        show.post(Command("set", "contrast", 1.5, "osc"))
        assert sweep(down) == pytest.approx(0.0)
    finally:
        ctl.stop()
        out.close()


def test_midi_list_needs_no_display_and_takes_the_documented_backend(jack):
    from livegan.control.midi import backend_spec

    assert backend_spec("rtmidi") == "mido.backends.rtmidi"
    assert backend_spec("rtmidi/UNIX_JACK") == "mido.backends.rtmidi/UNIX_JACK"
    assert backend_spec("mido.backends.rtmidi/UNIX_JACK") == "mido.backends.rtmidi/UNIX_JACK"
    out = jack.open_output("listed-device", virtual=True)
    try:
        env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        res = subprocess.run([sys.executable, os.path.join(root, "perform.py"), "--midi-list", "--midi-backend",
                              "rtmidi/UNIX_JACK"], capture_output=True, text=True, env=env, timeout=60, cwd=root)
    finally:
        out.close()
    assert res.returncode == 0, res.stderr[-500:]
    assert "listed-device" in res.stdout


def test_midi_feedback_shows_the_state_and_changes_made_elsewhere(jack, tiny, tmp_path):
    """LED rings / motor faders: the whole state when the port appears, then a preset switch and
    an OSC change show up as CC; the knob's own moves are not echoed back."""
    import json as _json

    from livegan.control.surfaces import ControlOptions, Controls
    from livegan.presets import load_preset, parse_preset
    from livegan.show import Options, Show

    mp = tmp_path / "fb.json"
    mp.write_text(_json.dumps({"feedback": True, "controls": [{"cc": 7, "param": "contrast"},
                                                               {"cc": 8, "param": "kaleido"}]}))
    surface_out = jack.open_output("ledsurface", virtual=True)       # the controller's knobs
    received = []
    surface_in = jack.open_input("ledsurface", virtual=True, callback=received.append)   # its LEDs
    show = Show(Options(fps=30), parse_preset({"keyframes": [1], "speed": 0.0}, "f.json"), G=tiny)
    ctl = Controls(show, ControlOptions(osc=False, midi=["ledsurface"], midi_map=str(mp),
                                        midi_backend="rtmidi/UNIX_JACK"), log=lambda m: None).start()

    def pump(cond, timeout=5.0):
        end = time.time() + timeout
        while time.time() < end:
            show.tick(0.0)
            ctl.after_tick()
            time.sleep(0.02)
            if cond():
                return True
        return False

    def last(control):
        vals = [m.value for m in received if m.type == "control_change" and m.control == control]
        return vals[-1] if vals else None
    try:
        assert ctl.midi.outputs, "the surface's input port was not opened for feedback"
        # the state went out when the port appeared (contrast 1.0 of 0..3 -> 42)
        assert pump(lambda: last(7) == 42), received
        cuts = load_preset("cuts")
        show.post(Command("trigger", "preset", "cuts", "osc"))
        want = round(cuts.params["contrast"] / 3.0 * 127)
        assert pump(lambda: last(7) == want and last(8) == round(cuts.params["kaleido"] / 12 * 127)), received
        show.post(Command("set", "contrast", 3.0, "osc"))
        assert pump(lambda: last(7) == 127)
        n = len(received)
        surface_out.send(cc(7, 126))                                    # the hand on the knob
        assert pump(lambda: show.registry.target["contrast"] == pytest.approx(3.0 * 126 / 127))
        pump(lambda: False, timeout=0.3)
        assert not [m for m in received[n:] if m.type == "control_change" and m.control == 7]   # no echo
    finally:
        ctl.stop()
        surface_out.close()
        surface_in.close()


def test_watching_ports_loses_no_message(jack):
    """The port watcher lists ports every poll; listing must not cost a MIDI event in flight
    (mido's own listing made new JACK clients each time and lost one per listing)."""
    rig = Rig(jack, {"controls": [{"cc": 7, "param": "contrast", "takeover": False}]}, "watched", poll=0.05)
    try:
        rig.send(cc(7, 1))
        values = [v % 128 for v in range(2, 202)]
        goal = rig.mapper.handled + len(values)
        for v in values:                     # 200 messages over ~2 s, about 40 listings meanwhile
            rig.out.send(cc(7, v))
            time.sleep(0.01)
        end = time.time() + 10
        while rig.mapper.handled < goal and time.time() < end:
            time.sleep(0.01)
        assert rig.mapper.handled == goal
    finally:
        rig.close()


def test_learn_without_a_port_is_a_plain_line(tiny, tmp_path):
    from livegan.app import App

    show = Show(Options(fps=30), G=tiny)
    app = App(show, tmp_path, hud=False)
    show.post(Command("trigger", "learn", None, "key"))
    app.run_headless(2, realtime=False)
    (line,) = [e for e in show.errors if "learn" in e]
    assert "--midi" in line and "ValueError" not in line


def test_alsas_own_lines_never_reach_the_terminal():
    # with no ALSA sequencer, libasound wrote 'ALSA lib seq_hw.c:466:(snd_seq_hw_open) open
    # /dev/snd/seq failed' past Python, at every try of the show's MIDI watcher (every 2 s)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    r = subprocess.run([sys.executable, os.path.join(root, "perform.py"), "--midi-list", "--midi-backend",
                        "rtmidi/LINUX_ALSA"], capture_output=True, text=True, timeout=60, cwd=root,
                       env={k: v for k, v in os.environ.items() if k != "LIVEGAN_DEBUG"})
    assert "ALSA lib" not in r.stderr, r.stderr
    assert r.returncode == 0 or (r.returncode == 2 and r.stderr.count("\n") == 1), r.stderr
