"""`livegan train` and `train check`: the official training loop on our networks, and the check
that proves it exact against a fixture of the official trainer's results."""
from __future__ import annotations

from ..argtypes import number
from ..training.options import AUGS, CFGS, CONDS, PIPES


def cmd_train(args) -> int:
    from ..training.loop import Trainer, TrainOptions

    if not args.data:
        raise ValueError("--data DATA is needed (make one with `livegan dataset SRC --out DATA --res N`)")
    o = TrainOptions(data=args.data, outdir=args.outdir, cfg=args.cfg, batch=args.batch, batch_gpu=args.batch_gpu,
                     gamma=args.gamma, kimg=args.kimg, tick=args.tick, snap=args.snap, keep=args.keep, seed=args.seed,
                     mirror=args.mirror, aug=args.aug, p=args.p, target=args.target, augpipe=args.augpipe,
                     ada_kimg=args.ada_kimg, resume=args.resume, freezed=args.freezed, fp32=args.fp32,
                     cbase=args.cbase, cmax=args.cmax, glr=args.glr, dlr=args.dlr, map_depth=args.map_depth,
                     mbstd_group=args.mbstd_group, w_dim=args.w_dim, device=args.device,
                     store=args.store or None, labels=args.cond == "labels",
                     cond="blur" if args.cond == "labels" else args.cond, cond_blur=args.cond_blur, euclidean=args.euclidean,
                     perceptual=args.perceptual, vgg=args.vgg)
    from ..training.arch import described, resolve
    o = resolve(o)                     # an official --resume snapshot's architecture, where not given
    if args.resume and args.resume.endswith(".pkl"):
        print(f"fine-tuning {args.resume} as it was trained: {described(o)}", flush=True)
    if args.gpus > 1 or "WORLD_SIZE" in __import__("os").environ:
        from ..training.distributed import train_distributed
        print(f"training {o.cfg} in {args.gpus} processes into {o.outdir}", flush=True)
        train_distributed(o, args.gpus)
        return 0
    t = Trainer(o, log=lambda line: print(line, flush=True))
    print(f"training {o.cfg} on {len(t.data)} images at {t.data.resolution} px into {o.outdir}", flush=True)
    last = t.run()
    print(f"done at {t.cur_nimg / 1000:.3f} kimg; last snapshot {last}", flush=True)
    return 0


def cmd_train_encoder(args) -> int:
    from pathlib import Path

    from ..console import say
    from ..projection.train_encoder import EncoderRun, train
    from ..store import network_identity
    from .options import load

    out = Path(args.encoder_out)
    if out.suffix != ".safetensors":
        raise ValueError(f"--out {out}: name a .safetensors file")
    G, _ = load(args)
    if getattr(G, "family", "") == "stylegan3-canvas":
        raise ValueError(f"{args.network}: a StyleGAN-Canvas network has no w space to encode into")
    out.parent.mkdir(parents=True, exist_ok=True)
    run = EncoderRun(out, kimg=args.kimg, batch=args.encoder_batch, lr=args.lr, tick_kimg=args.tick,
                     snap_ticks=args.snap, seed=args.encoder_seed, resume=args.encoder_resume)
    last = train(G, network_identity(args.network), run, say=say)
    say(f"wrote {out} ({last.get('kimg', 0):.1f} kimg, loss {last.get('loss', float('nan')):.4f})")
    return 0


def cmd_train_check(args) -> int:
    """Each case of a training fixture (the official trainer's results): ours against theirs."""
    from ..training.check import run_fixture

    results = run_fixture(args.folder, only=args.case)
    if not results:
        raise ValueError(f"{args.folder}: no case to run" + (f" among {', '.join(args.case)}" if args.case else ""))
    for r in results:
        print(r.line())
        for m in r.measures if args.verbose else ():
            print(f"      {m.name}: {m.error:.2e} ({m.limit_key})")
    bad = [r.case for r in results if not r.ok]
    print(f"{len(results) - len(bad)} of {len(results)} cases within their limits" + (f"; failed: {', '.join(bad)}" if bad else ""))
    return 1 if bad else 0


