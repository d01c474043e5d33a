"""Memory and time are estimated before anything is built or decoded: a network refused by its
run-time memory (weights and its largest layer) before a tensor exists, a new network that cannot
render its first frame never takes over, archives and images refused by their declared sizes,
tampered control logs refused like bad presets (and their URLs gated), the download deadline
covering headers too, bounded caches, and library log floods counted, not printed."""
from __future__ import annotations

import http.server
import io
import json
import socket
import threading
import time
import zipfile

import numpy as np
import pytest
import torch

from livegan.params import Command
from livegan.presets import parse_preset
from livegan.show import Options, Show
from stylegan3 import CheckpointError, load_network, save_safetensors

pytestmark = pytest.mark.hostile

PRESET = parse_preset({"keyframes": [1, 2], "speed": 0.2}, "costs.json")


def _huge_sg3(tmp_path, res=4096, base=1 << 20, cmax=256):
    """A small file (64-d mapping, channel_max 256) whose run-time tensors would be enormous:
    written by hand so that nothing is built to make it."""
    from safetensors.torch import save_file

    kw = {"z_dim": 64, "w_dim": 64, "c_dim": 0, "img_resolution": res, "img_channels": 3,
          "mapping_kwargs": {"num_layers": 2}, "channel_base": base, "channel_max": cmax}
    path = tmp_path / "huge.safetensors"
    save_file({"x": torch.zeros(1)}, str(path), metadata={"format": "livegan-generator/1", "family": "stylegan3",
                                                          "init_kwargs": json.dumps(kw)})
    return path


def test_a_network_is_refused_by_its_run_time_memory_before_it_is_built(tmp_path):
    path = _huge_sg3(tmp_path)
    t0 = time.perf_counter()
    with pytest.raises(CheckpointError, match="running it would take .* GiB .* largest layer"):
        load_network(path)
    assert time.perf_counter() - t0 < 30


def test_batch_and_canvas_count_in_the_estimate(tmp_path, tiny, monkeypatch):
    from stylegan3.bounds import runtime_bytes

    assert runtime_bytes(tiny, 8) > 4 * runtime_bytes(tiny, 1) / 2
    one = runtime_bytes(tiny, 1)
    monkeypatch.setenv("LIVEGAN_MAX_NETWORK_GB", str(1.5 * one / (1 << 30)))
    Show(Options(fps=30, batch=1), PRESET, G=tiny)             # fits at batch 1
    with pytest.raises(CheckpointError, match="at batch 8"):
        Show(Options(fps=30, batch=8), PRESET, G=tiny)


def test_a_network_that_cannot_render_never_takes_over(tmp_path, tiny):
    """Over OSC: one refused by its estimate, one whose first frame is NaN: one line each, and
    the playing network stays."""
    import copy

    bad = copy.deepcopy(tiny)
    with torch.no_grad():
        next(p for n, p in bad.synthesis.named_parameters() if "weight" in n).fill_(float("nan"))
    save_safetensors(bad, tmp_path / "nan.safetensors")
    huge = _huge_sg3(tmp_path)
    show = Show(Options(fps=30, load_roots=(str(tmp_path),)), PRESET, G=tiny)
    show.start()
    try:
        for path in (huge, tmp_path / "nan.safetensors"):
            show.limits["network"].allow = lambda: True         # (rate limits are tested elsewhere)
            show.post(Command("trigger", "network", str(path), "osc"))
            show.tick(0.0)
            end = time.time() + 120
            while show.network_loader.busy and time.time() < end:   # until its result was taken
                show.tick(0.0)
                time.sleep(0.01)
        errs = " ".join(show.errors)
        assert "running it would take" in errs and "not finite" in errs, errs
        assert show.G is tiny and show.network == "builtin:tiny"
    finally:
        show.stop()


