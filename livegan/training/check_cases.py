"""The cases of a training fixture, each run through our trainer: D forward, each loss phase's
gradients, each optimiser's first step from given gradients, one whole iteration.  Each returns
its measures; `check.verdict` judges them by the fixture's limits."""
from __future__ import annotations

import copy
import re
from typing import Callable, Optional

import numpy as np

from .check_measures import Fixture, Measure, buffers, tensors, updates, value


def _torch(x):
    import torch
    return torch.from_numpy(np.array(x, order="C"))      # a 0-d array stays 0-d (ascontiguousarray makes it 1-d)


def _networks(fx: Fixture):
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


def _loss(fx: Fixture, G, D):
    from .loss import LossOptions, StyleGAN2Loss

    kw = fx.meta["loss_kwargs"]
    opts = LossOptions(**{k: kw[k] for k in LossOptions.__dataclass_fields__ if k in kw})
    return StyleGAN2Loss(G, D, opts, noise_mode="const")


def _grads(module) -> dict:
    return {n: p.grad.numpy() for n, p in module.named_parameters() if p.grad is not None}


def _state(module) -> dict:
    return {k: v.detach().numpy().copy() for k, v in module.state_dict().items()}


def _split(module, state: dict) -> tuple[dict, dict]:
    """(parameters, buffers) of a state dict, by the module's own parameter names."""
    params = {n for n, _ in module.named_parameters()}
    return {k: v for k, v in state.items() if k in params}, {k: v for k, v in state.items() if k not in params}


def _mean(reports: dict, key: str) -> float:
    import torch
    return float(torch.cat(reports[key]).double().mean())


def case_d_forward(fx: Fixture, name: str) -> list[Measure]:
    import torch
    from .loss import blur

    m = re.fullmatch(r"d_forward(?:_blur(\d+(?:\.\d+)?))?", name)
    sigma = float(m.group(1)) if m and m.group(1) else 0.0
    _, D = _networks(fx)
    with torch.no_grad():
        logits = D(blur(_torch(fx.get("d_forward.real")), sigma)).numpy()
    return [value("logits", logits, fx.get(f"{name}.logits"))]


def _gradient_measures(fx: Fixture, case: str, module) -> list[Measure]:
    return tensors("grad", _grads(module), fx.prefixed(f"{case}.grad."), "grad_rel_l2_each", "grad_rel_l2_all")


def case_g_main(fx: Fixture, name: str) -> list[Measure]:
    import torch

    G, D = _networks(fx)
    loss = _loss(fx, G, D)
    z = _torch(fx.get("g_main.gen_z"))
    with torch.no_grad():
        img, _ = loss.run_G(z, None)
    G.requires_grad_(True)
    loss.accumulate_gradients("Gmain", None, None, z, None, gain=1, cur_nimg=0)
    out = [value("gen_img", img.numpy(), fx.get("g_main.gen_img")),
           value("logits", torch.cat(loss.reports["Loss/scores/fake"]).numpy().reshape(-1, 1), fx.get("g_main.logits")),
           value("loss", _mean(loss.reports, "Loss/G/loss"), fx.get("g_main.loss"))]
    return out + _gradient_measures(fx, "g_main", G)


def case_d_main(fx: Fixture, name: str) -> list[Measure]:
    import torch
    import torch.nn.functional as F

    G, D = _networks(fx)
    loss = _loss(fx, G, D)
    D.requires_grad_(True)
    loss.accumulate_gradients("Dmain", _torch(fx.get("d_main.real")), None, _torch(fx.get("d_main.gen_z")), None,
                              gain=1, cur_nimg=0)
    fake, real = torch.cat(loss.reports["Loss/scores/fake"]), torch.cat(loss.reports["Loss/scores/real"])
    total = float(F.softplus(fake.double()).mean() + F.softplus(-real.double()).mean())
    out = [value("loss", total, fx.get("d_main.loss"))] + _gradient_measures(fx, "d_main", D)
    own = {k: v.numpy() for k, v in G.named_buffers()}
    return out + buffers("buffers_after", own, fx.prefixed("d_main.buffers_after."))


