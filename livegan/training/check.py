"""`livegan train check DIR`: run a training fixture of the official trainer's results (D forward,
each loss phase's gradients, one whole iteration) through our trainer and report each case's
relative error against its limit.  A case we cannot run is a failure, never a skip."""
from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np

# The fixtures' tolerances (their README): logits and losses, gradients, tensors after a step.
LIMITS = {"value": 1e-5, "grad": 1e-4, "after": 1e-5}


@dataclass
class CaseResult:
    case: str
    error: float                    # the worst relative error over the case's tensors
    limit: float
    worst: str = ""                 # which tensor it was
    problem: str = ""               # why the case could not run

    @property
    def ok(self) -> bool:
        return not self.problem and math.isfinite(self.error) and self.error <= self.limit

    def line(self) -> str:
        if self.problem:
            return f"FAIL  {self.case:18s} could not run: {self.problem}"
        verdict = "ok  " if self.ok else "FAIL"
        return f"{verdict}  {self.case:18s} relative error {self.error:.2e} (limit {self.limit:.0e}; worst {self.worst})"


def relative_error(got, want) -> float:
    """||got - want|| / ||want|| (L2 over the whole tensor; absolute when want is all zero)."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if got.shape != want.shape:
        return math.inf
    den = np.linalg.norm(want.ravel())
    num = np.linalg.norm((got - want).ravel())
    return float(num / den) if den > 0 else float(num)


class _Fixture:
    def __init__(self, folder: Path):
        self.folder = folder
        self.meta = json.loads((folder / "cases.json").read_text())
        self.arrays = np.load(folder / "cases.npz")

    def get(self, key: str) -> np.ndarray:
        return self.arrays[key]

    def prefixed(self, prefix: str) -> dict[str, np.ndarray]:
        return {k[len(prefix):]: self.arrays[k] for k in self.arrays.files if k.startswith(prefix)}


def _torch(x):
    import torch
    return torch.from_numpy(np.ascontiguousarray(x))


def _networks(fx: _Fixture):
    """G from the generator fixture beside this one, D from its state dict; float32, training mode."""
    import torch
    from stylegan3 import load_network
    from stylegan3.discriminator import build_discriminator

    gdir = fx.folder.parent / fx.meta["generator_fixture"]
    G = load_network(str(gdir / "network.pkl"), device="cpu", precision="fp32")
    state = gdir / "state_dict.npz"
    if state.exists():
        with np.load(state) as s:
            G.load_state_dict({k: _torch(s[k]) for k in s.files}, strict=True)
    D = build_discriminator(fx.meta["D_init_kwargs"])
    with np.load(fx.folder / "D_state_dict.npz") as s:
        D.load_state_dict({k: _torch(s[k]) for k in s.files}, strict=True)
    for net in (G, D):
        net.train().requires_grad_(False).to(torch.float32)
    return G, D


def _loss(fx: _Fixture, G, D):
    from .loss import LossOptions, StyleGAN2Loss

    kw = fx.meta["loss_kwargs"]
    opts = LossOptions(**{k: kw[k] for k in LossOptions.__dataclass_fields__ if k in kw})
    return StyleGAN2Loss(G, D, opts, noise_mode="const")


def _grads(module, names: dict) -> dict:
    own = dict(module.named_parameters())
    return {n: (own[n].grad.numpy() if n in own and own[n].grad is not None else np.zeros_like(v) * np.nan)
            for n, v in names.items()}


def _worst(results: list[tuple[str, float]]) -> tuple[float, str]:
    if not results:
        return math.inf, "nothing compared"
    name, err = max(results, key=lambda r: r[1] if math.isfinite(r[1]) else math.inf)
    return err, name


def _compare(pairs: dict[str, tuple]) -> list[tuple[str, float]]:
    return [(k, relative_error(g, w)) for k, (g, w) in pairs.items()]


def _mean(reports: dict, key: str) -> float:
    import torch
    return float(torch.cat(reports[key]).double().mean())


def case_d_forward(fx, blur_sigma: float = 0.0) -> list[tuple[str, float]]:
    import torch
    from .loss import blur

    _, D = _networks(fx)
    with torch.no_grad():
        logits = D(blur(_torch(fx.get("d_forward.real")), blur_sigma)).numpy()
    key = "d_forward_blur3.logits" if blur_sigma else "d_forward.logits"
    return [("logits", relative_error(logits, fx.get(key)))]


def case_g_main(fx) -> list[tuple[str, float]]:
    import torch

    G, D = _networks(fx)
    loss = _loss(fx, G, D)
    z = _torch(fx.get("g_main.gen_z"))
    with torch.no_grad():
        img, _ = loss.run_G(z, None)
    G.requires_grad_(True)
    loss.accumulate_gradients("Gmain", None, None, z, None, gain=1, cur_nimg=0)
    out = [("gen_img", relative_error(img.numpy(), fx.get("g_main.gen_img"))),
           ("logits", relative_error(torch.cat(loss.reports["Loss/scores/fake"]).numpy().reshape(-1, 1), fx.get("g_main.logits"))),
           ("loss", relative_error(_mean(loss.reports, "Loss/G/loss"), fx.get("g_main.loss")))]
    want = fx.prefixed("g_main.grad.")
    return out + _compare({f"grad.{k}": (g, want[k]) for k, g in _grads(G, want).items()})


def case_d_main(fx) -> list[tuple[str, float]]:
    import torch.nn.functional as F
    import torch

    G, D = _networks(fx)
    loss = _loss(fx, G, D)
    D.requires_grad_(True)
    loss.accumulate_gradients("Dmain", _torch(fx.get("d_main.real")), None, _torch(fx.get("d_main.gen_z")), None,
                              gain=1, cur_nimg=0)
    fake, real = torch.cat(loss.reports["Loss/scores/fake"]), torch.cat(loss.reports["Loss/scores/real"])
    value = float(F.softplus(fake.double()).mean() + F.softplus(-real.double()).mean())
    out = [("loss", relative_error(value, fx.get("d_main.loss")))]
    want = fx.prefixed("d_main.grad.")
    out += _compare({f"grad.{k}": (g, want[k]) for k, g in _grads(D, want).items()})
    buffers = dict(G.named_buffers())
    return out + _compare({f"buffers_after.{k}": (buffers[k].numpy() if k in buffers else None, v)
                           for k, v in fx.prefixed("d_main.buffers_after.").items()})


def case_d_reg(fx) -> list[tuple[str, float]]:
    import torch

    G, D = _networks(fx)
    loss = _loss(fx, G, D)
    D.requires_grad_(True)
    interval = fx.meta["cases"]["step"]["D_reg_interval"]
    loss.accumulate_gradients("Dreg", _torch(fx.get("d_reg.real")), None, _torch(fx.get("g_main.gen_z")), None,
                              gain=interval, cur_nimg=0)
    out = [("r1_penalty", relative_error(torch.cat(loss.reports["Loss/r1_penalty"]).numpy(), fx.get("d_reg.r1_penalty")))]
    want = fx.prefixed("d_reg.grad.")
    return out + _compare({f"grad.{k}": (g, want[k]) for k, g in _grads(D, want).items()})


def case_g_reg(fx) -> list[tuple[str, float]]:
    G, D = _networks(fx)
    loss = _loss(fx, G, D)
    G.requires_grad_(True)
    z = _torch(fx.get("g_reg.gen_z"))
    z = z.repeat(loss.opts.pl_batch_shrink, 1)           # accumulate_gradients keeps the first 1/shrink
    interval = fx.meta["cases"]["step"]["G_reg_interval"]
    loss.accumulate_gradients("Greg", None, None, z, None, gain=interval, cur_nimg=0,
                              pl_noise_raw=_torch(fx.get("g_reg.pl_noise_raw")))
    out = [("pl_mean_after", relative_error(loss.pl_mean.numpy(), fx.get("g_reg.pl_mean_after")))]
    want = fx.prefixed("g_reg.grad.")
    return out + _compare({f"grad.{k}": (g, want[k]) for k, g in _grads(G, want).items()})


def case_step(fx) -> list[tuple[str, float]]:
    from .step import ema_beta, make_phases, run_phases, update_ema

    spec = fx.meta["cases"]["step"]
    G, D = _networks(fx)
    G_ema = copy.deepcopy(G)
    loss = _loss(fx, G, D)
    phases = make_phases(G, D, spec["G_lr"], spec["D_lr"], spec["G_reg_interval"], spec["D_reg_interval"])
    if [p.name for p in phases] != spec["phases"]:
        raise ValueError(f"phases {[p.name for p in phases]} differ from the fixture's {spec['phases']}")
    batch = fx.meta["batch"]
    real = [_torch(fx.get("step.real"))]
    zs = [[z] for z in _torch(fx.get("step.phase_z"))]
    pl = _torch(fx.get("step.pl_noise_raw"))
    run_phases(loss, phases, batch_idx=0, cur_nimg=spec["cur_nimg"], real=real, real_c=[None],
               phase_z=zs, phase_c=[[None]] * len(phases), pl_noise=lambda k, i: pl)
    beta = ema_beta(batch, spec["cur_nimg"], batch * 10 / 32, 0.05)
    update_ema(G_ema, G, beta)
    out = [("ema_beta", relative_error(beta, fx.get("step.ema_beta")))]
    for label, net in (("G_after", G), ("D_after", D), ("G_ema_after", G_ema)):
        own = net.state_dict()
        out += _compare({f"{label}.{k}": (own[k].numpy() if k in own else None, v)
                         for k, v in fx.prefixed(f"step.{label}.").items()})
    return out


def case_step_d(fx) -> list[tuple[str, float]]:
    """The step's D half alone: our Dmain and Dreg phases (shared Adam, lazy R1, sanitising) run
    against the official G as it was after its own phases, and G_ema from that G (the step's G
    half is not separable: the fixture keeps no state between its phases)."""
    from .step import ema_beta, make_phases, run_phases, update_ema

    spec = fx.meta["cases"]["step"]
    G, D = _networks(fx)
    G_ema = copy.deepcopy(G)
    g_after = fx.prefixed("step.G_after.")
    G.load_state_dict({k: _torch(v) for k, v in g_after.items()}, strict=True)
    loss = _loss(fx, G, D)
    phases = make_phases(G, D, spec["G_lr"], spec["D_lr"], spec["G_reg_interval"], spec["D_reg_interval"])
    zs = [[z] for z in _torch(fx.get("step.phase_z"))]
    d_idx = [i for i, p in enumerate(phases) if p.name.startswith("D")]
    run_phases(loss, [phases[i] for i in d_idx], batch_idx=0, cur_nimg=spec["cur_nimg"],
               real=[_torch(fx.get("step.real"))], real_c=[None], phase_z=[zs[i] for i in d_idx],
               phase_c=[[None]] * len(d_idx))
    G.load_state_dict({k: _torch(v) for k, v in g_after.items()}, strict=True)   # w_avg as after the step
    update_ema(G_ema, G, ema_beta(fx.meta["batch"], spec["cur_nimg"], fx.meta["batch"] * 10 / 32, 0.05))
    out = []
    for label, net in (("D_after", D), ("G_ema_after", G_ema)):
        own = net.state_dict()
        out += _compare({f"{label}.{k}": (own[k].numpy() if k in own else None, v)
                         for k, v in fx.prefixed(f"step.{label}.").items()})
    return out


CASES: dict[str, tuple[Callable, str]] = {
    "d_forward": (case_d_forward, "value"),
    "d_forward_blur3": (lambda fx: case_d_forward(fx, 3.0), "value"),
    "g_main": (case_g_main, "grad"),
    "d_main": (case_d_main, "grad"),
    "d_reg": (case_d_reg, "grad"),
    "g_reg": (case_g_reg, "grad"),
    "step": (case_step, "after"),
    "step_d": (case_step_d, "after"),
}
DERIVED = {"step": ["step_d"]}          # cases built from another case's data


def _limit(kind: str, name: str) -> float:
    """Gradient cases hold values too (logits, losses, penalties): each has its own limit."""
    if kind == "grad" and not name.startswith("grad."):
        return LIMITS["value"] if not name.startswith("buffers_after") else LIMITS["after"]
    return LIMITS[kind]


def run_fixture(folder: str | Path, only: Optional[list[str]] = None) -> list[CaseResult]:
    """Every case the fixture lists (cases.json), ours against theirs."""
    import torch

    folder = Path(folder)
    try:
        fx = _Fixture(folder)
    except (OSError, ValueError, KeyError) as e:
        return [CaseResult("fixture", math.inf, 0.0, problem=f"{folder}: {e}")]
    names = [n for case in fx.meta.get("cases", {}) for n in [case] + DERIVED.get(case, [])]
    results = []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)                  # the fixtures were made single-threaded; summation order
    try:
        for name in names:
            if only and name not in only:
                continue
            if name not in CASES:
                results.append(CaseResult(name, math.inf, 0.0, problem="no runner for this case"))
                continue
            fn, kind = CASES[name]
            try:
                pairs = fn(fx)
            except Exception as e:                # a case we cannot run is a failure, with the reason
                results.append(CaseResult(name, math.inf, LIMITS[kind], problem=f"{type(e).__name__}: {e}"))
                continue
            # Each tensor against its own limit; the case reports its worst ratio to the limit.
            ratio = [(n, e / _limit(kind, n)) for n, e in pairs]
            err, worst = _worst(ratio)
            limit = _limit(kind, worst) if worst in dict(pairs) else LIMITS[kind]
            results.append(CaseResult(name, dict(pairs).get(worst, math.inf), limit, worst))
    finally:
        torch.set_num_threads(threads)
    for name in only or []:
        if name not in names:
            results.append(CaseResult(name, math.inf, 0.0, problem=f"not a case of this fixture (it has: {', '.join(names)})"))
    return results
