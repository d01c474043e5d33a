"""`livegan dataset` sizes each step by what its input declares, before the work: a panorama padded
to a square never becomes a max(w, h)^2 canvas, a video stream larger than the limit is refused by
its codec parameters before a frame is decoded, a zip entry is inflated no further than it
declares, links never lead out of a source folder, and labels are checked before they are written.
Peak memory is read from the process that did the work: its own VmHWM (ru_maxrss would carry the
test process's peak across the exec)."""
from __future__ import annotations

import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT

pytestmark = pytest.mark.hostile

# Runs make_dataset in a fresh process and prints its report and its peak resident memory (MB).
DATASET = """
import json, sys
from livegan.training.dataset import make_dataset
rep = make_dataset(sys.argv[2:], sys.argv[1], 32, crop="pad", progress=False)
hwm = next(int(ln.split()[1]) for ln in open("/proc/self/status") if ln.startswith("VmHWM:"))
print(json.dumps({"written": rep.written, "skipped": dict(rep.skipped), "peak_mb": hwm / 1024}))
"""


def dataset(out, *sources) -> dict:
    r = subprocess.run([sys.executable, "-c", DATASET, str(out), *map(str, sources)], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def good(folder, n=3):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        a = np.zeros((40, 40, 3), np.uint8)
        a[..., i % 3] = 200
        Image.fromarray(a).save(folder / f"good{i}.png")
    return folder


def test_a_panorama_padded_to_a_square_is_made_at_its_final_size(tmp_path):
    src = good(tmp_path / "src")
    pano = Image.new("1", (64000, 1000), 1)                  # at the pixel limit, a few KB as a PNG
    pano.save(src / "pano.png")
    assert (src / "pano.png").stat().st_size < 200_000
    rep = dataset(tmp_path / "ds.zip", src)
    assert rep["written"] == 4 and rep["skipped"] == {}, rep          # nothing lost with it
    with zipfile.ZipFile(tmp_path / "ds.zip") as z:
        names = sorted(n for n in z.namelist() if n.endswith(".png"))
        im = np.asarray(Image.open(z.open(names[3])).convert("L"), float)   # good0..2, then pano
    assert im.shape == (32, 32)
    rows = im.mean(axis=1)
    assert rows[15:17].max() > 100 and rows[:12].max() < 5 and rows[20:].max() < 5   # a white band in black
    # 64000 x 64000 RGB would be 12 GB; the picture itself (1 bit -> RGB) is 192 MB.
    assert rep["peak_mb"] < 1500, rep


def test_a_video_larger_than_the_limit_is_refused_before_a_frame_is_decoded(tmp_path):
    big = tmp_path / "big.mkv"
    make = ("import av, sys\n"
            "with av.open(sys.argv[1], 'w') as c:\n"
            "    s = c.add_stream('libx264', rate=1); s.width = s.height = 8200; s.pix_fmt = 'yuv420p'\n"
            "    s.options = {'preset': 'ultrafast'}\n"
            "    f = av.VideoFrame(8200, 8200, 'yuv420p')\n"
            "    [p.update(bytes(p.buffer_size)) for p in f.planes]\n"
            "    [c.mux(p) for p in s.encode(f)]; [c.mux(p) for p in s.encode()]\n")
    subprocess.run([sys.executable, "-c", make, str(big)], check=True, timeout=120)
    assert big.stat().st_size < 400_000                      # 67 megapixels declared in a few hundred KB
    src = good(tmp_path / "src")
    rep = dataset(tmp_path / "ds.zip", src, big)
    assert rep["written"] == 3 and rep["skipped"] == {"too large": 1}, rep
    # Decoding it would hold 67 M pixels as YUV (100 MB) and RGB (200 MB) at least.
    assert rep["peak_mb"] < 250, rep


def test_a_zip_entry_is_inflated_no_further_than_it_declares(tmp_path):
    bomb = tmp_path / "pics.zip"
    buf = Image.new("RGB", (40, 40), (200, 0, 0))
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as z:
        with z.open("a.png", "w") as f:
            buf.save(f, format="PNG")
        z.writestr("b.png", b"\0" * (256 << 20))              # 256 MB of zeros, about 250 KB deflated
    data = bytearray(bomb.read_bytes())
    with zipfile.ZipFile(bomb) as z:
        info = z.getinfo("b.png")
    # The entry declares 1 KB: its local header (size at +22) and its central record (+24).
    data[info.header_offset + 22: info.header_offset + 26] = (1024).to_bytes(4, "little")
    cd = data.find(b"PK\x01\x02")
    while cd >= 0:
        name_len = int.from_bytes(data[cd + 28: cd + 30], "little")
        if data[cd + 46: cd + 46 + name_len] == b"b.png":
            data[cd + 24: cd + 28] = (1024).to_bytes(4, "little")
        cd = data.find(b"PK\x01\x02", cd + 4)
    bomb.write_bytes(bytes(data))
    with zipfile.ZipFile(bomb) as z:
        assert z.getinfo("b.png").file_size == 1024
    rep = dataset(tmp_path / "ds.zip", bomb)
    assert rep["written"] == 1 and rep["skipped"] == {"corrupt": 1}, rep
    assert rep["peak_mb"] < 200, rep                          # inflated whole it would be 256 MB more


def test_links_out_of_a_source_folder_are_not_followed(tmp_path):
    outside = good(tmp_path / "outside", n=2)
    src = good(tmp_path / "src")
    (src / "secret.png").symlink_to(outside / "good0.png")
    (src / "elsewhere").symlink_to(outside)
    (src / "again.png").symlink_to(src / "good1.png")        # inside the folder: a picture like any
    rep = dataset(tmp_path / "ds.zip", src)
    assert rep["written"] == 4 and rep["skipped"] == {"link out of the folder": 2}, rep


@pytest.mark.parametrize("label", ["1e999", "-3", "\"cat\"", "[1, NaN]", "long_vector"])
def test_labels_are_checked_before_they_are_written(tmp_path, label):
    src = good(tmp_path / "src")
    text = {"long_vector": "[[" + ", ".join(["1"] * 5000) + "]]"}.get(label, label)
    (src / "dataset.json").write_text('{"labels": [["good0.png", %s], ["good1.png", 1], ["good2.png", 2]]}' % text)
    r = subprocess.run([sys.executable, "-m", "livegan", "dataset", str(src), "--out", str(tmp_path / "ds.zip"),
                        "--res", "32", "--quiet"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "dataset.json" in r.stderr and "good0.png" in r.stderr and "label" in r.stderr
    assert not (tmp_path / "ds.zip").exists()
    (src / "dataset.json").write_text('{"labels": [["good0.png", 0], ["good1.png", [0.5, 1]], ["good2.png", 2]]}')
    r = subprocess.run([sys.executable, "-m", "livegan", "dataset", str(src), "--out", str(tmp_path / "ok.zip"),
                        "--res", "32", "--quiet"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    with zipfile.ZipFile(tmp_path / "ok.zip") as z:
        labels = dict(json.loads(z.read("dataset.json"))["labels"])
    assert sorted(labels.values(), key=str) == sorted([0, [0.5, 1.0], 2], key=str)
