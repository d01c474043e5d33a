"""`livegan train`: the official training loop (StyleGAN2-ADA `training_loop.py`) on our networks:
phases with lazy regularisation, G_ema with its ramp-up, a tick every --tick kimg (a progress line,
`training_stats.jsonl`), and every --snap ticks an atomic snapshot holding everything a resume needs
to continue identically (G, D, G_ema, the optimisers, pl_mean, augmentation state, counters and every
random generator's state), plus a fakes grid from a fixed z grid and the G_ema as .safetensors for
`perform.py --network`."""
from __future__ import annotations

import copy
import json
import math
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch

from .augment import diff_augment
from .dataset import ImageSet
from .loss import LossOptions, StyleGAN2Loss
from .networks import build_d, build_networks, canvas_generator, is_canvas_r
from .options import CONDS, TrainOptions
from .step import ema_beta, make_phases, run_phases, update_ema

SNAPSHOT_FORMAT = "livegan-training-snapshot/1"


class Trainer:
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
        self.data = ImageSet(o.data)
        self.dev = torch.device(o.device)
        self.canvas = o.cfg.startswith("canvas")
        if self.canvas:
            self.G = self._canvas_from_snapshot() or canvas_generator(o, self.data.resolution, self.data.channels)
            self.D = build_d(o, self.data.resolution, self.data.channels)
        else:
            self.G, self.D = build_networks(o, self.data.resolution, self.data.channels)
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
        # Each rank's own random streams (z, style mixing, noise; data; augmentation) and pl_mean.
        self.streams = []
        for v in range(virtual):
            g = rank * virtual + v
            torch.manual_seed(o.seed * n + g + 1)
            self.streams.append({"rng": torch.get_rng_state(),
                                 "sampler": torch.Generator().manual_seed(o.seed * n + g + 10_001),
                                 "aug": torch.Generator(device=self.dev).manual_seed(o.seed * n + g + 20_001),
                                 "pl_mean": torch.zeros([], device=self.dev)})
        torch.set_rng_state(self.streams[0]["rng"])
        self.sampler, self.aug_gen, self.loss.pl_mean = (self.streams[0][k] for k in ("sampler", "aug", "pl_mean"))
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
        if o.resume:
            self._resume(o.resume)

    # -- StyleGAN-Canvas ---------------------------------------------------------------------
    def _canvas_from_snapshot(self):
        """Resuming our own Canvas snapshot: the architecture it was built with."""
        if not (self.o.resume and self.o.resume.endswith(".pt")):
            return None
        from stylegan3 import build_generator
        try:
            st = torch.load(self.o.resume, map_location="cpu", weights_only=True)
            arch = json.loads(st["G_arch"])
        except Exception:
            raise ValueError(f"--resume {self.o.resume}: not a livegan Canvas training snapshot") from None
        G = build_generator(arch["family"], arch["init_kwargs"])
        if is_canvas_r(G) != (self.o.cfg == "canvas-r"):
            raise ValueError(f"--resume {self.o.resume}: a snapshot of --cfg canvas-{'r' if is_canvas_r(G) else 't'}")
        return G.train().requires_grad_(False)

    def condition(self, real: torch.Tensor) -> torch.Tensor:
        """What the encoder reads for a real picture: resized to the network's condition size, then
        the show's own preprocessing (conditions/prep.py) with --cond and --cond-blur."""
        from ..conditions.prep import prepare
        h, w = self.G.cond_shape[1:]
        x = real if tuple(real.shape[-2:]) == (h, w) else torch.nn.functional.interpolate(
            real, size=(h, w), mode="bilinear", align_corners=False)
        mode = CONDS.index(self.o.cond)
        return prepare(x, mode, self.o.cond_blur * h / 256.0)

    def _setup_canvas_loss(self) -> None:
        o = self.o
        self.loss.condition = self.condition
        self.loss.target_l2 = o.euclidean
        if o.vgg:
            from .perceptual import VGGFeatures
            vgg = VGGFeatures.load(o.vgg).to(self.dev)
            self.loss.perceptual, self.loss.perceptual_weight = vgg.distance, o.perceptual
        n = min(64, len(self.data))                  # the fakes grid: the same reals' conditions every snapshot
        reals = torch.from_numpy(np.stack([self.data.image(i) for i in range(n)]).astype(np.float32)) / 127.5 - 1
        with torch.no_grad():
            self.grid_cond = self.condition(reals.to(self.dev))

    # -- state ----------------------------------------------------------------------------------
    def own_streams(self) -> dict:
        """This process's ranks' random streams, pl_mean and ADA's pending signs: what each
        process must get back for a resumed run to continue as the unbroken one."""
        cuda = self.dev.type == "cuda"
        ranks = [{"torch": torch.get_rng_state() if self.virtual == 1 else st["rng"],
                  "cuda": torch.cuda.get_rng_state(self.dev) if cuda else None,
                  "sampler": st["sampler"].get_state(), "aug": st["aug"].get_state(),
                  "pl_mean": st["pl_mean"].detach().cpu().clone()} for st in self.streams]
        return {"ranks": ranks, "ada_signs": [t.clone() for t in self.ada.signs] if self.ada else []}

    def gather_streams(self) -> list:
        """Every process's `own_streams`, in rank order (a collective: every rank calls it)."""
        own = self.own_streams()
        if self.world == 1:
            return [own]
        import torch.distributed as dist
        got: list = [None] * self.world
        dist.all_gather_object(got, own)
        return got

    def state(self, processes: Optional[list] = None) -> dict:
        return {"format": SNAPSHOT_FORMAT, "options": asdict(self.o),
                "G_arch": json.dumps({"family": self.G.family, "init_kwargs": self.G.init_kwargs}),
                "G": self.G.state_dict(), "D": self.D.state_dict(), "G_ema": self.G_ema.state_dict(),
                "opts": [p.opt.state_dict() for p in self.phases if p.name.endswith(("main", "both"))],
                "cur_nimg": self.cur_nimg, "batch_idx": self.batch_idx,
                "tick": self.tick, "ema_rampup": self.ema_rampup, "nan_steps": self.nan_steps,
                "augment_p": self.augment_p, "ada_kimg": self.ada.ada_kimg if self.ada else None,
                # every rank's streams, pl_mean and ADA signs (older snapshots: rank 0's, top level)
                "processes": processes if processes is not None else [self.own_streams()]}

    def _restore_streams(self, st: dict) -> None:
        """Each rank's own streams back (a snapshot of the same process layout), else rank 0's
        where it was one process, else new ones (said in a line: the run goes on, not identically)."""
        procs = st.get("processes")
        if procs and len(procs) == self.world and all(len(p["ranks"]) == self.virtual for p in procs):
            mine = procs[self.rank]
            for own, saved in zip(self.streams, mine["ranks"]):
                own["rng"] = saved["torch"]
                own["sampler"].set_state(saved["sampler"])
                own["aug"].set_state(saved["aug"])
                own["pl_mean"].copy_(saved["pl_mean"].to(self.dev))
            torch.set_rng_state(mine["ranks"][0]["torch"])
            if self.dev.type == "cuda" and mine["ranks"][0].get("cuda") is not None:
                torch.cuda.set_rng_state(mine["ranks"][0]["cuda"], self.dev)
            if self.ada is not None:
                self.ada.signs = list(mine["ada_signs"])
            return
        if procs is None and self.world * self.virtual == 1:     # a snapshot from before per-rank streams
            self.loss.pl_mean.copy_(st["pl_mean"])
            torch.set_rng_state(st["rng"]["torch"])
            if self.dev.type == "cuda" and st["rng"].get("cuda") is not None:
                torch.cuda.set_rng_state(st["rng"]["cuda"], self.dev)
            self.sampler.set_state(st["rng"]["sampler"])
            self.aug_gen.set_state(st["rng"]["aug"])
            if self.ada is not None:
                self.ada.signs = list(st.get("ada_signs", []))
            return
        was = sum(len(p["ranks"]) for p in procs) if procs else 1
        self.log(f"the snapshot was written by {was} rank(s), this run has {self.world * self.virtual}: "
                 "the random streams start anew (the run continues, not as the unbroken one would)")

    def _resume(self, path: str) -> None:
        p = Path(path)
        if p.suffix == ".pt":
            try:
                st = torch.load(p, map_location=self.dev, weights_only=True)   # data only: no code runs
            except Exception as e:
                raise ValueError(f"--resume {path}: not a livegan training snapshot ({type(e).__name__})") from None
            if not isinstance(st, dict) or st.get("format") != SNAPSHOT_FORMAT:
                raise ValueError(f"--resume {path}: not a livegan training snapshot")
            for name in ("G", "D", "G_ema"):
                self._load(getattr(self, name), st[name], path, name)
            for opt, sd in zip([p.opt for p in self.phases if p.name.endswith(("main", "both"))], st["opts"]):
                opt.load_state_dict(sd)
            self.cur_nimg, self.batch_idx, self.tick = st["cur_nimg"], st["batch_idx"], st["tick"]
            self.ema_rampup, self.nan_steps = st["ema_rampup"], st["nan_steps"]
            if self.augment_pipe is not None and self.o.aug == "ada":
                self.augment_pipe.p.fill_(float(st.get("augment_p", 0.0)))
                self.ada.ada_kimg = st.get("ada_kimg") or self.ada.ada_kimg
            self._restore_streams(st)
            self.log(f"resumed {path} at {self.cur_nimg / 1000:.3f} kimg")
            return
        if self.canvas:                                  # the network itself is the start (canvas_generator)
            self.G_ema.load_state_dict(self.G.state_dict())
            self.ema_rampup = None
            self.log(f"fine-tuning the Canvas network {path}")
            return
        from stylegan3.checkpoints import load_training_snapshot          # NVIDIA's own pickle
        snap = load_training_snapshot(p)
        for name in ("G", "D", "G_ema"):
            self._load(getattr(self, name), {k: v.to(self.dev) for k, v in snap[name].state_dict().items()}, path, name)
        self.ema_rampup = None                                  # as the official resume: no EMA ramp-up
        self.loss.opts.blur_init_sigma = 0.0
        if self.ada is not None:                                # ADA continues from the snapshot's p,
            self.augment_pipe.p.fill_(float(snap.get("augment_p") or 0.0))
            self.ada.ada_kimg = min(self.ada.ada_kimg, 100.0)    # and reacts faster, as the official resume
        self.log(f"fine-tuning from {path}")

    @staticmethod
    def _load(net, state: dict, path: str, name: str) -> None:
        own = net.state_dict()
        bad = [k for k in own if k not in state or tuple(state[k].shape) != tuple(own[k].shape)]
        if bad or set(state) - set(own):
            k = (bad or sorted(set(state) - set(own)))[0]
            raise ValueError(f"--resume {path}: its {name} is another architecture or resolution than this run's "
                             f"(first difference: {k}); use the same --cfg, --cbase, --cmax, --map-depth and data --res")
        net.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()})

    # -- the loop -------------------------------------------------------------------------------
    def _reals(self) -> torch.Tensor:
        idx = torch.randint(len(self.data), [self.rank_batch], generator=self.sampler).tolist()
        imgs = np.stack([self.data.image(i) for i in idx]).astype(np.float32)
        x = torch.from_numpy(imgs) / 127.5 - 1
        if self.o.mirror:
            flip = torch.rand(self.rank_batch, generator=self.sampler) < 0.5
            x[flip] = x[flip].flip(3)
        return x.to(self.dev)

    def _enter(self, v: int):
        """Rank v's streams while it runs (one rank: already in place)."""
        from contextlib import contextmanager

        @contextmanager
        def ctx():
            if self.virtual == 1:
                yield
                return
            st = self.streams[v]
            torch.set_rng_state(st["rng"])
            self.sampler, self.aug_gen, self.loss.pl_mean = st["sampler"], st["aug"], st["pl_mean"]
            try:
                yield
            finally:
                st["rng"] = torch.get_rng_state()
        return ctx()

    def _inputs(self) -> tuple:
        real = self._reals().split(self.bg)
        zs = torch.randn([len(self.phases) * self.rank_batch, self.G.z_dim], device=self.dev)
        zs = [z.split(self.bg) for z in zs.split(self.rank_batch)]
        return real, [None] * len(real), zs, [[None] * len(real)] * len(self.phases)

    def _allreduce(self, flat: torch.Tensor) -> None:
        import torch.distributed as dist
        dist.all_reduce(flat)
        flat /= self.world

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
                stats = self._tick_stats(dt, (self.cur_nimg - tick_start) / 1000)
                self.log(self._line(stats, total))
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

    def check_consistency(self) -> None:
        """Every process holds the same parameters (their running averages, w_avg and
        magnitude_ema, follow each process's own data and may differ, as in the official loop)."""
        import torch.distributed as dist

        flat = torch.cat([p.detach().flatten().double() for net in (self.G, self.D, self.G_ema)
                          for p in net.parameters()])
        got = [torch.zeros_like(flat) for _ in range(self.world)]
        dist.all_gather(got, flat)
        worst = max(float((g - got[0]).abs().max()) for g in got)
        if worst != 0.0:
            raise RuntimeError(f"the {self.world} processes' parameters differ (by up to {worst:.3g})")
        self.log(f"{self.world} processes: identical parameters")

    def _tick_stats(self, dt: float, kimg: float) -> dict:
        r = self.loss.reports
        mean = lambda k: float(torch.cat(r[k]).mean()) if r.get(k) else None
        stats = {"tick": self.tick, "kimg": self.cur_nimg / 1000, "sec_per_kimg": dt / max(kimg, 1e-9),
                 "loss_G": mean("Loss/G/loss"), "loss_D": mean("Loss/D/loss"), "r1": mean("Loss/r1_penalty"),
                 "pl": mean("Loss/pl_penalty"), "signs_real": mean("Loss/signs/real"),
                 "signs_fake": mean("Loss/signs/fake"), "target": mean("Loss/G/target"), "augment_p": self.augment_p, "time": time.time()}
        bad = [k for k, v in stats.items() if isinstance(v, float) and not math.isfinite(v)]
        if bad:
            stats["nan"] = bad
        stats["nan_steps"] = self.nan_steps
        self.loss.reports = {}
        return stats

    def _line(self, s: dict, total: int) -> str:
        from ..console import duration

        left = (total - self.cur_nimg) / 1000 * s["sec_per_kimg"]
        f = lambda v: "-" if v is None else f"{v:.3f}"
        return (f"tick {s['tick']:<4d} kimg {s['kimg']:<8.3f} sec/kimg {s['sec_per_kimg']:<7.1f} "
                f"G {f(s['loss_G'])} D {f(s['loss_D'])} " + (f"target {f(s['target'])} " if s.get("target") is not None else "") + f"signs real {f(s['signs_real'])} fake {f(s['signs_fake'])} "
                f"augment {s['augment_p']:.3f} " + (f"non-finite steps {s['nan_steps']} " if s.get("nan_steps") else "")
                + f"ETA {duration(left)}")

    def snapshot(self, processes: Optional[list] = None) -> Path:
        """Everything, atomically: a killed run (or a full disk) leaves the previous snapshot valid."""
        from stylegan3 import save_safetensors

        from ..imaging import save_png
        k = f"{self.cur_nimg / 1000:09.3f}kimg"
        path = self.out / f"snapshot-{k}.pt"
        tmp = path.with_name("." + path.name + ".part")
        try:
            torch.save(self.state(processes), tmp)
            os.replace(tmp, path)
        except (OSError, RuntimeError) as e:              # a full disk: the last snapshot stays what it was
            why = getattr(e, "strerror", None) or str(e).splitlines()[0]
            raise OSError(f"the snapshot at {self.cur_nimg / 1000:.3f} kimg could not be written ({why}); the last "
                          f"complete one is {self.last_snapshot or 'none'}: --resume it") from None
        finally:
            tmp.unlink(missing_ok=True)
        self.last_snapshot = path
        self._prune(path)
        self.G_ema.family, self.G_ema.init_kwargs = self.G.family, self.G.init_kwargs
        save_safetensors(self.G_ema, self.out / f"network-{k}.safetensors")
        save_png(self.out / f"fakes-{k}.png", self.fakes())
        if self.walk is not None:
            self.walk.snapshot(self.cur_nimg / 1000, self.out / f"fakes-{k}.png", self.out / f"network-{k}.safetensors", path)
        return path

    def _prune(self, newest: Path) -> None:
        """--keep N: only the newest N resumable snapshots stay (each holds G, D, G_ema and the
        optimisers: tens of MB).  The networks and fakes of every snapshot stay (the studio
        scrubs them and a show can play any of them); the one just written is never removed."""
        if self.o.keep <= 0:
            return
        old = sorted(p for p in self.out.glob("snapshot-*kimg.pt") if p != newest)
        for p in old[: max(0, len(old) - (self.o.keep - 1))]:
            try:
                p.unlink()
            except OSError as e:
                self.log(f"could not remove the old snapshot {p.name} (--keep {self.o.keep}): {e.strerror or e}")

    @torch.no_grad()
    def fakes(self) -> np.ndarray:
        """A grid of G_ema's pictures from the fixed z grid (the same z in every snapshot)."""
        if self.canvas:
            n = len(self.grid_cond)
            imgs = torch.cat([self.G_ema(self.grid_z[i:min(i + 8, n)], None, self.grid_cond[i:i + 8], noise_mode="const")
                              for i in range(0, n, 8)])
        else:
            imgs = self.G_ema(self.grid_z, None, noise_mode="const")
        x = ((imgs.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        n = int(math.sqrt(len(x)))
        x = x[: n * n].reshape(n, n, *x.shape[1:]).transpose(0, 2, 1, 3, 4)
        return x.reshape(n * x.shape[1], n * x.shape[3], x.shape[4])

