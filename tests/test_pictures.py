"""Pictures from outside, one rule for every reader: a damaged file of any format is one line
naming it (never Pillow's own exception, never Ghostscript), wherever it comes in: a condition
image, a dropped picture, a dataset's source, a recording's stored frame, the studio's thumbnails;
and every reader turns the same picture into the same 8-bit RGB."""
from __future__ import annotations

import io
import os
import random
import stat

import numpy as np
import pytest
from PIL import Image

from livegan.pictures import FORMATS, read_picture

RNG = np.random.default_rng(5)


def encoded(fmt: str, mode: str = "RGB", size=(40, 30)) -> bytes:
    im = Image.fromarray(RNG.integers(0, 255, (size[1], size[0], 4), dtype=np.uint8), "RGBA").convert(mode)
    buf = io.BytesIO()
    im.save(buf, format=fmt)
    return buf.getvalue()


def damaged() -> dict[str, bytes]:
    """Files that once escaped as OSError, NotImplementedError or SyntaxError, one per way."""
    png, jpeg = encoded("PNG"), encoded("JPEG")
    dds = bytearray(encoded("DDS", "RGBA"))
    dds[80:84] = (8192).to_bytes(4, "little")        # pixel format flags no decoder knows
    return {"truncated png": png[: len(png) // 2], "truncated jpeg": jpeg[: len(jpeg) // 2],
            "truncated tiff": encoded("TIFF")[:300], "truncated bmp": encoded("BMP")[:200],
            "broken gif": encoded("GIF", "P")[:60] + b"\xff" * 40, "dds": bytes(dds),
            "postscript": b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n",
            "empty": b"", "text": b"hello"}


@pytest.mark.hostile
def test_a_damaged_picture_is_one_line_naming_it(tmp_path):
    for what, data in damaged().items():
        with pytest.raises(ValueError) as e:
            read_picture(io.BytesIO(data), f"pic {what}")
        assert str(e.value).startswith(f"pic {what}: ") and "\n" not in str(e.value), what


@pytest.mark.hostile
def test_postscript_never_reaches_ghostscript(tmp_path, monkeypatch):
    # Pillow runs `gs` on anything that looks like PostScript: a picture never needs it
    marker = tmp_path / "ran"
    gs = tmp_path / "bin" / "gs"
    gs.parent.mkdir()
    gs.write_text(f"#!/bin/sh\ntouch {marker}\nexit 1\n")
    gs.chmod(gs.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{gs.parent}{os.pathsep}{os.environ['PATH']}")
    eps = tmp_path / "pic.eps"
    eps.write_bytes(damaged()["postscript"])
    with pytest.raises(ValueError, match="not a readable image"):
        read_picture(eps, "pic.eps")
    assert not marker.exists()


@pytest.mark.hostile
def test_every_mutated_picture_is_a_picture_or_one_line():
    seeds = [encoded(f, m) for f, modes in (("PNG", ("RGB", "RGBA", "L", "P", "I;16")), ("JPEG", ("RGB", "L")),
                                             ("GIF", ("P",)), ("BMP", ("RGB",)), ("TIFF", ("RGB", "L")),
                                             ("WEBP", ("RGB",)), ("PPM", ("RGB",)), ("TGA", ("RGB",)))
             for m in modes]
    rng, pictures = random.Random(7), 0
    for i in range(600):
        b = bytearray(rng.choice(seeds))
        for _ in range(rng.choice([1, 2, 8])):
            p = rng.randrange(len(b))
            if rng.random() < 0.7:
                b[p] = rng.randrange(256)
            else:
                del b[p:p + rng.randrange(1, 32)]
        try:
            im = read_picture(io.BytesIO(bytes(b)), "pic")
        except ValueError as e:
            assert str(e).startswith("pic: ") and "\n" not in str(e), f"mutant {i}: {e}"
            continue
        pictures += 1
        assert im.mode == "RGB" and im.size[0] * im.size[1] > 0
    assert pictures > 0


def sixteen_bit_png(path) -> np.ndarray:
    """A 16-bit grey PNG whose 8-bit picture is a ramp; the ramp it must give."""
    ramp = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (16, 1))
    Image.fromarray(ramp).save(path)                 # mode I;16
    return np.clip(ramp / 65535 * 255 + 0.5, 0, 255).astype(np.uint8)


def test_every_reader_turns_a_picture_into_the_same_rgb(tmp_path):
    # a 16-bit picture was scaled by the dataset tool and clipped to white by the others
    from livegan.conditions.sources import read_image
    from livegan.gallery.thumbs import thumbnail

    want = sixteen_bit_png(tmp_path / "deep.png")
    got = np.asarray(read_picture(tmp_path / "deep.png", "deep"))
    assert got.shape == (16, 64, 3) and np.array_equal(got[..., 1], want)
    assert np.array_equal(read_image(tmp_path / "deep.png", (64, 16))[..., 0], want)
    thumb = np.asarray(Image.open(thumbnail(tmp_path / "deep.png")).convert("L"), np.int16)
    assert np.abs(thumb - want.astype(np.int16)).max() <= 8          # JPEG's own loss


@pytest.mark.hostile
def test_each_way_in_answers_a_damaged_picture_in_one_line(tmp_path):
    from livegan.conditions.sources import read_image
    from livegan.gallery.thumbs import thumbnail
    from livegan.projection.jobs import Projector
    from livegan.training.dataset import make_dataset

    src = tmp_path / "src"
    src.mkdir()
    Image.fromarray(RNG.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(src / "good.png")
    bad = {"truncated.png": damaged()["truncated png"], "truncated.jpg": damaged()["truncated jpeg"],
           "truncated.tif": damaged()["truncated tiff"], "broken.gif": damaged()["broken gif"]}
    for name, data in bad.items():
        (src / name).write_bytes(data)
        for read in (lambda p: read_image(p, (32, 32)), thumbnail):
            with pytest.raises(ValueError) as e:
                read(src / name)
            assert name in str(e.value) and "\n" not in str(e.value)
        with pytest.raises(ValueError, match="the dropped picture: not a readable image"):
            Projector(tmp_path / "store", "builtin:tiny").submit(data, 10)
    report = make_dataset([str(src)], tmp_path / "set.zip", 32, progress=False)
    assert report.written == 1 and report.skipped["corrupt"] == len(bad)


@pytest.mark.hostile
def test_a_recordings_damaged_picture_is_a_recording_error(tmp_path):
    from livegan.offline.replay import _picture
    from livegan.record.log import RecordingError

    (tmp_path / "p1.png").write_bytes(damaged()["truncated png"])
    with pytest.raises(RecordingError, match="recorded picture p1.png: not a readable image"):
        _picture({}, 1, {"pictures": {1: "p1.png"}}, tmp_path, None)


def test_the_formats_are_those_pictures_come_in():
    assert {"PNG", "JPEG", "WEBP", "GIF", "TIFF"} <= set(FORMATS) and "EPS" not in FORMATS


@pytest.mark.hostile
def test_dropped_pictures_are_decoded_one_at_a_time_and_a_full_queue_decodes_nothing(tmp_path, monkeypatch):
    # each request decoded its picture at once (about 700 MB for 64 megapixels made RGB), and a
    # request to a full queue was decoded before it was refused
    import threading

    import livegan.pictures as pictures
    from livegan.projection import jobs

    real, inside, most = pictures.read_picture, [0], [0]
    first_in, second_called = threading.Event(), threading.Event()

    def watched(*a, **k):
        inside[0] += 1
        most[0] = max(most[0], inside[0])
        first_in.set()
        if inside[0] == 1 and not second_called.wait(10):
            raise AssertionError("the second request never came")
        second_called.wait(10)
        deadline = threading.Event()
        deadline.wait(1.0 if most[0] == 1 else 0)          # room for a second decode to overlap, if it may
        try:
            return real(*a, **k)
        finally:
            inside[0] -= 1
    monkeypatch.setattr(pictures, "read_picture", watched)
    monkeypatch.setattr(jobs.Projector, "_work", lambda self: None)       # no projection runs here
    p = jobs.Projector(tmp_path, "builtin:tiny")
    data = encoded("PNG")
    a = threading.Thread(target=p.submit, args=(data, 1))
    a.start()
    assert first_in.wait(10)
    b = threading.Thread(target=lambda: (second_called.set(), p.submit(data, 1)))
    b.start()
    a.join(30)
    b.join(30)
    assert most[0] == 1 and len(p._queue) == 2
    monkeypatch.setattr(pictures, "read_picture", lambda *a, **k: pytest.fail("a full queue decoded a picture"))
    p._queue.extend([(0, b"", 1)] * (jobs.MAX_QUEUE - 2))
    with pytest.raises(jobs.QueueFull):
        p.submit(damaged()["truncated png"], 1)
