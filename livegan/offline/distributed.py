"""`livegan render --gpus N` (and each rank of a `torchrun` launch across machines): the replay's
generator frames split across N processes.

What is independent and what is not: the control log makes every generator frame a pure function
of its request (ws, transform, noise, bends, layer view, the Canvas condition's pixels: all in the
FrameRequest), so any rank can render any frame.  What is *not* per frame -- the timeline and the
commands, the display effects (feedback and crossfade read the previous output), the video file --
stays on rank 0, in order, exactly as one process does it.  A replay plans one frame at a time
(logged modulation and conditions arrive with their tick), so rank 0 replays twice: first the
timeline alone, the generator answering at once, to learn every tick's request; then for real,
the generator's pictures coming from the ranks, rendered a few rounds ahead of need, N at a time,
one per rank (every rank renders at batch 1, as a one-process render does: the same pictures, bit
for bit; the second pass checks each request against the first).  Not per frame, so one process:
a Canvas condition fed by the show's own output (feedback), and a recording that mixes networks
(netmix blends are made in the show, not in the log); a network switch goes to the ranks by name.

Processes meet over torch.distributed: gloo on the CPU (N processes on one machine share its cores),
NCCL-free on CUDA too (frames travel as pickled objects through gloo)."""
from __future__ import annotations

import os
import socket
from typing import Optional

import numpy as np

STOP = ("stop",)


class RankPool:
    """Rank 0's side: hands frames to ranks 1..N-1 and takes their pictures back."""

    def __init__(self, world: int):
        self.world = world
        self.sent = [0] * world                    # frames each rank rendered (rank 0's own included)
        self._engines: dict = {}

    def _local(self, G, device):
        from ..engine import Engine

        eng = self._engines.get(id(G))
        if eng is None:
            self._engines.clear()
            eng = self._engines[id(G)] = Engine(G, device)
        return eng

    def render(self, items: list, device) -> tuple[list, list]:
        """items: (network source, G, request) -> (images, layer views) in their order; item k of
        each round of N goes to rank k, the first stays here."""
        import torch
        import torch.distributed as dist

        images, views = [], []
        for at in range(0, len(items), self.world):
            group = items[at: at + self.world]
            for k, (source, _, req) in enumerate(group[1:], 1):
                dist.send_object_list([("frame", source, req)], dst=k)
            eng = self._local(group[0][1], device)
            with torch.inference_mode():
                images += eng.render_local([group[0][2]])
            views += list(eng.last_views)
            self.sent[0] += 1
            for k in range(1, len(group)):
                got: list = [None]
                dist.recv_object_list(got, src=k)
                kind, image, view = got[0]
                if kind != "frame":
                    raise RuntimeError(f"render rank {k}: {image}")
                images.append(image)
                views.append(view)
                self.sent[k] += 1
        return images, views

    def stop(self) -> None:
        import torch.distributed as dist

        for k in range(1, self.world):
            dist.send_object_list([STOP], dst=k)


def collect_requests(show, cmds: dict, plan: list, fps: float) -> dict:
    """The first pass: the replay's timeline and commands without the generator (each tick's own
    frame comes back at once, blank), keeping what every tick asks the engine for: frame ->
    (network source, G, request).  A request never depends on a rendered picture, except a Canvas
    condition fed by the show's own output, which is refused here."""
    from ..triggers import REPLAYED as REPLAYED_TRIGGERS
    from ..record import RecordingError

    eng, asked = show.engine, {}

    def blank(reqs):
        eng.last_views = [None] * len(reqs)
        for r in reqs:
            asked[r.frame] = (eng.network_name, eng.G, r)
        return [np.zeros((1, 1, 3), np.uint8) for _ in reqs]
    eng.render = blank
    show.start()
    try:
        for i, _, _ in plan:
            for c in cmds.get(i, []):
                if c.op == "condition" and "feedback" in str(c.name):
                    raise RecordingError("this recording's condition is the show's own output (feedback): each "
                                         "frame needs the one before; render it in one process")
                if c.op != "trigger" or c.name in REPLAYED_TRIGGERS:
                    show.post(c)
            show.tick(i / fps, wait=True)
    finally:
        show.stop()
    return asked


