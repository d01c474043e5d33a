"""`livegan dataset SRC... --out DATA --res N`: folders, zips and videos into a training set in the
format the official `dataset_tool.py` writes and the official trainer reads (a zip or a folder of
`NNNNN/imgNNNNNNNN.png`, square, power-of-two sized, RGB; `dataset.json` with labels or null).

Pictures are converted (greyscale, RGBA over black, 16-bit, CMYK, palette; EXIF rotation applied),
cropped (`center`), stretched or padded to a square; corrupt, tiny, huge and non-image files are
skipped and counted by reason.  Every step is sized before it runs, from what its input declares: a
picture by its header, a video stream by its codec parameters (and the decoder capped), a zip entry
read with a bound, the memory a conversion will make checked before it is made; links that lead
out of a source folder are not followed; labels are checked before they are written."""
from __future__ import annotations

import io
import json
import math
import os
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional, Sequence

from ..safeio import read_zip_entry

IMAGE_EXT = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"}
VIDEO_EXT = {".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v"}
CROPS = ("center", "stretch", "pad")
MAX_FILE_BYTES = 256 << 20              # one source picture
MAX_PIXELS = 64_000_000                 # declared size, checked before decoding
MAX_WORK_BYTES = 1 << 30                # what the conversion of one picture may hold at once
MAX_LABEL_LEN = 4096                    # a label vector's length (the official labels: an int or floats)
_BAND_BYTES = {"1": 1, "L": 1, "P": 1, "RGB": 3, "RGBA": 4, "CMYK": 4, "YCbCr": 3, "LAB": 3, "HSV": 3,
               "LA": 2, "PA": 2, "La": 2, "RGBa": 4, "RGBX": 4, "I;16": 2, "I;16B": 2, "I;16L": 2, "I": 4, "F": 4}


@dataclass
class Report:
    written: int = 0
    skipped: Counter = field(default_factory=Counter)      # reason -> count
    labels: int = 0

    def line(self) -> str:
        why = ", ".join(f"{n} {k}" for k, n in self.skipped.most_common())
        return f"{self.written} images" + (f"; skipped {sum(self.skipped.values())} ({why})" if self.skipped else "")


def check_resolution(res: int) -> int:
    if res < 4 or res > 4096 or res & (res - 1):
        raise ValueError(f"--res {res}: a network's resolution is a power of two, 4..4096")
    return res


def work_bytes(w: int, h: int, mode: str) -> int:
    """The most memory converting a w x h picture of this mode holds at once: the decoded pixels,
    their 8-bit RGB(A) copies and the crop (which is never larger than the picture); the square
    is made at its final size, so nothing grows with the padding or the aspect."""
    px = w * h
    decoded = px * _BAND_BYTES.get(mode, 8)
    return decoded + px * 4 + px * 3 + (px if mode.startswith("I") else 0)


