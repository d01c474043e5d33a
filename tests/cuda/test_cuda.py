"""The CUDA path: half precision, CUDA graphs, device frames and CUDA-GL sharing.

These need a CUDA GPU, so `make test` (CPU, CI) does not collect this folder; the CPU versions of
the same code paths run in test_numerics.py, test_ops.py and test_display.py.  On a GPU machine:
`make test-cuda`.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch



@pytest.fixture(scope="module")
def pair():
    from stylegan3 import load_network
    cpu = load_network("builtin:tiny")
    gpu = load_network("builtin:tiny", device="cuda", precision="fp32")
    return cpu, gpu


def _ws(G, n, seed=0):
    torch.manual_seed(seed)
    z = torch.randn(n, G.z_dim).to(next(G.parameters()).device)
    with torch.inference_mode():
        return G.mapping(z, None)


def test_cuda_fp32_and_fp16_agree_with_the_cpu(pair):
    from stylegan3 import set_precision
    cpu, gpu = pair
    ws = _ws(cpu, 2)
    with torch.inference_mode():
        ref = cpu.synthesis(ws).double()
        out32 = gpu.synthesis(ws.cuda()).double().cpu()
        set_precision(gpu, "fp16")
        out16 = gpu.synthesis(ws.cuda()).double().cpu()
        set_precision(gpu, "fp32")
    assert float((out32 - ref).norm() / ref.norm()) < 1e-4
    assert float((out16 - ref).norm() / ref.norm()) < 1e-2


@pytest.mark.parametrize("batch", [1, 4])
def test_cuda_graph_replay_equals_eager(pair, batch):
    from livegan.engine.cuda_graphs import GraphedSynthesis
    _, gpu = pair
    ws = _ws(gpu, batch).cuda()
    with torch.inference_mode():
        eager = gpu.synthesis(ws)
    graphed = GraphedSynthesis(gpu, tuple(ws.shape), with_transform=True)
    tf = torch.eye(3, device="cuda").repeat(batch, 1, 1)
    with torch.inference_mode():
        out = graphed(ws, tf).clone()
        again = graphed(_ws(gpu, batch, seed=1).cuda(), tf).clone()
    assert torch.allclose(out, eager, atol=1e-4)
    assert not torch.allclose(again, out, atol=1e-3)         # the replay reads the new inputs


def test_engine_device_frames_equal_host_frames(pair):
    from livegan.engine import Engine
    from livegan.timeline import FrameRequest
    _, gpu = pair
    ws = _ws(gpu, 1).cpu().numpy()
    req = FrameRequest(frame=0, generation=0, ws=ws[0], transform=np.eye(3, dtype=np.float32), keyframe=0,
                       position=0.0)
    eng = Engine(gpu, torch.device("cuda"))
    with torch.inference_mode():
        host = eng.render([req])[0]
        eng.device_frames = True
        dev = eng.render([req])[0]
    assert isinstance(host, np.ndarray) and dev.is_cuda and dev.shape == host.shape
    assert np.array_equal(dev.cpu().numpy(), host)


def test_bends_and_layer_views_replay_in_captured_graphs(pair):
    """A bend slot and a layer view under CUDA graphs: one graph per structure, the amounts changed
    in place (no new capture when a fader moves), the pictures those of the eager engine."""
    from stylegan3.bending import BendSpec

    from livegan.engine import Engine
    from livegan.timeline import FrameRequest
    _, gpu = pair
    ws = _ws(gpu, 2).cpu().numpy()
    spec = BendSpec("rotate", 3, (0, 1, 2, 3), 30.0)

    def reqs(amounts):
        return [FrameRequest(frame=i, generation=0, ws=ws[i], transform=np.eye(3, dtype=np.float32), keyframe=0,
                             position=0.0, bends=((spec, a),) if a else (), view=(4, 0, 1, 1.0, False, False))
                for i, a in enumerate(amounts)]
    graphed = Engine(gpu, torch.device("cuda"), batch=2, cuda_graphs=True)
    eager = Engine(gpu, torch.device("cuda"), batch=2)
    for amounts in ((1.0, 0.5), (0.25, 0.75), (0.9, 0.1)):
        with torch.inference_mode():
            g, e = graphed.render(reqs(amounts)), eager.render(reqs(amounts))
            gv, ev = list(graphed.last_views), list(eager.last_views)
        assert all(np.abs(a.astype(int) - b.astype(int)).max() <= 1 for a, b in zip(g, e)), amounts
        assert all(np.abs(a.astype(int) - b.astype(int)).max() <= 1 for a, b in zip(gv, ev)), amounts
    assert len(graphed._graphs) == 1                           # the faders moved; the structure did not


def test_cuda_frames_reach_the_texture_shared_or_through_the_host():
    # With NVIDIA's GL the frame is copied on the GPU; with another GL (Mesa EGL on a headless
    # GPU machine) the probe says why and the same frame arrives through host memory.
    from livegan.display import HeadlessDisplay, read_rgb
    from livegan.params import Registry
    d = HeadlessDisplay((32, 32))
    why = d.renderer.enable_interop()
    y, x = np.mgrid[0:32, 0:32]
    img = np.stack([x * 8, y * 8, np.full_like(x, 100)], -1).astype(np.uint8)
    d.renderer.upload(torch.from_numpy(img).cuda())
    if why:
        assert "\n" not in why and d.renderer.interop is None
    else:
        assert d.renderer.interop is not None, d.renderer.interop_error
        assert d.renderer.src.components == 4
    d.present(dict(Registry().frozen().values))
    assert np.array_equal(read_rgb(d.fbo, (32, 32)), img)
    d.close()


def test_the_fast_gradient_on_cuda_equals_the_cpus(pair):
    """Training's filtered-activation gradient (filtered_grad.py) on CUDA, fp32: the gradients for
    the ws and every layer's weights equal the CPU's to rounding."""
    cpu, gpu = pair
    ws = _ws(cpu, 2)
    grads = []
    for G, dev in ((cpu, "cpu"), (gpu, "cuda")):
        G.requires_grad_(True).zero_grad()
        w = ws.clone().to(dev).requires_grad_()
        G.synthesis(w).square().mean().backward()
        grads.append([w.grad.double().cpu()] + [p.grad.double().cpu() for p in G.synthesis.parameters()
                                                if p.grad is not None])
        G.requires_grad_(False)
    assert len(grads[0]) == len(grads[1]) > 10
    for ref, out in zip(*grads):
        assert float((out - ref).norm() / ref.norm()) < 1e-3


def test_the_training_ops_on_cuda_equal_the_cpus():
    """bias_act's Function and the blur's linear gradient (fir.py) on CUDA: a StyleGAN2
    discriminator's R1 pass (second order, through both) gives the CPU's penalty and gradients
    to rounding, and reaches the same parameters."""
    from stylegan3.discriminator import Discriminator

    torch.manual_seed(0)
    D = Discriminator(c_dim=0, img_resolution=32, img_channels=3, channel_base=2048, channel_max=64)
    real = torch.randn(8, 3, 32, 32)
    out = []
    for dev in ("cpu", "cuda"):
        Dd = D.to(dev)
        Dd.zero_grad(set_to_none=True)
        x = real.to(dev).requires_grad_()
        g, = torch.autograd.grad(Dd(x).sum(), x, create_graph=True)
        penalty = g.square().sum([1, 2, 3])
        penalty.mean().backward()
        out.append((penalty.detach().double().cpu(),
                    {n: p.grad.double().cpu() for n, p in Dd.named_parameters() if p.grad is not None}))
    (p0, g0), (p1, g1) = out
    assert float((p1 - p0).norm() / p0.norm()) < 1e-4
    assert sorted(g0) == sorted(g1) and len(g0) > 10
    for name in g0:
        ref = g0[name]
        assert float((g1[name] - ref).norm() / max(float(ref.norm()), 1e-30)) < 1e-3, name
