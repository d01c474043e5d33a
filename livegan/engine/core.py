"""The inference worker: frame requests in, finished frames out, on its own thread.

It owns the network.  The main thread hands it a *plan* (requests for the next few display frames)
without blocking; the newest plan always replaces the previous one.  The engine renders the plan's
earliest frames it has not rendered yet, in batches, and publishes them with their frame id,
generation and timing.  Frames of an older generation are never published once a newer plan has
arrived (they are counted as dropped).
"""
from __future__ import annotations

import statistics
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

from ..timeline import FrameRequest

# A batch that fails is tried again (a transient failure: memory, a driver hiccup) before its
# frames are given up: a frame rendered offline is waited for, and must come or fail, never hang.
MAX_TRIES = 3


class FrameFailed(RuntimeError):
    """A frame the generator failed on MAX_TRIES times (the offline wait raises it at once)."""


@dataclass
class Frame:
    request: FrameRequest
    image: object                       # HWC uint8 numpy array (CPU) or CUDA tensor
    started: float                      # perf_counter when its batch started
    done: float                         # perf_counter when it was ready
    network: str = ""
    view: object = None                 # the layer view (HWC uint8), when the request asked for one

    @property
    def id(self) -> int:
        return self.request.frame

    @property
    def generation(self) -> int:
        return self.request.generation


@dataclass
class EngineStats:
    gen_ms: deque = field(default_factory=lambda: deque(maxlen=60))    # per frame
    produced: int = 0
    dropped_stale: int = 0
    batch: int = 1

    def median_ms(self) -> float:
        return statistics.median(self.gen_ms) if self.gen_ms else 0.0