def register(sub) -> None:
    tr = sub.add_parser("train", help="train a network on a dataset (`train check DIR`: prove the trainer exact)")
    tr.add_argument("--data", help="the dataset (`livegan dataset` output: a zip or folder of PNGs)")
    tr.add_argument("--out", "--outdir", dest="outdir", default="recordings/training",
                    help="the run's folder: snapshots, networks, fakes, stats (--outdir: its old name; default: %(default)s)")
    tr.add_argument("--store", default="recordings",
                    help="the store the run is a walk of, for the gallery: fakes over time, curves, snapshots as "
                         "networks; '' for none (default: %(default)s)")
    tr.add_argument("--cfg", choices=CFGS, default=None,
                    help="architecture; canvas-t/canvas-r: StyleGAN-Canvas (T or R), image in, image out "
                         "(default: stylegan2, or an official --resume snapshot's)")
    tr.add_argument("--cond", choices=CONDS + ("labels",), default="blur",
                    help="labels: condition G and D on the dataset's labels (classes; the official --cond=1); "
                         "canvas: the condition made from each real picture, by the show's own preprocessing "
                         "(default: %(default)s)")
    tr.add_argument("--cond-blur", type=number(0.5, 64), default=21.0,
                    help="canvas: blur sigma in pixels of a 256-high picture, as the show's cond_blur (default: %(default)s)")
    tr.add_argument("--euclidean", type=number(0, 1e4), default=1.0,
                    help="canvas: weight of the L2 target loss, G(condition of a real) against that real (default: %(default)s)")
    tr.add_argument("--perceptual", type=number(0, 1e4), default=1.0,
                    help="canvas: weight of the VGG19 perceptual target loss, with --vgg (default: %(default)s)")
    tr.add_argument("--vgg", default=None,
                    help="canvas: torchvision VGG19 weights (.pth or .safetensors) for the perceptual term; "
                         "nothing downloads them (default: no perceptual term)")
    tr.add_argument("--batch", type=number(1, 4096, integer=True), default=32, help="total batch size (default: %(default)s)")
    tr.add_argument("--batch-gpu", type=number(1, 4096, integer=True), default=None,
                    help="images per step (gradients accumulate; default: --batch)")
    tr.add_argument("--gamma", type=number(0, 1e4), default=10.0, help="R1 regularisation weight (default: %(default)s)")
    tr.add_argument("--kimg", type=number(0.001, 1e6), default=25000.0, help="train this many thousand images (default: %(default)s)")
    tr.add_argument("--tick", type=number(0.001, 1e4), default=4.0, help="kimg per progress line (default: %(default)s)")
    tr.add_argument("--snap", type=number(1, 1e6, integer=True), default=50, help="ticks per snapshot (default: %(default)s)")
    tr.add_argument("--keep", type=number(0, 1e6, integer=True), default=0,
                    help="resumable snapshots (snapshot-*.pt: G, D, G_ema and the optimisers) to keep, the newest; "
                         "every snapshot's network and fakes stay; 0 = keep all (default: %(default)s)")
    tr.add_argument("--seed", type=number(0, 2 ** 31 - 1, integer=True), default=0, help="random seed (default: %(default)s)")
    tr.add_argument("--mirror", action="store_true", help="flip reals left-right at random")
    tr.add_argument("--aug", choices=AUGS, default="ada",
                    help="augmentation of everything D sees: ada (p tuned from D's signs), fixed (--p), noaug, "
                         "diffaug (DiffAugment colour/translation/cutout, for tiny data on a CPU) (default: %(default)s)")
    tr.add_argument("--p", type=number(0, 1), default=0.2, help="augmentation probability for --aug fixed (default: %(default)s)")
    tr.add_argument("--target", type=number(0, 1), default=0.6,
                    help="ADA target for r_t = E[sign(D(real))] (default: %(default)s)")
    tr.add_argument("--augpipe", choices=list(PIPES), default="bgc",
                    help="which augmentations ADA uses: b(lit) g(eom) c(olor) f(ilter) n(oise) c(utout) (default: %(default)s)")
    tr.add_argument("--ada-kimg", type=number(0.001, 1e5), default=500.0,
                    help="how fast ADA moves p: kimg to go from 0 to 1 (default: %(default)s; 100 on a --resume)")
    tr.add_argument("--resume", default=None, help="a livegan snapshot (.pt) to continue, or an official training "
                                                   "snapshot .pkl to fine-tune")
    tr.add_argument("--freezed", type=number(0, 100, integer=True), default=0, help="freeze the first N layers of D (default: %(default)s)")
    tr.add_argument("--fp32", action="store_true", help="no fp16 layers and no activation clamping")
    tr.add_argument("--cbase", type=number(16, 1 << 20, integer=True), default=None,
                    help="channel base (default: 32768, or an official --resume snapshot's)")
    tr.add_argument("--cmax", type=number(1, 4096, integer=True), default=None,
                    help="most channels per layer (default: 512, or an official --resume snapshot's)")
    tr.add_argument("--glr", type=number(0, 1), default=None, help="G learning rate (default: 0.002, StyleGAN3 0.0025)")
    tr.add_argument("--dlr", type=number(0, 1), default=0.002, help="D learning rate (default: %(default)s)")
    tr.add_argument("--map-depth", type=number(1, 16, integer=True), default=None,
                    help="mapping layers (default: 8, StyleGAN3 2, or an official --resume snapshot's)")
    tr.add_argument("--mbstd-group", type=number(1, 64, integer=True), default=None,
                    help="minibatch-std group (default: 4, or an official --resume snapshot's)")
    tr.add_argument("--w-dim", type=number(8, 1024, integer=True), default=None,
                    help="z and w size (default: 512, the official networks', or an official --resume snapshot's)")
    tr.add_argument("--device", default="cpu", help="torch device (default: %(default)s)")
    tr.add_argument("--threads", type=number(0, 256, integer=True), default=0,
                    help="CPU threads; 0 = auto: LIVEGAN_THREADS, else the cores minus one, at least 1 (more threads than free cores "
                         "stall in OpenMP's barriers on a busy machine)")
    tr.add_argument("--gpus", type=number(1, 64, integer=True), default=1,
                    help="data-parallel processes on this machine (one per GPU; gloo on the CPU); across machines "
                         "start each with torchrun (default: %(default)s)")
    tr.set_defaults(func=cmd_train)
    tsub = tr.add_subparsers(dest="train_cmd", metavar="{check,encoder}")
    tc = tsub.add_parser("check", help="run a training fixture folder; exit 0 only when every case is within its limit")
    tc.add_argument("folder", help="fixture folder with cases.json, cases.npz and D_state_dict.npz "
                                   "(e.g. ../shared/golden/train-sg2-tiny)")
    tc.add_argument("--case", action="append", metavar="NAME",
                    help="run only this case (repeatable; default: every case the fixture lists)")
    tc.add_argument("-v", "--verbose", action="store_true",
                    help="print every measure of each case with the name of its limit (cases.json tolerances)")
    tc.set_defaults(func=cmd_train_check)
    te = tsub.add_parser("encoder", help="train an encoder from picture to ws for one network, on its own samples "
                                         "(`livegan project --encoder`, `perform.py --mirror`)")
    from .options import network_options
    network_options(te)
    te.add_argument("--out", dest="encoder_out", required=True, metavar="ENC.safetensors", help="ENC.safetensors (its state for --resume beside it)")
    te.add_argument("--kimg", type=number(0.01, 1e5), default=20.0, help="thousands of samples to learn from (default: %(default)s)")
    te.add_argument("--batch", dest="encoder_batch", type=number(1, 1024, integer=True), default=16, metavar="N",
                    help="samples per step (default: %(default)s)")
    te.add_argument("--lr", type=number(1e-6, 1.0), default=1e-3, help="Adam learning rate (default: %(default)s)")
    te.add_argument("--tick", type=number(0.01, 1e4), default=1.0, help="kimg between progress lines (default: %(default)s)")
    te.add_argument("--snap", type=number(1, 1e6, integer=True), default=5, help="ticks between snapshots (default: %(default)s)")
    te.add_argument("--seed", dest="encoder_seed", type=number(0, 2 ** 31 - 1, integer=True), default=0, metavar="N",
                    help="(default: %(default)s)")
    te.add_argument("--resume", dest="encoder_resume", action="store_true", help="go on from OUT's saved state")
    te.set_defaults(func=cmd_train_encoder)