class SharedFrames:
    """The second pass's generator (it replaces Engine.render): the frames the first pass asked for,
    rendered by the ranks a few rounds ahead of need, each handed over when its tick asks for it
    (after checking that it asks for the very same ws)."""

    def __init__(self, pool: RankPool, engine, asked: dict):
        self.pool, self.engine, self.asked = pool, engine, asked
        self.order = sorted(asked)
        self.ready: dict = {}
        self.next = 0

    def __call__(self, reqs) -> list:
        from ..record import RecordingError

        out, views = [], []
        for r in reqs:
            want = self.asked.get(r.frame)
            if want is None or not np.array_equal(want[2].ws, r.ws):
                raise RecordingError(f"frame {r.frame}: the replay asked for other ws than its first pass "
                                     "(a nondeterministic recording): render it in one process")
            while r.frame not in self.ready:
                self._round()
            img, view = self.ready.pop(r.frame)
            out.append(img)
            views.append(view)
        self.engine.last_views = views
        return out

    def _round(self) -> None:
        if self.next >= len(self.order):
            raise RuntimeError("asked for a frame the first pass never saw")
        ids = self.order[self.next: self.next + 2 * self.pool.world]
        self.next += len(ids)
        images, views = self.pool.render([self.asked[i] for i in ids], self.engine.device)
        for i, img, v in zip(ids, images, views):
            self.ready[i] = (img, v)


def serve_frames(device: str) -> None:
    """Ranks 1..N-1: render what rank 0 sends (loading each network it names once) until it stops."""
    import torch
    import torch.distributed as dist
    from stylegan3 import load_network

    from ..engine import Engine
    from ..engine.devices import resolve_device

    dev = resolve_device(device)
    engines: dict = {}
    while True:
        got: list = [None]
        dist.recv_object_list(got, src=0)
        msg = got[0]
        if msg == STOP or not isinstance(msg, tuple) or msg[0] != "frame":
            return
        _, source, req = msg
        try:
            eng = engines.get(source)
            if eng is None:
                engines.clear()
                eng = engines[source] = Engine(load_network(source, device=dev), dev)
            with torch.inference_mode():
                image = eng.render_local([req])[0]
            out = ("frame", np.asarray(image.cpu() if hasattr(image, "cpu") else image), eng.last_views[0])
        except Exception as e:                     # rank 0 says it in one line and stops the render
            out = ("error", f"{type(e).__name__}: {e}", None)
        dist.send_object_list([out], dst=0)


def _worker(index: int, world: int, url: str, device: str) -> None:
    import torch
    import torch.distributed as dist

    torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
    dist.init_process_group("gloo", init_method=url, rank=index + 1, world_size=world)
    try:
        serve_frames(device)
    finally:
        dist.destroy_process_group()
    from ..jobs import leave_spawned
    leave_spawned()


class Ranks:
    """`with Ranks(n, device) as pool:` N-1 helper processes on this machine (spawned), or this
    process's place in a torchrun launch (RANK, WORLD_SIZE set: ranks other than 0 serve frames and
    the block gets None).  pool is None when there is only one process."""

    def __init__(self, gpus: int, device: str):
        self.gpus, self.device = gpus, device
        self.ctx = None
        self.pool: Optional[RankPool] = None
        self.rank = 0
        self.served = False                        # this process served frames (a torchrun rank > 0)

    def __enter__(self) -> Optional[RankPool]:
        import torch
        import torch.distributed as dist
        import torch.multiprocessing as mp

        if "RANK" in os.environ and "WORLD_SIZE" in os.environ:
            dist.init_process_group("gloo", init_method="env://")
            self.rank, world = dist.get_rank(), dist.get_world_size()
            if self.rank != 0:
                serve_frames(self.device)
                self.served = True
                return None
            self.pool = RankPool(world) if world > 1 else None
            return self.pool
        if self.gpus <= 1:
            return None
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        url = f"tcp://127.0.0.1:{s.getsockname()[1]}"
        s.close()
        self.ctx = mp.start_processes(_worker, args=(self.gpus, url, self.device), nprocs=self.gpus - 1,
                                      start_method="spawn", join=False)
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // self.gpus))
        dist.init_process_group("gloo", init_method=url, rank=0, world_size=self.gpus)
        self.pool = RankPool(self.gpus)
        return self.pool

    def __exit__(self, *exc) -> None:
        import torch.distributed as dist

        if self.pool is not None:
            try:
                self.pool.stop()
            except Exception:
                pass
        if dist.is_initialized():
            dist.destroy_process_group()
        if self.ctx is not None:
            self.ctx.join(60)
