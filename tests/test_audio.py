"""Playing to the music, through real JACK audio: a test client plays generated click tracks and
tones into livegan's PortAudio input (JACK dummy driver started here).  Onsets land within one
analysis block of the clicks, bands respond to the right frequencies, the beat tracker finds the
tempo within 1%, a bass -> psi route moves psi after the bass hits and the session replays exactly
without the audio; an Ableton Link peer leads the tempo; bad input is one line."""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from jackserver import jack_server
from livegan.app import App
from livegan.audio.analysis import AnalysisSettings
from livegan.modulation.lfo import LFO
from livegan.offline.replay import render_log
from livegan.params import Command
from livegan.presets import PresetError, parse_preset
from livegan.record import LOG_NAME, read_log
from livegan.show import Options, Show
from livegan.store import Store

SR, BLOCK = 48000, 256
SERVER = f"livegan-audio-{os.getpid()}"


@pytest.fixture(scope="module")
def jack_audio():
    """A JACK server (dummy driver, sync mode) and a player client whose output feeds livegan."""
    with jack_server(SERVER, SR, 256):
        import jack

        player = None
        for _ in range(50):
            time.sleep(0.1)
            try:
                player = Player(jack.Client("livegan-test-player", servername=SERVER, no_start_server=True))
                break
            except jack.JackError:
                continue
        assert player is not None, "the JACK server did not start"
        import sounddevice as sd
        sd._terminate()                                  # PortAudio looks for JACK when it starts
        sd._initialize()
        yield player
        player.client.deactivate()
        player.client.close()
        sd._terminate()                                  # PortAudio leaves JACK before the server goes
    sd._initialize()


class Player:
    """Plays numpy buffers through a JACK output port, sample-accurately; remembers when."""

    def __init__(self, client):
        self.client = client
        self.port = client.outports.register("out")
        self.buf = np.zeros(0, np.float32)
        self.pos = 0
        self.started_frame = None
        self.lock = threading.Lock()

        @client.set_process_callback
        def process(frames):
            out = self.port.get_array()
            with self.lock:
                chunk = self.buf[self.pos:self.pos + frames]
                if self.pos == 0 and len(chunk):
                    self.started_frame = client.last_frame_time
                self.pos += len(chunk)
            out[:len(chunk)] = chunk
            out[len(chunk):] = 0
        client.activate()

    def feed(self, timeout: float = 10.0) -> None:
        """Our output into every audio input that is not JACK's own playback (livegan's), once
        livegan's input port exists (PortAudio registers it asynchronously)."""
        end = time.time() + timeout
        while time.time() < end and not [p for p in self.client.get_ports(is_audio=True, is_input=True)
                                         if not p.name.startswith("system:")]:
            time.sleep(0.01)
        for p in self.client.get_ports(is_audio=True, is_input=True):
            if not p.name.startswith("system:") and self.port not in self.client.get_all_connections(p):
                self.client.connect(self.port, p)

    def play(self, x: np.ndarray) -> float:
        with self.lock:
            self.buf, self.pos, self.started_frame = np.asarray(x, np.float32), 0, None
        return len(x) / SR

    def wait(self) -> None:
        while True:
            with self.lock:
                if self.pos >= len(self.buf):
                    return
            time.sleep(0.01)


def clicks(times, secs, freq=1000.0, amp=0.8, decay=300):
    x = np.zeros(int(SR * secs), np.float32)
    for t in times:
        k = int(round(t * SR))
        m = min(2400, len(x) - k)
        n = np.arange(m)
        x[k:k + m] += amp * np.sin(2 * np.pi * freq * n / SR) * np.exp(-n / decay)
    return x


def write_wav(path, x):
    """Mono 16-bit WAV at SR (what --audio-file reads)."""
    import wave

    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes((np.clip(x, -1, 1) * 32767).astype(np.int16).tobytes())
    return path


def live_input(jack_audio, **kw):
    from livegan.audio.input import LiveInput

    src = LiveInput("system", AnalysisSettings(block=BLOCK, **kw)).start()
    jack_audio.feed()
    return src


