"""Text that is not Unicode, wherever it arrives: a file name's undecodable bytes (a preset named
by its file), or a lone surrogate from a JSON \\ud800 escape (the control page, a preset, a MIDI
map, a control log, the studio).  No file, database or terminal takes such a str: a show that said
one lost a frame, and one whose preset came from such a file could neither record nor snapshot."""
from __future__ import annotations

import json
import os

import pytest

from livegan.app import App
from livegan.params import Command
from livegan.presets import PresetError, load_preset, parse_preset
from livegan.show import Options, Show
from livegan.store import Store

SURROGATE = "\\ud800"                      # as a JSON file or message spells it


def test_a_preset_file_whose_name_is_not_utf8_plays_records_snapshots_and_is_sent(tmp_path, tiny, osc_rig):
    folder = tmp_path / "presets"
    folder.mkdir()
    path = folder / os.fsdecode(b"b\xffd.json")
    path.write_text(json.dumps({"keyframes": [1, 2], "speed": 0.5}))
    preset = load_preset(path)
    assert preset.name == "b\udcffd"                        # the file system's name, as Python has it
    show = Show(Options(fps=30), preset, G=tiny)
    ctl, fb = osc_rig(show)
    app = App(show, tmp_path / "store", hud=True, controls=ctl)

    def on_tick(i, s, d):
        if i == 3:
            s.post(Command("trigger", "record", 1, "key"))
        if i == 6:
            s.post(Command("trigger", "snapshot", None, "key"))
        if i == 20:
            s.post(Command("trigger", "record", 0, "key"))
    res = app.run_headless(26, realtime=False, on_tick=on_tick)
    assert res["shown"] == 26 and not show.errors, list(show.errors)
    store = Store(tmp_path / "store")
    (rec,) = store.walks("recording")
    (session,) = store.walks("session")
    assert rec["status"] == "done" and rec["preset"] == "b\\udcffd"         # kept, escaped
    assert len(store.images(session["id"])) == 1
    from pythonosc.osc_packet import OscPacket
    sent = set()
    while "/livegan/status/preset" not in sent:           # the status feedback carries it, escaped
        for m in OscPacket(fb.recvfrom(65536)[0]).messages:
            sent.add(m.message.address)
            if m.message.address == "/livegan/status/preset":
                assert m.message.params == ["b\\udcffd"]


def test_text_that_is_not_unicode_is_refused_at_every_door(tmp_path, tiny, osc_rig, capsys):
    from websockets.sync.client import connect

    from livegan.console import say
    from livegan.control.midimap import MidiMapError, load_map
    from livegan.gallery import create_app
    from livegan.record import RecordingError, read_log

    # the control page's socket: an error reply, nothing reaches the show
    show = Show(Options(fps=30), parse_preset({"keyframes": [1, 2]}, "t.json"), G=tiny)
    ctl, _ = osc_rig(show)
    port = ctl.query.port
    with connect(f"ws://127.0.0.1:{port}/control/ws", origin=f"http://127.0.0.1:{port}", open_timeout=10) as ws:
        json.loads(ws.recv(timeout=10))                     # the page's first values
        ws.send('{"address": "/livegan/preset", "args": ["x' + SURROGATE + '"]}')
        for _ in range(20):
            reply = json.loads(ws.recv(timeout=10))
            if reply.get("type") == "error":
                break
        assert "not valid text" in reply["text"], reply
    assert show.queue.intake.posted == 0
    # files: a preset, a MIDI map, a control log
    (tmp_path / "p.json").write_text('{"keyframes": [1], "name": "a' + SURROGATE + '"}')
    with pytest.raises(PresetError, match="not valid text"):
        load_preset(tmp_path / "p.json")
    (tmp_path / "m.json").write_text('{"name": "m' + SURROGATE + '", "controls": []}')
    with pytest.raises(MidiMapError, match="not valid text"):
        load_map(tmp_path / "m.json")
    (tmp_path / "c.jsonl").write_text('{"type": "header", "version": 1, "network": "n' + SURROGATE + '"}\n')
    with pytest.raises(RecordingError, match="line 1: not valid text"):
        read_log(tmp_path / "c.jsonl")
    # the studio's JSON bodies
    c = create_app(tmp_path / "store", network="builtin:tiny", presets=tmp_path / "presets").test_client()
    r = c.post("/api/images/1/tags", data='{"tag": "t' + SURROGATE + '"}', content_type="application/json")
    assert r.status_code == 400 and "not valid text" in r.json["error"]
    # and whatever still gets through to the terminal is said, escaped, never raised
    capsys.readouterr()
    say("name \ud800 and \udcff")
    assert capsys.readouterr().out == "name \\ud800 and \\udcff\n"
