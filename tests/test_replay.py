"""Replay is exact, always: a session with a preset switch, psi, a keyframe jump, rotation, tap
tempo, a network switch and a wide canvas, recorded with the HUD on in a letterboxed output; the
live program frames, the session video and two replays are the same frames, frame for frame."""
from __future__ import annotations

import time

import numpy as np
import pytest

from livegan.app import App
from livegan.media import read_video
from livegan.offline.replay import render_log
from livegan.params import Command
from livegan.presets import parse_preset
from livegan.record import LOG_NAME, read_log
from livegan.show import Options, Show
from livegan.store import Store

PRESET = parse_preset({"keyframes": [1, 2, 3], "speed": 0.5}, "replay.json")


def test_record_and_replay_twice_are_identical(tmp_path, tiny, golden):
    other = str(golden / "sg3t-tiny" / "network.pkl")
    show = Show(Options(fps=30, canvas="16:9"), PRESET, G=tiny)
    app = App(show, tmp_path, hud=True, codec="ffv1")
    live: dict[int, np.ndarray] = {}
    start: dict = {}
    events = {
        8: Command("set", "psi", 0.4, "osc"),
        14: Command("trigger", "preset", "cuts", "key"),
        24: Command("trigger", "keyframe_next", None, "key"),
        30: Command("set", "rotate", 30.0, "osc"),
        34: Command("trigger", "tap", None, "key", 100.0),
        35: Command("trigger", "tap", None, "key", 100.5),
        36: Command("trigger", "tap", None, "key", 101.0),
        40: Command("trigger", "network", other, "key"),
        60: Command("set", "contrast", 1.5, "osc"),
    }

    def on_tick(i, s, d):
        if i == 4:
            s.post(Command("trigger", "record", 1, "key"))
        if i in events:
            s.post(events[i])
        if i == 80:
            s.post(Command("trigger", "record", 0, "key"))
        if app.recording and app.recorder.start_tick is not None:
            start.setdefault("tick", app.recorder.start_tick)
        live[s.tick_index] = d.renderer.read_program()
    # the output is a letterboxed 400x300 view with the HUD: neither may reach the recording
    app.run_headless(90, size=(400, 300), realtime=False, on_tick=on_tick)
    assert not [e for e in show.errors if "network" in e], show.errors
    assert show.network == other and show.registry.value["bpm"] == pytest.approx(120.0)
    (walk,) = Store(tmp_path).walks("recording")
    assert walk["status"] == "done", walk
    log = tmp_path / str(walk["id"]) / LOG_NAME
    header, cmds, end = read_log(log)
    ops = [(c.op, c.name) for v in cmds.values() for c in v]
    assert ("apply_network", "network") in ops and ("apply_preset", "preset") in ops and ("set", "bpm") in ops
    first = start["tick"] + 1
    session = read_video(tmp_path / str(walk["id"]) / "session.mkv")
    assert end == len(session) == 81 - first     # every frame presented while recording (stopped at tick 81)
    w, h = session[0].shape[1], session[0].shape[0]
    assert (w, h) == (456, 256)                                 # the canvas, not the 400x300 view
    replays = []
    for k in range(2):
        frames = {}
        out = tmp_path / f"replay{k}.mkv"
        res = render_log(log, out, progress=False, G=tiny, on_frame=lambda i, req, img: frames.__setitem__(i, img))
        assert res["written"] == end and not [e for e in res["errors"] if "failed" in e]
        replays.append((frames, read_video(out)))
    for i in range(end):
        lv = live[first + i]
        for frames, _ in replays:
            assert np.array_equal(frames[i], lv), f"replay frame {i} differs from live tick {first + i}"
    # the encoded session equals the encoded replays, frame for frame (same pictures, same encoder)
    for _, video in replays:
        assert len(video) == len(session)
        for i, (a, b) in enumerate(zip(session, video)):
            assert np.array_equal(a, b), f"video frame {i}"
    # no HUD and no letterbox in the program: its left column is picture, not black bars
    assert session[10][:, :4].mean() > 5 and session[10][:40, :200].std() > 3


