"""Loading while the show plays: presets and networks are read and checked on loader threads
(jobs.LatestLoader), and take over on the main thread between two frames; a network must render
its first frame before it plays.  `Loading` is the part of the Show that does this."""
from __future__ import annotations

import copy
import time
from typing import Callable, Optional

import numpy as np

from ..console import say
from ..load_policy import REMOTE_SOURCES
from ..params import Command
from ..presets import Preset, PresetError, check_for_network, list_presets, load_preset, preset_json
from ..timeline import KeyframeBank
from ..clock import Transport


def cpu_mapper(G) -> Callable[[np.ndarray, Optional[np.ndarray]], np.ndarray]:
    """A CPU copy of the mapping network, owned by the main thread (the engine owns G):
    z [1, z_dim] and, for a conditional network, c [1, c_dim] -> ws [num_ws, w_dim]."""
    import torch

    m = copy.deepcopy(G.mapping).to("cpu").float().eval()

    def run(z: np.ndarray, c: Optional[np.ndarray] = None) -> np.ndarray:
        with torch.inference_mode():
            return m(torch.from_numpy(z), None if c is None else torch.from_numpy(c))[0].numpy()
    return run




def first_frame(G, source: str) -> None:
    """Render one frame (at w_avg) with a network about to take over, off the main thread; it
    must finish within the deadline and be finite, else the playing network stays."""
    import torch

    from ..conditions.render import condition_for, synthesize
    from ..settings import first_frame_s

    limit = first_frame_s()
    t0 = time.perf_counter()
    dev = next(G.parameters()).device
    with torch.inference_mode():
        ws = G.mapping.w_avg.reshape(1, 1, -1).repeat(1, G.num_ws, 1).to(dev)
        img = synthesize(G, ws, condition_for(G))
    took = time.perf_counter() - t0
    if not bool(torch.isfinite(img).all()):
        raise ValueError("its first frame is not finite (NaN or inf): not used")
    if took > limit:
        raise ValueError(f"its first frame took {took:.0f} s, more than the {limit:.0f} s deadline "
                         "(LIVEGAN_FIRST_FRAME_S): not used")


def make_bank(G) -> KeyframeBank:
    return KeyframeBank(cpu_mapper(G), G.z_dim, G.num_ws, G.w_dim,
                        G.mapping.w_avg.detach().float().cpu().numpy(), c_dim=int(getattr(G, "c_dim", 0) or 0))


