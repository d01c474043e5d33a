"""One training iteration as the official loop runs it (StyleGAN2-ADA `training_loop.py`):
lazy regularisation phases sharing each network's Adam, per-phase gradient sanitising (and the
cross-process mean under DDP), then G_ema with its ramp-up."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import torch

from .loss import StyleGAN2Loss


@dataclass
class Phase:
    name: str                       # Gmain, Greg, Gboth, Dmain, Dreg, Dboth
    module: torch.nn.Module
    opt: torch.optim.Optimizer
    interval: int


def make_phases(G: torch.nn.Module, D: torch.nn.Module, G_lr: float, D_lr: float,
                G_reg_interval: Optional[int], D_reg_interval: Optional[int],
                betas: Sequence[float] = (0.0, 0.99), eps: float = 1e-8) -> list[Phase]:
    """Each network's main and regularisation phases share one Adam; with lazy regularisation
    every r steps the optimiser's lr and betas are scaled by r/(r+1) (StyleGAN2, appendix B)."""
    phases = []
    for name, module, lr, r in (("G", G, G_lr, G_reg_interval), ("D", D, D_lr, D_reg_interval)):
        params = [p for p in module.parameters()]
        if r is None:
            opt = torch.optim.Adam(params, lr=lr, betas=tuple(float(b) for b in betas), eps=eps)
            phases.append(Phase(name + "both", module, opt, 1))
        else:
            ratio = r / (r + 1)
            # float betas: torch refuses the official [0, 0.99] (an int and a float)
            opt = torch.optim.Adam(params, lr=lr * ratio, betas=tuple(float(b) ** ratio for b in betas), eps=eps)
            phases += [Phase(name + "main", module, opt, 1), Phase(name + "reg", module, opt, r)]
    return phases


def sanitise_gradients(module: torch.nn.Module, reduce: Optional[Callable[[torch.Tensor], None]] = None) -> bool:
    """All gradients flattened into one tensor: averaged across processes (`reduce`, DDP), then
    nan -> 0, +-inf -> +-1e5, as the official loop does before every optimiser step.  True when
    something was not finite (the step goes on over it, and the loop counts it)."""
    params = [p for p in module.parameters() if p.numel() > 0 and p.grad is not None]
    if not params:
        return False
    flat = torch.cat([p.grad.flatten() for p in params])
    if reduce is not None:
        reduce(flat)
    bad = not bool(torch.isfinite(flat).all())
    torch.nan_to_num(flat, nan=0.0, posinf=1e5, neginf=-1e5, out=flat)
    for p, g in zip(params, flat.split([p.numel() for p in params])):
        p.grad = g.reshape(p.shape)
    return bad


def ema_beta(batch: int, cur_nimg: int, ema_kimg: float, ema_rampup: Optional[float]) -> float:
    nimg = ema_kimg * 1000
    if ema_rampup is not None:
        nimg = min(nimg, cur_nimg * ema_rampup)
    return 0.5 ** (batch / max(nimg, 1e-8))


@torch.no_grad()
def update_ema(G_ema: torch.nn.Module, G: torch.nn.Module, beta: float) -> None:
    for p_ema, p in zip(G_ema.parameters(), G.parameters()):
        p_ema.copy_(p.lerp(p_ema, beta))
    for b_ema, b in zip(G_ema.buffers(), G.buffers()):
        b_ema.copy_(b)


def run_phases_ranks(loss: StyleGAN2Loss, phases: list[Phase], batch_idx: int, cur_nimg: int, ranks: list,
                     enter: Callable, reduce: Optional[Callable[[torch.Tensor], None]] = None) -> int:
    """`run_phases` for several ranks in one process: each rank's gradients accumulate on their
    own (`enter(v)` switches to rank v's random streams and loss state), and the step takes their
    mean, as DDP's all-reduce gives across processes.  `ranks[v]` = (real, real_c, phase_z, phase_c)."""
    bad = 0
    for k, phase in enumerate(phases):
        if batch_idx % phase.interval != 0:
            continue
        total: Optional[list] = None
        for v, (real, real_c, zs, cs) in enumerate(ranks):
            phase.opt.zero_grad(set_to_none=True)
            phase.module.requires_grad_(True)
            with enter(v):
                for img, c, z, gc in zip(real, real_c, zs[k], cs[k]):
                    loss.accumulate_gradients(phase.name, img, c, z, gc, gain=phase.interval, cur_nimg=cur_nimg)
            phase.module.requires_grad_(False)
            grads = [p.grad for p in phase.module.parameters()]
            if total is None:
                total = [None if g is None else g.clone() for g in grads]
            else:
                total = [a if b is None else (b.clone() if a is None else a.add_(b)) for a, b in zip(total, grads)]
        for p, g in zip(phase.module.parameters(), total):
            p.grad = None if g is None else g.div_(len(ranks))
        bad += sanitise_gradients(phase.module, reduce)
        phase.opt.step()
    return bad


def run_phases(loss: StyleGAN2Loss, phases: list[Phase], batch_idx: int, cur_nimg: int,
               real: Sequence[torch.Tensor], real_c: Sequence[Optional[torch.Tensor]],
               phase_z: Sequence[Sequence[torch.Tensor]], phase_c: Sequence[Sequence[Optional[torch.Tensor]]],
               pl_noise: Optional[Callable[[int, int], Optional[torch.Tensor]]] = None,
               reduce: Optional[Callable[[torch.Tensor], None]] = None) -> int:
    """The phases due at `batch_idx` (returns how many had gradients that were not finite); `real`/`phase_z` are split into rounds of --batch-gpu
    (gradients accumulate over the rounds).  `pl_noise(phase_index, round)`: a stored draw for
    the path-length probe (the exactness fixtures), None to draw it."""
    bad = 0
    for k, (phase, zs, cs) in enumerate(zip(phases, phase_z, phase_c)):
        if batch_idx % phase.interval != 0:
            continue
        phase.opt.zero_grad(set_to_none=True)
        phase.module.requires_grad_(True)
        for i, (img, c, z, gc) in enumerate(zip(real, real_c, zs, cs)):
            loss.accumulate_gradients(phase.name, img, c, z, gc, gain=phase.interval, cur_nimg=cur_nimg,
                                      pl_noise_raw=pl_noise(k, i) if pl_noise is not None else None)
        phase.module.requires_grad_(False)
        bad += sanitise_gradients(phase.module, reduce)
        phase.opt.step()
    return bad
