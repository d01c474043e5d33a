"""`livegan train`: the official training loop (StyleGAN2-ADA `training_loop.py`) on our networks:
phases with lazy regularisation, G_ema with its ramp-up, a tick every --tick kimg (a progress line,
`training_stats.jsonl`, stats.py), and every --snap ticks an atomic snapshot holding everything a
resume needs to continue identically (snapshot.py; every rank's random streams: streams.py); the
Canvas parts in canvas_training.py."""
from __future__ import annotations

import copy
import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch

from .augment import diff_augment
from .imageset import ImageSet
from .loss import LossOptions, StyleGAN2Loss
from .networks import build_d, build_networks, canvas_generator
from .options import TrainOptions
from .step import ema_beta, make_phases, run_phases, update_ema
from .canvas_training import CanvasTraining
from .snapshot import Snapshotting
from .stats import progress_line, tick_stats
from .streams import Streams

class Trainer(Streams, Snapshotting, CanvasTraining):
    """One training process.  `rank`/`world`: its place among DDP processes (rank 0 alone logs and
    writes); `virtual`: ranks emulated in this process (each with its own batch share and random
    streams, gradients averaged), which is what a DDP run computes, for checking it."""

    def __init__(self, o: TrainOptions, log: Callable[[str], None] = print, rank: int = 0, world: int = 1,
                 virtual: int = 1):
        from .arch import resolve

        self.o, self.rank, self.world, self.virtual = resolve(o).check(), rank, world, virtual
        o = self.o
        self.log = log if rank == 0 else (lambda line: None)
        n = world * virtual
        if o.batch % n:
            raise ValueError(f"--batch {o.batch} must be a multiple of the number of processes ({n})")
        self.rank_batch = o.batch // n
        bg = o.batch_gpu or self.rank_batch
        if self.rank_batch % bg or bg % o.mbstd_group:
            raise ValueError(f"--batch-gpu {bg} must divide each process's {self.rank_batch} images and be a multiple "
                             f"of --mbstd-group {o.mbstd_group}")
        self.bg = bg
        torch.manual_seed(o.seed)                         # the same networks in every process
        np.random.seed(o.seed)
        self.data = ImageSet(o.data, labels=o.labels)
        self.dev = torch.device(o.device)
        self.canvas = o.cfg.startswith("canvas")
        if self.canvas:
            self.G = self._canvas_from_snapshot() or canvas_generator(o, self.data.resolution, self.data.channels)
            self.D = build_d(o, self.data.resolution, self.data.channels)
        else:
            self.G, self.D = build_networks(o, self.data.resolution, self.data.channels, self.data.label_dim)
        self.G, self.D = self.G.to(self.dev), self.D.to(self.dev)
        self.G_ema = copy.deepcopy(self.G).eval()
        sg2 = o.cfg == "stylegan2"
        lopts = LossOptions(r1_gamma=o.gamma, style_mixing_prob=0.9 if sg2 else 0.0, pl_weight=2.0 if sg2 else 0.0,
                            pl_no_weight_grad=sg2,
                            blur_init_sigma=10.0 if o.cfg.endswith("-r") else 0.0,
                            blur_fade_kimg=o.batch * 200 / 32 if o.cfg.endswith("-r") else 0.0)
        self.loss = StyleGAN2Loss(self.G, self.D, lopts, noise_mode="random")
        self.augment_pipe, self.ada = None, None
        if self.canvas:
            self._setup_canvas_loss()
        if o.aug == "diffaug":
            self.loss.augment = lambda x: diff_augment(x, self.aug_gen)
        elif o.aug in ("ada", "fixed"):
            from .augment import AdaTuner, AugmentPipe
            self.augment_pipe = AugmentPipe.named(o.augpipe, o.p if o.aug == "fixed" else 0.0).to(self.dev)
            self.loss.augment = lambda x: self.augment_pipe(x, self.aug_gen)
            if o.aug == "ada":
                self.ada = AdaTuner(self.augment_pipe, o.target, 4, o.ada_kimg)
                self.loss.listeners["Loss/signs/real"] = self.ada.observe
        glr = o.glr if o.glr is not None else (0.002 if sg2 else 0.0025)
        self.phases = make_phases(self.G, self.D, glr, o.dlr, 4 if sg2 else None, 16)
        self.make_streams(o.seed, n)                       # each rank's own random streams (streams.py)
        self.cur_nimg = self.batch_idx = self.tick = 0
        self.walk = None
        self.last_snapshot: Optional[Path] = Path(o.resume) if o.resume and o.resume.endswith(".pt") else None
        self.ema_rampup: Optional[float] = 0.05
        self.nan_steps = 0
        self.out = Path(o.outdir)
        if world > 1:                                      # start from rank 0's networks exactly
            import torch.distributed as dist
            for net in (self.G, self.D, self.G_ema):
                for t in list(net.parameters()) + list(net.buffers()):
                    dist.broadcast(t.data, 0)
        self.grid_z = torch.randn([64, self.G.z_dim], generator=torch.Generator().manual_seed(123)).to(self.dev)
        self.grid_c = None                                 # a conditional run's fakes: each row of the grid a class
        if self.data.labels is not None:
            classes = torch.from_numpy(np.unique(self.data.labels, axis=0))
            self.grid_c = classes[torch.arange(64) // 8 % len(classes)].to(self.dev)
        if o.resume:
            self._resume(o.resume)

    # -- the loop -------------------------------------------------------------------------------
    def _labels(self, idx) -> torch.Tensor:
        return torch.from_numpy(self.data.labels[idx]).to(self.dev)

    def _reals(self) -> tuple:
        """This step's real images, and their labels (None for an unconditional run)."""
        idx = torch.randint(len(self.data), [self.rank_batch], generator=self.sampler).tolist()
        imgs = np.stack([self.data.image(i) for i in idx]).astype(np.float32)
        x = torch.from_numpy(imgs) / 127.5 - 1
        if self.o.mirror:
            flip = torch.rand(self.rank_batch, generator=self.sampler) < 0.5
            x[flip] = x[flip].flip(3)
        return x.to(self.dev), None if self.data.labels is None else self._labels(idx)

    def _inputs(self) -> tuple:
        x, c = self._reals()
        real = x.split(self.bg)
        zs = torch.randn([len(self.phases) * self.rank_batch, self.G.z_dim], device=self.dev)
        zs = [z.split(self.bg) for z in zs.split(self.rank_batch)]
        if c is None:
            return real, [None] * len(real), zs, [[None] * len(real)] * len(self.phases)
        # The fakes' labels are drawn from the dataset's, as the official loop draws them.
        gi = torch.randint(len(self.data), [len(self.phases) * self.rank_batch], generator=self.sampler).tolist()
        gen_c = [g.split(self.bg) for g in self._labels(gi).split(self.rank_batch)]
        return real, list(c.split(self.bg)), zs, gen_c

    def step(self) -> None:
        o = self.o
        reduce = self._allreduce if self.world > 1 else None
        if self.virtual == 1:
            real, real_c, zs, cs = self._inputs()
            bad = run_phases(self.loss, self.phases, self.batch_idx, self.cur_nimg, real, real_c, zs, cs, reduce=reduce)
        else:
            from .step import run_phases_ranks
            ranks = []
            for v in range(self.virtual):
                with self._enter(v):
                    ranks.append(self._inputs())
            bad = run_phases_ranks(self.loss, self.phases, self.batch_idx, self.cur_nimg, ranks, self._enter, reduce)
        self.nan_steps += bad > 0                     # stepped over (nan -> 0), as the official loop
        update_ema(self.G_ema, self.G, ema_beta(o.batch, self.cur_nimg, o.batch * 10 / 32, self.ema_rampup))
        self.cur_nimg += o.batch
        self.batch_idx += 1
        if self.ada is not None:                                # the overfitting heuristic moves p
            self.ada.update(self.batch_idx, o.batch, reduce)

    @property
    def augment_p(self) -> float:
        return float(self.augment_pipe.p) if self.augment_pipe is not None else 0.0

    def run(self, stop_after_ticks: Optional[int] = None) -> Path:
        o = self.o
        writes = self.rank == 0                          # rank 0 alone writes
        if writes:
            self.out.mkdir(parents=True, exist_ok=True)
            if o.store and self.walk is None:
                from .walk import TrainingWalk
                self.walk = TrainingWalk(o.store, self.out, asdict(o), self.log)
                self.log(f"in the store {o.store} as walk {self.walk.id} (`livegan gallery --store {o.store}` shows it)")
        try:
            last = self._loop(writes, stop_after_ticks)
        except BaseException:
            if self.walk is not None:
                self.walk.close("stopped")
            raise
        if self.walk is not None:
            self.walk.close("done" if self.cur_nimg >= int(o.kimg * 1000) else "stopped")
        if self.world > 1:
            self.check_consistency()
        return last

    def _loop(self, writes: bool, stop_after_ticks: Optional[int]) -> Optional[Path]:
        o = self.o
        total = int(o.kimg * 1000)
        tick_start, t0 = self.cur_nimg, time.perf_counter()
        last = None
        while self.cur_nimg < total:
            self.step()
            if self.cur_nimg >= tick_start + o.tick * 1000 or self.cur_nimg >= total:
                self.tick += 1
                dt = time.perf_counter() - t0
                stats = tick_stats(self.loss, self.tick, self.cur_nimg, dt, (self.cur_nimg - tick_start) / 1000,
                                   self.augment_p, self.nan_steps)
                self.log(progress_line(stats, total, self.cur_nimg))
                if writes:
                    with open(self.out / "training_stats.jsonl", "a") as f:
                        f.write(json.dumps(stats) + "\n")
                    if self.walk is not None:
                        self.walk.tick(stats)
                if self.tick % o.snap == 0 or self.cur_nimg >= total:
                    processes = self.gather_streams()         # every rank's streams, for an identical resume
                    if writes:
                        last = self.snapshot(processes)
                tick_start, t0 = self.cur_nimg, time.perf_counter()
                if stop_after_ticks is not None and self.tick >= stop_after_ticks:
                    break
        return last

