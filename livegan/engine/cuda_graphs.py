"""CUDA-graph capture of the synthesis network for a fixed batch shape.

Eager StyleGAN3 at batch 1 is launch-bound (hundreds of small kernels); replaying a captured graph
removes the launch overhead.  The graph reads ws (and the StyleGAN3 input transforms) from static
buffers and writes a static output, so callers copy inputs in and read the image out before the
next replay.
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence


class GraphedSynthesis:
    def __init__(self, G, ws_shape: Sequence[int], with_transform: bool = False, warmup: int = 3, bend=None):
        """`bend`: a static Bender (stylegan3.bending.Bender.static) captured with the graph: its
        amounts change in place between replays; its taps (layer views) are read after one."""
        import torch

        dev = next(G.parameters()).device
        if dev.type != "cuda":
            raise ValueError("CUDA graphs need the network on a CUDA device")
        self.G, self.bend = G, bend
        self.static_ws = torch.zeros(tuple(ws_shape), device=dev)
        self.static_tf = torch.eye(3, device=dev).repeat(ws_shape[0], 1, 1) if with_transform else None
        kw = {"transform": self.static_tf} if with_transform else {}
        if bend is not None:
            kw["bend"] = bend
        stream = torch.cuda.Stream(dev)
        stream.wait_stream(torch.cuda.current_stream(dev))
        with torch.cuda.stream(stream), torch.inference_mode():
            for _ in range(warmup):                      # builds lazy kernels/caches off-graph
                G.synthesis(self.static_ws, **kw)
        torch.cuda.current_stream(dev).wait_stream(stream)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph), torch.inference_mode():
            self.static_out = G.synthesis(self.static_ws, **kw)

    def __call__(self, ws, transform: Optional[object] = None):
        self.static_ws.copy_(ws)
        if self.static_tf is not None and transform is not None:
            self.static_tf.copy_(transform)
        self.graph.replay()
        return self.static_out

    def bound(self, ws) -> Callable[[], object]:
        return lambda: self(ws)
