"""Exact replay of a recorded session: the control log, stepped with a fixed clock, renders every
frame again (offline: none dropped or repeated), at any output size the network supports.

Above the app in the data flow: it builds a Show and an App like perform.py does, feeds them the
logged commands at their frames and reads the program back.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

from .. import triggers
from ..presets import preset_from
from ..record import LOG_NAME, RecordingError, read_log
from ..store import network_identity

# Triggers that change the picture are replayed (the command table says which); snapshot/record/
# learn/hud/fullscreen are not.  Presets, networks and taps are replayed from what they did
# (apply_preset, apply_network, set bpm).
REPLAYED_TRIGGERS = triggers.REPLAYED


def restore_state(show, header: dict) -> None:
    show.preset = preset_from(header["preset"])
    from ..clock import Transport
    show.transport = Transport(len(show.preset.keyframes))
    show.transport.restore(header["transport"])
    show.registry.target.update(header["target"])
    show.registry.value.update(header["value"])
    for v in header.get("slots") or []:             # the direction knobs as they were
        if v is not None:
            show.knobs.apply_logged(v)
    show.bends.pending.clear()                      # the bend slots as they were, channels resolved
    for k, v in enumerate(header.get("bends") or [None] * len(show.bends.slots)):
        show.bends.apply_logged(v if v is not None else {"slot": k, "bend": None})
    show.mirror.replaying = True                    # the mirror's targets come from the log, with their ws
    for v in header.get("mirror") or []:            # targets as they were (ages from the tick before the first)
        show.mirror.apply_logged(v, show.tick_index)
    show.netmix.replaying = True                    # blends come from the log, at their frames
    if header.get("netmix"):                        # a model mix already playing when recording began
        from ..params import Command
        show._safe_handle(Command("apply_netmix", "netmix", header["netmix"], "log"))
    # The first replayed tick advances by 1/fps, unless the recording began before the show's first
    # tick (which does not advance).
    show._last_now = 0.0 if header.get("started", True) else None



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
               network: Optional[str] = None, on_frame: Optional[Callable] = None, G=None,
               as_shown: bool = False, allow_remote_load: bool = False, pool=None) -> dict:
    """Replay a control log with a fixed-step clock.  By default every tick gets its own fresh
    picture (what was meant: smooth even where the live generator was late); `as_shown` shows at
    each tick the picture the live show showed (repeats and late frames included) and writes only
    the frames the recording holds, so its video equals the recording's frame for frame.
    Returns a summary; `on_frame(i, request, image)` sees each written frame.  `pool`: ranks that
    share the generator frames (offline/distributed.py), or None."""
    from ..app import App
    from ..display import HeadlessDisplay
    from ..media import VideoSink
    from ..show import Options, Show

    log_path = Path(log_path)
    header, cmds, end = read_log(log_path)
    frames = end if end is not None else max(header["frames_marked"], max(cmds) + 1 if cmds else 0)
    if frames <= 0:
        raise RecordingError(f"{log_path}: the recording has no frames")
    shown = header["shown"]
    if as_shown and not shown:
        raise RecordingError(f"{log_path}: this recording does not log what was shown (made before "
                             "--as-shown existed); render it without --as-shown")
    rec_fps = float(header["fps"])
    if fps is not None and abs(fps - rec_fps) > 1e-9:
        raise RecordingError(f"--fps {fps} differs from the recording's {rec_fps}: the timeline is "
                             "frame-locked, so an exact replay keeps the recorded frame rate")
    net = network or header["network"]
    # The log is data from outside: networks it names load by the same rule as over OSC (no URL,
    # no download unless the user allows it); the user's own --network is theirs.
    if network is None:
        _check_logged_network(net, allow_remote_load, log_path)
    for c in (c for v in cmds.values() for c in v if c.op == "apply_network"):
        _check_logged_network(str(c.value), allow_remote_load, log_path)
    for v in [c.value for cs in cmds.values() for c in cs if c.op == "apply_netmix"] + [header.get("netmix")]:
        if isinstance(v, dict):                     # network B, by the same rule
            _check_logged_network(str(v.get("network")), allow_remote_load, log_path)
    if pool is not None and (header.get("netmix") or any(c.op == "apply_netmix" for v in cmds.values() for c in v)):
        raise RecordingError(f"{log_path}: this recording mixes networks (netmix), made in the show and not in "
                             "the log: render it in one process (without --gpus)")
    opts = Options(network=net, fps=rec_fps, device=device, lookahead=4, canvas=header.get("canvas"))

    def replay_show(G):
        show = Show(opts, preset_from(header["preset"]), G=G)
        restore_state(show, header)
        show.conditioner.replay_dir = log_path.parent     # conditions come from the log, not a live input
        show.mod.matrix.replaying = True                  # modulation offsets too, not the audio
        return show
    show = replay_show(G)
    if network_identity(net) != header["network_id"]:
        show.error("network", f"network {net} is not the recorded one ({header['network_id'][:12]}); rendering anyway")
    app = App(show, Path(out).parent, hud=False)
    recorded = tuple(header["program_size"]) if header.get("program_size") else None
    res_size = size or recorded or (show.engine.crop_width or show.G.img_resolution, show.G.img_resolution)
    display = HeadlessDisplay(res_size)
    display.make_current()                                # for the renderer calls below (see make_current)
    display.renderer.program_size = res_size          # fixed for the whole replay, as it was live
    frame_size = (show.engine.crop_width or show.G.img_resolution, show.G.img_resolution)
    pic = _restore_carried(display.renderer, header, log_path.parent, frame_size)
    # The ticks to step through, and what each one shows and writes.
    plan = _as_shown_plan(shown, frames) if as_shown else [(i, i, True) for i in range(frames)]
    if pool is not None:                                  # the ranks render what a first pass asks for
        from .distributed import SharedFrames, collect_requests
        show.engine.render = SharedFrames(pool, show.engine, collect_requests(replay_show(show.G), cmds, plan, rec_fps))
    sink = VideoSink(out, rec_fps, codec, maxsize=8)
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=sum(w for _, _, w in plan), unit="frame", desc=f"rendering {Path(out).name}")
    show.start()
    written_i = 0
    pictures: dict = {}                                   # tick -> fresh picture, kept until shown
    try:
        for i, p, write in plan:
            for c in cmds.get(i, []):
                if c.op != "trigger" or c.name in REPLAYED_TRIGGERS:
                    show.post(c, record=True)
            frame = show.tick(i / rec_fps, wait=True)
            app.triggers(display)
            if as_shown:
                pictures[i] = frame
                frame = None if p == pic else _picture(pictures, p, header, log_path.parent, frame)
                pic = p
                for k in [k for k in pictures if k < p]:
                    del pictures[k]
            app.present(display, frame)
            if not write:
                continue
            image = display.renderer.read_program()
            if on_frame is not None:
                on_frame(written_i, show.current, image)
            written_i += 1
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
    return {"frames": written_i, "written": written, "complete": end is not None, "size": res_size,
            "errors": list(show.errors), "as_shown": as_shown}


def _check_logged_network(ref: str, allow_remote: bool, log_path: Path) -> None:
    from stylegan3.catalog import lookup

    if allow_remote or ref.startswith("builtin:"):
        return
    if "://" in ref or (lookup(ref) is not None and not Path(ref).exists()):
        raise RecordingError(f"{log_path}: the log names the network {ref[:80]!r}, which would be downloaded; "
                             "render with --network FILE, or --allow-remote-load if you trust the log")


def _as_shown_plan(shown: list, frames: int) -> list[tuple[int, int, bool]]:
    """(tick, picture's tick, written) for every logged presented frame, in order; a tick the
    log has no line for (the recording's last frame after a crash) shows its own picture."""
    plan = [(t, p, not dropped) for t, p, dropped in shown]
    last = plan[-1][0] if plan else -1
    return plan + [(t, t, True) for t in range(last + 1, frames)] if len(plan) < frames else plan


def _restore_carried(renderer, header: dict, folder: Path, frame_size: tuple[int, int]) -> Optional[int]:
    """Start the renderer from what the first recorded frame inherited (when it was made at the
    frame size this replay renders: another network may have another); the tick of the picture
    that was on screen (None: nothing was)."""
    from ..record import load_carried

    from ..console import reason
    from ..display.renderer import checked_carried

    carried = header.get("carried")
    if not carried:
        return None
    name = str(carried.get("file") if isinstance(carried, dict) else carried)[:120]
    try:                                                 # the folder's file is data from outside
        state = checked_carried(load_carried(_inside(folder, name)))
        if state["src"] is not None and tuple(state["src"]["size"]) == tuple(frame_size):
            renderer.restore_carried(state)
    except RecordingError:
        raise
    except Exception as e:
        raise RecordingError(f"{name}: not a carried state this replay can use ({reason(e)})") from None
    return carried.get("pic")


def _picture(pictures: dict, p: int, header: dict, folder: Path, fresh):
    """The frame to upload for picture tick `p`: a fresh one rendered at that tick in this replay,
    or one stored because it was planned before the recording started."""
    if p in pictures:
        return pictures[p]
    file = header["pictures"].get(p)
    if file is None:
        return fresh                                      # not logged: the tick's own picture
    import numpy as np

    from ..engine import Frame
    from ..pictures import read_picture

    try:
        pixels = np.asarray(read_picture(_inside(folder, file), f"recorded picture {str(file)[:80]}"))
    except ValueError as e:
        raise RecordingError(str(e)) from None
    return Frame(fresh.request, pixels, 0.0, 0.0)


def _inside(folder: Path, name: str) -> Path:
    """A file the log names, only from inside the recording's folder."""
    path = (folder / name).resolve()
    if folder.resolve() not in path.parents:
        raise RecordingError(f"control log names {name!r}: outside the recording's folder")
    return path