class Engine:
    """Runs `G.synthesis` for planned frames; see the module docstring."""

    def __init__(self, G, device, batch: int = 1, canvas: Optional[tuple[int, int]] = None,
                 crop_width: Optional[int] = None, cuda_graphs: bool = False):
        self.G, self.device, self.batch = G, device, max(1, int(batch))
        self.canvas, self.crop_width = canvas, crop_width
        self.cuda_graphs = cuda_graphs and getattr(device, "type", "cpu") == "cuda"
        self.stats = EngineStats(batch=self.batch)
        self._cond = threading.Condition()
        self._plan: list[FrameRequest] = []
        self._generation = -1
        self._done: set = set()                       # (generation, frame) rendered for this plan
        self._tries: dict = {}                        # (generation, frame) -> failed batches so far
        self._failed: dict = {}                       # (generation, frame) -> why it was given up
        self._out: deque = deque()
        self._pending_net = None
        self._running = False
        self._thread: Optional[threading.Thread] = None
        self._graphs: dict = {}
        self._pinned: dict = {}
        self.device_frames = False    # CUDA: hand out device tensors (the display shares them with GL)
        self.network_name = getattr(G, "source", "")
        self._encoded: dict = {}      # StyleGAN-Canvas: (condition key, prep) -> (ws, skips), newest few
        self._bend_cache: dict = {}   # network bending: index tensors, grids, noise per spec
        self._bender = None           # the last batch's (its taps hold the layer views' maps)
        self.encoder = None           # the live mirror's encoder (instrument/mirror.py), run between batches
        self._encode_job: Optional[tuple] = None     # (key, pixels): the newest picture to encode
        self._encoding: Optional[tuple] = None       # (key, ws): the last one encoded, not yet taken
        self._errors: deque = deque(maxlen=32)        # (kind, message) not yet taken by the show
        self.last_views: list = []

    # -- main-thread API ------------------------------------------------------------------------
    def start(self) -> "Engine":
        self._running = True
        self._thread = threading.Thread(target=self._loop, name="livegan-engine", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._cond:
            self._running = False
            self._cond.notify_all()
        if self._thread is not None:
            # A batch cannot be interrupted; leaving it running into interpreter shutdown would
            # abort the process, so a slow one (a big network on a CPU) is waited for, loudly.
            self._thread.join(timeout=5)
            if self._thread.is_alive():
                print("livegan: waiting for the generator to finish its current batch...", flush=True)
                self._thread.join()

    def submit(self, plan: Sequence[FrameRequest]) -> None:
        """Replace the plan (never blocks beyond a lock)."""
        with self._cond:
            if plan and plan[0].generation != self._generation:
                self._generation = plan[0].generation
                self._done = {d for d in self._done if d[0] == self._generation}
                self._tries = {k: v for k, v in self._tries.items() if k[0] == self._generation}
                self._failed = {k: v for k, v in self._failed.items() if k[0] == self._generation}
            elif plan and len(self._done) > 4 * len(plan) + 64:   # forget frames long past
                self._done = {d for d in self._done if d[1] >= plan[0].frame}
            self._plan = list(plan)
            self._cond.notify_all()

    def take(self) -> list[Frame]:
        """Frames finished since the last call (current generation only)."""
        with self._cond:
            out = [f for f in self._out if f.generation == self._generation]
            self.stats.dropped_stale += len(self._out) - len(out)
            self._out.clear()
            return out

    def swap_network(self, G, canvas: Optional[tuple[int, int]] = None, crop_width: Optional[int] = None,
                     generation: Optional[int] = None) -> None:
        """Use G (with its own wide-canvas geometry) from the next batch on (hot-swap; the caller
        loaded it off this thread).  `generation`: the first one planned for G; a request of an
        earlier one was made for the network before (its ws may not even fit G) and is never
        rendered with G, even when the plan that replaces it has not arrived yet."""
        with self._cond:
            self._pending_net = (G, canvas, crop_width, generation)
            self._cond.notify_all()

    def encode(self, key, pixels) -> None:
        """The live mirror: encode this picture between batches (a newer one replaces it)."""
        with self._cond:
            self._encode_job = (key, pixels)
            self._cond.notify_all()

    def take_encoding(self) -> Optional[tuple]:
        """(key, ws [num_ws, w_dim]) of the newest picture encoded since the last call, or None."""
        with self._cond:
            got, self._encoding = self._encoding, None
            return got

    def failed(self, generation: int, frame: int) -> Optional[str]:
        """Why this frame was given up (MAX_TRIES failed batches), or None."""
        with self._cond:
            return self._failed.get((generation, frame))

    def take_errors(self) -> list[tuple[str, str]]:
        """(kind, message) of the failures since the last call: the show reports them as its own
        problems (counted, in the HUD and the status, logged once per kind)."""
        with self._cond:
            out = list(self._errors)
            self._errors.clear()
            return out

    def queue_depth(self) -> int:
        with self._cond:
            return sum(1 for r in self._plan if (r.generation, r.frame) not in self._done)

    # -- engine thread --------------------------------------------------------------------------
    def _next_batch(self) -> list[FrameRequest]:
        todo = [r for r in self._plan if (r.generation, r.frame) not in self._done]
        return todo[: self.batch]

    def _take_work(self) -> tuple[Optional[tuple], list[FrameRequest]]:
        """Under the lock, on the engine thread: the network swap posted since the last batch,
        then the encoding job and the next batch (marked done)."""
        if self._pending_net is not None:
            (self.G, self.canvas, self.crop_width, first), self._pending_net = self._pending_net, None
            self.network_name = getattr(self.G, "source", "")
            self._graphs.clear()
            self._encoded.clear()
            if first is not None:                     # the old network's plan: not for this one
                self._plan = [r for r in self._plan if r.generation >= first]
        job, self._encode_job = self._encode_job, None
        reqs = self._next_batch()
        for r in reqs:
            self._done.add((r.generation, r.frame))
        return job, reqs

    def _loop(self) -> None:
        import torch

        while True:
            with self._cond:
                while self._running and not self._next_batch() and self._pending_net is None \
                        and self._encode_job is None:
                    self._cond.wait(0.1)
                if not self._running:
                    return
                job, reqs = self._take_work()
            if job is not None and self.encoder is not None:
                self._encode(job)
            if not reqs:
                continue
            t0 = time.perf_counter()
            try:
                with torch.inference_mode():
                    images = self.render(reqs)
                    views = self.last_views
            except Exception as e:                    # the show reports it; it goes on
                self._failed_batch(reqs, f"generator: {type(e).__name__}: {e}")
                time.sleep(0.05)
                continue
            t1 = time.perf_counter()
            self.stats.gen_ms.append((t1 - t0) * 1000 / len(reqs))
            with self._cond:
                for r in reqs:
                    self._tries.pop((r.generation, r.frame), None)
                for r, img, view in zip(reqs, images, views):
                    if r.generation == self._generation:
                        self._out.append(Frame(r, img, t0, t1, self.network_name, view))
                        self.stats.produced += 1
                    else:
                        self.stats.dropped_stale += 1

    def _failed_batch(self, reqs: Sequence[FrameRequest], msg: str) -> None:
        """Report the failure; its frames go back to the plan's to-do list, or, after MAX_TRIES
        failures, are given up."""
        with self._cond:
            self._errors.append(("generator", msg))
            for r in reqs:
                key = (r.generation, r.frame)
                self._tries[key] = self._tries.get(key, 0) + 1
                if self._tries[key] < MAX_TRIES:
                    self._done.discard(key)
                else:
                    self._failed[key] = msg

    def _encode(self, job: tuple) -> None:
        import torch

        key, pixels = job
        try:
            with torch.inference_mode():
                ws = self.encoder.guess(pixels)
        except Exception as e:                       # the show reports it; it goes on
            with self._cond:
                self._errors.append(("mirror encoder", f"mirror encoder: {type(e).__name__}: {e}"))
            return
        with self._cond:
            self._encoding = (key, ws)

    def render(self, reqs: Sequence[FrameRequest]) -> list:
        """Synthesise a batch of requests -> HWC uint8 images (numpy on CPU); their layer views
        (or None) are left in `last_views`.  (`render --gpus N` replaces it on its replay's engine:
        offline/distributed.py.)"""
        return self.render_local(reqs)

    def render_local(self, reqs: Sequence[FrameRequest]) -> list:
        """`render`, in this process."""
        frames = self._render(reqs)
        self.last_views = [None] * len(reqs)
        bend = self._bender
        if bend is not None and bend.taps:
            from .layerview import fit_to, view_image
            for i, r in enumerate(reqs):
                if r.view:
                    layer, channel, mode, gain, fft, to_program = r.view
                    self.last_views[i] = v = view_image(bend.tapped[layer][i], channel, mode, gain, fft)
                    if to_program:                       # the program shows the view (and records it)
                        f = frames[i]
                        frames[i] = fit_to(v, f.shape[0], f.shape[1]) if isinstance(f, np.ndarray) else \
                            _device_fit(f, v)
        return frames

    def _render(self, reqs: Sequence[FrameRequest]) -> list:
        import torch

        G = self.G
        ws = torch.from_numpy(np.stack([r.ws for r in reqs])).to(self.device)
        if ws.shape[1] != G.num_ws:                      # netmix in B's frame: B has more (or fewer) layers
            ws = ws[:, :G.num_ws] if ws.shape[1] > G.num_ws else \
                torch.cat([ws, ws[:, -1:].expand(-1, G.num_ws - ws.shape[1], -1)], dim=1)
        kw = {}
        self._bender = None
        bent = any(r.view or r.bends for r in reqs)      # bending, layer views: inside the synthesis loop
        if bent and len(self._bend_cache) > 256:         # specs of arguments long gone
            self._bend_cache.clear()
        if G.family == "stylegan3-canvas":
            ws, skips = self._conditioned(ws, reqs)
            img = G.synthesis(ws, skips, bend=self._eager_bender(reqs) if bent else None)
            return self._to_frames(img)
        if G.family == "stylegan3":
            kw["transform"] = torch.from_numpy(np.stack([r.transform for r in reqs])).to(self.device)
            if self.canvas:
                kw["canvas"] = self.canvas
        else:
            r0 = reqs[0]
            kw["noise_gain"] = float(r0.noise)
            if any((r.noise, r.noise_layers) != (r0.noise, r0.noise_layers) for r in reqs):
                # a glide inside the batch: each frame its own strengths, as it would have alone
                kw["noise_gain"] = torch.tensor([_noise_gains(r) for r in reqs], device=self.device)
            elif r0.noise_layers:                       # per-layer strengths
                kw["noise_gain"] = _noise_gains(r0)
            if r0.noise_seed:
                kw["noise_seed"] = int(r0.noise_seed)
        # A graph holds what it was captured with: eager whenever the frame asks for more.
        ng = kw.get("noise_gain", 1.0)
        if self.cuda_graphs and not self.canvas and isinstance(ng, float) and ng == 1.0 and "noise_seed" not in kw:
            img = self._graphed(ws, kw.get("transform"), reqs if bent else None)
        else:
            img = G.synthesis(ws, bend=self._eager_bender(reqs) if bent else None, **kw)
        if self.crop_width and img.shape[-1] > self.crop_width:
            off = (img.shape[-1] - self.crop_width) // 2
            img = img[..., off: off + self.crop_width]
        return self._to_frames(img)

    def _eager_bender(self, reqs):
        """The batch's bends and tapped layers for an eager pass (kept: its taps are the views)."""
        from stylegan3.bending import Bender

        self._bender = Bender.for_batch([r.bends for r in reqs], self.device, taps={r.view[0] for r in reqs if r.view},
                                        cache=self._bend_cache)
        return self._bender

    def _conditioned(self, ws, reqs):
        """Canvas: each request's condition through the encoder (once per distinct condition and
        preprocessing), its ws replacing the first cond_ws rows."""
        import torch

        from ..conditions.prep import to_tensor

        G, enc = self.G, []
        for r in reqs:
            mode, blur, nws = r.cond_prep or (0, 21.0, 4)
            ckey = r.cond.key if r.cond is not None else ("grey",)   # planned before a swap to Canvas
            key = (ckey, mode, blur if mode == 1 else 0.0)
            if key not in self._encoded:
                sigma = blur * G.cond_shape[1] / 256.0
                pixels = r.cond.pixels if r.cond is not None else np.full((G.cond_shape[1], G.cond_shape[2], 3), 128, np.uint8)
                self._encoded[key] = G.encoder(to_tensor(pixels, mode, sigma, self.device))
                while len(self._encoded) > 8:
                    del self._encoded[next(iter(self._encoded))]
            enc.append((self._encoded[key], min(int(nws), G.num_ws)))
        ws_enc = torch.cat([e[0][0] for e in enc])
        mixed = torch.stack([G.combine(ws[i:i + 1], ws_enc[i:i + 1], n)[0] for i, (_, n) in enumerate(enc)])
        skips = [torch.cat([e[0][1][j] for e in enc]) for j in range(len(enc[0][0][1]))]
        return mixed, skips

    def _to_frames(self, img) -> list:
        import torch

        u8 = (img * 127.5 + 128).clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1)
        if u8.device.type == "cuda" and self.device_frames:
            u8 = u8.contiguous()
            torch.cuda.current_stream().synchronize()       # published frames are finished frames
            return list(u8)
        if u8.device.type == "cuda":
            # One pinned host buffer per shape (pinned allocation is slow); frames leave it as copies.
            host = self._pinned.get(tuple(u8.shape))
            if host is None:
                host = self._pinned[tuple(u8.shape)] = torch.empty(u8.shape, dtype=torch.uint8, pin_memory=True)
            host.copy_(u8, non_blocking=True)
            torch.cuda.current_stream().synchronize()
            return [h.numpy().copy() for h in host]
        return [f.contiguous().numpy() for f in u8]


    def _graphed(self, ws, transform, bent=None):
        """Replay a CUDA graph captured for this batch size (captured on first use); with bends or a
        layer view, one per structure of the batch's slots (their amounts change in place)."""
        from .cuda_graphs import GraphedSynthesis

        key, bend = (tuple(ws.shape),), None
        if bent is not None:
            from stylegan3.bending import Bender
            struct = Bender.structure([r.bends for r in bent], {r.view[0] for r in bent if r.view})
            key += (struct,)
        if key not in self._graphs:
            if len(self._graphs) >= 16:                  # structures long gone
                del self._graphs[next(iter(self._graphs))]
            if bent is not None:
                bend = Bender.static(struct, ws.shape[0], self.device, self._bend_cache)
            self._graphs[key] = GraphedSynthesis(self.G, key[0], with_transform=transform is not None, bend=bend)
        g = self._graphs[key]
        if bent is not None:
            g.bend.update([r.bends for r in bent])
            self._bender = g.bend                        # its taps: the layer views of this replay
        return g(ws, transform).clone()


