"""The control log of a session recording: its format, writing it line by line, reading it back
(and the effect chain's carried state beside it).  The recorder (recorder.py) writes it; the
replay (offline/replay.py) reads it.

The control log is JSON lines: a header with everything the show's state depends on (network
identity, preset, parameter targets and smoothed values, transport, tempo, frame rate), then one
line per applied command with its frame number, then an end line.  Each line is flushed as it is
written (and fsync'ed about once a second), so after a kill the log is valid up to its last complete
line.  The video is fragmented MP4: it decodes up to its last one-second fragment.

Because the timeline is frame-locked, replaying the log with a fixed-step clock reproduces every
frame's ws exactly (offline/replay.py).  What happened at a frame is logged as what it did there: a preset
switch as the preset itself (apply_preset), a network switch when the new network took over
(apply_network), a tap as the tempo it set.
"""
from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Optional, Union

import numpy as np

from .. import triggers
from ..boundary import json_text
from ..params import Command
from ..presets import PresetError, preset_from, preset_json
from ..store import network_identity

LOG_NAME, VIDEO_NAME = "control.jsonl", "session.mp4"
LOG_VERSION = 1


CARRIED_NAME = "carried.npz"


class RecordingError(RuntimeError):
    pass


def save_carried(path: Path, state: dict) -> None:
    """The renderer's carried state (display.Renderer.carried_state) as one .npz, atomically."""
    from ..safeio import atomic_write

    arrays, meta = {}, {}
    for key, value in state.items():
        items = value if isinstance(value, list) else [value]
        specs = []
        for i, t in enumerate(items):
            if isinstance(t, dict):
                arrays[f"{key}{i}"] = t["data"]
                specs.append({k: v for k, v in t.items() if k != "data"})
            else:
                specs.append(t)
        meta[key] = specs if isinstance(value, list) else specs[0]
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    try:
        atomic_write(path, lambda f: np.savez_compressed(f, **arrays))
    except OSError as e:
        raise RecordingError(f"{path.name}: {e.strerror or e}") from None


def load_carried(path: Path) -> dict:
    """The state `save_carried` wrote (textures as dicts with their raw bytes), checked by its
    declared sizes before anything is inflated (a log's folder is data from outside)."""
    from ..safeio import load_npz, read_regular

    z = load_npz(read_regular(path, 1 << 30, "carried state"), 1 << 30, Path(path).name)
    meta = json.loads(bytes(z["meta"]).decode())
    out = {}
    for key, spec in meta.items():
        specs = spec if isinstance(spec, list) else [spec]
        vals = [dict(sp, data=z[f"{key}{i}"]) if isinstance(sp, dict) else sp for i, sp in enumerate(specs)]
        out[key] = vals if isinstance(spec, list) else vals[0]
    return out


def show_state(show) -> dict:
    """Everything the next frame depends on."""
    return {"type": "header", "version": LOG_VERSION, "fps": show.opts.fps, "network": show.network,
            "network_id": network_identity(show.network), "preset": preset_json(show.preset),
            "target": dict(show.registry.target), "value": dict(show.registry.value),
            "transport": show.transport.state(), "canvas": show.opts.canvas, "created": time.time(),
            "slots": show.knobs.header(), "netmix": show.netmix.state(), "bends": show.bends.header(),
            "mirror": show.mirror.header(show.tick_index),
            # A show's very first tick does not advance its timeline; a recording started before it
            # (--record) must replay that too.
            "started": show._last_now is not None}


def command_json(frame: int, c: Command) -> dict:
    v = c.value
    if isinstance(v, (np.integer, np.floating)):
        v = v.item()
    return {"frame": frame, "op": c.op, "name": c.name, "value": v, "source": c.source}


def command_line(frame: int, c: Command) -> str:
    """The control log's line for a command, made where the command is applied: a value the log
    cannot hold (bytes, a tuple of objects) raises ValueError there, so the command is refused
    and the replay stays exact, instead of failing later on the recorder's thread."""
    try:
        return json.dumps(command_json(frame, c), separators=(",", ":"))
    except (TypeError, ValueError, RecursionError) as e:
        raise ValueError(f"not applied: the recording cannot keep its value ({str(e)[:80]})") from None


class ControlLog:
    """Append-only JSON-lines writer; raises RecordingError on any write problem (disk full...)."""

    def __init__(self, path: Path, header: dict):
        self.path = Path(path)
        try:
            self.f = open(self.path, "x", encoding="utf-8")
        except OSError as e:
            raise RecordingError(f"control log {self.path}: {e.strerror}") from None
        self._synced = 0.0
        self.lines = 0
        self.write(header, sync=True)

    def write(self, obj: Union[dict, str], sync: bool = False) -> None:
        """One line: a dict, or a line already made (`command_line`)."""
        try:
            self.f.write((obj if isinstance(obj, str) else json.dumps(obj, separators=(",", ":"))) + "\n")
            self.f.flush()
            now = time.monotonic()
            if sync or now - self._synced > 1.0:
                os.fsync(self.f.fileno())
                self._synced = now
            self.lines += 1
        except (OSError, ValueError, TypeError) as e:
            raise RecordingError(f"control log {self.path.name}: {getattr(e, 'strerror', None) or e}") from None

    def close(self, frames: int) -> None:
        try:
            self.write({"type": "end", "frames": frames}, sync=True)
        finally:
            self.f.close()