class Loading:
    """The show's preset and network loads (a part of Show: it uses the show's state)."""

    def _preset_ref(self, ref):
        """An index into presets/ becomes its path; names and paths pass through."""
        if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
            files = list_presets()
            i = int(ref)
            if not 0 <= i < len(files):
                keys = ", ".join(f"{(k + 1) % 10} {f.stem}" for k, f in enumerate(files[:10]))
                raise PresetError(f"no preset {i + 1}: there are {len(files)} ({keys})")
            return str(files[i])
        return ref

    def _load_preset_async(self, cmd: Command) -> None:
        """Read and check the preset on a loader thread; commands that arrive meanwhile wait
        behind it (so 'preset, then psi' keeps its order); the old preset plays until it lands."""
        ref = self._preset_ref(cmd.value)
        self.policy.check("preset", ref, cmd.source)
        num_ws, w_dim = self.bank.num_ws, self.bank.w_dim
        # Names resolve in the preset folders only (presets/, then each --load-dir): never in the
        # working directory for a peer, and a preset the gallery wrote into a --load-dir is found.
        folders, cwd = self.policy.folders(), cmd.source not in REMOTE_SOURCES

        def load() -> Preset:
            preset = load_preset(ref, folders=folders, cwd=cwd)
            check_for_network(preset, num_ws, w_dim)
            return preset
        self.preset_loader.submit(cmd, load)

    def _finish_preset(self) -> None:
        for cmd, preset, err in self.preset_loader.poll():
            if err is not None:
                what = str(err)                          # said as any command's failure is: who asked
                self.error("preset", f"{cmd.source or 'command'} {cmd.op} {cmd.name}: " +
                           (what if str(cmd.value) in what else f"{str(cmd.value)[:80]}: {what}"))
                continue
            if self.preset_loader.busy:                  # a newer request is on its way
                continue
            self._use_preset(preset, cmd)
            if self.command_log is not None:           # recordings keep the preset itself
                self.command_log(self.tick_index, Command("apply_preset", "preset", preset_json(preset), "log"))
        if not self.preset_loader.busy:
            for c in self.queue.release_held():
                self._safe_handle(c)

    def _use_preset(self, preset: Preset, cmd: Command) -> None:
        check_for_network(preset, self.bank.num_ws, self.bank.w_dim)
        self.preset = preset
        self.transport = Transport(len(preset.keyframes))
        self._apply_preset_params(preset)
        self.mod.use_preset(preset)
        if cmd.source != "log":                          # a replay has its apply_direction, apply_netmix and apply_bend lines
            self.knobs.pick_preset(preset)
            self._instrument_preset(preset, cmd.source)
        self._bump(cmd)

    def load_network_async(self, source: str, origin: str = "") -> None:
        """Hot-swap: load in the background while the old network keeps playing."""
        from stylegan3 import load_network

        self.policy.check("network", source, origin)
        lim = self.limits["network"]
        if not lim.allow():
            raise ValueError(f"network loads: at most one every {1 / lim.rate:g} s ({lim.dropped} refused)")
        device, dtype = self.device, self.opts.dtype

        def load():
            G = load_network(source, device=device, precision=dtype)
            self.check_runtime(G, source)
            first_frame(G, source)                   # a network that cannot render never takes over
            return G
        self.network_loader.submit(source, load)

    def check_runtime(self, G, source: str) -> None:
        """Refuse a network whose run-time memory at this show's batch and canvas is above the
        limit (estimated from its layer plan, before a frame is rendered)."""
        from stylegan3.bounds import check_size

        from ..engine import canvas_for
        try:
            canvas, _ = canvas_for(G, self.opts.canvas)
        except ValueError:
            canvas = None
        check_size(G, source, self.opts.batch, canvas[0] if canvas else 0)

    def _finish_loading(self) -> None:
        for source, G, err in self.network_loader.poll():
            if err is not None:
                self.error("network", f"network {source} failed to load: {err}")
                continue
            try:
                self._use_network(G, source)
            except (PresetError, ValueError) as e:
                self.error("network", f"network {source} not used: {e}")
                continue
            say(f"livegan: now playing {source}")        # a new training snapshot too
            self.notify(f"now playing {source}")
            if self.command_log is not None:            # replayed at this very frame
                self.command_log(self.tick_index, Command("apply_network", "network", source, "log"))

    def _use_network(self, G, source: str) -> None:
        """Swap the network in: the preset must fit it; the wide canvas is recomputed for it."""
        from ..engine import canvas_for

        try:
            check_for_network(self.preset, G.num_ws, G.w_dim)
        except PresetError as e:
            raise PresetError(f"the playing preset does not fit it ({e})") from None
        try:
            canvas, crop = canvas_for(G, self.opts.canvas)
        except ValueError as e:                          # e.g. a StyleGAN2 network: no wide canvas
            self.error("canvas", f"{source}: {e}; shown square")
            canvas, crop = None, None
        self.G, self.network, self.bank = G, source, make_bank(G)
        from ..conditions import condition_size, is_canvas
        if is_canvas(G):
            self.conditioner.resize(condition_size(G, self.opts.canvas))
        self.generation += 1
        self.engine.swap_network(G, canvas, crop, self.generation)
        self.swapped = True
        self.knobs.network_switched(G.w_dim, self.opts.directions)
        self._instrument_network(G, source)
