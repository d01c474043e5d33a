"""`livegan networks`, `convert`, `info`: what --network can name, and a network file's
conversion and description."""
from __future__ import annotations

from .options import load, network_options


def cmd_networks(args) -> int:
    """What --network can name: the built-ins, the networks in the download cache, and NVIDIA's
    published networks by short name (downloaded on first use, licence shown)."""
    from stylegan3 import builtin
    from stylegan3.catalog import CATALOG, LICENCE
    from stylegan3.download import cache_dir, cached_path

    print("built in (no download), lightest first:")
    for name in builtin.names():
        credit = builtin.credit(name)
        print(f"  builtin:{name:14s} {builtin.describe(name)}" + (f"\n      {credit}" if credit else ""))
    from ..training.watch import RUNS, newest_network
    runs = sorted(d for d in RUNS.iterdir() if d.is_dir()) if RUNS.is_dir() else []
    print(f"training runs ({RUNS}; play one with --network run:NAME, its newest snapshot and each new one):"
          + ("" if runs else " none"))
    for d in runs:
        net = newest_network(d)
        snaps = len(list(d.glob("network-*.safetensors")))
        print(f"  run:{d.name:24s} " + (f"{snaps} snapshot{'s' if snaps != 1 else ''}, newest {net.name}" if net
                                          else "no snapshot yet"))
    cache = cache_dir()
    files = sorted(p for p in cache.glob("*") if p.is_file() and not p.name.startswith(".")) if cache.is_dir() else []
    print(f"in the cache ({cache}):" + ("" if files else " none"))
    for p in files:
        print(f"  {p}  ({p.stat().st_size / (1 << 20):.0f} MB)")
    print(f"published by NVIDIA (downloaded once into the cache; {LICENCE}):")
    for p in CATALOG.values():
        have = "cached" if cached_path(p.url).exists() else f"about {p.approx_mb} MB"
        print(f"  {p.name:28s} {p.config:12s} {p.resolution:5d} px  {p.about:28s} {have}\n      {p.url}")
    return 0


def cmd_convert(args) -> int:
    from stylegan3 import load_network, save_safetensors

    G = load_network(args.src)
    save_safetensors(G, args.dst)
    print(f"wrote {args.dst} ({G.family}, {G.img_resolution}px, "
          f"{sum(p.numel() for p in G.parameters()):,} parameters)")
    return 0


def cmd_info(args) -> int:
    G, dev = load(args)
    n = sum(p.numel() for p in G.parameters())
    from stylegan3 import describe_config
    from stylegan3.layers import layer_channels, synthesis_layers
    print(f"{args.network}: {describe_config(G)}, {G.img_resolution}x{G.img_resolution}x{G.img_channels}, "
          f"z_dim {G.z_dim}, c_dim {G.c_dim}, w_dim {G.w_dim}, num_ws {G.num_ws}, {n:,} parameters")
    layers, chans = synthesis_layers(G), layer_channels(G)
    print("synthesis layers (as /livegan/netmix/layers, bends and layer views number them; channels): "
          + ", ".join(f"{i} {name} ({c})" for i, (name, c) in enumerate(zip(layers, chans))))
    return 0


def register(sub) -> None:
    nw = sub.add_parser("networks", help="list what --network can name: built-ins, the cache, NVIDIA's published networks")
    nw.set_defaults(func=cmd_networks)

    c = sub.add_parser("convert", help="convert a network pickle to our .safetensors format")
    c.add_argument("src", help="network .pkl (or anything load_network takes)")
    c.add_argument("dst", help="output .safetensors")
    c.set_defaults(func=cmd_convert)

    i = sub.add_parser("info", help="describe a network")
    network_options(i)
    i.set_defaults(func=cmd_info)
