"""Session recording (video + control log, side by side in a walk folder) and exact replay.

The control log is JSON lines: a header with everything the show's state depends on (network
identity, preset, parameter targets and smoothed values, transport, tempo, frame rate), then one
line per applied command with its frame number, then an end line.  Each line is flushed as it is
written (and fsync'ed about once a second), so after a kill the log is valid up to its last complete
line.  The video is fragmented MP4: it decodes up to its last one-second fragment.

Because the timeline is frame-locked, replaying the log with a fixed-step clock reproduces every
frame's ws exactly; `render_log` does that offline, waiting for every frame, at any output size.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from .params import Command
from .presets import Keyframe, Preset
from .store import Store, network_identity

LOG_NAME, VIDEO_NAME = "control.jsonl", "session.mp4"
# Triggers that change the picture are replayed; snapshot/record/learn/hud/fullscreen are not.
# A preset switch is replayed from the preset the log embeds (apply_preset), not by name.
REPLAYED_TRIGGERS = {"keyframe_next", "keyframe_prev", "keyframe_goto", "seed", "tap", "network"}
LOG_VERSION = 1


class RecordingError(RuntimeError):
    pass


# -- preset <-> JSON (the log embeds the preset, so a replay never depends on files changing) -------

def _key_json(k: Optional[Keyframe]) -> Optional[dict]:
    if k is None:
        return None
    if k.seed is not None:
        return {"seed": k.seed}
    return {"w": np.asarray(k.w, np.float32).tolist(), "w_file": k.w_file}


def _key_from(d: Optional[dict]) -> Optional[Keyframe]:
    if d is None:
        return None
    if "seed" in d:
        return Keyframe(seed=int(d["seed"]))
    return Keyframe(w=np.asarray(d["w"], np.float32), w_file=d.get("w_file"))


def preset_json(p: Preset) -> dict:
    return {"name": p.name, "network": p.network, "interpolation": p.interpolation, "easing": p.easing,
            "keyframes": [_key_json(k) for k in p.keyframes], "mix_source": _key_json(p.mix_source),
            "mix_keyframe": p.mix_keyframe, "params": p.params, "path": p.path}


def preset_from(d: dict) -> Preset:
    return Preset(name=d["name"], keyframes=tuple(_key_from(k) for k in d["keyframes"]), network=d["network"],
                  interpolation=d["interpolation"], easing=d["easing"], mix_source=_key_from(d["mix_source"]),
                  mix_keyframe=d["mix_keyframe"], params=d["params"], path=d["path"])


def show_state(show) -> dict:
    """Everything the next frame depends on."""
    return {"type": "header", "version": LOG_VERSION, "fps": show.opts.fps, "network": show.network,
            "network_id": network_identity(show.network), "preset": preset_json(show.preset),
            "target": dict(show.registry.target), "value": dict(show.registry.value),
            "transport": show.transport.state(), "bpm_taps": None, "created": time.time()}


def restore_state(show, header: dict) -> None:
    show.preset = preset_from(header["preset"])
    from .clock import Transport
    show.transport = Transport(len(show.preset.keyframes))
    show.transport.restore(header["transport"])
    show.registry.target.update(header["target"])
    show.registry.value.update(header["value"])
    show._last_now = 0.0                              # the first replayed tick advances by 1/fps


def _cmd_json(frame: int, c: Command) -> dict:
    v = c.value
    if isinstance(v, (np.integer, np.floating)):
        v = v.item()
    return {"frame": frame, "op": c.op, "name": c.name, "value": v, "source": c.source}


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

    def write(self, obj: dict, sync: bool = False) -> None:
        try:
            self.f.write(json.dumps(obj, separators=(",", ":")) + "\n")
            self.f.flush()
            now = time.monotonic()
            if sync or now - self._synced > 1.0:
                os.fsync(self.f.fileno())
                self._synced = now
            self.lines += 1
        except (OSError, ValueError) as e:
            raise RecordingError(f"control log {self.path.name}: {getattr(e, 'strerror', None) or e}") from None

    def close(self, frames: int) -> None:
        try:
            self.write({"type": "end", "frames": frames}, sync=True)
        finally:
            self.f.close()


def read_log(path: str | os.PathLike) -> tuple[dict, dict[int, list[Command]], Optional[int]]:
    """(header, commands by frame, frame count or None when the log ends early - e.g. after a
    crash; then header['frames_marked'] is how far it is known to go).  Reads up to the last
    complete, valid line."""
    header, cmds, end = None, {}, None
    marked = 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.endswith("\n"):
                break                                   # torn last line
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                break
            if header is None:
                if obj.get("type") != "header":
                    raise RecordingError(f"{path}: not a livegan control log (no header)")
                if obj.get("version") != LOG_VERSION:
                    raise RecordingError(f"{path}: control log version {obj.get('version')} is not supported")
                header = obj
            elif obj.get("type") == "end":
                end = int(obj["frames"])
                break
            elif obj.get("type") == "mark":
                marked = int(obj["frames"])
            else:
                cmds.setdefault(int(obj["frame"]), []).append(
                    Command(obj["op"], obj["name"], obj.get("value"), obj.get("source", "log")))
    if header is None:
        raise RecordingError(f"{path}: empty control log")
    header["frames_marked"] = marked
    return header, cmds, end


class Recorder:
    """Records the running show into a new 'recording' walk: video of what is presented plus the
    control log.  Never blocks the display: frames go to a bounded queue (dropped and counted
    when the encoder falls behind).  Errors stop the recording and are kept in `error`."""

    def __init__(self, store: Store, show, codec: str = "h264", crf: int = 18):
        self.store, self.show, self.codec, self.crf = store, show, codec, crf
        self.walk_id: Optional[int] = None
        self.log: Optional[ControlLog] = None
        self.sink = None
        self.frames = 0
        self.error: Optional[str] = None
        self._start_tick = 0

    @property
    def active(self) -> bool:
        return self.log is not None

    def start(self) -> int:
        from .media import VideoSink

        show = self.show
        header = show_state(show)
        self.walk_id = self.store.create_walk("recording", name=time.strftime("session %Y-%m-%d %H:%M:%S"),
                                              network=show.network, network_hash=header["network_id"],
                                              preset=show.preset.name, status="recording")
        folder = self.store.walk_dir(self.walk_id)
        self._start_tick = show.tick_index
        header["walk_id"] = self.walk_id
        self.log = ControlLog(folder / LOG_NAME, header)
        ext = {"prores": ".mov", "ffv1": ".mkv"}.get(self.codec, ".mp4")
        self.sink = VideoSink(folder / f"session{ext}", show.opts.fps, self.codec, maxsize=64,
                              fragmented=True, crf=self.crf)
        self.frames = 0
        self.error = None
        show.command_log = self._command
        return self.walk_id

    def _command(self, tick: int, cmd: Command) -> None:
        if self.log is None:
            return
        try:
            self.log.write(_cmd_json(tick - self._start_tick - 1, cmd))
        except RecordingError as e:
            self.fail(str(e))

    def frame(self, image: np.ndarray) -> None:
        """The presented frame (HWC uint8), once per display tick while recording."""
        if self.sink is None:
            return
        if self.sink.error:
            self.fail(self.sink.error)
            return
        self.sink.put(image, block=False)
        self.frames += 1
        if self.frames % max(1, int(self.show.opts.fps)) == 0:
            try:                                         # a mark a second: after a crash, the
                self.log.write({"type": "mark", "frames": self.frames})   # log still knows its length
            except RecordingError as e:
                self.fail(str(e))

    def fail(self, message: str) -> None:
        self.error = f"recording stopped: {message}"
        self.show.error("recording", self.error)
        self.stop(status="failed")

    def stop(self, status: str = "done") -> Optional[int]:
        if self.log is None:
            return None
        self.show.command_log = None
        log, sink, self.log, self.sink = self.log, self.sink, None, None
        info = {"frames": self.frames, "fps": self.show.opts.fps}
        try:
            log.close(self.frames)
        except RecordingError as e:
            status, info["error"] = "failed", str(e)
        written = sink.close()
        info.update(video_frames=written, video_dropped=sink.dropped)
        if sink.error:
            status, info["error"] = "failed", sink.error
            if self.error is None:
                self.error = f"recording stopped: {sink.error}"
                self.show.error("recording", self.error)
        try:
            self.store.set_walk(self.walk_id, status=status, info=info)
        except Exception as e:                           # a full disk can refuse this too
            self.show.error("recording-db", f"recording: could not update the store ({e})")
        return self.walk_id


def find_log(ref: str, outdir: Path) -> Path:
    """A walk id (in outdir's store) or a path to a control log."""
    p = Path(ref)
    if p.is_dir():
        p = p / LOG_NAME
    if p.exists():
        return p
    if ref.isdigit():
        q = Path(outdir) / ref / LOG_NAME
        if q.exists():
            return q
        raise RecordingError(f"walk {ref}: no control log at {q}")
    raise RecordingError(f"{ref}: no such walk id or control log")


def render_log(log_path: Path, out: Path, fps: Optional[float] = None, size: Optional[tuple[int, int]] = None,
               codec: Optional[str] = None, device: str = "auto", progress: bool = True,
               network: Optional[str] = None, on_frame: Optional[Callable] = None, G=None) -> dict:
    """Replay a control log with a fixed-step clock and render every frame (offline: no frame is
    dropped or repeated).  Returns a summary; `on_frame(i, request, image)` sees each frame."""
    from .app import App
    from .show import Options, Show
    from .display import HeadlessDisplay
    from .media import VideoSink

    header, cmds, end = read_log(log_path)
    frames = end if end is not None else max(header["frames_marked"], max(cmds) + 1 if cmds else 0)
    if frames <= 0:
        raise RecordingError(f"{log_path}: the recording has no frames")
    rec_fps = float(header["fps"])
    if fps is not None and abs(fps - rec_fps) > 1e-9:
        raise RecordingError(f"--fps {fps} differs from the recording's {rec_fps}: the timeline is "
                             "frame-locked, so an exact replay keeps the recorded frame rate")
    net = network or header["network"]
    opts = Options(network=net, fps=rec_fps, device=device, lookahead=4)
    show = Show(opts, preset_from(header["preset"]), G=G)
    restore_state(show, header)
    if network_identity(net) != header["network_id"]:
        show.error("network", f"network {net} is not the recorded one ({header['network_id'][:12]}); rendering anyway")
    app = App(show, Path(out).parent, hud=False)
    res_size = size or (show.engine.crop_width or show.G.img_resolution, show.G.img_resolution)
    display = HeadlessDisplay(res_size)
    sink = VideoSink(out, rec_fps, codec, maxsize=8)
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=frames, unit="frame", desc=f"rendering {Path(out).name}")
    show.start()
    try:
        for i in range(frames):
            for c in cmds.get(i, []):
                if c.op != "trigger" or c.name in REPLAYED_TRIGGERS:
                    show.post(c)
            frame = show.tick(i / rec_fps, wait=True)
            app._triggers(display)
            app._present(display, frame)
            image = display.read()
            if on_frame is not None:
                on_frame(i, show.current, image)
            if not sink.put(image, block=True):
                raise RecordingError(sink.error or "video writer stopped")
            if bar is not None:
                bar.update(1)
    finally:
        show.stop()
        written = sink.close()
        if bar is not None:
            bar.close()
        display.close()
    if sink.error:
        raise RecordingError(sink.error)
    return {"frames": frames, "written": written, "complete": end is not None, "size": res_size,
            "errors": list(show.errors)}