def _square(im, res: int, crop: str):
    """PIL image -> res x res RGB, as `crop` says.  `pad` scales the picture into the square and
    pads at the final size: padding first would make a max(w, h)^2 canvas (64000 x 64000 for a
    panorama)."""
    from PIL import Image

    w, h = im.size
    if crop == "center":
        s = min(w, h)
        im = im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
    elif crop == "pad":
        s = max(w, h)
        inner = (max(1, round(w * res / s)), max(1, round(h * res / s)))
        canvas = Image.new("RGB", (res, res))
        canvas.paste(im.resize(inner, Image.LANCZOS), ((res - inner[0]) // 2, (res - inner[1]) // 2))
        return canvas
    return im.resize((res, res), Image.LANCZOS)


class Source:
    """The pictures of SRC arguments, in a stable order, each as (name, opener) or a skip reason."""

    def __init__(self, paths: Sequence[str], video_fps: float):
        self.paths, self.video_fps = [Path(p) for p in paths], video_fps

    def items(self) -> Iterator[tuple[str, object]]:
        for p in self.paths:
            if not p.exists():
                raise ValueError(f"{p}: no such file or folder")
            if p.is_dir():
                for f, inside in _walk(p):
                    if inside:
                        yield from self._file(f, str(f.relative_to(p)))
                    else:
                        yield str(f.relative_to(p)), "link out of the folder"
            else:
                yield from self._file(p, p.name)

    def _file(self, f: Path, name: str) -> Iterator[tuple[str, object]]:
        ext = f.suffix.lower()
        if f.name == "dataset.json" or f.name.startswith("."):
            return
        if ext == ".zip":
            yield from self._zip(f)
        elif ext in VIDEO_EXT:
            yield from self._video(f, name)
        elif ext in IMAGE_EXT:
            yield name, f
        else:
            yield name, "not an image"

    def _zip(self, f: Path) -> Iterator[tuple[str, object]]:
        try:
            z = zipfile.ZipFile(f)
        except (zipfile.BadZipFile, OSError):
            yield f.name, "unreadable archive"
            return
        with z:
            for info in sorted(z.infolist(), key=lambda i: i.filename):
                if info.is_dir() or Path(info.filename).name.startswith("."):
                    continue
                if Path(info.filename).suffix.lower() not in IMAGE_EXT:
                    if Path(info.filename).name != "dataset.json":
                        yield info.filename, "not an image"
                    continue
                if info.file_size > MAX_FILE_BYTES:
                    yield info.filename, "too large"
                    continue
                try:
                    data = read_zip_entry(z, info, MAX_FILE_BYTES)
                except (zipfile.BadZipFile, OSError, RuntimeError, ValueError, EOFError):
                    yield info.filename, "corrupt"
                    continue
                yield info.filename, io.BytesIO(data)

    def _video(self, f: Path, name: str) -> Iterator[tuple[str, object]]:
        from PIL import Image

        from ..footage import decoded, open_video, rgb

        k, opened = 0, False
        try:
            with open_video(f, name, MAX_PIXELS) as (c, stream):
                opened, next_t = True, 0.0
                for frame in decoded(c, stream, name):
                    t = float(frame.time or 0.0)
                    if t + 1e-6 < next_t:
                        continue
                    next_t = t + 1.0 / self.video_fps
                    buf = io.BytesIO()
                    Image.fromarray(rgb(frame, name)).save(buf, format="PNG")
                    buf.seek(0)
                    yield f"{name}#{k:06d}", buf
                    k += 1
        except ValueError as e:
            if opened:
                yield f"{name}#{k:06d}", "corrupt video frame"
            else:
                yield name, ("no video stream" if "no video stream" in str(e) else
                             "too large" if "too large" in str(e) else "unreadable video")


def _walk(root: Path) -> Iterator[tuple[Path, bool]]:
    """Every file under root in a stable order, and whether it really lies inside root.  Linked
    folders are not entered (one inside root is reached directly; one outside is reported), and a
    linked file counts only where its target is inside root."""
    base, found = root.resolve(), []
    for folder, dirs, files in os.walk(root, followlinks=False):
        here = Path(folder)
        for d in [d for d in dirs if (here / d).is_symlink()]:
            dirs.remove(d)
            if not (here / d).resolve().is_relative_to(base):
                found.append((here / d, False))
        for name in files:
            f = here / name
            if f.is_symlink() and not f.resolve().is_relative_to(base):
                found.append((f, False))
            elif f.is_file():
                found.append((f, True))
    return iter(sorted(found))                      # by path, whatever the folder structure


def check_label(f: Path, name: str, v):
    """The official labels: a class index (int) or a vector of finite numbers."""
    if isinstance(v, bool):
        v = int(v)
    if isinstance(v, int) and 0 <= v < 1 << 31:
        return v
    if isinstance(v, float) and v.is_integer() and 0 <= v < 1 << 31:
        return int(v)
    if isinstance(v, list) and 0 < len(v) <= MAX_LABEL_LEN and \
            all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in v):
        return [float(x) for x in v]
    raise ValueError(f"{f}: label of {name[:80]!r} is {str(v)[:40]}: a label is a class index 0..2**31-1 "
                     f"or a list of up to {MAX_LABEL_LEN} finite numbers")


def _labels(paths: Sequence[str]) -> Optional[dict]:
    """Labels of the official dataset.json beside the source, by file name, each checked."""
    for p in map(Path, paths):
        f = p / "dataset.json" if p.is_dir() else None
        if f is not None and f.is_file():
            if f.stat().st_size > MAX_FILE_BYTES:
                raise ValueError(f"{f}: larger than {MAX_FILE_BYTES >> 20} MB; not a dataset.json")
            try:
                data = json.loads(f.read_text())
                pairs = [(str(k), v) for k, v in (data.get("labels") or [])]
            except (ValueError, AttributeError, TypeError):
                raise ValueError(f"{f}: not a dataset.json (expected {{\"labels\": [[name, label], ...]}})") from None
            return {k: check_label(f, k, v) for k, v in pairs}
    return None


class Writer:
    """A zip (name ends .zip) or a folder, with the official layout; replaced only when complete."""

    def __init__(self, out: Path):
        self.out = out
        self.zip = out.suffix.lower() == ".zip"
        if out.exists():
            raise ValueError(f"{out}: exists; give a new --out (a dataset is never written over)")
        self.tmp = out.with_name(f".{out.name}.partial")
        if self.zip:
            self.tmp.unlink(missing_ok=True)
            self._z = zipfile.ZipFile(self.tmp, "w", compression=zipfile.ZIP_STORED)
        else:
            import shutil
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp.mkdir(parents=True)

    def put(self, name: str, data: bytes) -> None:
        if self.zip:
            self._z.writestr(name, data)
        else:
            f = self.tmp / name
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_bytes(data)

    def finish(self) -> None:
        if self.zip:
            self._z.close()
        os.replace(self.tmp, self.out)

    def abort(self) -> None:
        import shutil
        if self.zip:
            self._z.close()
            self.tmp.unlink(missing_ok=True)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


def make_dataset(sources: Sequence[str], out: str | os.PathLike, res: int, crop: str = "center",
                 mirror: bool = False, video_fps: float = 1.0, min_size: int = 16,
                 progress: bool = True) -> Report:
    from PIL import Image

    from ..pictures import decode, open_image

    check_resolution(res)
    if crop not in CROPS:
        raise ValueError(f"--crop {crop!r}: one of {', '.join(CROPS)}")
    if not 0 < video_fps <= 120:
        raise ValueError(f"--video-fps {video_fps}: 0..120 frames a second")
    labels = _labels(sources)
    writer = Writer(Path(out))
    report, written_labels = Report(), []
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(unit="img", desc="dataset")
    try:
        for name, what in Source(sources, video_fps).items():
            if bar is not None:
                bar.update(1)
            if isinstance(what, str):
                report.skipped[what] += 1
                continue
            try:
                if isinstance(what, Path) and what.stat().st_size > MAX_FILE_BYTES:
                    report.skipped["too large"] += 1
                    continue
                im = open_image(what, name, max_pixels=MAX_PIXELS)
                with im:
                    if min(im.size) < min_size:
                        report.skipped["too small"] += 1
                        continue
                    if work_bytes(im.width, im.height, im.mode) > MAX_WORK_BYTES:
                        report.skipped["too large"] += 1          # what converting it would make
                        continue
                    pic = _square(decode(im, name), res, crop)
            except ValueError as e:
                report.skipped["too large" if "too large" in str(e) or "more pixels" in str(e) else "corrupt"] += 1
                continue
            except OSError:                                   # the file went away while we read it
                report.skipped["corrupt"] += 1
                continue
            for flip in (False, True) if mirror else (False,):
                p = pic.transpose(Image.FLIP_LEFT_RIGHT) if flip else pic
                idx = report.written
                arc = f"{idx // 1000:05d}/img{idx:08d}.png"
                buf = io.BytesIO()
                p.save(buf, format="PNG", compress_level=1)
                writer.put(arc, buf.getvalue())
                if labels is not None:
                    key = name.replace(os.sep, "/")
                    if key in labels:
                        written_labels.append([arc, labels[key]])
                report.written += 1
        if report.written == 0:
            raise ValueError(f"no usable image in {', '.join(map(str, sources))}" +
                             (f" ({report.line().split('; ', 1)[1]})" if report.skipped else ""))
        report.labels = len(written_labels)
        writer.put("dataset.json", json.dumps({"labels": written_labels if labels is not None else None},
                                              allow_nan=False).encode())
        writer.finish()
    except BaseException:
        writer.abort()
        raise
    finally:
        if bar is not None:
            bar.close()
    return report
