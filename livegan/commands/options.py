"""What several commands share: the one-line-error parser, the network options and loading
a network with them."""
from __future__ import annotations

import argparse
import re

from ..defaults import DEFAULT_NETWORK


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors ('prog: error: what (see prog --help)', not a usage block) and
    negative number lists as values ('--range -3,3', not an unknown option)."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        # argparse takes only a lone negative number for a value; a list like -3,3 is one too.
        self._negative_number_matcher = re.compile(r"^-(\d|\.\d)[\d.,:eE+-]*$")

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def network_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--network", "-n", default=DEFAULT_NETWORK,
                   help="network: .pkl, .safetensors, http(s) URL, builtin:NAME or a published name such as "
                        "stylegan3-r-afhqv2-512 (`livegan networks` lists them; default: %(default)s)")
    p.add_argument("--device", default="auto", help="torch device: auto, cpu, cuda, cuda:1 (default: %(default)s)")
    p.add_argument("--dtype", default="auto", choices=["auto", "fp32", "fp16", "bf16"],
                   help="synthesis precision: auto = fp16 where the checkpoint says, CUDA only (default: %(default)s)")


def load(args):
    from stylegan3 import load_network

    from ..engine.devices import resolve_device

    dev = resolve_device(args.device)
    return load_network(args.network, device=dev, precision=getattr(args, "dtype", "auto")), dev
