"""CUDA-graph capture of the synthesis network for a fixed batch shape.

Eager StyleGAN3 at batch 1 is launch-bound (hundreds of small kernels); replaying a captured graph
removes the launch overhead.  The graph reads its input from a static buffer and writes to a static
output, so callers copy ws in and read the image out.
"""
from __future__ import annotations

from typing import Callable, Sequence


class GraphedSynthesis:
    def __init__(self, G, ws_shape: Sequence[int], warmup: int = 3):
        import torch

        dev = next(G.parameters()).device
        if dev.type != "cuda":
            raise ValueError("CUDA graphs need the network on a CUDA device")
        self.G = G
        self.static_ws = torch.zeros(tuple(ws_shape), device=dev)
        stream = torch.cuda.Stream(dev)
        stream.wait_stream(torch.cuda.current_stream(dev))
        with torch.cuda.stream(stream), torch.inference_mode():
            for _ in range(warmup):                      # builds lazy kernels/caches off-graph
                G.synthesis(self.static_ws)
        torch.cuda.current_stream(dev).wait_stream(stream)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph), torch.inference_mode():
            self.static_out = G.synthesis(self.static_ws)

    def __call__(self, ws):
        self.static_ws.copy_(ws)
        self.graph.replay()
        return self.static_out

    def bound(self, ws) -> Callable[[], object]:
        return lambda: self(ws)
