"""Each rank's own random streams (z, style mixing and noise; the data sampler; augmentation) and
pl_mean, and what data-parallel processes share: a resumed run must get every stream back to go on
as the unbroken one would, and every process must end with the same parameters."""
from __future__ import annotations

import torch


class Streams:
    """The Trainer's random streams and collectives (a part of Trainer: it uses its state)."""

    def make_streams(self, seed: int, n: int) -> None:
        """Rank g's streams are seeded from (seed, g): each virtual rank of this process gets its own."""
        self.streams = []
        for v in range(self.virtual):
            g = self.rank * self.virtual + v
            torch.manual_seed(seed * n + g + 1)
            self.streams.append({"rng": torch.get_rng_state(),
                                 "sampler": torch.Generator().manual_seed(seed * n + g + 10_001),
                                 "aug": torch.Generator(device=self.dev).manual_seed(seed * n + g + 20_001),
                                 "pl_mean": torch.zeros([], device=self.dev)})
        torch.set_rng_state(self.streams[0]["rng"])
        self.sampler, self.aug_gen, self.loss.pl_mean = (self.streams[0][k] for k in ("sampler", "aug", "pl_mean"))

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

    def _allreduce(self, flat: torch.Tensor) -> None:
        import torch.distributed as dist
        dist.all_reduce(flat)
        flat /= self.world

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