def _slow(G, seconds: float):
    """A copy of G whose synthesis takes at least `seconds` a batch: slower than the display."""
    import copy

    slow = copy.deepcopy(G)
    run = slow.synthesis.forward

    def forward(*a, **k):
        time.sleep(seconds)
        return run(*a, **k)
    slow.synthesis.forward = forward
    return slow


def _record(tmp_path, G, frames, events, realtime=True, before=False, preset=PRESET):
    """Run a headless show with `events` {tick: Command} and record it (from before the first
    tick with `before`, else from tick 3 to the end); the walk folder."""
    show = Show(Options(fps=30), preset, G=G)
    app = App(show, tmp_path, hud=True, codec="ffv1")
    if before:
        app.record(True)

    def on_tick(i, s, d):
        if i == 3 and not before:
            s.post(Command("trigger", "record", 1, "key"))
        if i in events:
            s.post(events[i])
    app.run_headless(frames, size=(320, 240), realtime=realtime, on_tick=on_tick)
    (walk,) = Store(tmp_path).walks("recording")
    assert walk["status"] == "done", walk
    return tmp_path / str(walk["id"])


def test_as_shown_reproduces_a_late_generator_frame_for_frame(tmp_path, tiny, golden):
    """The generator is slower than the display on purpose: pictures repeat and arrive late.
    `--as-shown` reproduces every recorded frame (feedback, crossfade, a preset, a network switch
    and its fade included); the default render equals it wherever a frame showed its own tick."""
    other = str(golden / "sg3t-tiny" / "network.pkl")
    events = {10: Command("set", "psi", 0.5, "osc"), 16: Command("set", "crossfade", 0.4, "osc"),
              22: Command("trigger", "preset", "cuts", "key"), 30: Command("set", "feedback", 0.6, "osc"),
              36: Command("set", "rotate", 20.0, "osc"), 44: Command("trigger", "network", other, "key")}
    folder = _record(tmp_path, _slow(tiny, 0.05), 75, events)
    header, _, end = read_log(folder / LOG_NAME)
    session = read_video(folder / "session.mkv")
    kept = [(t, p) for t, p, d in header["shown"] if not d]
    assert len(kept) == len(session) == end
    assert sum(t != p for t, p in kept) > 5, "the generator was never late: the test proves nothing"
    res = render_log(folder / LOG_NAME, tmp_path / "shown.mkv", progress=False, G=tiny, as_shown=True)
    assert res["written"] == len(session)
    got = read_video(tmp_path / "shown.mkv")         # encoded the same way: equal frame for frame
    bad = [i for i in range(len(session)) if not np.array_equal(got[i], session[i])]
    assert not bad, f"{len(bad)} of {len(session)} frames differ, first {bad[:5]}"


def test_as_shown_reproduces_a_knob_turned_every_frame(tmp_path, tiny):
    """psi changed at every display frame for 40 frames (a knob turning): the picture keeps
    moving (before, every change discarded the frame planned before it and nothing was shown
    until the knob stopped), and the changes that waited for a picture replay where they were
    applied: `--as-shown` equals the recording frame for frame."""
    events = {i: Command("set", "psi", 0.3 + 0.015 * (i - 5), "midi") for i in range(5, 45)}
    folder = _record(tmp_path, tiny, 60, events)
    header, _, end = read_log(folder / LOG_NAME)
    session = read_video(folder / "session.mkv")
    turning = {p for t, p, d in header["shown"] if 5 <= t + 4 <= 44}
    assert len(turning) >= 5, sorted(turning)
    res = render_log(folder / LOG_NAME, tmp_path / "shown.mkv", progress=False, G=tiny, as_shown=True)
    got = read_video(tmp_path / "shown.mkv")
    assert res["written"] == len(session)
    bad = [i for i in range(len(session)) if not np.array_equal(got[i], session[i])]
    assert not bad, f"{len(bad)} of {len(session)} frames differ, first {bad[:5]}"


