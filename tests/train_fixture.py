"""Write a training fixture in the official one's format (../shared/golden/train-sg2-tiny: cases.json,
cases.npz, D_state_dict.npz) for a StyleGAN3-T generator, from our own trainer.  The official
StyleGAN3 configurations train without path-length regularisation and without lazy regularisation
for G, so the step's phases are Gboth, Dmain, Dreg and there is no `pl_noise_raw`: the check must
run such a step, judge it as a whole, and not derive `step_d` (Dmain's fakes move G's magnitude
EMAs).  Made in a child process under another CPU kernel set than the check's, it also measures how
far our own StyleGAN3 step moves between kernel sets against the version-2 limits.

    python tests/train_fixture.py OUT_DIR GOLDEN_DIR
"""
from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

BATCH, RES, CUR_NIMG, G_LR, D_LR, D_REG = 4, 64, 4000, 0.0025, 0.002, 16
D_INIT = {"channel_base": 2048, "channel_max": 64, "block_kwargs": {"freeze_layers": 0}, "mapping_kwargs": {},
          "epilogue_kwargs": {"mbstd_group_size": 4}, "c_dim": 0, "img_resolution": RES, "img_channels": 3}
LOSS = {"r1_gamma": 1.0, "style_mixing_prob": 0.0, "pl_weight": 0.0, "pl_batch_shrink": 2, "pl_decay": 0.01,
        "pl_no_weight_grad": False, "blur_init_sigma": 0, "blur_fade_kimg": 0}


def _sd(module) -> dict:
    return {k: v.detach().numpy().copy() for k, v in module.state_dict().items()}


