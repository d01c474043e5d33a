"""--gpus N: data-parallel training in N processes meeting on loopback (one per GPU; gloo on the
CPU), or one rank of a torchrun launch across machines."""
from __future__ import annotations

import os
from dataclasses import asdict

import torch

from .loop import Trainer
from .options import TrainOptions


def _ddp_worker(rank: int, o: TrainOptions, world: int, url: str) -> None:
    import torch.distributed as dist

    cuda = torch.cuda.is_available() and o.device.startswith("cuda")
    if not cuda:                              # N processes share the cores (not N x all of them)
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
    if cuda:
        torch.cuda.set_device(rank)
        o = TrainOptions(**{**asdict(o), "device": f"cuda:{rank}"})
    from ..engine.devices import keep_freed_memory
    keep_freed_memory()                       # (a spawned rank: its own process, as every command)
    dist.init_process_group("nccl" if cuda else "gloo", init_method=url, rank=rank, world_size=world)
    try:
        Trainer(o, log=lambda line: print(line, flush=True), rank=rank, world=world).run()
    finally:
        dist.destroy_process_group()
    from ..jobs import leave_spawned
    leave_spawned()


def train_distributed(o: TrainOptions, gpus: int) -> None:
    """--gpus N on one machine: N processes (one per GPU; on the CPU, gloo) meeting on loopback.
    Under torchrun (RANK and WORLD_SIZE set) this process is one rank of a multi-machine run."""
    import socket

    import torch.distributed as dist
    import torch.multiprocessing as mp

    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:
        rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        local = int(os.environ.get("LOCAL_RANK", rank))
        cuda = torch.cuda.is_available() and o.device.startswith("cuda")
        if cuda:
            torch.cuda.set_device(local)
            o = TrainOptions(**{**asdict(o), "device": f"cuda:{local}"})
        dist.init_process_group("nccl" if cuda else "gloo", init_method="env://")
        try:
            Trainer(o, log=lambda line: print(line, flush=True), rank=rank, world=world).run()
        finally:
            dist.destroy_process_group()
        return
    if o.device.startswith("cuda") and torch.cuda.device_count() < gpus:
        raise ValueError(f"--gpus {gpus}: this machine has {torch.cuda.device_count()} CUDA devices")
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    url = f"tcp://127.0.0.1:{s.getsockname()[1]}"
    s.close()
    mp.start_processes(_ddp_worker, args=(o, gpus, url), nprocs=gpus, start_method="spawn")