MAX_LOG_FRAMES = 100_000_000            # a week at 120 fps
LOGGED_OPS = {"set", "add", "toggle", "trigger", *triggers.LOGGED_OPS}


def _count(v, what: str, path) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= MAX_LOG_FRAMES:
        raise RecordingError(f"{path}: {what} must be a frame count 0..{MAX_LOG_FRAMES}, got {str(v)[:40]!r}")
    return v


def _logged_command(obj: dict, path) -> Command:
    """One logged command, checked like a live one: a known op and name, a finite number (any: the
    show takes any finite value and clamps it, so the log must too, or a recording of a sent
    1e38 or 2**31 could not be rendered)."""
    from ..params import PARAMS

    op, name, value = obj.get("op"), obj.get("name"), obj.get("value")
    if op not in LOGGED_OPS or not isinstance(name, str) or len(name) > 256:
        raise RecordingError(f"{path}: a line with an unknown command {str(op)[:20]!r} {str(name)[:40]!r}")
    if op in ("set", "add"):
        known = {p.name: p for p in PARAMS}
        if name not in known or isinstance(value, bool) or not isinstance(value, (int, float)) or \
                not math.isfinite(value):
            raise RecordingError(f"{path}: {op} {name[:40]} {str(value)[:40]}: not a parameter and a finite number")
    return Command(op, name, value, str(obj.get("source", "log"))[:32])


def _check_header(h: dict, path) -> None:
    import numbers

    fps = h.get("fps")
    if not isinstance(fps, numbers.Real) or not math.isfinite(fps) or not 1 <= fps <= 1000:
        raise RecordingError(f"{path}: fps must be 1..1000, got {str(fps)[:40]!r}")
    for k in ("target", "value"):
        d = h.get(k)
        if not isinstance(d, dict) or not all(isinstance(v, numbers.Real) and math.isfinite(v) and abs(v) < 1e9
                                              for v in d.values()):
            raise RecordingError(f"{path}: header {k} must map parameters to finite numbers")
    if not isinstance(h.get("network"), str) or len(h["network"]) > 4096:
        raise RecordingError(f"{path}: header network must be a string")
    try:
        preset_from(h.get("preset"))
    except PresetError as e:
        raise RecordingError(f"{path}: header preset: {e}") from None


def read_log(path: str | os.PathLike) -> tuple[dict, dict[int, list[Command]], Optional[int]]:
    """(header, commands by frame, frame count or None when the log ends early - e.g. after a
    crash; then header['frames_marked'] is how far it is known to go).  Reads up to the last
    complete, valid line.  What was shown is added to the header: `shown` [(tick, picture's tick,
    dropped)] per presented frame, `pictures` {tick: file} for pictures planned before the
    recording, `carried` (the effect chain's state before the first frame)."""
    from ..safeio import check_regular

    header, cmds, end = None, {}, None
    marked = 0
    shown: list = []
    pictures: dict = {}
    carried = None
    try:
        check_regular(path, 1 << 30, "control log")      # never a FIFO or a device
    except (OSError, ValueError) as e:
        raise RecordingError(str(e)) from None
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.endswith("\n"):
                break                                   # torn last line
            try:
                obj = json_text(line, f"line {n}")
            except json.JSONDecodeError:
                break
            except ValueError as e:                     # a lone surrogate: not text
                raise RecordingError(f"{path}: {e}") from None
            if not isinstance(obj, dict):
                raise RecordingError(f"{path}: line {n}: not a JSON object")
            if header is None:
                if obj.get("type") != "header":
                    raise RecordingError(f"{path}: not a livegan control log (no header)")
                if obj.get("version") != LOG_VERSION:
                    raise RecordingError(f"{path}: control log version {str(obj.get('version'))[:20]} is not supported")
                header = obj
                continue
            try:                                        # a line's fields, whatever their types
                if obj.get("type") == "end":
                    end = _count(obj.get("frames"), "end frames", path)
                    break
                elif obj.get("type") == "mark":
                    marked = _count(obj.get("frames"), "mark", path)
                elif obj.get("type") == "shown":         # one per presented frame, in video order
                    shown.append((int(obj["t"]), int(obj["p"]), bool(obj.get("d"))))
                elif obj.get("type") == "picture":       # planned before the recording: stored
                    pictures[int(obj["p"])] = str(obj["file"])
                elif obj.get("type") == "carried":
                    carried = {"file": str(obj["file"]), "pic": obj.get("pic")}
                else:
                    cmd = _logged_command(obj, path)
                    cmds.setdefault(_count(obj.get("frame"), "frame", path), []).append(cmd)
            except (KeyError, TypeError, ValueError, OverflowError) as e:
                raise RecordingError(f"{path}: line {n}: {type(e).__name__}: {str(e)[:80]}") from None
    if header is None:
        raise RecordingError(f"{path}: empty control log")
    _check_header(header, path)
    # A log is data from outside: its end may not claim more frames than it has lines for.
    known = max([marked, len(shown), max(cmds) + 1 if cmds else 0]) + 2 * int(header["fps"]) + 1
    if end is not None and end > known:
        raise RecordingError(f"{path}: its end line claims {end} frames but it logs at most {known}: not a "
                             "recording livegan wrote")
    header["frames_marked"] = marked
    header["shown"], header["pictures"], header["carried"] = shown, pictures, carried
    return header, cmds, end