def _noise_gains(r: FrameRequest) -> tuple:
    """One request's noise strength per noisy layer (layers past noise/K at `noise`)."""
    layers = r.noise_layers or ()
    return tuple(float(r.noise) * g for g in layers) + (float(r.noise),) * (64 - len(layers))


def _device_fit(frame, view: np.ndarray):
    """A CUDA frame (shared with GL) replaced by the view at its size."""
    import torch

    from .layerview import fit_to
    return torch.from_numpy(fit_to(view, frame.shape[0], frame.shape[1])).to(frame.device)


def canvas_for(G, aspect: Optional[str]) -> tuple[Optional[tuple[int, int]], Optional[int]]:
    """Wide canvas for a StyleGAN3 network: (extra input samples per side, output crop width) so
    the output has the requested aspect at the trained scale; (None, None) for square."""
    if not aspect or getattr(G, "family", "") == "stylegan3-canvas":   # Canvas: the condition widens it
        return None, None
    try:
        a, b = (float(v) for v in aspect.split(":"))
        ratio = a / b
        if not ratio > 0:
            raise ValueError
    except ValueError:
        raise ValueError(f"bad --canvas {aspect!r}: expected W:H such as 16:9") from None
    if G.family != "stylegan3":
        raise ValueError("--canvas needs a StyleGAN3 network (StyleGAN2 has no Fourier input to extend)")
    res = G.img_resolution
    width = int(round(res * ratio / 2)) * 2
    if width <= res:
        return None, None
    # Each extra input sample per side adds res / input sampling rate output pixels per side.
    px = res / G.synthesis.input.sampling_rate
    extra = int(np.ceil((width - res) / 2 / px))
    return (extra, 0), width
