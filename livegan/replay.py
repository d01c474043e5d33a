"""Exact replay of a recorded session: the control log, stepped with a fixed clock, renders every
frame again (offline: none dropped or repeated), at any output size the network supports.

Above the app in the data flow: it builds a Show and an App like perform.py does, feeds them the
logged commands at their frames and reads the program back.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

from .presets import preset_from
from .recorder import LOG_NAME, RecordingError, read_log
from .store import network_identity

# Triggers that change the picture are replayed; snapshot/record/learn/hud/fullscreen are not.
# Presets, networks and taps are replayed from what they did (apply_preset, apply_network, set bpm).
REPLAYED_TRIGGERS = {"keyframe_next", "keyframe_prev", "keyframe_goto", "seed"}


def restore_state(show, header: dict) -> None:
    show.preset = preset_from(header["preset"])
    from .clock import Transport
    show.transport = Transport(len(show.preset.keyframes))
    show.transport.restore(header["transport"])
    show.registry.target.update(header["target"])
    show.registry.value.update(header["value"])
    for v in header.get("slots") or []:             # the direction knobs as they were
        if v is not None:
            show.knobs.apply_logged(v)
    show._last_now = 0.0                              # the first replayed tick advances by 1/fps



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
    from .display import HeadlessDisplay
    from .media import VideoSink
    from .show import Options, Show

    header, cmds, end = read_log(log_path)
    frames = end if end is not None else max(header["frames_marked"], max(cmds) + 1 if cmds else 0)
    if frames <= 0:
        raise RecordingError(f"{log_path}: the recording has no frames")
    rec_fps = float(header["fps"])
    if fps is not None and abs(fps - rec_fps) > 1e-9:
        raise RecordingError(f"--fps {fps} differs from the recording's {rec_fps}: the timeline is "
                             "frame-locked, so an exact replay keeps the recorded frame rate")
    net = network or header["network"]
    opts = Options(network=net, fps=rec_fps, device=device, lookahead=4, canvas=header.get("canvas"))
    show = Show(opts, preset_from(header["preset"]), G=G)
    restore_state(show, header)
    show.conditioner.replay_dir = Path(log_path).parent   # conditions come from the log, not a live input
    show.mod.matrix.replaying = True                      # modulation offsets too, not the audio
    if network_identity(net) != header["network_id"]:
        show.error("network", f"network {net} is not the recorded one ({header['network_id'][:12]}); rendering anyway")
    app = App(show, Path(out).parent, hud=False)
    recorded = tuple(header["program_size"]) if header.get("program_size") else None
    res_size = size or recorded or (show.engine.crop_width or show.G.img_resolution, show.G.img_resolution)
    display = HeadlessDisplay(res_size)
    display.renderer.program_size = res_size          # fixed for the whole replay, as it was live
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
            image = display.renderer.read_program()
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
