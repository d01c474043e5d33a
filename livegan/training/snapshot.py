"""Training snapshots: everything a resume needs, written atomically (a killed run or a full disk
leaves the previous one valid), the G_ema as .safetensors for `perform.py --network`, a fakes grid
from a fixed z grid; and resuming from our own snapshot or from an official one."""
from __future__ import annotations

import json
import math
import os
from dataclasses import asdict
from pathlib import Path
from typing import Optional

import numpy as np
import torch

SNAPSHOT_FORMAT = "livegan-training-snapshot/1"


class Snapshotting:
    """The Trainer's snapshots and resume (a part of Trainer: it uses its state)."""

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

    def _resume(self, path: str) -> None:
        p = Path(path)
        if p.suffix == ".pt":
            from ..safeio import load_torch

            try:                                            # data only: no code runs
                st = load_torch(p, "training snapshot", map_location=self.dev)
            except ValueError as e:
                raise ValueError(f"--resume {e}") from None
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
            imgs = self.G_ema(self.grid_z, self.grid_c, noise_mode="const")
        x = ((imgs.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        n = int(math.sqrt(len(x)))
        x = x[: n * n].reshape(n, n, *x.shape[1:]).transpose(0, 2, 1, 3, 4)
        return x.reshape(n * x.shape[1], n * x.shape[3], x.shape[4])
