"""Preset validation and the parameter registry."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from livegan.params import PARAMS, Command, Registry
from livegan.presets import PresetError, list_presets, load_preset
from livegan.show import Options
from livegan.show import Show


def test_shipped_presets_load():
    names = [p.stem for p in list_presets()]
    assert "default" in names and len(names) >= 3
    for p in list_presets():
        assert load_preset(p).keyframes


@pytest.mark.parametrize("data,field", [
    ({"keyframes": []}, "keyframes"),
    ({"keyframes": [1, -4]}, "keyframes[1].seed"),
    ({"keyframes": [1, "x"]}, "keyframes[1]"),
    ({"keyframes": [1], "interpolation": "cubic"}, "interpolation"),
    ({"keyframes": [1], "psi": 9}, "psi"),
    ({"keyframes": [1], "effects": {"sparkle": 1}}, "effects.sparkle"),
    ({"keyframes": [1], "mix": {"layer": 2, "source": {"keyframe": 4}}}, "mix.source.keyframe"),
    ({"keyframes": [1], "colour": 1}, "colour"),
    ({"keyframes": [{"w": "missing.npy"}]}, "keyframes[0].w"),
])
def test_bad_presets_name_file_and_field(tmp_path, data, field):
    f = tmp_path / "bad.json"
    f.write_text(json.dumps(data))
    with pytest.raises(PresetError) as e:
        load_preset(f)
    msg = str(e.value)
    assert msg.startswith(str(f)) and f"{field}:" in msg and "\n" not in msg


RICH = {"name": "rich", "network": "builtin:tiny", "keyframes": [1, {"seed": 2, "class": 0}, 3], "interpolation": "spline",
        "easing": "sine", "speed": 0.5, "loop": True, "psi": 0.8, "truncation_cutoff": 4,
        "mix": {"layer": 3, "amount": 0.5, "source": {"keyframe": 1}},
        "transform": {"rotate": 10, "translate": [0.1, 0.2], "zoom": 1.2}, "effects": {"contrast": 1.2, "hue": 10},
        "params": {"brightness": 0.1}, "directions": [{"slot": 3, "pick": "pca:0", "zone": "coarse"}],
        "modulation": [{"source": "bass", "target": "psi", "amount": 0.25, "attack": 0.0, "release": 0.05}],
        "lfos": [{"shape": "sine", "rate": 4, "sync": True}],
        "audio_triggers": [{"on": "beat", "every": 4, "command": "keyframe_next"}],
        "netmix": {"network": "builtin:tiny", "amount": 0.5, "layers": "0-8"},
        "bends": [{"slot": 0, "op": "translate", "layer": 2, "channels": "random:0.5:3", "arg": 0.2, "amount": 0.7}]}


def test_any_json_anywhere_in_a_preset_is_its_one_line_error():
    """Presets come from files, the control page, OSC's save and a recording's header (data from
    outside): mutated shipped presets and one with every section give a PresetError, never another
    exception, through both the file parser and the recording header's."""
    from mutate import survivors
    from livegan.presets import parse_preset, preset_from, preset_json

    rich = parse_preset(RICH, "rich.json")
    assert rich.bends and rich.netmix and rich.lfos and rich.audio_triggers and rich.directions and rich.modulation
    docs = [json.loads(p.read_text()) for p in list_presets()] + [RICH]
    for i, doc in enumerate(docs):
        assert survivors(lambda d: parse_preset(d, "x.json"), doc, PresetError, n=1500, seed=i) == []
    assert survivors(preset_from, json.loads(json.dumps(preset_json(rich), default=str)), PresetError, n=1500) == []


def test_missing_preset_and_bad_json(tmp_path):
    with pytest.raises(PresetError, match="no such preset .*available: .*default"):
        load_preset("nope")
    f = tmp_path / "x.json"
    f.write_text("{oops")
    with pytest.raises(PresetError, match="not valid JSON"):
        load_preset(f)


def test_w_keyframes_from_npy(tmp_path):
    np.save(tmp_path / "w.npy", np.ones((1, 9, 64), np.float32))
    (tmp_path / "p.json").write_text(json.dumps({"keyframes": [3, {"w": "w.npy"}]}))
    p = load_preset(tmp_path / "p.json")
    assert p.keyframes[1].w.shape == (9, 64)


def test_registry_clamps_counts_slews_and_toggles():
    r = Registry()
    r.apply(Command("set", "psi", 5.0))
    assert r.target["psi"] == 2.0 and r.clamped == 1
    v0 = r.value["psi"]
    r.step(0.05)
    assert v0 < r.value["psi"] < 2.0                 # gliding (psi has a slew time)
    r.step(1.0)
    assert r.value["psi"] == 2.0
    r.apply(Command("toggle", "loop"))
    assert r.value["loop"] == 0.0                    # no slew: immediate
    r.apply(Command("add", "kaleido", 2.6))
    assert r.value["kaleido"] == 3.0                 # ints round
    with pytest.raises(KeyError):
        r.apply(Command("set", "nope", 1))
    with pytest.raises(ValueError):
        r.apply(Command("set", "psi", float("nan")))
    names = [p.name for p in PARAMS]
    assert len(names) == len(set(names))


def test_presets_resolve_only_in_preset_folders(tmp_path, tiny):
    """A name the gallery wrote into a --load-dir is found by name over OSC; a name never reads
    the working directory for a peer; the command line still takes a file there."""
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "recall-7.json").write_text('{"keyframes": [11, 12], "psi": 0.4}')
    (tmp_path / "local.json").write_text('{"keyframes": [3]}')
    show = Show(Options(fps=30, load_roots=(str(folder),)), G=tiny)
    show.start()
    try:
        for ref in ("recall-7", "README.md", "local.json", "pyproject.toml"):
            show.post(Command("trigger", "preset", ref, "osc"))
            for _ in range(400):
                show.tick(0.0)
                if not show.preset_loader.busy:
                    break
        assert show.preset.name == "recall-7" and show.registry.target["psi"] == pytest.approx(0.4)
        errs = " ".join(show.errors)
        assert "osc trigger preset: README.md: no such preset" in errs and "pyproject.toml: no such preset" in errs
    finally:
        show.stop()
    cwd = os.getcwd()
    try:
        os.chdir(tmp_path)
        assert len(load_preset("local.json").keyframes) == 1            # the command line's own file
        with pytest.raises(PresetError, match="no such preset"):
            load_preset("local.json", cwd=False)
    finally:
        os.chdir(cwd)


@pytest.mark.hostile
def test_a_refused_index_or_seed_is_quoted_short(tiny):
    # a seed of 1e308 once arrived as an int of 309 digits: the line quotes what was sent
    from livegan.params import Command
    from livegan.presets import parse_preset
    from livegan.show import Options, Show

    show = Show(Options(fps=30), parse_preset({"keyframes": [1, 2]}, "s.json"), G=tiny)
    show.post(Command("trigger", "seed", 1e308, "osc"))
    show.post(Command("trigger", "pad_corner", [1, 10 ** 400], "osc"))
    show.post(Command("trigger", "keyframe_goto", 1e300, "osc"))
    show.start()
    try:
        show.tick(0.0, wait=True)
    finally:
        show.stop()
    said = [e for e in show.errors if "must be an integer" in e]
    assert len(said) == 3 and all(len(e) < 120 for e in said), said
    assert "seed: must be an integer 0..4294967295, got '1e+308'" in said[0]
