"""`livegan gallery`: the studio over the store."""
from __future__ import annotations

from ..argtypes import host_port, port


def run(args) -> int:
    from ..gallery.app import run

    if args.network:                 # loaded on first need: a typo is said now, not at the first walk
        from stylegan3.checkpoints import check_source
        check_source(args.network)
    run(args.out, args.host, args.port, args.network, args.presets, args.show)
    return 0


def register(sub) -> None:
    gl = sub.add_parser("gallery", help="the studio: browse, judge and curate the store in a browser; the walk service API")
    gl.add_argument("--store", "--out", dest="out", default="recordings",
                    help="the store's folder (--out: its old name; default: %(default)s)")
    gl.add_argument("--host", default="127.0.0.1",
                    help="address to listen on; anything but loopback opens the store to the network (default: %(default)s)")
    gl.add_argument("--port", type=port, default=5000, help="HTTP port (default: %(default)s)")
    gl.add_argument("--network", default=None,
                    help="network for the walk service and renders: path, URL or builtin:NAME (default: $NETWORK_PKL, "
                         "else builtin:tiny)")
    gl.add_argument("--presets", default=None, help="folder curated and recall presets are saved into (default: presets/)")
    gl.add_argument("--show", type=host_port, default=None, metavar="HOST:PORT",
                    help="a running show's OSC address, for 'send to the show' (default: none)")
    gl.set_defaults(func=run)