def collect(src, secs):
    """Poll the analysis like the show does, 100 times a second: onsets, beats, bands."""
    got = {"onsets": [], "bands": [], "bpm": 0.0}
    end = time.time() + secs
    while time.time() < end:
        time.sleep(0.01)
        s = src.state.take()
        got["bands"].append(s.bands)
        got["bpm"] = s.bpm
    return got


def test_onsets_within_one_block_of_the_clicks(jack_audio):
    src = live_input(jack_audio)
    try:
        times = [0.3, 0.71, 1.02, 1.55, 1.8, 2.41, 2.6, 3.2, 3.9, 4.15]       # irregular on purpose
        onsets = []
        orig = src.state.publish

        def publish(f, arrived):                      # the analysis thread's events, in stream time
            if f.onset:
                onsets.append(f.onset_time)
            orig(f, arrived)
        src.state.publish = publish
        jack_audio.play(clicks(times, 4.6))
        jack_audio.wait()
        end = time.time() + 10                        # the analysis thread catches up (a busy CPU)
        while len(onsets) < len(times) and time.time() < end:
            time.sleep(0.01)
    finally:
        src.stop()
    assert len(onsets) == len(times), (onsets, times)
    # The stream starts at an unknown JACK frame: align by the median offset, then every onset
    # must sit within one analysis block of its click.
    offset = statistics.median(o - t for o, t in zip(onsets, times))
    errs = [abs(o - t - offset) for o, t in zip(onsets, times)]
    assert max(errs) <= BLOCK / SR, errs


def test_bands_follow_frequency(jack_audio):
    src = live_input(jack_audio, bass_hz=150, high_hz=2500)
    try:
        seen = {}
        for hz in (60, 1000, 6000):
            t = np.arange(int(SR * 0.8)) / SR
            jack_audio.play((0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32))
            got = collect(src, 0.7)
            jack_audio.wait()
            seen[hz] = np.median(np.array(got["bands"][-20:]), axis=0)
    finally:
        src.stop()
    bass, mid, high = seen[60], seen[1000], seen[6000]
    assert bass[0] > 0.6 and bass[1] < 0.3 and bass[2] < 0.1, bass
    assert mid[1] > 0.6 and mid[0] < 0.3 and mid[2] < 0.3, mid
    assert high[2] > 0.6 and high[0] < 0.1 and high[1] < 0.3, high


def test_beat_tracker_finds_the_tempo_within_one_percent(jack_audio):
    bpm = 128.0
    src = live_input(jack_audio)
    try:
        jack_audio.play(clicks([i * 60 / bpm for i in range(int(12 * bpm / 60))], 12.2, freq=200, decay=600))
        got = collect(src, 12.0)
    finally:
        src.stop()
    assert abs(got["bpm"] - bpm) / bpm < 0.01, got["bpm"]


PRESET = {"keyframes": [1, 2], "speed": 0.0, "psi": 0.5,
          "modulation": [{"source": "bass", "target": "psi", "amount": 0.25, "attack": 0.0, "release": 0.05}]}


