#!/usr/bin/env python3
"""Two versions of the compiled filtered activation, paired in one process (docs/speed.md).

Builds each source tree's kernels (a folder holding filtered_lrelu.cpp, conv2d.cpp and their headers,
e.g. a `git worktree` of another commit's vendor/stylegan3/native) with this machine's flags, then
per StyleGAN3 layer of each network calls A and B alternately on an input of the layer's shape
and layout (channels last after oneDNN's convolutions, planes after the direct one), checks they give the same pixels, and prints medians and
B/A.  Both versions must share the kernel's struct Geometry.

    python bench/native_ab.py /tmp/old/vendor/stylegan3/native vendor/stylegan3/native
"""
from __future__ import annotations

import argparse
import ctypes
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "vendor")]

NETWORKS = {"tiny": None, "sg3t-64": (64, 2048, 64)}


def _build(src: Path, out: Path):
    from stylegan3 import native

    sources = [str(src / "filtered_lrelu.cpp"), str(src / "conv2d.cpp")]
    subprocess.run(["c++", *native.build_flags(), "-o", str(out), *[s for s in sources if Path(s).exists()]],
                   check=True)
    lib = ctypes.CDLL(str(out))                     # (an older tree may lack the convolution)
    lib.livegan_filtered_lrelu.argtypes = [ctypes.POINTER(native.Geometry)] + [ctypes.c_void_p] * 6
    lib.livegan_filtered_lrelu.restype = ctypes.c_int
    return lib


def _network(name: str):
    import torch
    from stylegan3 import build_generator, load_network

    if NETWORKS[name] is None:
        return load_network("builtin:" + name, device="cpu").eval()
    res, cbase, cmax = NETWORKS[name]
    torch.manual_seed(0)
    return build_generator("stylegan3", dict(z_dim=64, w_dim=64, mapping_kwargs={"num_layers": 2}, c_dim=0,
                                             img_resolution=res, img_channels=3, channel_base=cbase,
                                             channel_max=cmax)).eval()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a", type=Path, help="folder with version A's kernel sources")
    ap.add_argument("b", type=Path, help="folder with version B's kernel sources")
    ap.add_argument("--networks", default="tiny,sg3t-64", help=f"comma list of {', '.join(NETWORKS)} "
                    "(default: %(default)s)")
    ap.add_argument("--rounds", type=int, default=40, help="calls of each version per layer (default: %(default)s)")
    args = ap.parse_args()

    import torch
    from livegan.engine.devices import keep_freed_memory
    from stylegan3 import native

    keep_freed_memory()
    with tempfile.TemporaryDirectory() as tmp:
        libs = [_build(src, Path(tmp) / f"{i}.so") for i, src in enumerate((args.a, args.b))]
    for name in args.networks.split(","):
        G = _network(name)
        ws = G.mapping(torch.randn(1, G.z_dim), None)
        with torch.inference_mode():
            G.synthesis(ws)
        total = [0.0, 0.0]
        for layer, m in G.synthesis.named_children():
            act = next(iter(getattr(m, "_act", {}).values()), None)
            if act is None or act.native is None:
                continue
            t, c = act.native, m.out_channels
            x = torch.randn(1, c, *act.in_size)           # NHWC where oneDNN's convolution hands it over
            if not native.conv_applies(m.in_channels, m.out_channels, m.conv_kernel):
                x = x.contiguous(memory_format=torch.channels_last)
            b = torch.randn(c)
            ho, wo = t.out_size

            def call(lib):
                out = torch.empty((1, c, ho, wo))
                g = native.Geometry(1, c, *act.in_size, *x.stride(), t.up, t.down, t.jx0, t.hx.shape[1], t.jy0,
                                    t.hy.shape[1], t.gd.numel(), ho, wo, 0.2, 256.0, torch.get_num_threads())
                rc = lib.livegan_filtered_lrelu(ctypes.byref(g), x.data_ptr(), b.data_ptr(), t.hx.data_ptr(),
                                                t.hy.data_ptr(), t.gd.data_ptr(), out.data_ptr())
                assert rc == 0, rc
                return out
            same = torch.equal(call(libs[0]), call(libs[1]))
            times: list[list[float]] = [[], []]
            for r in range(args.rounds):
                for i in ((0, 1) if r % 2 else (1, 0)):
                    t0 = time.perf_counter()
                    call(libs[i])
                    times[i].append(time.perf_counter() - t0)
            a, bb = (statistics.median(v) * 1e3 for v in times)
            total[0] += a
            total[1] += bb
            print(f"{name:8s} {layer:12s} A {a:7.3f} ms  B {bb:7.3f} ms  B/A {bb / a:6.3f}"
                  f"{'' if same else '  (pixels differ)'}")
        print(f"{name:8s} {'all layers':12s} A {total[0]:7.2f} ms  B {total[1]:7.2f} ms  B/A {total[1] / total[0]:6.3f}")


if __name__ == "__main__":
    main()
