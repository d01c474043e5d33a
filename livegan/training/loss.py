"""The StyleGAN2 objective as the official trainer runs it (StyleGAN2 paper section 4 and
appendix B; StyleGAN2-ADA appendix; StyleGAN3 appendix for the D blur): the non-saturating
logistic loss, lazy R1 on reals, path-length regularisation, style mixing and the blur of D's
inputs that StyleGAN3-R fades out.  Phases are the official ones: Gmain, Greg, Gboth, Dmain, Dreg,
Dboth; each accumulates gradients scaled by `gain` (its regularisation interval)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F

PHASES = ("Gmain", "Greg", "Gboth", "Dmain", "Dreg", "Dboth")


@dataclass
class LossOptions:
    r1_gamma: float = 10.0
    style_mixing_prob: float = 0.0
    pl_weight: float = 0.0
    pl_batch_shrink: int = 2
    pl_decay: float = 0.01
    pl_no_weight_grad: bool = False      # a speed switch of the official CUDA op; values are the same
    blur_init_sigma: float = 0.0
    blur_fade_kimg: float = 0.0


def blur(img: torch.Tensor, sigma: float) -> torch.Tensor:
    """The separable Gaussian D sees during StyleGAN3-R's blur ramp: taps exp2(-(x/sigma)^2) over
    |x| <= floor(3 sigma), normalised (what the official run_D builds)."""
    size = int(np.floor(sigma * 3))
    if size <= 0:
        return img
    from stylegan3.ops import upfirdn2d

    f = torch.arange(-size, size + 1, device=img.device, dtype=torch.float32).div(sigma).square().neg().exp2()
    return upfirdn2d(img, f / f.sum(), padding=(size, size, size, size))


@dataclass
class StyleGAN2Loss:
    """Gradients of one phase for G (mapping + synthesis) and D.  `augment` is applied to every
    image D sees (ADA or DiffAugment), `noise_mode` is the synthesis noise ('random' in training;
    the exactness fixtures use 'const'), `reports` collects what the loop logs (losses, D signs)."""

    G: torch.nn.Module
    D: torch.nn.Module
    opts: LossOptions = field(default_factory=LossOptions)
    augment: Optional[Callable[[torch.Tensor], torch.Tensor]] = None
    noise_mode: str = "random"
    pl_mean: torch.Tensor = None
    reports: dict = field(default_factory=dict)
    listeners: dict = field(default_factory=dict)        # report name -> callable(value), e.g. ADA's tuner
    # StyleGAN-Canvas: the condition G reads, made from each real picture; the target loss pulls
    # G(condition of a real) toward that real (L2, and a perceptual term when given)
    condition: Optional[Callable[[torch.Tensor], torch.Tensor]] = None
    target_l2: float = 0.0
    perceptual: Optional[Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = None
    perceptual_weight: float = 0.0

    def __post_init__(self):
        if self.pl_mean is None:
            self.pl_mean = torch.zeros([], device=next(self.G.parameters()).device)

    def report(self, name: str, value: torch.Tensor) -> None:
        v = value.detach().flatten().float().cpu()
        self.reports.setdefault(name, []).append(v)
        if name in self.listeners:
            self.listeners[name](v)

    def run_G(self, z: torch.Tensor, c: Optional[torch.Tensor], update_emas: bool = False,
              real: Optional[torch.Tensor] = None):
        c = None if c is None or c.numel() == 0 else c
        if self.condition is not None:                        # Canvas: the encoder reads the real's condition
            G = self.G
            ws_enc, skips = G.encoder(self.condition(real))
            ws = G.combine(G.mapping(z, c, update_emas=update_emas), ws_enc, G.replace_w_num)
            return G.synthesis(ws, skips, noise_mode=self.noise_mode, update_emas=update_emas), ws
        ws = self.G.mapping(z, c, update_emas=update_emas)
        if self.opts.style_mixing_prob > 0:
            cutoff = torch.empty([], dtype=torch.int64, device=ws.device).random_(1, ws.shape[1])
            cutoff = torch.where(torch.rand([], device=ws.device) < self.opts.style_mixing_prob, cutoff,
                                 torch.full_like(cutoff, ws.shape[1]))
            ws[:, cutoff:] = self.G.mapping(torch.randn_like(z), c, update_emas=False)[:, cutoff:]
        img = self.G.synthesis(ws, noise_mode=self.noise_mode, update_emas=update_emas)
        return img, ws

    def run_D(self, img: torch.Tensor, c: Optional[torch.Tensor], blur_sigma: float = 0.0,
              update_emas: bool = False) -> torch.Tensor:
        img = blur(img, blur_sigma)
        if self.augment is not None:
            img = self.augment(img)
        c = None if c is None or c.numel() == 0 else c
        return self.D(img, c, update_emas=update_emas)

    def blur_sigma(self, cur_nimg: int) -> float:
        o = self.opts
        if o.blur_fade_kimg <= 0:
            return 0.0
        return max(1 - cur_nimg / (o.blur_fade_kimg * 1e3), 0) * o.blur_init_sigma

    def accumulate_gradients(self, phase: str, real_img: torch.Tensor, real_c: Optional[torch.Tensor],
                             gen_z: torch.Tensor, gen_c: Optional[torch.Tensor], gain: float, cur_nimg: int,
                             pl_noise_raw: Optional[torch.Tensor] = None) -> None:
        """`pl_noise_raw`: the path-length probe's standard-normal draw (drawn here if None)."""
        if phase not in PHASES:
            raise ValueError(f"unknown phase {phase!r}")
        o = self.opts
        if o.pl_weight == 0:
            phase = {"Greg": "none", "Gboth": "Gmain"}.get(phase, phase)
        if o.r1_gamma == 0:
            phase = {"Dreg": "none", "Dboth": "Dmain"}.get(phase, phase)
        sigma = self.blur_sigma(cur_nimg)

        if phase in ("Gmain", "Gboth"):                       # G: make D call the fakes real
            gen_img, _ = self.run_G(gen_z, gen_c, real=real_img)
            gen_logits = self.run_D(gen_img, gen_c, blur_sigma=sigma)
            self.report("Loss/scores/fake", gen_logits)
            self.report("Loss/signs/fake", gen_logits.sign())
            loss = F.softplus(-gen_logits)
            self.report("Loss/G/loss", loss)
            if self.condition is not None and (self.target_l2 or self.perceptual is not None):
                target = (gen_img - real_img.detach()).square().mean([1, 2, 3]) * self.target_l2
                if self.perceptual is not None:
                    target = target + self.perceptual(gen_img, real_img.detach()) * self.perceptual_weight
                self.report("Loss/G/target", target)
                loss = loss + target[:, None]
            loss.mean().mul(gain).backward()

        if phase in ("Greg", "Gboth"):                        # path length: |J^T y| near its mean
            n = gen_z.shape[0] // o.pl_batch_shrink
            gen_img, gen_ws = self.run_G(gen_z[:n], None if gen_c is None else gen_c[:n])
            raw = torch.randn_like(gen_img) if pl_noise_raw is None else pl_noise_raw.to(gen_img)
            pl_noise = raw / np.sqrt(gen_img.shape[2] * gen_img.shape[3])
            pl_grads = torch.autograd.grad(outputs=[(gen_img * pl_noise).sum()], inputs=[gen_ws],
                                           create_graph=True, only_inputs=True)[0]
            pl_lengths = pl_grads.square().sum(2).mean(1).sqrt()
            pl_mean = self.pl_mean.lerp(pl_lengths.mean(), o.pl_decay)
            self.pl_mean.copy_(pl_mean.detach())
            pl_penalty = (pl_lengths - pl_mean).square()
            self.report("Loss/pl_penalty", pl_penalty)
            (pl_penalty * o.pl_weight).mean().mul(gain).backward()

        if phase in ("Dmain", "Dboth"):                       # D: call the fakes fake
            gen_img, _ = self.run_G(gen_z, gen_c, update_emas=True, real=real_img)
            gen_logits = self.run_D(gen_img, gen_c, blur_sigma=sigma, update_emas=True)
            self.report("Loss/scores/fake", gen_logits)
            self.report("Loss/signs/fake", gen_logits.sign())
            F.softplus(gen_logits).mean().mul(gain).backward()

        if phase in ("Dmain", "Dreg", "Dboth"):               # D: call the reals real; R1 on them
            reg = phase in ("Dreg", "Dboth")
            real = real_img.detach().requires_grad_(reg)
            real_logits = self.run_D(real, real_c, blur_sigma=sigma)
            self.report("Loss/scores/real", real_logits)
            self.report("Loss/signs/real", real_logits.sign())
            loss = torch.zeros_like(real_logits)
            if phase in ("Dmain", "Dboth"):
                loss = F.softplus(-real_logits)
                self.report("Loss/D/loss", loss)
            if reg:
                r1_grads = torch.autograd.grad(outputs=[real_logits.sum()], inputs=[real],
                                               create_graph=True, only_inputs=True)[0]
                r1_penalty = r1_grads.square().sum([1, 2, 3])
                self.report("Loss/r1_penalty", r1_penalty)
                loss = loss + r1_penalty * (o.r1_gamma / 2)
            loss.mean().mul(gain).backward()