def test_bass_drives_psi_and_the_session_replays_without_audio(jack_audio, tiny, tmp_path):
    preset = parse_preset(PRESET, "bass.json")
    show = Show(Options(fps=30), preset, G=tiny)
    show.mod.audio = live_input(jack_audio, bass_hz=150)
    app = App(show, tmp_path, hud=True, codec="ffv1")
    # The audio plays in real time while a busy CPU may slow the frames to a few a second: values
    # are peak-held per frame (no click falls between frames), and a short release (in frames)
    # lets psi fall back between hits far enough apart.
    # JACK's dummy driver keeps its own clock: on one VM the clicks arrived at about 0.8x the wall
    # clock's pace (the fourth after frame 178), so the recording runs 8.6 s for 5.6 s of clicks.
    hits = [0.6, 2.0, 3.4, 4.8]
    live, reqs, start = {}, {}, {}

    def on_tick(i, s, d):
        start.setdefault("t0", time.perf_counter())
        delay = start["t0"] + i / 30 - time.perf_counter()    # paced like the live show
        if delay > 0:
            time.sleep(delay)
        if i == 2:
            s.post(Command("trigger", "record", 1, "key"))
            start["play"] = time.perf_counter() + jack_audio.play(np.zeros(1, np.float32))
            jack_audio.play(clicks(hits, 5.6, freq=55, amp=0.9, decay=2500))
        if i == 258:
            s.post(Command("trigger", "record", 0, "key"))
        if app.recording:
            start.setdefault("tick", app.recorder.start_tick)
        live[s.tick_index] = d.renderer.read_program()
        reqs[s.tick_index] = s.current
    # Every frame waits for its own picture (none dropped, as a replay renders), paced at 30 fps
    # like the live show while the audio arrives in real time.
    app.run_headless(262, size=(256, 256), realtime=False, on_tick=on_tick)
    show.mod.audio.stop()
    (walk,) = Store(tmp_path).walks("recording")
    log = tmp_path / str(walk["id"]) / LOG_NAME
    header, cmds, end = read_log(log)
    mods = {c.value["for"]: c.value for v in cmds.values() for c in v if c.op == "mod"}
    assert len(mods) >= end - 2                                   # every frame's offsets are logged
    psi_off = [mods[f]["offsets"].get("psi", 0.0) for f in sorted(mods)]
    bass = [mods[f]["sources"]["bass"] for f in sorted(mods)]
    # Psi moves up after each hit and falls back between them: four distinct rises (a jump of
    # more than 0.2 in one frame: the release only decays), each followed by a fall to under
    # 0.6 of its peak before the next.  Counted in frames, so a slow machine (few frames between
    # hits) counts the same hits.
    peaks = []                                        # the frame each rise peaks at
    for i, (a, b) in enumerate(zip(psi_off, psi_off[1:])):
        if b - a > 0.2:
            if peaks and i <= peaks[-1]:               # the same hit still rising (over two frames)
                peaks[-1] = i + 1
            else:
                peaks.append(i + 1)
    assert len(peaks) >= 4 and max(psi_off) > 0.3 and min(psi_off) < 0.05, psi_off
    for p, nxt in zip(peaks, peaks[1:] + [len(psi_off)]):
        assert min(psi_off[p:nxt]) < 0.6 * psi_off[p], (p, psi_off)
    assert max(bass) > 0.6
    # The generated ws follow: a frame with a big psi offset is farther from w_avg than a quiet one.
    first = start["tick"] + 1
    loud = max(mods, key=lambda f: mods[f]["offsets"].get("psi", 0.0))
    quiet = min(mods, key=lambda f: mods[f]["offsets"].get("psi", 0.0))
    w_avg = show.bank.w_avg
    dist = lambda f: float(np.abs(reqs[first + f].ws - w_avg).mean())    # noqa: E731
    assert dist(loud) > dist(quiet) * 1.3
    # Exact replay, without any audio.
    frames = {}
    res = render_log(log, tmp_path / "replay.mkv", progress=False, G=tiny,
                     on_frame=lambda i, req, img: frames.__setitem__(i, img))
    assert res["written"] == end
    for i in range(end):
        assert np.array_equal(frames[i], live[first + i]), f"replay frame {i} differs"


@pytest.mark.realtime            # a Link peer on the network: its tempo messages arrive in real time
def test_link_peer_leads_the_tempo_and_taps_reach_it(tiny):
    import asyncio

    from aalink import Link

    peer = {}
    done = threading.Event()

    def run_peer():
        async def main():
            peer["link"] = Link(120.0)
            peer["link"].enabled = True
            while not done.is_set():
                await asyncio.sleep(0.05)
        asyncio.run(main())
    t = threading.Thread(target=run_peer, daemon=True)
    t.start()
    from livegan.modulation.link import LinkClock

    show = Show(Options(fps=30), parse_preset({"keyframes": [1], "speed": 0.0}, "l.json"), G=tiny)
    show.mod.link = LinkClock(120.0)
    try:
        end = time.time() + 5
        while show.mod.link.peers < 1 and time.time() < end:
            time.sleep(0.05)
        assert show.mod.link.peers >= 1
        peer["link"].tempo = 133.0
        t0 = time.perf_counter()
        while show.registry.value["bpm"] != pytest.approx(133.0, abs=0.01) and time.perf_counter() - t0 < 3:
            show.tick(time.perf_counter())
            time.sleep(1 / 30)
        assert time.perf_counter() - t0 < 1.0, "the show followed the Link session too slowly"
        # Beat-synced LFOs run on the session's beat.
        assert abs(show.mod.matrix.beats - peer["link"].beat) < 0.25
        # A tempo set on stage (tap, OSC) goes back to the session.
        show.post(Command("set", "bpm", 97.0, "osc"))
        show.tick(time.perf_counter())
        end = time.time() + 2
        while abs(peer["link"].tempo - 97.0) > 0.01 and time.time() < end:
            time.sleep(0.05)
        assert peer["link"].tempo == pytest.approx(97.0, abs=0.01)
    finally:
        show.mod.stop()
        show.engine.stop()
        done.set()