def test_default_render_equals_the_recording_where_it_was_on_time(tmp_path, tiny):
    events = {8: Command("set", "psi", 0.5, "osc"), 20: Command("trigger", "keyframe_next", None, "key"),
              28: Command("set", "rotate", 15.0, "osc")}
    folder = _record(tmp_path, _slow(tiny, 0.04), 60, events)
    header, _, end = read_log(folder / LOG_NAME)
    session = read_video(folder / "session.mkv")
    fresh = read_video(tmp_path / "fresh.mkv") if render_log(folder / LOG_NAME, tmp_path / "fresh.mkv",
                                                              progress=False, G=tiny)["written"] else []
    assert len(fresh) == end
    kept = [(t, p) for t, p, d in header["shown"] if not d]
    on_time = [i for i, (t, p) in enumerate(kept) if t == p]
    late = [i for i, (t, p) in enumerate(kept) if t != p]
    assert late, "the generator was never late"
    for i in on_time:
        assert np.array_equal(session[i], fresh[kept[i][0]]), f"frame {i} showed tick {kept[i][0]} but differs"
    for i in late[:10]:                               # a late frame is the fresh render of its picture's tick
        t, p = kept[i]
        if p >= 0:
            assert np.array_equal(session[i], fresh[p]) or not np.array_equal(session[i], fresh[t])


def test_offline_recording_from_the_first_tick_replays_exactly(tmp_path, tiny):
    """--record --offline: the recording starts before the show's first tick (which does not
    advance the timeline); every frame replays, fresh and as shown."""
    folder = _record(tmp_path, tiny, 24, {6: Command("set", "psi", 0.3, "osc")}, realtime=False, before=True)
    session = read_video(folder / "session.mkv")
    for as_shown in (False, True):
        render_log(folder / LOG_NAME, tmp_path / f"r{as_shown}.mkv", progress=False, G=tiny, as_shown=as_shown)
        got = read_video(tmp_path / f"r{as_shown}.mkv")
        assert len(got) == len(session) == 24
        assert all(np.array_equal(got[i], session[i]) for i in range(24)), as_shown


def test_the_latent_pads_corners_and_seeds_replay(tmp_path, tiny):
    """Commands that change the keyframes themselves (a pad corner, a seed) are replayed: a render
    of the log shows the frames the live show showed."""
    show = Show(Options(fps=30), parse_preset({"keyframes": [1, 2], "speed": 1.0}, "pad.json"), G=tiny)
    app = App(show, tmp_path, hud=False, codec="ffv1")
    live: dict[int, np.ndarray] = {}
    start: dict = {}
    events = {8: Command("trigger", "pad_corner", [1, 777], "page"),
              12: Command("trigger", "pad_corner", [3, 4242], "osc"),
              20: Command("trigger", "seed", 99, "osc")}

    def on_tick(i, s, d):
        if i == 2:
            s.post(Command("trigger", "record", 1, "key"))
        if i in events:
            s.post(events[i])
        if i == 40:
            s.post(Command("trigger", "record", 0, "key"))
        if app.recording and app.recorder.start_tick is not None:
            start.setdefault("tick", app.recorder.start_tick)
        live[s.tick_index] = d.renderer.read_program()
    app.run_headless(46, realtime=False, on_tick=on_tick)
    (walk,) = Store(tmp_path).walks("recording")
    log = tmp_path / str(walk["id"]) / LOG_NAME
    _, _, end = read_log(log)
    frames = {}
    render_log(log, tmp_path / "replay.mkv", progress=False, G=tiny,
               on_frame=lambda i, req, img: frames.__setitem__(i, img))
    first = start["tick"] + 1
    seeds = [k.seed for k in show.preset.keyframes]
    assert seeds[1] == 777 and seeds[3] == 4242 and 99 in seeds, seeds
    differ = [i for i in range(end) if not np.array_equal(frames[i], live[first + i])]
    assert not differ, f"replayed frames differ from the live ones at {differ[:5]} of {end}"


