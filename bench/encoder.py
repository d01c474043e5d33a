#!/usr/bin/env python3
"""A picture into the network: what it costs.

- the encoder's ms per picture against the generator's ms per frame for the same network (the
  encoder must cost at most about a third), interleaved, medians;
- projection: seconds per 100 search steps (pixels + multi-scale SSIM);
- the live mirror: the real show headless in real time for --seconds, once plain and once mirrored
  to a moving input (a video of the network's own pictures), rounds alternating; display and
  generator frames per second, medians.

An encoder is trained first for --kimg on the network's own samples (or given with --encoder).

    python bench/encoder.py                                    # builtin:twemoji and builtin:tiny, CPU
    python bench/encoder.py --networks builtin:sg3t-1024 --device cuda --seconds 5
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "vendor")]
from bench.interleave import interleaved_medians  # noqa: E402


def timed(fn, device: str) -> float:
    import torch

    t0 = time.perf_counter()
    fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) * 1000


def show_fps(network: str, device: str, fps: float, seconds: float, mirror=None, video=None) -> dict:
    from livegan.app import App
    from livegan.show import Options, Show

    opts = Options(network=network, fps=fps, device=device, mirror=mirror, inputs=(str(video),) if mirror else ())
    show = Show(opts)
    if mirror:
        from livegan.params import Command
        show.post(Command("set", "mirror", 1.0, "bench"))
    res = App(show, Path(tempfile.gettempdir()), hud=False).run_headless(int(seconds * fps), realtime=True)
    return {"display_fps": res["display_fps"], "gen_fps": res["shown"] / res["wall_s"],
            "gen_ms": show.engine.stats.median_ms(), "encoded": float(show.mirror.encoded)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--networks", default="builtin:twemoji,builtin:tiny", help="comma-separated networks")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (default: %(default)s)")
    ap.add_argument("--kimg", type=float, default=1.0, help="encoder training per network (default: %(default)s)")
    ap.add_argument("--encoder", default=None, help="an encoder file to use instead (one network)")
    ap.add_argument("--rounds", type=int, default=9, help="interleaved rounds for ms (default: %(default)s)")
    ap.add_argument("--steps", type=int, default=100, help="projection steps timed (default: %(default)s)")
    ap.add_argument("--seconds", type=float, default=4.0, help="show length per mirror round (default: %(default)s)")
    ap.add_argument("--show-rounds", type=int, default=2, help="plain/mirrored show rounds (default: %(default)s)")
    ap.add_argument("--fps", type=float, default=30.0, help="display rate (default: %(default)s)")
    args = ap.parse_args()

    import numpy as np
    import torch
    from stylegan3 import load_network

    from livegan.imaging import to_uint8
    from livegan.media import write_video
    from livegan.projection.encoder import load_encoder
    from livegan.projection.losses import Structural
    from livegan.projection.search import project, synth, to_tensor
    from livegan.projection.train_encoder import EncoderRun, train
    from livegan.store import network_identity

    tmp = Path(tempfile.mkdtemp(prefix="livegan-bench-encoder-"))
    print(f"{'network':18s} {'device':6s} {'gen ms':>7s} {'enc ms':>7s} {'enc/gen':>7s} {'proj s/100':>10s} "
          f"{'plain fps':>9s} {'mirror fps':>10s} {'gen fps plain':>13s} {'gen fps mirror':>14s}")
    for name in args.networks.split(","):
        G = load_network(name, device=args.device).eval()
        enc_path = Path(args.encoder) if args.encoder else tmp / f"{name.replace(':', '-')}.safetensors"
        if not args.encoder:
            train(G, network_identity(name), EncoderRun(enc_path, kimg=args.kimg, tick_kimg=args.kimg, batch=8),
                  say=lambda m: None)
        enc = load_encoder(str(enc_path), G, network_identity(name))
        rng = np.random.RandomState(0)
        with torch.inference_mode():
            ws = G.mapping(torch.from_numpy(rng.randn(24, G.z_dim).astype(np.float32)).to(args.device), None,
                           truncation_psi=0.7)
            pics = to_uint8(synth(G, ws))
        one = ws[:1]
        with torch.inference_mode():
            res = interleaved_medians(["gen", "enc"], args.rounds, lambda v: {"ms": timed(
                (lambda: synth(G, one)) if v == "gen" else (lambda: enc.guess(pics[0])), args.device)})
        gen_ms, enc_ms = res["gen"]["ms"], res["enc"]["ms"]
        t0 = time.perf_counter()
        project(G, pics[1], Structural(to_tensor(pics[1], args.device)), steps=args.steps)
        proj = (time.perf_counter() - t0) * 100 / args.steps
        video = tmp / f"{name.replace(':', '-')}.mp4"
        write_video(video, [np.asarray(p) for p in pics], fps=args.fps)
        shows = interleaved_medians(["plain", "mirror"], args.show_rounds, lambda v: show_fps(
            name, args.device, args.fps, args.seconds, str(enc_path) if v == "mirror" else None, video))
        p, m = shows["plain"], shows["mirror"]
        print(f"{name:18s} {args.device:6s} {gen_ms:7.2f} {enc_ms:7.2f} {enc_ms / gen_ms:7.3f} {proj:10.2f} "
              f"{p['display_fps']:9.1f} {m['display_fps']:10.1f} {p['gen_fps']:13.1f} {m['gen_fps']:14.1f}")
        print(f"  (mirrored: {m['encoded']:.0f} pictures encoded per round, median)")


if __name__ == "__main__":
    main()