def test_lfos_are_pure_functions_of_time_and_beats():
    sine, sq = LFO("sine", 1.0, True), LFO("square", 2.0, False, 0.25)
    assert sine.value(0, 0) == pytest.approx(0.0) and sine.value(0, 0.5) == pytest.approx(1.0)
    assert sq.value(0.0, 0) == 1.0 and sq.value(0.2, 0) == 0.0
    r = LFO("random", 0.5, seed=3)
    vals = [r.value(t / 10, 0) for t in range(100)]
    assert vals == [r.value(t / 10, 0) for t in range(100)] and 0 <= min(vals) and max(vals) <= 1
    assert max(abs(a - b) for a, b in zip(vals, vals[1:])) < 0.2            # smooth


def test_bad_audio_input_and_routes_are_one_line(tmp_path, tiny):
    bad_wav = tmp_path / "noise.wav"
    bad_wav.write_bytes(os.urandom(3000))
    for argv, why in ((["--audio", "no-such-device-xyz"], "audio off"), (["--audio-file", str(bad_wav)], "audio off"),
                      (["--audio-file", str(tmp_path / "missing.wav")], "audio off"),
                      (["--audio-file", str(bad_wav), "--bass-hz", "900", "--high-hz", "500"], "audio off")):
        r = subprocess.run([sys.executable, "perform.py", "--headless", "--no-osc", "--frames", "3", "--video", "",
                            "--out", str(tmp_path)] + argv, capture_output=True, text=True, timeout=180)
        assert r.returncode == 0, r.stderr
        lines = [ln for ln in r.stdout.splitlines() if ln.startswith("livegan: audio off")]
        assert len(lines) == 1 and "rendered 3 frames" in r.stdout, r.stdout
    # A preset naming an unknown source or parameter: one line naming the field.
    for route, what in (({"source": "treble", "target": "psi"}, "source 'treble'"),
                        ({"source": "bass", "target": "nonsense"}, "target 'nonsense'"),
                        ({"source": "bass", "target": "loop"}, "target 'loop'")):
        with pytest.raises(PresetError, match=f"modulation\\[0\\].*{what}"):
            parse_preset({"keyframes": [1], "modulation": [route]}, "bad.json")
    # Over OSC: the show reports it and goes on.
    show = Show(Options(fps=30), parse_preset({"keyframes": [1], "speed": 0.0}, "ok.json"), G=tiny)
    show.post(Command("trigger", "mod_route", {"slot": 0, "source": "bass", "target": "nonsense"}, "osc"))
    show.post(Command("trigger", "mod_route", {"slot": 9, "source": "bass", "target": "psi"}, "osc"))
    show.start()
    show.tick(0.0, wait=True)
    show.tick(1 / 30, wait=True)
    show.engine.stop()
    assert sum("not a number parameter" in e for e in show.errors) == 1
    assert sum("slot must be 0..7" in e for e in show.errors) == 1
    assert not show.mod.matrix.active
    json.dumps(show.mod.matrix.describe_routes())


