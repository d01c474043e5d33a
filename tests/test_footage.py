"""Video and sound files from outside, one rule for every reader: a damaged file is one line naming
it, wherever it comes in (a condition video live or replayed, a dataset's clip, a rehearsal's
sound file), never PyAV's own EOFError, OSError or IndexError; a stream declaring frames beyond the
pixel limit is refused before a frame is decoded; a sound file is decoded no longer than its limit."""
from __future__ import annotations

import random
from pathlib import Path

import av
import numpy as np
import pytest

from livegan.audio.input import RATE, decode_file
from livegan.conditions.sources import VideoSource, frame_of_video
from livegan.footage import open_video
from livegan.training.dataset import Source

pytestmark = pytest.mark.hostile


def write_video(path, fmt: str, codec: str, pix: str = "yuv420p", n: int = 6) -> bytes:
    rng = np.random.default_rng(1)
    with av.open(str(path), "w", format=fmt) as c:
        s = c.add_stream(codec, rate=10)
        s.width, s.height, s.pix_fmt = 32, 24, pix
        for _ in range(n):
            f = av.VideoFrame.from_ndarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8), format="rgb24")
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path.read_bytes()


def write_sound(path, fmt: str, codec: str, seconds: float = 0.5) -> bytes:
    with av.open(str(path), "w", format=fmt) as c:
        s = c.add_stream(codec, rate=RATE)
        size, t = s.codec_context.frame_size or 1024, 0
        while t < seconds * RATE:
            f = av.AudioFrame.from_ndarray((np.random.rand(1, size) * 0.1).astype(np.float32), format="flt",
                                           layout="mono")
            f.sample_rate, f.pts = RATE, t
            for p in s.encode(f):
                c.mux(p)
            t += size
        for p in s.encode():
            c.mux(p)
    return path.read_bytes()


def mutants(seeds: list[tuple[str, bytes]], n: int, seed: int):
    rng = random.Random(seed)
    for _ in range(n):
        name, data = rng.choice(seeds)
        b = bytearray(data)
        for _ in range(rng.choice([1, 4, 16, 64])):
            p = rng.randrange(len(b))
            r = rng.random()
            if r < 0.7:
                b[p] = rng.randrange(256)
            elif r < 0.9:
                del b[p:p + rng.randrange(1, 64)]
            else:
                del b[p:]
            if not b:
                break
        yield name, bytes(b)


def test_every_damaged_video_is_one_line_for_every_reader(tmp_path):
    # 40 of 600 fuzzed videos escaped the replay's frame reader as EOFError, OSError, IndexError
    # or FFmpeg's 'patches welcome', and one the dataset tool as AttributeError
    seeds = [(".mp4", write_video(tmp_path / "a.mp4", "mp4", "libx264")),
             (".mkv", write_video(tmp_path / "a.mkv", "matroska", "mpeg4")),
             (".webm", write_video(tmp_path / "a.webm", "webm", "libvpx")),
             (".gif", write_video(tmp_path / "a.gif", "gif", "gif", "rgb8"))]
    readers = {"live": lambda p: VideoSource(str(p), (16, 16)), "replay": lambda p: frame_of_video(str(p), 3, (16, 16))}
    for i, (ext, data) in enumerate(mutants(seeds, 120, seed=2)):
        p = tmp_path / f"m{i}{ext}"
        p.write_bytes(data)
        for what, read in readers.items():
            try:
                read(p)
            except ValueError as e:
                assert str(p) in str(e) and "\n" not in str(e), f"{what} {p.name}: {e}"
        for name, item in Source([str(p)], 1.0).items():      # a skip reason, or a picture
            assert isinstance(item, (str, Path)) or hasattr(item, "read"), (name, item)
        p.unlink()


def test_a_condition_video_declaring_huge_frames_is_refused_before_decoding(tmp_path):
    big = tmp_path / "big.mkv"
    with av.open(str(big), "w") as c:                   # 8200 x 8200 declared, in a few hundred kB
        s = c.add_stream("libx264", rate=1)
        s.width = s.height = 8200
        s.pix_fmt, s.options = "yuv420p", {"preset": "ultrafast"}
        f = av.VideoFrame(8200, 8200, "yuv420p")
        for plane in f.planes:
            plane.update(bytes(plane.buffer_size))
        for p in list(s.encode(f)) + list(s.encode()):
            c.mux(p)
    for read in (lambda: VideoSource(str(big), (16, 16)), lambda: frame_of_video(str(big), 0, (16, 16))):
        with pytest.raises(ValueError, match=r"8200x8200 frames are too large \(at most 64 megapixels\)"):
            read()
    with pytest.raises(ValueError, match="too large"):
        with open_video(big, "big", max_pixels=1000):
            pass


def test_every_damaged_sound_file_is_one_line(tmp_path):
    seeds = [(".wav", write_sound(tmp_path / "a.wav", "wav", "pcm_s16le")),
             (".flac", write_sound(tmp_path / "a.flac", "flac", "flac")),
             (".mp3", write_sound(tmp_path / "a.mp3", "mp3", "libmp3lame"))]
    for i, (ext, data) in enumerate(mutants(seeds, 120, seed=3)):
        p = tmp_path / f"m{i}{ext}"
        p.write_bytes(data)
        try:
            got = decode_file(str(p))
        except ValueError as e:
            assert str(e).startswith(f"--audio-file {p}: ") and "\n" not in str(e), str(e)
        else:
            assert got.dtype == np.float32 and got.ndim == 1


def test_a_sound_file_longer_than_the_limit_is_refused(tmp_path):
    p = tmp_path / "long.flac"
    write_sound(p, "flac", "flac", seconds=3.0)
    assert decode_file(str(p), max_seconds=4.0).size == pytest.approx(3 * RATE, rel=0.05)
    with pytest.raises(ValueError, match=r"long.flac: longer than 1 s$"):
        decode_file(str(p), max_seconds=1.0)
