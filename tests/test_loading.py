"""Checkpoint loading: safe unpickling, safetensors, URLs, builtins, and clear errors."""
from __future__ import annotations

import http.server
import os
import pickle
import subprocess
import sys
import threading

import numpy as np
import pytest
import torch

from stylegan3 import CheckpointError, build_generator, load_network
from official_format import write_official_pickle

SG2_TINY = dict(z_dim=16, w_dim=16, c_dim=0, img_resolution=16, img_channels=3,
                mapping_kwargs={"num_layers": 2}, channel_base=256, channel_max=16)


class _Evil:
    def __init__(self, fn, arg):
        self.fn, self.arg = fn, arg

    def __reduce__(self):
        return self.fn, (self.arg,)


@pytest.mark.parametrize("fn,qual", [(os.system, "system"), (eval, "builtins.eval"),
                                     (subprocess.call, "subprocess.call")])
def test_malicious_globals_are_refused_at_any_depth(tmp_path, fn, qual):
    marker = tmp_path / "pwned"
    payload = {"G_ema": {"deep": [1, (2, {"x": _Evil(fn, f"touch {marker}")})]}}
    p = tmp_path / "evil.pkl"
    p.write_bytes(pickle.dumps(payload, protocol=4))
    with pytest.raises(CheckpointError) as e:
        load_network(p)
    msg = str(e.value)
    assert str(p) in msg and qual.split(".")[-1] in msg and "\n" not in msg
    assert not marker.exists()


def test_embedded_source_is_never_executed(tmp_path):
    marker = tmp_path / "ran"
    G = build_generator("stylegan2", SG2_TINY)
    p = tmp_path / "net.pkl"
    write_official_pickle(G, p, source=f"open({str(marker)!r}, 'w').write('x')")
    G2 = load_network(p)
    assert not marker.exists()
    z = torch.randn(2, 16)
    assert torch.equal(G(z, None), G2(z, None))


def test_official_format_roundtrip_sg2_architectures_and_conditional(tmp_path):
    for arch in ("orig", "skip", "resnet"):
        G = build_generator("stylegan2", dict(SG2_TINY, c_dim=5, architecture=arch))
        p = tmp_path / f"{arch}.pkl"
        write_official_pickle(G, p)
        G2 = load_network(p)
        z, c = torch.randn(3, 16), torch.eye(5)[:3]
        assert torch.allclose(G(z, c, noise_mode="const"), G2(z, c, noise_mode="const"))
        with pytest.raises(ValueError, match=r"conditional: c must have shape \[N, 5\]"):
            G2(z, None)
        with pytest.raises(ValueError, match=r"c must have shape \[3, 5\], got \[3, 4\]"):
            G2(z, torch.zeros(3, 4))