@pytest.mark.realtime            # the file plays in real time beside the show
def test_no_sound_system_is_audio_off_not_a_refused_show(monkeypatch):
    """PortAudio failing as it does with no sound card and no JACK (`Error querying device -1`)
    escaped as PortAudioError: `--audio default` refused to start the whole show.  Now the
    default input and a named one both give the one-line ValueError the show says as 'audio off'."""
    import sounddevice as sd

    from livegan.audio.input import LiveInput, find_input

    def fails(*a, **k):
        raise sd.PortAudioError("Error querying device -1")
    monkeypatch.setattr(sd, "query_devices", fails)
    with pytest.raises(ValueError, match="'default': cannot open the input .*querying device"):
        src = LiveInput("default")
        try:
            src.start()
        finally:
            src.stop()
    with pytest.raises(ValueError, match="'mic': the sound system is not available"):
        find_input("mic")


def test_feedback_hud_and_triggers_from_a_played_file(tmp_path, tiny):
    """A sound file played along: the analysed values reach OSC feedback (/livegan/audio/*) and
    the HUD meters, and a beat trigger moves the keyframes."""
    import socket

    from pythonosc.osc_packet import OscPacket

    from livegan.audio.input import FileInput
    from livegan.control.surfaces import ControlOptions, Controls

    x = clicks([i * 0.5 for i in range(12)], 6.0, freq=60, amp=0.9, decay=2000)
    wav = write_wav(tmp_path / "beat.wav", x)
    fb = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    fb.bind(("127.0.0.1", 0))
    fb.settimeout(0.2)
    preset = parse_preset({"keyframes": [1, 2, 3, 4], "speed": 0.0,
                           "audio_triggers": [{"on": "onset", "command": "keyframe_next", "every": 2}]}, "t.json")
    show = Show(Options(fps=30), preset, G=tiny)
    show.mod.audio = FileInput(str(wav), AnalysisSettings(block=BLOCK)).start()
    ctl = Controls(show, ControlOptions(osc=False, osc_out=f"127.0.0.1:{fb.getsockname()[1]}"), log=lambda m: None).start()
    app = App(show, tmp_path, hud=True, controls=ctl)
    hud, seen = [], {}

    def drain():                                  # as a panel would: read as it arrives
        try:
            while True:
                data, _ = fb.recvfrom(65536)
                for m in OscPacket(data).messages:
                    seen.setdefault(m.message.address, []).append(m.message.params[0])
        except (socket.timeout, BlockingIOError):
            pass

    def on_tick(i, s, d):
        if i % 10 == 0:
            hud.append(list(app._hud_cache[0]))
        drain()
    fb.setblocking(False)
    app.run_headless(100, size=(256, 256), realtime=True, on_tick=on_tick)
    show.mod.audio.stop()
    ctl.stop()
    drain()
    fb.close()
    for k in ("level", "bass", "mid", "high", "onset", "beat"):
        assert f"/livegan/audio/{k}" in seen, k
    assert max(seen["/livegan/audio/bass"]) > 0.5 and sum(seen["/livegan/audio/onset"]) >= 4
    assert any(line.startswith("audio |") and "bass" in line for lines in hud for line in lines)
    assert show.transport.jumps >= 2                                     # every 2nd onset: the next keyframe


@pytest.mark.realtime            # the file plays in real time beside the show
def test_beat_tracker_sets_the_show_tempo(tmp_path, tiny):
    """--audio-bpm: the tracked tempo becomes the show's, as a logged `set bpm` command."""
    from livegan.audio.input import FileInput

    bpm = 128.0
    x = clicks([i * 60 / bpm for i in range(int(10 * bpm / 60))], 10.2, freq=200, decay=600)
    wav = write_wav(tmp_path / "click128.wav", x)
    show = Show(Options(fps=30), parse_preset({"keyframes": [1], "speed": 0.0}, "b.json"), G=tiny)
    show.mod.audio = FileInput(str(wav), AnalysisSettings(block=BLOCK)).start()
    show.mod.follow_bpm = True
    logged = []
    show.command_log = lambda tick, cmd: logged.append(cmd) if cmd.name == "bpm" else None
    t0 = time.perf_counter()
    try:
        while time.perf_counter() - t0 < 9.0:
            show.tick(time.perf_counter() - t0)
            time.sleep(1 / 30)
    finally:
        show.mod.audio.stop()
        show.engine.stop()
    assert abs(show.registry.value["bpm"] - bpm) / bpm < 0.01, show.registry.value["bpm"]
    assert logged and logged[-1].source == "audio"
