"""What the show keeps of itself while it plays: snapshots (the program frame, the raw frame, its ws
and the state that recreates it) into the store's session walk, presets saved from the show, and
each preset's thumbnail for the control page.  Files are written by one `FileWriter` thread: the
frame a snapshot was taken on is never delayed."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from .console import say
from .worker import Worker


class FileWriter(Worker):
    """Writes files (snapshots, presets, thumbnails) on one thread from a bounded queue: a flood
    is dropped and counted, and a failed write (disk full, read-only folder) is a HUD error."""

    name = "writer"

    def __init__(self, error: Callable[[str, str], None], capacity: int = 8):
        self.error = error
        super().__init__(capacity)

    def handle(self, job: Callable[[], None]) -> None:
        try:
            job()
        except Exception as e:
            self.error("snapshot", f"snapshot failed: {type(e).__name__}: {e}")


class Snapshots:
    """Snapshots, saved presets and preset thumbnails of one show (`store`: opens the store on
    first use; `thumbs_on`: the control page shows preset thumbnails)."""

    def __init__(self, show, store: Callable[[], object], out_dir: Path, writer: FileWriter, thumbs_on: bool):
        self.show, self.store, self.out_dir, self.writer, self.thumbs_on = show, store, Path(out_dir), writer, thumbs_on
        self.session_walk: Optional[int] = None
        self.taken: list[Path] = []
        self._seq = 0
        self._thumb_for: tuple = ("", 0.0, False)       # (preset, since when, thumbnail taken)
        self._net_ids: dict = {}

    def state(self) -> Optional[dict]:
        s = self.show
        req = s.current
        k = s.preset.keyframes[req.keyframe]
        v = dict(s.registry.value)
        p = s.preset
        mix: dict = {"layer": v["mix_layer"], "amount": v["mix_amount"]}
        src = p.mix_source if p.mix_source is not None else (
            p.keyframes[p.mix_keyframe] if p.mix_keyframe is not None else None)
        if src is not None:                       # what the mixed layers come from
            mix["source"] = {"seed": src.seed} if src.seed is not None else {"w": np.asarray(src.w).tolist()}
            if p.mix_keyframe is not None:
                mix["source"]["keyframe"] = p.mix_keyframe
        cls = s.bank.class_of(k, v["class"]) if s.bank.c_dim and k.seed is not None else None
        return {"network": s.network, "network_id": None, "preset": p.name, "keyframe": req.keyframe,
                "seed": k.seed, "class": cls, "seeds": [kf.seed for kf in p.keyframes], "position": req.position,
                "frame": req.frame, "time": req.frame / s.opts.fps, "psi": v["psi"],
                "truncation_cutoff": v["truncation_cutoff"], "mix": mix,
                "transform": {"rotate": v["rotate"], "translate": [v["translate_x"], v["translate_y"]],
                              "zoom": v["zoom"], "matrix": req.transform.tolist()},
                "effects": {n: v[n] for n in ("crossfade", "brightness", "contrast", "saturation", "hue",
                                              "feedback", "kaleido", "view_zoom", "view_x", "view_y")},
                "params": v, "directions": s.direction_state()}

    def take(self, program: Optional[np.ndarray], recorder=None) -> None:
        """The frame on screen: its program picture, its raw generator frame, its ws and the state
        that recreates it (`recorder`: the running recording, whose frame it also is)."""
        s = self.show
        if s.current is None:
            return
        req, raw = s.current, s.current_image
        state = self.state()
        in_video = None if recorder is None else s.tick_index - recorder.start_tick - 1
        self._seq += 1                      # two snapshots of one frame in one second differ
        stem = f"snap-{time.strftime('%Y%m%d-%H%M%S')}-{req.frame:06d}-{self._seq}"
        network, preset_name = s.network, s.preset.name

        def write():
            from .imaging import save_png
            from .safeio import atomic_write

            if in_video is not None:             # where it is in the session video: the recorder makes
                recorder.ready.wait(self.RECORDER_READY_S)   # its walk on its own thread, maybe after this
                if recorder.walk_id is not None:
                    state["recording"] = {"walk": recorder.walk_id, "frame": in_video, "time": in_video / s.opts.fps}
            st = self.store()
            net_id = self.network_id(network)
            if self.session_walk is None:
                self.session_walk = st.create_walk("session", time.strftime("live %Y-%m-%d %H:%M"),
                                                   network=network, network_hash=net_id, preset=preset_name)
            folder = st.walk_dir(self.session_walk)
            pixels = raw if isinstance(raw, np.ndarray) else raw.cpu().numpy()   # CUDA frame
            state["network_id"] = net_id
            files = [folder / f"{stem}.npy", folder / f"{stem}-raw.png", folder / f"{stem}.png"]
            try:
                atomic_write(files[0], lambda f: np.save(f, req.ws))
                save_png(files[1], pixels)
                save_png(files[2], program if program is not None else pixels)
                state.update(ws=f"{stem}.npy", program=f"{stem}.png", raw=f"{stem}-raw.png")
                st.add_image(self.session_walk, f"{stem}.png", "snapshot", req.frame, state)
            except BaseException:                # a full disk: no files without their row
                for f in files:
                    f.unlink(missing_ok=True)
                raise
            self.taken.append(folder / f"{stem}.png")
            say(f"livegan: snapshot {folder / stem}.png")
            s.notify(f"snapshot saved: {stem}.png")
        if not self.writer.put(write):
            s.error("snapshot-queue", f"snapshot dropped: {self.writer.capacity} already waiting to be written")

    RECORDER_READY_S = 30.0              # at most this long a snapshot waits for its recording's walk
    THUMB_AFTER_S = 1.0                  # a preset's look: its program frame after this long on screen

    @property
    def thumbs_dir(self) -> Path:
        """Where the control page finds what each preset looked like when it last played."""
        return self.out_dir / ".preset-thumbs"

    def thumbnail(self, r) -> None:
        """Once a preset has been on screen THUMB_AFTER_S, its program frame becomes its thumbnail
        (written on the writer thread; no extra generator work, the show never waits)."""
        s = self.show
        name = s.preset.name
        if not self.thumbs_on:
            return
        if name != self._thumb_for[0]:
            self._thumb_for = (name, time.monotonic(), False)
            return
        _, since, done = self._thumb_for
        if done or time.monotonic() - since < self.THUMB_AFTER_S or s.current is None:
            return
        self._thumb_for = (name, since, True)
        if not name or len(name) > 64 or not all(c.isalnum() or c in "-_" for c in name):
            return                                   # not a plain file name
        program = r.read_program()
        if program is None:
            return
        folder = self.thumbs_dir

        def write():
            from PIL import Image

            from .safeio import atomic_write, remove_dead_temporaries
            try:
                folder.mkdir(parents=True, exist_ok=True)
                remove_dead_temporaries(folder)          # what a killed show left half written
                im = Image.fromarray(np.asarray(program, np.uint8))
                im.thumbnail((256, 256))
                atomic_write(folder / f"{name}.png", lambda f: im.save(f, format="PNG"))
            except OSError as e:                         # a read-only or full disk: said once, no thumbnail
                s.error("preset-thumb", f"preset thumbnail {name}: {e.strerror or e}")
        self.writer.put(write)

    def save_preset(self, name: str, program: Optional[np.ndarray]) -> None:
        """The show as it is now as a new preset (and its thumbnail), written on the writer thread;
        the outcome is the show's notice (the control page shows it) or a HUD error."""
        from .presets import PRESET_DIR, save_state_preset

        s = self.show
        folder = Path(s.opts.save_dir) if s.opts.save_dir else PRESET_DIR
        preset, values = s.preset, dict(s.registry.target)

        def write():
            try:
                path = save_state_preset(folder, name, preset, values, program)
            except Exception as e:                       # exists, disk full, read-only folder
                s.notify(f"preset {name} not saved: {e}")
                s.error("save-preset", f"preset {name} not saved: {e}")
                return
            s.notify(f"saved preset {name} ({path})")
        if not self.writer.put(write):
            s.error("preset-queue", f"preset {name} not saved: {self.writer.capacity} files already waiting")

    def network_id(self, network: str) -> str:
        """The network file's hash, once per network (a large .pkl takes a while to hash)."""
        from .store import network_identity

        if network not in self._net_ids:
            self._net_ids[network] = network_identity(network)
        return self._net_ids[network]