def case_d_reg(fx: Fixture, name: str) -> list[Measure]:
    import torch

    G, D = _networks(fx)
    loss = _loss(fx, G, D)
    D.requires_grad_(True)
    interval = fx.cases["step"]["D_reg_interval"]
    gen_z = fx.get("d_reg.gen_z") if fx.has("d_reg.gen_z") else fx.get("g_main.gen_z")   # unused by R1
    loss.accumulate_gradients("Dreg", _torch(fx.get("d_reg.real")), None, _torch(gen_z), None,
                              gain=interval, cur_nimg=0)
    out = [value("r1_penalty", torch.cat(loss.reports["Loss/r1_penalty"]).numpy(), fx.get("d_reg.r1_penalty"))]
    return out + _gradient_measures(fx, "d_reg", D)


def case_g_reg(fx: Fixture, name: str) -> list[Measure]:
    G, D = _networks(fx)
    loss = _loss(fx, G, D)
    G.requires_grad_(True)
    z = _torch(fx.get("g_reg.gen_z"))
    z = z.repeat(loss.opts.pl_batch_shrink, 1)           # accumulate_gradients keeps the first 1/shrink
    interval = fx.cases["step"]["G_reg_interval"]
    loss.accumulate_gradients("Greg", None, None, z, None, gain=interval, cur_nimg=0,
                              pl_noise_raw=_torch(fx.get("g_reg.pl_noise_raw")))
    out = [value("pl_mean_after", loss.pl_mean.numpy(), fx.get("g_reg.pl_mean_after"))]
    return out + _gradient_measures(fx, "g_reg", G)


def _phases(fx: Fixture, G, D):
    """Our optimisers as the loop builds them, from the step's learning rates and intervals."""
    from .step import make_phases

    spec = fx.cases["step"]
    return make_phases(G, D, spec["G_lr"], spec["D_lr"], spec.get("G_reg_interval"), spec.get("D_reg_interval"))


def case_adam(fx: Fixture, name: str) -> list[Measure]:
    """One optimiser step from the fixture's initial weights with the gradients it names: the
    optimiser alone (lr and betas under lazy regularisation, eps, sanitising), nothing upstream."""
    from .step import sanitise_gradients

    spec = fx.cases[name]
    which = spec["network"]
    G, D = _networks(fx)
    net = {"G": G, "D": D}[which]
    m = re.match(r"\s*([\w.]+)\.\*", spec["gradients"])
    if not m:
        raise ValueError(f"cannot read the gradients' keys from {spec['gradients']!r}")
    given = fx.prefixed(m.group(1) + ".")
    phase = next(p for p in _phases(fx, G, D) if p.module is net)
    own = dict(net.named_parameters())
    unknown = sorted(set(given) - set(own))
    if unknown:
        raise ValueError(f"gradients for tensors {which} does not have: {', '.join(unknown[:3])}")
    before = _state(net)
    for n, p in own.items():
        p.grad = _torch(given[n]).clone() if n in given else None
    sanitise_gradients(net)
    phase.opt.step()
    group = phase.opt.param_groups[0]
    out = [value("lr", group["lr"], spec["lr"]), value("betas", list(group["betas"]), spec["betas"]),
           value("eps", group["eps"], spec["eps"])]
    params, _ = _split(net, _state(net))
    after = fx.prefixed(f"{name}.{which}_after.")
    return out + updates(f"{which}_after", before, params, after, "adam_update_rel_l2_each", None)


def _step_measures(fx: Fixture, label: str, net, before: dict) -> list[Measure]:
    """A network after the step: its parameters by their update (each tensor, and all together),
    its buffers (w_avg, magnitude EMAs, constants) by value."""
    params, bufs = _split(net, _state(net))
    want = fx.prefixed(f"step.{label}.")
    want_params, want_bufs = _split(net, want)
    unknown = set(want) - set(params) - set(bufs)
    out = [Measure(f"{label}.{k} (we have no such tensor)", float("inf"), "buffers_rel_l2") for k in sorted(unknown)]
    out += updates(label, before, params, want_params, "step_update_rel_l2_each", "step_update_rel_l2_all")
    return out + buffers(label, bufs, want_bufs)