def test_whatever_the_show_took_its_recording_renders(tmp_path, tiny):
    """The show takes any finite value and clamps it (psi 1e38 is psi's top), and a log reader
    that refused values beyond 1e9 made such a session impossible to render: a fuzzed show's
    `set layer_view 2147483647` lost its recording.  Over the real OSC parser, the extremes a
    sender may send are taken live and the render equals the live program frame for frame."""
    from conftest import assert_replays_exactly, record_and_render
    from livegan.control.osc import OscReceiver
    from pythonosc.osc_message_builder import OscMessageBuilder

    posted = []
    parse = OscReceiver(posted.append, "127.0.0.1", 0, log=lambda m: None)
    for address, value in (("/livegan/psi", 1e38), ("/livegan/layer_view", 2 ** 31 - 1), ("/livegan/add/hue", 1e300),
                           ("/livegan/zoom", -3.4e38), ("/livegan/contrast", 2 ** 31 - 1)):
        m = OscMessageBuilder(address)
        m.add_arg(value, "d" if isinstance(value, float) else "i")
        parse.handle_datagram(m.build().dgram)
    parse.sock.close()
    assert len(posted) == 5 and not parse.errors                   # all taken at the door
    show = Show(Options(fps=30), PRESET, G=tiny)
    app = App(show, tmp_path, hud=False, codec="ffv1")
    run = record_and_render(app, 30, {2: [Command("trigger", "record", 1, "key")], 6: posted[:3], 10: posted[3:],
                                      24: [Command("trigger", "record", 0, "key")]}, tiny)
    assert show.registry.target["psi"] == 2.0 and show.registry.target["layer_view"] == 63
    assert run["end"] >= 20 and not show.errors
    assert_replays_exactly(run)


@pytest.mark.parametrize("network", ["builtin:tiny", "builtin:canvas-tiny"])
def test_every_address_with_generated_arguments_replays_frame_for_frame(tmp_path, tiny, network):
    """The class behind a recorder killed by a time tag and a log that refused what the show took:
    every OSC address (outputs, inputs, modulation, LFOs, bends, model mixing) gets generated
    arguments of every OSC type through the real parser while recording; whatever the show took
    or refused, the recording ends done and renders the live program frame for frame."""
    import random

    from pythonosc.osc_message_builder import OscMessageBuilder

    from conftest import assert_replays_exactly, record_and_render
    from livegan.control.osc import OscReceiver, address_table

    posted: list = []
    parse = OscReceiver(posted.append, "127.0.0.1", 0, log=lambda m: None)
    rng = random.Random(12)
    pool = [(0, "i"), (1, "i"), (-1, "i"), (7, "i"), (2 ** 31 - 1, "i"), (2 ** 63 - 1, "h"), (0.5, "f"), (-3.5, "f"),
            (1e30, "f"), (1e308, "d"), ("", "s"), ("x", "s"), ("bass", "s"), ("psi", "s"), ("all", "s"),
            ("A" * 200, "s"), ("é", "s"), (True, "T"), (False, "F"), (b"\x00\x01", "b"), (None, "N"), ((0, 144, 60, 99), "m")]
    events: dict = {2: [Command("trigger", "record", 1, "key")], 40: [Command("trigger", "record", 0, "key")]}
    table = [a for a in address_table() if "record" not in a.path and "quit" not in a.path]
    for k, a in enumerate(table):
        before = len(posted)
        for _ in range(4):
            m = OscMessageBuilder(a.path)
            for v, t in (rng.choice(pool) for _ in range(rng.randint(0, 4))):
                m.add_arg(v, t)
            parse.handle_datagram(m.build().dgram)
        events.setdefault(4 + k % 32, []).extend(posted[before:])
    parse.sock.close()
    assert len(posted) > 200 and parse.errors["type"] > 100          # taken and refused, both
    from stylegan3 import load_network

    G = tiny if network == "builtin:tiny" else load_network(network)
    show = Show(Options(fps=30, load_roots=(str(tmp_path),), save_dir=tmp_path / "presets"), PRESET, G=G)
    app = App(show, tmp_path, hud=False, codec="ffv1")
    run = record_and_render(app, 44, events, G)
    (walk,) = Store(tmp_path).walks("recording")
    assert walk["status"] == "done" and run["end"] >= 35
    assert sum(len(v) for v in run["cmds"].values()) > 200              # they are in the log
    assert_replays_exactly(run)