def test_wrong_z_shape_names_the_shapes(tiny):
    with pytest.raises(ValueError, match=r"z must have shape \[N, 64\], got \[2, 32\]"):
        tiny(torch.zeros(2, 32), None)
    with pytest.raises(ValueError, match=r"ws must have shape \[N, 9, 64\]"):
        tiny.synthesis(torch.zeros(1, 3, 64))


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupt_files_give_one_line_errors(tmp_path, golden, damage):
    data = (golden / "sg3t-tiny" / "network.pkl").read_bytes()
    bad = {"truncate": data[: len(data) // 2], "garbage": os.urandom(4096), "empty": b""}[damage]
    p = tmp_path / "bad.pkl"
    p.write_bytes(bad)
    with pytest.raises(CheckpointError) as e:
        load_network(p)
    assert str(p) in str(e.value) and "\n" not in str(e.value)


def test_unknown_architecture_and_missing_file(tmp_path):
    G = build_generator("stylegan2", SG2_TINY)
    G.synthesis.b4 = torch.nn.Identity()          # neither b4-style nor input-style synthesis
    del G.synthesis._modules["b4"]
    G.synthesis.add_module("mystery", torch.nn.Linear(2, 2))
    p = tmp_path / "odd.pkl"
    write_official_pickle(G, p)
    with pytest.raises(CheckpointError, match="unknown architecture"):
        load_network(p)
    with pytest.raises(CheckpointError, match="no such network file"):
        load_network(tmp_path / "nope.pkl")
    with pytest.raises(CheckpointError, match="unknown built-in network"):
        load_network("builtin:nope")


def test_weights_that_do_not_fit_the_kwargs(tmp_path):
    G = build_generator("stylegan2", SG2_TINY)
    G.init_kwargs = dict(SG2_TINY, channel_max=8)  # kwargs now describe a narrower network
    p = tmp_path / "mismatch.pkl"
    write_official_pickle(G, p)
    with pytest.raises(CheckpointError, match="do not fit"):
        load_network(p)


def test_safetensors_roundtrip_and_cli_convert(tmp_path, golden):
    src = golden / "sg3t-tiny" / "network.pkl"
    out = tmp_path / "net.safetensors"
    r = subprocess.run([sys.executable, "-m", "livegan", "convert", str(src), str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    G1, G2 = load_network(src), load_network(out)
    ws = G1.mapping(torch.randn(2, 64), None)
    assert torch.equal(G1.synthesis(ws), G2.synthesis(ws))
    assert G2.init_kwargs == G1.init_kwargs
    not_ours = tmp_path / "x.safetensors"
    from safetensors.torch import save_file
    save_file({"a": torch.zeros(2)}, str(not_ours))
    with pytest.raises(CheckpointError, match="not a livegan generator"):
        load_network(not_ours)


class _Handler(http.server.BaseHTTPRequestHandler):
    payload = b""
    cut = False

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.payload)))
        self.end_headers()
        self.wfile.write(self.payload[: len(self.payload) // 3] if self.cut else self.payload)

    def log_message(self, *a):
        pass


@pytest.fixture
def http_server(golden):
    _Handler.payload = (golden / "sg2-tiny" / "network.pkl").read_bytes()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


def test_url_download_is_cached_and_atomic(tmp_path, monkeypatch, http_server, golden):
    monkeypatch.setenv("LIVEGAN_CACHE", str(tmp_path / "cache"))
    _Handler.cut = True
    with pytest.raises(CheckpointError, match="interrupted"):
        load_network(f"{http_server}/broken/network.pkl")
    assert not any((tmp_path / "cache").iterdir())        # nothing half-written is cached
    _Handler.cut = False
    G = load_network(f"{http_server}/good/network.pkl")
    files = list((tmp_path / "cache").iterdir())
    assert len(files) == 1 and files[0].read_bytes() == _Handler.payload
    c = np.load(golden / "sg2-tiny" / "cases.npz")
    img = G.synthesis(torch.from_numpy(c["a_plain.ws"]))
    assert float((img - torch.from_numpy(c["a_plain.img"])).norm() / img.norm()) < 1e-4
    _Handler.payload = b"changed"                         # second load comes from the cache
    load_network(f"{http_server}/good/network.pkl")


def test_published_names_download_once_with_the_licence_shown(tmp_path, golden):
    """`--network stylegan3-r-afhqv2-512`: the catalogue's URL (here on a local mirror), the
    licence line before the download, once into the cache; `livegan networks` lists it."""
    import subprocess
    import sys

    from stylegan3.catalog import CATALOG, lookup

    payload = (golden / "sg3t-tiny" / "network.pkl").read_bytes()
    paths: list[str] = []

    class Mirror(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            paths.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *a):
            pass
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Mirror)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    env = dict(__import__("os").environ, LIVEGAN_CACHE=str(tmp_path / "cache"),
               LIVEGAN_CATALOG_URL=f"http://127.0.0.1:{srv.server_address[1]}")
    try:
        assert lookup("stylegan3-r-afhqv2-512").file == "stylegan3-r-afhqv2-512x512.pkl"
        assert all(p.url.startswith("https://api.ngc.nvidia.com/") for p in CATALOG.values())
        run = lambda *a: subprocess.run([sys.executable, "-m", "livegan", *a], capture_output=True, text=True,  # noqa: E731
                                        env=env, timeout=120)
        r = run("info", "--network", "stylegan3-r-afhqv2-512")
        assert r.returncode == 0, r.stderr
        lic = r.stdout.index("licence: NVIDIA Source Code License")
        assert "non-commercial" in r.stdout and lic < r.stdout.index("506,517 parameters")
        assert paths == ["/stylegan3/versions/1/files/stylegan3-r-afhqv2-512x512.pkl"]
        r = run("info", "--network", "stylegan3-r-afhqv2-512")          # from the cache: no request, no banner
        assert r.returncode == 0 and "licence" not in r.stdout and len(paths) == 1
        listing = run("networks").stdout
        assert "builtin:tiny" in listing and "stylegan3-r-afhqv2-512x512.pkl" in listing
        assert "stylegan2-ffhq-1024" in listing and str(tmp_path / "cache") in listing
    finally:
        srv.shutdown()
