"""A picture into the network, through the real commands: `livegan project` brings the network's own
picture back close (PSNR far above the average picture's), writes W.npy/W.png, keeps it in the
store and plays it as a keyframe; `livegan train encoder` learns the way back from the network's own
samples and beats w_avg; the live mirror follows an input and a mirrored session replays exactly
with no camera and no encoder; bad input is one line."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from livegan.app import App
from livegan.params import Command
from livegan.presets import parse_preset
from livegan.show import Options, Show


@pytest.fixture(scope="module")
def sg2():
    from stylegan3 import load_network
    return load_network("builtin:twemoji")


def own_picture(G, seed: int) -> np.ndarray:
    from livegan.imaging import to_uint8

    z = torch.from_numpy(np.random.RandomState(seed).randn(1, G.z_dim).astype(np.float32))
    with torch.no_grad():
        return to_uint8(G.synthesis(G.mapping(z, None, truncation_psi=0.7), noise_mode="const"))[0]


@pytest.fixture(scope="module")
def encoder(sg2, tmp_path_factory):
    """An encoder for builtin:twemoji, trained here by the command (3 kimg, about 10 s)."""
    from livegan.commands import main

    out = tmp_path_factory.mktemp("enc") / "twemoji.safetensors"
    assert main(["train", "encoder", "-n", "builtin:twemoji", "--out", str(out), "--kimg", "3", "--tick", "1",
                 "--snap", "2", "--device", "cpu"]) == 0
    return out


def test_a_projection_comes_back_close_is_stored_and_plays(tmp_path, sg2, capsys):
    from livegan.commands import main
    from livegan.imaging import save_png
    from livegan.media import read_video
    from livegan.projection.search import psnr
    from livegan.store import Store

    target = own_picture(sg2, 5)
    save_png(tmp_path / "face.png", target)
    rc = main(["project", str(tmp_path / "face.png"), "-n", "builtin:twemoji", "--out", str(tmp_path / "w.npy"),
               "--steps", "120", "--video", "--store", str(tmp_path / "store"), "--device", "cpu"])
    said = capsys.readouterr()
    assert rc == 0, said.err
    ws = np.load(tmp_path / "w.npy")
    assert ws.shape == (sg2.num_ws, sg2.w_dim) and ws.dtype == np.float32
    m = [float(x) for x in __import__("re").findall(r"PSNR ([\d.]+) dB \(the average picture: ([\d.]+) dB", said.out)[0]]
    assert m[0] > m[1] + 10, said.out                                          # far above the average picture
    from PIL import Image
    png = np.asarray(Image.open(tmp_path / "w.png"))
    assert psnr(png, target) == pytest.approx(m[0], abs=0.1)
    assert len(read_video(tmp_path / "w.mp4")) > 10 and "step 120/120" in said.err
    store = Store(tmp_path / "store")
    (walk,) = [w for w in store.walks("curated") if w["name"] == "projections"]
    target_row, result = store.images(walk["id"])
    state = json.loads(result["state"]) if isinstance(result["state"], str) else result["state"]
    assert target_row["kind"] == "target" and result["kind"] == "projection" and state["projection"]["steps"] == 120
    store.close()
    preset = parse_preset({"keyframes": [{"w": "w.npy"}], "speed": 0, "psi": 1}, str(tmp_path / "p.json"), base=tmp_path)
    show = Show(Options(fps=30), preset, G=sg2)
    App(show, tmp_path / "rec", hud=False).run_headless(2, realtime=False)
    assert np.abs(show.current_image.astype(int) - png.astype(int)).max() <= 1    # the keyframe plays it


def test_the_encoder_beats_the_average_and_starts_a_projection(tmp_path, sg2, encoder, capsys):
    from livegan.commands import main
    from livegan.imaging import save_png, to_uint8
    from livegan.projection.encoder import load_encoder, sample_batch
    from livegan.projection.search import psnr, synth, w_stats

    enc = load_encoder(str(encoder), sg2)
    img, _ = sample_batch(sg2, 12, np.random.RandomState(777))               # pictures it never saw
    avg, _ = w_stats(sg2)
    with torch.no_grad():
        target, guess = to_uint8(img), to_uint8(synth(sg2, enc(img)))
        average = to_uint8(synth(sg2, avg[None, None].repeat(1, sg2.num_ws, 1)))[0]
    ours = np.mean([psnr(guess[i], target[i]) for i in range(12)])
    floor = np.mean([psnr(average, target[i]) for i in range(12)])
    assert ours > floor + 3, (ours, floor)
    save_png(tmp_path / "t.png", target[0])
    assert main(["project", str(tmp_path / "t.png"), "-n", "builtin:twemoji", "--out", str(tmp_path / "g.npy"),
                 "--encoder", str(encoder), "--steps", "0", "--store", "", "--device", "cpu"]) == 0
    assert np.allclose(np.load(tmp_path / "g.npy"), enc.guess(target[0]), atol=1e-5)   # 0 steps: the guess alone
    capsys.readouterr()


def test_resume_goes_on_from_the_saved_state(tmp_path, capsys):
    from livegan.commands import main

    out = tmp_path / "e.safetensors"
    args = ["train", "encoder", "-n", "builtin:twemoji", "--out", str(out), "--tick", "0.25", "--snap", "1", "--device", "cpu"]
    assert main(args + ["--kimg", "0.5"]) == 0
    assert main(args + ["--kimg", "1", "--resume"]) == 0
    said = capsys.readouterr().out
    assert "resumed at 0.5 kimg" in said and "wrote" in said and "kimg 1.0" in said


@pytest.mark.hostile
def test_bad_input_is_one_line(tmp_path, encoder, capsys):
    from livegan.commands import main
    from livegan.imaging import save_png

    (tmp_path / "junk.png").write_bytes(b"not a picture at all")
    save_png(tmp_path / "ok.png", np.zeros((32, 32, 3), np.uint8))
    cases = [(["project", str(tmp_path / "junk.png"), "-n", "builtin:twemoji", "--out", str(tmp_path / "a.npy")],
              "not a readable image"),
             (["project", str(tmp_path / "ok.png"), "-n", "builtin:canvas-tiny", "--out", str(tmp_path / "b.npy")],
              "no w space"),
             (["project", str(tmp_path / "ok.png"), "-n", "builtin:tiny", "--out", str(tmp_path / "c.npy"),
               "--encoder", str(encoder), "--steps", "0"], "an encoder for another network"),
             (["project", str(tmp_path / "ok.png"), "-n", "builtin:twemoji", "--out", str(tmp_path / "d.npy"),
               "--encoder", str(tmp_path / "ok.png"), "--steps", "0"], "not an encoder file"),
             (["project", str(tmp_path / "ok.png"), "-n", "builtin:twemoji", "--out", str(tmp_path / "e.txt")], ".npy"),
             (["project", "/dev/zero", "-n", "builtin:twemoji", "--out", str(tmp_path / "f.npy")], "not a regular file"),
             (["project", str(tmp_path / "ok.png"), "-n", "builtin:twemoji", "--out", str(tmp_path / "g.npy"),
               "--encoder", "/dev/zero", "--steps", "0"], "not a regular file"),
             (["project", str(tmp_path / "ok.png"), "-n", "builtin:twemoji", "--out", str(tmp_path / "h.npy"),
               "--perceptual", "vgg:/dev/zero", "--steps", "1"], "not a regular file")]
    for argv, words in cases:
        assert main(argv + ["--store", "", "--device", "cpu"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and words in err[0], (argv, err)


@pytest.mark.hostile
def test_every_mutated_encoder_file_is_an_encoder_or_one_line(tmp_path, sg2, encoder):
    # the file's metadata are its own words: a missing size was a KeyError, a side of 10**6 an
    # allocation of 10**12 weights; each is one line now (the show says it and plays unmirrored)
    import random

    from safetensors import safe_open
    from safetensors.torch import save_file

    from livegan.projection.encoder import load_encoder

    with safe_open(str(encoder), "pt") as f:
        meta, state = dict(f.metadata()), {k: f.get_tensor(k) for k in f.keys()}
    odd = ["", "x", "-1", "0", "1e9", "nan", "64.5", "1000000", "16", "999999999999999999999"]
    rng = random.Random(4)
    for i in range(40):
        m, st = dict(meta), dict(state)
        key = rng.choice(sorted(m))
        if rng.random() < 0.2:
            del m[key]
        else:
            m[key] = rng.choice(odd)
        if rng.random() < 0.3:
            k = rng.choice(sorted(st))
            st[k] = rng.choice([st[k].to(torch.int32), st[k].flatten(), st[k][:1], torch.zeros(0)])
        path = tmp_path / f"m{i}.safetensors"
        save_file(st, str(path), metadata=m)
        try:
            load_encoder(str(path), sg2)
        except ValueError as e:
            assert str(e).startswith(str(path)) and "\n" not in str(e), str(e)


def test_the_mirror_follows_its_input_and_replays_without_it(tmp_path, sg2, encoder):
    from conftest import assert_replays_exactly, record_and_render
    from livegan.imaging import save_png
    from livegan.projection.search import psnr

    folder = tmp_path / "inputs"
    folder.mkdir()
    pics = [own_picture(sg2, s) for s in (21, 22)]
    for i, p in enumerate(pics):
        save_png(folder / f"{i}.png", p)
    preset = parse_preset({"keyframes": [3, 8], "speed": 2.0, "psi": 0.7,
                           "params": {"mirror": 1.0, "mirror_smooth": 0.5}}, "m.json")
    plain = Show(Options(fps=30), preset, G=sg2)
    App(plain, tmp_path / "plain", hud=False).run_headless(44, realtime=False)
    show = Show(Options(network="builtin:twemoji", fps=30, mirror=str(encoder), inputs=(str(folder),)), preset, G=sg2)
    events = {2: [Command("trigger", "record", 1, "key")], 40: [Command("trigger", "record", 0, "key")]}
    run = record_and_render(App(show, tmp_path, hud=False, codec="ffv1"), 44, events, sg2)
    assert not show.errors, show.errors
    targets = [c.value for v in run["cmds"].values() for c in v if c.op == "apply_mirror"]
    assert show.mirror.encoded >= 2 and targets                                # a new picture: a new target
    assert np.allclose(show.current.ws, show.mirror.target.at(show.current.frame), atol=1e-5)   # mirror 1: all of it
    k = show.current.keyframe                                                  # the slideshow follows the keyframe
    assert psnr(show.current_image, pics[k]) > psnr(plain.current_image, pics[k]) + 2
    assert_replays_exactly(run)                                                 # no camera, no encoder


@pytest.mark.hostile
def test_a_malformed_mirror_line_is_one_line_and_the_replay_goes_on(sg2):
    from livegan.instrument.mirror import Target

    good = Target(5, np.zeros((sg2.num_ws, sg2.w_dim), np.float32), np.ones((sg2.num_ws, sg2.w_dim), np.float32), 0.5)
    v = good.to_log(7)
    assert v["age"] == 2 and Target.from_log(v, 100).tick == 98
    assert np.array_equal(Target.from_log(v, 100).at(99), good.at(6))
    show = Show(Options(fps=30), parse_preset({"keyframes": [3], "speed": 0}, "m.json"), G=sg2)
    for bad in ({**v, "ws": "!!not base64"}, {**v, "shape": [1 << 20, 512]}, {**v, "smooth": 1.5},
                {**v, "ws": v["ws"][:40]}, {k: x for k, x in v.items() if k != "start"}, [1, 2]):
        show.post(Command("apply_mirror", "mirror", bad, "log"))
    App(show, hud=False).run_headless(2, realtime=False)
    lines = [e for e in show.errors if "apply_mirror" in e]
    assert len(lines) == 6 and all("\n" not in e for e in lines) and show.mirror.target is None
    assert show.current is not None


@pytest.mark.filterwarnings("ignore::DeprecationWarning")          # torch.jit.trace makes the file
def test_a_vgg16_torchscript_file_is_read_without_its_code(tmp_path):
    """A VGG16 scripted here (random weights, LPIPS's five channel weights) and saved as TorchScript:
    our reader takes its weights from data.pkl alone, and our VGG16 computes the same features; a
    file asking for anything but weights is refused in one line."""
    import pickle
    import zipfile

    import torch.nn as nn

    from livegan.projection.vgg16 import PLAN, TAPS, load_vgg16, read_weights

    class Scripted(nn.Module):
        def __init__(self):
            super().__init__()
            layers, cin = [], 3
            for c in PLAN:
                layers += [nn.MaxPool2d(2)] if c == "M" else [nn.Conv2d(cin, c, 3, padding=1), nn.ReLU()]
                cin = cin if c == "M" else c
            self.features = nn.Sequential(*layers)
            self.lin = nn.ParameterList([nn.Parameter(torch.rand(1, c, 1, 1)) for c in (64, 128, 256, 512, 512)])

        def forward(self, x):
            return self.features(x)

    torch.manual_seed(3)
    ref = Scripted().eval()
    torch.jit.trace(ref, torch.zeros(1, 3, 32, 32)).save(str(tmp_path / "vgg16.pt"))
    vgg, lins = load_vgg16(tmp_path / "vgg16.pt")
    assert len(read_weights(tmp_path / "vgg16.pt")) == 26 + 5 and [w.shape[1] for w in lins] == [64, 128, 256, 512, 512]
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        ours = vgg(x)
        y, k, theirs = (x - vgg.shift) / vgg.scale, 0, []
        for m in ref.features:
            y = m(y)
            if isinstance(m, nn.ReLU):
                if k in TAPS:
                    theirs.append(y)
                k += 1
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(ours, theirs)) and len(ours) == 5
    evil = tmp_path / "evil.pt"
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("evil/data.pkl", b"\x80\x02cos\nsystem\nq\x00X\x02\x00\x00\x00idq\x01\x85q\x02Rq\x03.")
    with pytest.raises(ValueError, match="refused: the file asks for os.system"):
        read_weights(evil)
    (tmp_path / "junk.pt").write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(ValueError, match="not a TorchScript file"):
        read_weights(tmp_path / "junk.pt")


def torchscript_like(path, entry: bytes, declared: int | None = None, pkl: bytes | None = None) -> None:
    """A zip as TorchScript writes one: net/data.pkl naming a float storage kept in net/data/0
    (whose size in the central directory can be made to say `declared`)."""
    import io
    import pickle
    import struct
    import zipfile

    class Storage:
        pass

    class Writer(pickle.Pickler):
        def persistent_id(self, obj):
            return ("storage", torch.FloatStorage, "0", "cpu", 4) if isinstance(obj, Storage) else None

    buf = io.BytesIO()
    Writer(buf, protocol=2).dump({"w": Storage()})
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("net/data.pkl", pkl if pkl is not None else buf.getvalue())
        z.writestr("net/data/0", entry)
    if declared is not None:                     # the central directory's uncompressed size of data/0
        raw = bytearray(path.read_bytes())
        at = raw.rindex(b"PK\x01\x02")
        raw[at + 24:at + 28] = struct.pack("<I", declared)
        path.write_bytes(bytes(raw))


@pytest.mark.hostile
def test_a_torchscript_file_gets_no_more_memory_than_it_holds(tmp_path):
    # the weights reader is the checkpoints' bounded unpickler (a memo index far beyond the file
    # allocates nothing) and reads each entry by the size it declares, within the file's limit
    import struct
    import tracemalloc

    from livegan.projection.vgg16 import read_weights

    ok = tmp_path / "ok.pt"
    torchscript_like(ok, struct.pack("<4f", 1, 2, 3, 4))
    assert read_weights(ok)["w"].tolist() == [1, 2, 3, 4]
    cases = {"memo": (b"\0" * 16, None, b"\x80\x02N" + b"r" + struct.pack("<I", 2 ** 26) + b"h\x07."),
             "declares 4 GiB": (b"\0" * 16, 0xFFFFFFF0, None),
             "inflates past its size": (b"\0" * (8 << 20), 16, None)}
    for what, (entry, declared, pkl) in cases.items():
        p = tmp_path / f"{what}.pt"
        torchscript_like(p, entry, declared, pkl)
        tracemalloc.start()
        try:
            with pytest.raises(ValueError) as e:
                read_weights(p)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert str(e.value).startswith(str(p)) and "\n" not in str(e.value), what
        assert peak < 24 << 20, f"{what}: {peak / 2 ** 20:.0f} MiB"


def test_the_files_own_discriminator_is_the_distance(tmp_path, sg2, capsys):
    """An official-layout pickle with D: `--perceptual auto` uses D's features (no code from the
    file runs) and the projection beats the average picture; D asked of a file without one is a line."""
    import re

    from official_format import write_official_pickle
    from stylegan3 import save_safetensors
    from stylegan3.discriminator import build_discriminator

    from livegan.commands import main
    from livegan.imaging import save_png

    torch.manual_seed(0)
    D = build_discriminator({"c_dim": 0, "img_resolution": 32, "img_channels": 3, "channel_base": 1024,
                             "channel_max": 64}).eval()
    write_official_pickle(sg2, tmp_path / "net.pkl", D=D)
    save_png(tmp_path / "t.png", own_picture(sg2, 9))
    assert main(["project", str(tmp_path / "t.png"), "-n", str(tmp_path / "net.pkl"), "--out", str(tmp_path / "w.npy"),
                 "--steps", "100", "--store", "", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    got, floor = map(float, re.findall(r"PSNR ([\d.]+) dB \(the average picture: ([\d.]+) dB", out)[0])
    assert "discriminator features" in out and got > floor + 5, out
    save_safetensors(sg2, tmp_path / "net.safetensors")
    assert main(["project", str(tmp_path / "t.png"), "-n", str(tmp_path / "net.safetensors"), "--out",
                 str(tmp_path / "x.npy"), "--perceptual", "d", "--store", ""]) == 2
    assert "no discriminator in this file" in capsys.readouterr().err