def test_a_frame_of_many_commands_replays_whole(tmp_path, tiny, monkeypatch):
    """The live show applies a panel's time-tagged burst in the frame it is due, and logs it there;
    the replay posted each frame's commands through the live budget (a few ms a frame, so where
    the replaying machine's speed said) and the live coalescing (two logged nudges summed, which
    clamping makes differ).  A replayed frame is now taken whole, as logged: here the replay's
    budget is made zero, and it still renders the live program frame for frame."""
    import livegan.show.queue as queue_module
    from conftest import assert_replays_exactly

    show = Show(Options(fps=30), PRESET, G=tiny)
    app = App(show, tmp_path, hud=False, codec="ffv1")
    live: dict = {}
    start: dict = {}

    def on_tick(i, s, d):
        if i == 2:
            s.post(Command("trigger", "record", 1, "key"))
        if i == 6:                                   # due together: one live frame applies them all
            due = time.time() + 0.1
            for k in range(900):
                s.post(Command("add", "hue" if k % 3 else "beat_sync", 7.5 if k % 3 else 5.0 - 6 * (k % 2),
                               "osc", time.perf_counter(), due))
        if i == 40:
            s.post(Command("trigger", "record", 0, "key"))
        if app.recording:
            start.setdefault("tick", app.recorder.start_tick)
        live[s.tick_index] = d.renderer.read_program()
    app.run_headless(44, realtime=False, on_tick=on_tick)
    (walk,) = Store(tmp_path).walks("recording")
    log = tmp_path / str(walk["id"]) / LOG_NAME
    header, cmds, end = read_log(log)
    assert max(len(v) for v in cmds.values()) >= 900                   # one frame, live
    monkeypatch.setattr(queue_module, "DRAIN_BUDGET_S", 0.0)          # a replay with no time to spare
    rendered: dict = {}
    render_log(log, tmp_path / "again.mkv", progress=False, G=tiny,
               on_frame=lambda i, req, img: rendered.__setitem__(i, img))
    assert_replays_exactly({"end": end, "rendered": rendered, "live": live, "first": start["tick"] + 1})


@pytest.mark.hostile
def test_a_recordings_carried_state_that_does_not_fit_is_one_line_naming_it(tmp_path, tiny):
    # the folder's carried.npz is data from outside: a texture larger than its bytes (a GL
    # allocation the file never paid for), an index past the feedback buffers, a type no renderer
    # writes, a file without its description; each stopped a render on GL's or numpy's own words
    import json

    from livegan.record import CARRIED_NAME, RecordingError

    show = Show(Options(fps=30), PRESET, G=tiny)
    app = App(show, tmp_path, hud=False)
    app.run_headless(12, realtime=False, on_tick=lambda i, s, d: (
        s.post(Command("set", "feedback", 0.6, "key")) if i == 1 else None,
        app.record(i == 3) if i in (3, 10) else None))
    (walk,) = Store(tmp_path).walks("recording")
    folder = tmp_path / str(walk["id"])
    log = folder / LOG_NAME
    assert render_log(log, tmp_path / "ok.mkv", progress=False, G=tiny)["written"] > 0
    with np.load(folder / CARRIED_NAME) as z:
        good = {k: z[k] for k in z.files}
    meta = json.loads(bytes(good["meta"]).decode())

    def carried_with(change) -> None:
        m, arrays = json.loads(json.dumps(meta)), dict(good)
        change(m, arrays)
        arrays["meta"] = np.frombuffer(json.dumps(m).encode(), np.uint8)
        np.savez(folder / CARRIED_NAME, **arrays)
    cases = {"a huge hold": lambda m, a: m.update(hold={"size": [16384, 16384], "comps": 4, "dtype": "f4"}) or
             a.update(hold0=np.zeros(16, np.uint8)),
             "prev_output 7": lambda m, a: m.update(prev_output=7),
             "src of type f8": lambda m, a: m["src"].update(dtype="f8"),
             "src cut short": lambda m, a: a.update(src0=a["src0"][:-5]),
             "no description": lambda m, a: m.clear() or m.update(src="x")}
    for what, change in cases.items():
        carried_with(change)
        with pytest.raises(RecordingError) as e:
            render_log(log, tmp_path / "bad.mkv", progress=False, G=tiny)
        assert str(e.value).startswith(f"{CARRIED_NAME}: ") and "\n" not in str(e.value), (what, str(e.value))