def case_step(fx: Fixture, name: str) -> list[Measure]:
    from .step import ema_beta, run_phases, update_ema

    spec = fx.cases["step"]
    G, D = _networks(fx)
    G_ema = copy.deepcopy(G)
    before = {"G_after": _state(G), "D_after": _state(D), "G_ema_after": _state(G)}
    loss = _loss(fx, G, D)
    phases = _phases(fx, G, D)
    if [p.name for p in phases] != spec["phases"]:
        raise ValueError(f"our phases {[p.name for p in phases]} differ from the fixture's {spec['phases']}")
    batch = fx.meta["batch"]
    zs = [[z] for z in _torch(fx.get("step.phase_z"))]
    # The path-length probe's draw, where the step has one (StyleGAN3 configurations have no Greg).
    pl = _torch(fx.get("step.pl_noise_raw")) if fx.has("step.pl_noise_raw") else None
    run_phases(loss, phases, batch_idx=0, cur_nimg=spec["cur_nimg"], real=[_torch(fx.get("step.real"))],
               real_c=[None], phase_z=zs, phase_c=[[None]] * len(phases),
               pl_noise=(lambda k, i: pl) if pl is not None else None)
    beta = ema_beta(batch, spec["cur_nimg"], batch * 10 / 32, 0.05)
    update_ema(G_ema, G, beta)
    out = [value("ema_beta", beta, fx.get("step.ema_beta"))]
    for label, net in (("G_after", G), ("D_after", D), ("G_ema_after", G_ema)):
        out += _step_measures(fx, label, net, before[label])
    return out


def case_step_d(fx: Fixture, name: str) -> list[Measure]:
    """The step's D half alone: our Dmain and Dreg phases (shared Adam, lazy R1, sanitising) run
    against the official G as it was after its own phases, and G_ema from that G.  Derived only
    where that G is the one Dmain saw (`derived`)."""
    from .step import ema_beta, run_phases, update_ema

    spec = fx.cases["step"]
    G, D = _networks(fx)
    G_ema = copy.deepcopy(G)
    before = {"D_after": _state(D), "G_ema_after": _state(G)}
    g_after = fx.prefixed("step.G_after.")
    G.load_state_dict({k: _torch(v) for k, v in g_after.items()}, strict=True)
    loss = _loss(fx, G, D)
    phases = _phases(fx, G, D)
    zs = [[z] for z in _torch(fx.get("step.phase_z"))]
    d_idx = [i for i, p in enumerate(phases) if p.name.startswith("D")]
    run_phases(loss, [phases[i] for i in d_idx], batch_idx=0, cur_nimg=spec["cur_nimg"],
               real=[_torch(fx.get("step.real"))], real_c=[None], phase_z=[zs[i] for i in d_idx],
               phase_c=[[None]] * len(d_idx))
    G.load_state_dict({k: _torch(v) for k, v in g_after.items()}, strict=True)   # w_avg as after the step
    update_ema(G_ema, G, ema_beta(fx.meta["batch"], spec["cur_nimg"], fx.meta["batch"] * 10 / 32, 0.05))
    out = []
    for label, net in (("D_after", D), ("G_ema_after", G_ema)):
        out += _step_measures(fx, label, net, before[label])
    return out


def derived(fx: Fixture, case: str) -> list[str]:
    """Cases built from another case's data.  step_d needs the G that Dmain saw to be the G after
    the whole step: true for StyleGAN2 (Dmain moves only w_avg, which psi 1 never reads), false
    for StyleGAN3, whose Dmain fakes move the magnitude EMAs that scale every layer's input; a
    StyleGAN3 step is judged as a whole."""
    if case == "step" and fx.meta.get("cfg", "stylegan2") == "stylegan2" and "Gmain" in fx.cases["step"].get("phases", []):
        return ["step_d"]
    return []


_RUNNERS: dict[str, Callable] = {
    "g_main": case_g_main, "d_main": case_d_main, "d_reg": case_d_reg, "g_reg": case_g_reg,
    "step": case_step, "step_d": case_step_d,
}


def runner(name: str) -> Optional[Callable]:
    if re.fullmatch(r"d_forward(?:_blur\d+(?:\.\d+)?)?", name):
        return case_d_forward
    if name.startswith("adam_"):
        return case_adam
    return _RUNNERS.get(name)