def make(out: Path, golden: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from livegan.training.check_cases import _networks
    from livegan.training.loss import LossOptions, StyleGAN2Loss
    from livegan.training.step import ema_beta, make_phases, run_phases, sanitise_gradients, update_ema
    from stylegan3.discriminator import build_discriminator

    torch.set_num_threads(1)
    torch.manual_seed(30)                 # the networks' initialisation: the global generator starts random
    out.mkdir(parents=True, exist_ok=True)
    (out.parent / "sg3t-tiny").exists() or (out.parent / "sg3t-tiny").symlink_to(golden / "sg3t-tiny")
    gen = torch.Generator().manual_seed(30)
    D = build_discriminator(D_INIT)
    with torch.no_grad():                 # no trivial parameter: weights x (1 + 0.2 N), biases 0.1 N
        for name, p in D.named_parameters():
            noise = torch.randn(p.shape, generator=gen)
            p.copy_(p * (1 + 0.2 * noise) if p.ndim > 1 else 0.1 * noise)
    np.savez(out / "D_state_dict.npz", **_sd(D))
    real = torch.rand([BATCH, 3, RES, RES], generator=gen) * 2 - 1
    zs = torch.randn([3, BATCH, 64], generator=gen)
    meta = {"official": "livegan's own trainer, in the official fixture's format (tests/train_fixture.py)",
            "cfg": "stylegan3-t", "batch": BATCH, "resolution": RES, "generator_fixture": "sg3t-tiny",
            "D_init_kwargs": D_INIT, "loss_kwargs": LOSS,
            "tolerances": json.loads((golden / "train-sg2-tiny" / "cases.json").read_text())["tolerances"]}
    (out / "cases.json").write_text(json.dumps(meta))      # _networks reads generator_fixture and D_init_kwargs
    arrays: dict = {}

    fx = SimpleNamespace(folder=out, meta=meta)             # what _networks reads of a fixture

    def fresh():
        G, D = _networks(fx)
        return G, D, StyleGAN2Loss(G, D, LossOptions(**LOSS), noise_mode="const")

    G, D, loss = fresh()
    with torch.no_grad():
        arrays["d_forward.real"], arrays["d_forward.logits"] = real.numpy(), D(real).numpy()
    G, D, loss = fresh()
    G.requires_grad_(True)
    with torch.no_grad():
        arrays["g_main.gen_img"] = loss.run_G(zs[0], None)[0].numpy()
    loss.accumulate_gradients("Gmain", None, None, zs[0], None, gain=1, cur_nimg=0)
    arrays.update({"g_main.gen_z": zs[0].numpy(), "g_main.logits": torch.cat(loss.reports["Loss/scores/fake"]).numpy().reshape(-1, 1),
                   "g_main.loss": np.float32(torch.cat(loss.reports["Loss/G/loss"]).double().mean())})
    g_grads = {n: p.grad.numpy().copy() for n, p in G.named_parameters() if p.grad is not None}
    arrays.update({f"g_main.grad.{n}": v for n, v in g_grads.items()})
    G, D, loss = fresh()
    D.requires_grad_(True)
    loss.accumulate_gradients("Dmain", real, None, zs[1], None, gain=1, cur_nimg=0)
    fake, rl = torch.cat(loss.reports["Loss/scores/fake"]), torch.cat(loss.reports["Loss/scores/real"])
    arrays.update({"d_main.real": real.numpy(), "d_main.gen_z": zs[1].numpy(),
                   "d_main.loss": np.float32(torch.nn.functional.softplus(fake.double()).mean()
                                             + torch.nn.functional.softplus(-rl.double()).mean())})
    arrays.update({f"d_main.grad.{n}": p.grad.numpy().copy() for n, p in D.named_parameters() if p.grad is not None})
    arrays.update({f"d_main.buffers_after.{n}": b.numpy().copy() for n, b in G.named_buffers()
                   if n.endswith(("w_avg", "magnitude_ema"))})
    G, D, loss = fresh()
    D.requires_grad_(True)
    loss.accumulate_gradients("Dreg", real, None, zs[2], None, gain=D_REG, cur_nimg=0)
    d_grads = {n: p.grad.numpy().copy() for n, p in D.named_parameters() if p.grad is not None}
    arrays.update({"d_reg.real": real.numpy(), "d_reg.r1_penalty": torch.cat(loss.reports["Loss/r1_penalty"]).numpy()})
    arrays.update({f"d_reg.grad.{n}": v for n, v in d_grads.items()})

    cases = {"d_forward": "logits = D(real) in training mode", "g_main": "Gmain gradients", "d_main": "Dmain gradients",
             "d_reg": "Dreg (R1) gradients, gain = D_reg_interval"}
    for name, which, grads, given in (("adam_g", "G", g_grads, "g_main.grad.*"), ("adam_d", "D", d_grads, "d_reg.grad.* (gain included)")):
        G, D, loss = fresh()
        net = G if which == "G" else D
        phase = next(p for p in make_phases(G, D, G_LR, D_LR, None, D_REG) if p.module is net)
        for n, p in net.named_parameters():
            p.grad = torch.from_numpy(grads[n]).clone() if n in grads else None
        sanitise_gradients(net)
        phase.opt.step()
        group = phase.opt.param_groups[0]
        cases[name] = {"network": which, "gradients": given, "lr": group["lr"], "betas": list(group["betas"]),
                       "eps": group["eps"], "reg_interval": None if which == "G" else D_REG}
        arrays.update({f"{name}.{which}_after.{n}": p.detach().numpy().copy() for n, p in net.named_parameters()})

    G, D, loss = fresh()
    G_ema = copy.deepcopy(G)
    phases = make_phases(G, D, G_LR, D_LR, None, D_REG)
    run_phases(loss, phases, batch_idx=0, cur_nimg=CUR_NIMG, real=[real], real_c=[None],
               phase_z=[[z] for z in zs], phase_c=[[None]] * 3)
    beta = ema_beta(BATCH, CUR_NIMG, BATCH * 10 / 32, 0.05)
    update_ema(G_ema, G, beta)
    arrays.update({"step.real": real.numpy(), "step.phase_z": zs.numpy(), "step.ema_beta": np.float64(beta)})
    for label, net in (("G_after", G), ("D_after", D), ("G_ema_after", G_ema)):
        arrays.update({f"step.{label}.{k}": v for k, v in _sd(net).items()})
    cases["step"] = {"phases": [p.name for p in phases], "cur_nimg": CUR_NIMG, "G_lr": G_LR, "D_lr": D_LR,
                     "G_reg_interval": None, "D_reg_interval": D_REG, "ema_beta": beta}
    meta["cases"] = cases
    np.savez(out / "cases.npz", **arrays)
    (out / "cases.json").write_text(json.dumps(meta, indent=1))


if __name__ == "__main__":
    make(Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve())
