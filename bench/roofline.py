#!/usr/bin/env python3
"""How close the generator runs to this machine's own limit (issue 35 §1).

Per network and batch: GFLOP per frame (torch's flop counter over one synthesis pass, taken on
the torch path: the compiled kernels are invisible to the counter, so the work is counted as the
same definition for every variant), ms per
frame (frames in a row, as the show renders them), GFLOP/s, and that rate as a share of a
2048x2048 float32 matrix product measured in the same run on the same threads (the machine's
practical peak: the faster of MKL and oneDNN, see matmul_peak).  Then, per network at batch 1, where
the time goes: each synthesis layer's ms and GFLOP/s, and the operators that take the most time
(torch.profiler).  Medians; variants interleaved.

    python bench/roofline.py                                    # builtin:tiny and builtin:twemoji
    python bench/roofline.py --networks builtin:sg3t-1024 --batches 1 --rounds 3
    python bench/roofline.py --variants [--compile]             # each speed variant, as a ratio
    python bench/roofline.py --sizes                            # issue 35's three StyleGAN3-T sizes

--variants times, per network at batch 1 and interleaved, the generator as it ships against each
alternative it was chosen over: the torch path's activation instead of the compiled one (and,
on that path, down-pass blocks of 16 and the old separate bias/pad copies), oneDNN (NHWC) for
the few-channel convolutions instead of the compiled direct one (and for the many-channel 3x3
ones instead of Winograd's), the modulation in torch
operations instead of the compiled call, NCHW convolutions,
one thread per frame on two frames at once (threads per stage), and with
--compile torch.compile (inductor; needs a C++ compiler, compiles for a minute).
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "vendor")]


# A frame right after the peak's 48 MiB matrix product finds every cache evicted: builtin:tiny
# took 24.8 ms against 19.6 for frames in a row (2-core CPU, one run; 31.2 without the heap
# setting).  Each round re-warms with one untimed frame, then times IN_A_ROW; the first frames of
# a process are slower still (heap, caches).
WARM_FRAMES, IN_A_ROW = 10, 4


def matmul_peak(rounds: int, n: int = 2048) -> dict[str, float]:
    """GFLOP/s of an n x n x n float32 matrix product (median) through each library torch has for
    it: MKL (`a @ b`) and oneDNN (the same product as a 1x1 convolution over n pixels in NHWC).
    MKL takes its AVX2 path on AMD CPUs: on an AVX-512 EPYC it reached 173 GFLOP/s where oneDNN
    reached 445 (92% of the cores' measured FMA rate), so the machine's peak is the faster one."""
    import torch
    import torch.nn.functional as F

    a, b = torch.randn(n, n), torch.randn(n, n)
    x = torch.randn(1, n, n // 32, 32).contiguous(memory_format=torch.channels_last)
    w = torch.randn(n, n, 1, 1)
    rates = {}
    for lib, fn in (("MKL", lambda: a @ b), ("oneDNN", lambda: F.conv2d(x, w))):
        fn()
        times = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        rates[lib] = 2 * n ** 3 / statistics.median(times) / 1e9
    return rates


def flops(fn) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as fc:
        fn()
    return float(fc.get_total_flops())


def synth_fn(G, batch: int):
    import torch

    g = torch.Generator().manual_seed(0)
    with torch.inference_mode():
        ws = G.mapping(torch.randn(batch, G.z_dim, generator=g), None, truncation_psi=0.7)
    kw = {"noise_mode": "const"} if G.family == "stylegan2" else {}

    def run():
        with torch.inference_mode():
            return G.synthesis(ws, **kw)
    return run, ws


def layer_table(G, rounds: int) -> list[tuple]:
    """(layer, ms, GFLOP, GFLOP/s) per synthesis layer at batch 1, timed through the bending hook
    (the time between one layer's output and the next)."""
    import torch
    from stylegan3.layers import synthesis_layers

    names = synthesis_layers(G)
    run, ws = synth_fn(G, 1)
    marks: dict = {}

    class Clock:
        taps = ()

        def __call__(self, index, x):
            marks[index] = time.perf_counter()
            return x
    kw = {"noise_mode": "const"} if G.family == "stylegan2" else {}
    per = {i: [] for i in range(len(names))}
    for _ in range(rounds):
        marks.clear()
        with torch.inference_mode():
            t0 = time.perf_counter()
            G.synthesis(ws, bend=Clock(), **kw)
        prev = t0
        for i in sorted(marks):
            per[i].append((marks[i] - prev) * 1000)
            prev = marks[i]
    out = []
    for i, name in enumerate(names):
        ms = statistics.median(per[i]) if per[i] else float("nan")
        out.append((f"{i} {name}", ms))
    return out


def top_ops(G, n: int = 8) -> list[tuple]:
    from torch.profiler import ProfilerActivity, profile

    run, _ = synth_fn(G, 1)
    run()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(3):
            run()
    rows = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in rows) or 1
    return [(e.key, e.self_cpu_time_total / 3 / 1000, e.self_cpu_time_total / total, e.count // 3) for e in rows[:n]]


def _activations(G, **kw) -> list[dict]:
    """Every StyleGAN3 layer's filtered activations, rebuilt with FilteredLReLU options kw."""
    import math

    from stylegan3.ops import FilteredLReLU

    return [{k: FilteredLReLU(m.up_filter, m.down_filter, m.up_factor, m.down_factor, m.padding, k,
                              gain=1.0 if m.is_torgb else math.sqrt(2), **kw) for k in m._act}
            for m in _sg3_layers(G)]


def _torch_path(acts: list[dict]) -> list[dict]:
    """The activations without the compiled kernel (copies; the shipped ones keep it)."""
    import copy

    out = []
    for d in acts:
        out.append({})
        for k, a in d.items():
            a = copy.copy(a)
            a.native = None
            out[-1][k] = a
    return out


def _sg3_layers(G) -> list:
    return [m for m in G.synthesis.modules() if hasattr(m, "_act")]


def _separate_copies(act):
    """The activation as it was before: bias added, then padded (two copies, NCHW input)."""
    import copy
    import types

    from stylegan3 import ops

    def padded(self, x, b):
        n, c, h, w = x.shape
        x = (x.contiguous() + b.reshape(1, -1, 1, 1).to(x.dtype)).reshape(n * c, h, w)
        lo = self.up_h.pad_lo
        return ops._pad2(x, (lo, self.rows_in - lo - h), self.up_w.pads(w))
    act = copy.copy(act)
    act.padded = types.MethodType(padded, act)
    return act


def _no_kernel(*args, **kwargs) -> None:
    """A compiled kernel's stand-in that declines every call (the caller then takes torch's way)."""
    return None


# The compiled kernels a variant can turn off one by one (the activation's own and the direct
# convolution's switches are set apart: _torch_path and CONV_MAX_CHANNELS).
ENDS = ("pointwise", "fourier")                           # ToRGB and the Fourier input
WINOGRAD = ("winograd",)                                  # the many-channel 3x3 convolutions


def _declining(names: tuple) -> dict:
    """Replace the named native kernels by _no_kernel; returns what to put back."""
    from stylegan3 import native

    saved = {k: getattr(native, k) for k in names}
    for k in names:
        setattr(native, k, _no_kernel)
    return saved


def _restore(saved: dict) -> None:
    from stylegan3 import native

    for k, fn in saved.items():
        setattr(native, k, fn)


def variants(G, rounds: int, compile_: bool) -> list[tuple[str, float, float]]:
    """(variant, ms per frame, shipped / variant) at batch 1, interleaved; the first is as shipped."""
    import threading

    import torch
    from stylegan3 import native, set_channels_last

    run, ws = synth_fn(G, 1)
    layers = _sg3_layers(G)
    run()
    shipped = [dict(m._act) for m in layers]
    acts = {"the torch path's activation": _torch_path(shipped),
            "torch path, down blocks of 16": _torch_path(_activations(G, down_block=16)),
            "torch path, bias and padding as separate copies":
                _torch_path([{k: _separate_copies(a) for k, a in d.items()} for d in shipped])}

    def use(acts_):
        for m, a in zip(layers, acts_):
            m._act = a

    def two_workers():                                    # two frames at once, one thread each
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            ts = [threading.Thread(target=run) for _ in range(2)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
        finally:
            torch.set_num_threads(threads)

    onednn, torch_mod = "oneDNN for the few-channel convolutions", "the modulation in torch operations"
    torch_ends = "Fourier input and ToRGB in torch operations"
    onednn_many = "oneDNN for the many-channel 3x3 convolutions"
    cases = {"as shipped": (run, 1), "NHWC convolutions": (run, 1), onednn: (run, 1), torch_mod: (run, 1),
             torch_ends: (run, 1), onednn_many: (run, 1),
             **{k: (run, 1) for k in acts},
             "one thread per frame, two frames at once": (two_workers, 2)}
    if compile_:
        compiled = torch.compile(G.synthesis, dynamic=False)

        def run_compiled():
            with torch.inference_mode():
                return compiled(ws)
        run_compiled()
        cases["torch.compile (inductor)"] = (run_compiled, 1)
    times: dict = {k: [] for k in cases}
    shipped_max, shipped_modulate = native.CONV_MAX_CHANNELS, native.modulate
    order = random.Random(0)
    for _ in range(rounds):
        names = list(cases)
        order.shuffle(names)                              # no variant always runs first or last
        for name in names:
            fn, frames = cases[name]
            use(acts.get(name, shipped))
            set_channels_last(G, True if name == "NHWC convolutions" else None)
            native.CONV_MAX_CHANNELS = 0 if name == onednn else shipped_max
            native.modulate = _no_kernel if name == torch_mod else shipped_modulate
            saved = _declining(ENDS if name == torch_ends else WINOGRAD if name in (onednn, onednn_many) else ())
            t0 = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - t0) * 1000 / frames)
            _restore(saved)
            if fn is two_workers:
                run()                                     # untimed: the thread pool grows back
    use(shipped)
    set_channels_last(G, None)
    native.CONV_MAX_CHANNELS, native.modulate = shipped_max, shipped_modulate
    base = statistics.median(times["as shipped"])
    return [(k, statistics.median(v), statistics.median(v) / base) for k, v in times.items()]


# Issue 35's comparison: StyleGAN3-T at batch 1, (resolution, channel_base, channel_max), with the
# official pure-PyTorch code's ms/frame on a 2-core CPU of this kind (shared/docs/PERF-NOTES.md,
# 2026-11-24: another run, so the ratio to it is an estimate; the same-run ratio is ours to ours).
SIZES = [(64, 2048, 64, "133"), (128, 1024, 32, "125-145"), (256, 1024, 32, "250-290")]


def sizes(rounds: int) -> None:
    """Per size: ms/frame with the compiled kernels and without them (the torch path's activation,
    oneDNN for every convolution, the modulation, Fourier input and ToRGB in torch operations), interleaved, and the
    official code's figure from PERF-NOTES."""
    import torch
    from stylegan3 import build_generator, native

    print(f"\nStyleGAN3-T, batch 1, random weights (median of {rounds}, interleaved)")
    print(f"  {'size':24s} {'compiled ms':>11s} {'torch ms':>9s} {'torch/compiled':>15s} {'official ms (PERF-NOTES)':>25s}")
    for res, cbase, cmax, official in SIZES:
        torch.manual_seed(0)
        G = build_generator("stylegan3", dict(z_dim=64, w_dim=64, mapping_kwargs={"num_layers": 2}, c_dim=0,
                                              img_resolution=res, img_channels=3, channel_base=cbase,
                                              channel_max=cmax)).eval()
        run, _ = synth_fn(G, 1)
        for _ in range(WARM_FRAMES):
            run()
        layers = _sg3_layers(G)
        shipped = [m._act for m in layers]
        paths = {"compiled": shipped, "torch": _torch_path(shipped)}
        times: dict = {k: [] for k in paths}
        conv_max, modulate = native.CONV_MAX_CHANNELS, native.modulate
        for _ in range(rounds):
            for name, acts in paths.items():
                for m, a in zip(layers, acts):
                    m._act = a
                native.CONV_MAX_CHANNELS = conv_max if name == "compiled" else 0
                native.modulate = modulate if name == "compiled" else _no_kernel
                saved = _declining(ENDS + WINOGRAD if name == "torch" else ())
                run()
                t0 = time.perf_counter()
                for _ in range(IN_A_ROW):
                    run()
                times[name].append((time.perf_counter() - t0) * 1000 / IN_A_ROW)
                _restore(saved)
        for m, a in zip(layers, shipped):
            m._act = a
        native.CONV_MAX_CHANNELS, native.modulate = conv_max, modulate
        c, t = statistics.median(times["compiled"]), statistics.median(times["torch"])
        print(f"  {f'{res} px, cbase {cbase}, cmax {cmax}':24s} {c:11.1f} {t:9.1f} {t / c:15.2f} {official:>25s}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--networks", default="builtin:tiny,builtin:twemoji", help="comma-separated networks")
    ap.add_argument("--batches", default="1,4", help="comma-separated batch sizes (default: %(default)s)")
    ap.add_argument("--rounds", type=int, default=7, help="timed runs per variant (default: %(default)s)")
    ap.add_argument("--no-layers", action="store_true", help="skip the per-layer and per-operator tables")
    ap.add_argument("--variants", action="store_true", help="time each speed variant against the shipped generator")
    ap.add_argument("--compile", action="store_true", help="with --variants: also torch.compile (slow to compile)")
    ap.add_argument("--sizes", action="store_true", help="StyleGAN3-T at 64, 128 and 256 px: compiled and torch "
                    "path, and the official code's ms from PERF-NOTES")
    args = ap.parse_args()

    import torch
    from livegan.engine.devices import keep_freed_memory
    from stylegan3 import load_network, native

    keep_freed_memory()                                   # as every livegan command runs
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, ATen CPU capability "
          f"{torch.backends.cpu.get_cpu_capability()}")
    if args.sizes:
        sizes(args.rounds)
        return
    peaks, rows = [], []
    nets = {name: load_network(name, device="cpu").eval() for name in args.networks.split(",")}
    if args.variants:
        for name, G in nets.items():
            print(f"\n{name}, batch 1: variants (median of {args.rounds}, interleaved)")
            print(f"  {'variant':48s} {'ms/frame':>9s} {'variant/shipped':>16s}")
            for variant, ms, ratio in variants(G, args.rounds, args.compile):
                print(f"  {variant:48s} {ms:9.2f} {ratio:16.3f}")
        return
    batches = [int(b) for b in args.batches.split(",")]
    for G in nets.values():
        for b in batches:
            for _ in range(WARM_FRAMES):                  # warm-up: caches, kernels, the heap
                synth_fn(G, b)[0]()
    timing: dict = {}
    for _ in range(args.rounds):                          # interleaved: the peak and every network alike
        peaks.append(matmul_peak(3))
        for name, G in nets.items():
            for b in batches:
                run, _ = synth_fn(G, b)
                run()                                     # untimed: the matrix product evicted the caches
                t0 = time.perf_counter()
                for _ in range(IN_A_ROW):                 # frames in a row, as the show renders them
                    run()
                timing.setdefault((name, b), []).append((time.perf_counter() - t0) * 1000 / b / IN_A_ROW)
    libs = {lib: statistics.median(p[lib] for p in peaks) for lib in peaks[0]}
    peak = max(libs.values())
    print(f"matrix-product peak (2048x2048 float32): {peak:.1f} GFLOP/s (median of {len(peaks)}; "
          + ", ".join(f"{lib} {r:.1f}" for lib, r in libs.items()) + ")")
    print(f"{'network':18s} {'batch':>5s} {'GFLOP/frame':>11s} {'ms/frame':>9s} {'GFLOP/s':>8s} {'of peak':>8s}")
    for name, G in nets.items():
        for b in batches:
            run, _ = synth_fn(G, b)
            layers = _sg3_layers(G)
            shipped, conv_max = [m._act for m in layers], native.CONV_MAX_CHANNELS
            for m, a in zip(layers, _torch_path(shipped)):
                m._act = a                                # counted on the torch path (see above)
            native.CONV_MAX_CHANNELS = 0
            saved = _declining(ENDS + WINOGRAD + ("modulate",))
            gf = flops(run) / b / 1e9
            _restore(saved)
            native.CONV_MAX_CHANNELS = conv_max
            for m, a in zip(layers, shipped):
                m._act = a
            ms = statistics.median(timing[(name, b)])
            rate = gf / (ms / 1000)
            rows.append((name, b, gf, ms, rate, rate / peak))
            print(f"{name:18s} {b:5d} {gf:11.3f} {ms:9.2f} {rate:8.1f} {rate / peak:8.1%}")
    if args.no_layers:
        return
    for name, G in nets.items():
        print(f"\n{name}, batch 1: time per synthesis layer (median of {args.rounds})")
        for layer, ms in layer_table(G, args.rounds):
            print(f"  {layer:28s} {ms:8.2f} ms")
        print(f"{name}, batch 1: operators by own CPU time")
        for key, ms, share, count in top_ops(G):
            print(f"  {key[:40]:40s} {ms:8.2f} ms {share:6.1%} ({count} calls/frame)")


if __name__ == "__main__":
    main()