def _bomb_npz(declared: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        with z.open("vector.npy", "w", force_zip64=True) as f:
            np.lib.format.write_array_header_1_0(f, {"descr": "<f8", "fortran_order": False, "shape": (declared // 8,)})
            chunk = bytes(1 << 24)
            for _ in range(declared // len(chunk)):
                f.write(chunk)
    return buf.getvalue()


def test_archives_are_checked_by_their_declared_sizes(tmp_path):
    from livegan.directions.catalog import Catalog
    from livegan.safeio import load_npz

    data = _bomb_npz(2 << 30)                                   # 2 GiB of zeros in ~2 MB
    assert len(data) < 8 << 20
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match="MiB limit"):
        load_npz(data, 64 << 20, "bomb")
    assert time.perf_counter() - t0 < 1.0
    (tmp_path / "bomb.npz").write_bytes(data)
    (tmp_path / "bomb.json").write_text(json.dumps({"name": "bomb", "kind": "linear"}))
    good = {"vector": np.ones(64), "sigma": np.float64(1.0), "mean": np.zeros(1), "precision": np.zeros(1)}
    np.savez(tmp_path / "good.npz", **good)
    (tmp_path / "good.json").write_text(json.dumps({"name": "good", "kind": "linear"}))
    lines = []
    cat = Catalog(tmp_path, log=lines.append)
    cat.load_folder(wait=True)
    assert cat.ready("good") and not cat.ready("bomb")
    assert len([ln for ln in lines if "bomb" in ln]) == 1


def test_images_are_refused_by_their_declared_size_on_every_path(tmp_path):
    import struct
    import zlib

    from livegan.conditions.sources import read_image
    from livegan.pictures import open_image

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    w = h = 30000
    raw = zlib.compress(b"".join(b"\x00" + bytes((w + 7) // 8) for _ in range(64)), 9)   # (truncated rows)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 1, 0, 0, 0, 0)) + chunk(b"IDAT", raw) \
        + chunk(b"IEND", b"")
    path = tmp_path / "bomb.png"
    path.write_bytes(png)
    for fn in (lambda: read_image(path, (128, 128)), lambda: open_image(str(path), "thumb")):
        with pytest.raises(ValueError, match="too large|more pixels"):
            fn()


def _log(tmp_path, tiny, mutate):
    from livegan.app import App
    from livegan.record import LOG_NAME
    from livegan.store import Store

    show = Show(Options(fps=30), PRESET, G=tiny)
    app = App(show, tmp_path / "rec", hud=False, codec="ffv1")
    app.record(True)
    app.run_headless(6, realtime=False)
    (walk,) = Store(tmp_path / "rec").walks("recording")
    log = tmp_path / "rec" / str(walk["id"]) / LOG_NAME
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    mutate(lines)
    log.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return log


@pytest.mark.parametrize("mutate,why", [
    (lambda ls: ls[0].update(network="http://127.0.0.1:9/net.pkl"), "would be downloaded"),
    (lambda ls: ls[0].update(network="stylegan3-r-afhqv2-512"), "would be downloaded"),
    (lambda ls: ls.insert(1, {"frame": 1, "op": "apply_network", "name": "network", "value": "https://x.invalid/n.pkl"}),
     "would be downloaded"),
    (lambda ls: ls.__setitem__(-1, {"type": "end", "frames": 1_000_000_000}), "frame count"),
    (lambda ls: ls.__setitem__(-1, {"type": "end", "frames": 500_000}), "claims"),
    (lambda ls: ls.insert(1, {"frame": 1, "op": "set", "name": "psi", "value": float("nan")}), "finite"),
    (lambda ls: ls[0]["preset"].update(keyframes=[]), "keyframes"),
    (lambda ls: ls[0]["value"].update(psi=float("inf")), "finite"),
    (lambda ls: ls[0].update(fps=0), "fps"),
    # the lines' own shape: anything JSON can hold (a fuzzer's finds: AttributeError, KeyError, TypeError)
    (lambda ls: ls.insert(1, None), "line 2: not a JSON object"),
    (lambda ls: ls.insert(1, [1, 2]), "line 2: not a JSON object"),
    (lambda ls: ls.insert(1, {"type": "shown", "t": [], "p": 0}), "line 2: TypeError"),
    (lambda ls: ls.insert(1, {"type": "shown", "p": 0}), "line 2: KeyError"),
    (lambda ls: ls.insert(1, {"type": "picture", "p": "x", "file": "a.png"}), "line 2: ValueError"),
    (lambda ls: ls.insert(1, {"type": "shown", "t": float("inf"), "p": 0}), "line 2: OverflowError"),
])
def test_tampered_control_logs_are_refused_in_one_line(tmp_path, tiny, mutate, why):
    from livegan.record import RecordingError
    from livegan.offline.replay import render_log

    log = _log(tmp_path, tiny, mutate)
    with pytest.raises(RecordingError, match=why):
        render_log(log, tmp_path / "out.mkv", progress=False, G=tiny)


def test_any_json_anywhere_in_a_control_log_is_its_one_line_error(tmp_path, tiny):
    """Mutants of a real control log (any JSON type in any line or field, lines dropped or
    repeated): reading it answers with RecordingError, never another exception."""
    from mutate import survivors
    from livegan.record import RecordingError, read_log

    log = _log(tmp_path, tiny, lambda ls: ls.insert(1, {"frame": 1, "op": "set", "name": "psi", "value": 0.5}))
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    mutant = tmp_path / "mutant.jsonl"

    def read(ls):                                # (a mutant of the whole may be one value: one line)
        mutant.write_text("".join(json.dumps(x) + "\n" for x in (ls if isinstance(ls, list) else [ls])))
        read_log(mutant)
    assert survivors(read, lines, RecordingError, n=1500) == []


def test_the_download_deadline_covers_headers(tmp_path, monkeypatch):
    from stylegan3.download import fetch_url

    monkeypatch.setenv("LIVEGAN_CACHE", str(tmp_path / "cache"))
    stop = threading.Event()

    class Trickle(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.wfile.write(b"HTTP/1.1 200 OK\r\n")
            while not stop.is_set():                            # a header byte every 0.2 s, for ever
                try:
                    self.wfile.write(b"X")
                    self.wfile.flush()
                except OSError:
                    return
                stop.wait(0.2)

        def log_message(self, *a):
            pass
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Trickle)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        t0 = time.monotonic()
        with pytest.raises(CheckpointError, match="longer than 2 s"):
            fetch_url(f"http://127.0.0.1:{srv.server_address[1]}/net.pkl", progress=False, deadline=2.0, timeout=5.0)
        assert time.monotonic() - t0 < 10
    finally:
        stop.set()
        srv.shutdown()


def test_the_keyframe_cache_is_bounded_in_bytes(tiny):
    from livegan.presets import Keyframe
    from livegan.show import make_bank

    bank = make_bank(tiny)
    bank.MAX_BYTES = 64 * bank.num_ws * bank.w_dim * 8
    first = bank.ws(Keyframe(seed=0)).copy()
    for s in range(1, 400):                                     # a stream of /livegan/seed
        bank.ws(Keyframe(seed=s))
    assert bank._bytes <= bank.MAX_BYTES and len(bank._cache) <= 64
    assert np.array_equal(bank.ws(Keyframe(seed=0)), first)     # evicted and mapped again: the same


def test_unknown_type_tags_are_counted_not_printed(tiny, capfd):
    from livegan.control.osc import OscReceiver

    got = []
    rx = OscReceiver(got.append, "127.0.0.1", 0).start()
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        pkt = b"/livegan/psi\x00\x00\x00\x00,fq\x00" + b"\x3f\x00\x00\x00"    # 'q': no such OSC type
        for _ in range(3000):
            s.sendto(pkt, ("127.0.0.1", rx.port))
        end = time.time() + 20
        # (a burst beyond the peer's backlog is dropped and counted as a flood: both are counted)
        while rx.errors["type"] + rx.errors["flood"] < 2500 and time.time() < end:
            time.sleep(0.05)
        s.close()
    finally:
        rx.stop()
    err = capfd.readouterr().err
    assert err.count("Unhandled parameter type") <= 1 and rx.errors["type"] >= 100
