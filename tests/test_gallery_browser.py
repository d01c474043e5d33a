"""The studio end to end: `livegan gallery` running as its own process over a store made by a real
headless show, driven in Debian's chromium by Playwright (no browser download); and the walk
service's two documented curl commands against the same live server."""
from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_gallery import make_store

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required"]


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_gallery(store, presets, out=subprocess.PIPE):
    """`livegan gallery` on a free port, once it answers: (base URL, process)."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "livegan.cli", "gallery", "--out", str(store), "--port", str(port),
                             "--network", "builtin:tiny", "--presets", str(presets)],
                            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    end = time.time() + 60
    while time.time() < end:
        try:
            urllib.request.urlopen(base + "/api/filters", timeout=2)
            break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(proc.stdout.read() if out == subprocess.PIPE else "the gallery exited")
            time.sleep(0.2)
    return base, proc


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny):
    store = make_store(tmp_path_factory.mktemp("live-studio"), tiny)
    presets = tmp_path_factory.mktemp("presets")
    base, proc = start_gallery(store, presets)
    yield base, store, presets
    proc.terminate()
    proc.wait(10)


def api(base: str, path: str) -> dict:
    return json.loads(urllib.request.urlopen(base + path, timeout=10).read())


def test_curate_in_a_real_browser(server, tmp_path):
    from playwright.sync_api import sync_playwright

    base, store, presets = server
    assert Path(CHROMIUM).exists(), "make test installs Debian's chromium"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        # The harness waits with page functions, which the studio's CSP (no eval) would block: they
        # run with the policy bypassed here; test_gallery_xss checks the policy itself.
        page = browser.new_page(viewport={"width": 1280, "height": 900}, bypass_csp=True)
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("dialog", lambda d: d.accept("fire"))                    # the tag prompt
        page.goto(base + "/")
        assert page.locator(".card").count() >= 2
        # filter liked=1 from the page's own control (built from the server's declaration)
        page.goto(base + "/images")
        page.wait_for_selector(".cell")
        n = page.locator(".cell").count()
        assert n == 6
        page.check("input[name=liked]")                                  # change -> reload with ?liked=1
        page.wait_for_url("**/images?liked=1")
        page.wait_for_selector("#count")
        page.wait_for_function("document.querySelector('#count').textContent === '0 images'")
        page.goto(base + "/images")
        page.wait_for_selector(".cell")
        grid = page.locator("#grid")
        grid.focus()
        page.keyboard.press("l")                                         # like the first
        page.wait_for_function("document.querySelector('.cell').dataset.liked === '1'")
        page.keyboard.press("ArrowRight")
        page.keyboard.press("t")                                         # tag the second: 'fire'
        page.wait_for_function("document.querySelectorAll('.cell')[1].textContent.includes('fire')")
        assert api(base, "/api/images?liked=1")["total"] == 1
        assert api(base, "/api/images?tag=fire")["total"] == 1
        for _ in range(3):                                               # select three in order
            page.keyboard.press("s")
            page.keyboard.press("ArrowRight")
        assert page.inner_text("#selcount") == "3 selected"
        page.fill("#cname", "browser set")
        page.fill("#fpk", "4")
        page.click("#create")
        page.wait_for_function("document.querySelector('#curated').textContent.includes('queued')")
        page.wait_for_selector("#renders li[data-status=done] button.play", timeout=120_000)
        page.click("#renders li[data-status=done] button.play")
        page.wait_for_function("(() => { const v = document.querySelector('#player');"
                               " return v.readyState >= 2 && v.currentTime > 0 && v.videoWidth === 256; })()",
                               timeout=30_000)
        shot = tmp_path / "studio.png"
        page.screenshot(path=str(shot))
        # the detail page of the liked image
        first = api(base, "/api/images?liked=1")["images"][0]["id"]
        page.goto(f"{base}/image/{first}")
        assert "/livegan/preset s recall-" in page.inner_text("#osc-preset")
        browser.close()
    assert not errors, errors
    img = np.asarray(Image.open(shot).convert("RGB")).astype(float)
    assert img.std() > 20                                                 # not a blank page
    assert (presets / "browser-set.json").exists()


def test_the_seed_curl_commands(server, tmp_path):
    base, _, _ = server
    curl = shutil.which("curl")
    assert curl, "make test installs curl"
    out = subprocess.run([curl, "-s", "-X", "POST", "-H", "Content-Type: application/json", "-d",
                          '{"steps":120,"keyframes":4,"extent":1.5}', f"{base}/start_random_walk"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    walk = json.loads(out)
    assert walk["frames"] == 120 and walk["keyframes"] == 4
    png = tmp_path / "frame.png"
    subprocess.run([curl, "-s", "-o", str(png), f"{base}/next_image"], check=True, timeout=60)
    im = Image.open(png)
    assert im.format == "PNG" and im.size == (256, 256) and np.asarray(im).std() > 10


def test_a_picture_dropped_on_the_gallery_is_projected(server, tmp_path):
    """The images page takes a picture (its file input, as a drop does) and projects it; the result
    and its target land in the store's projections walk and open in the studio.  A body that is not
    a picture is one line."""
    from playwright.sync_api import sync_playwright

    from livegan.imaging import save_png
    from livegan.store import Store

    base, store, _ = server
    save_png(tmp_path / "venue.png", (np.random.RandomState(1).rand(96, 128, 3) * 255).astype(np.uint8))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})          # the studio's own CSP
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(base + "/images")
        page.fill("#dropsteps", "8")
        page.set_input_files("#dropfile", str(tmp_path / "venue.png"))
        page.wait_for_selector("#projected", timeout=180000)
        page.click("#projected")
        page.wait_for_load_state()
        assert "/image/" in page.url and not errors, errors
        browser.close()
    s = Store(store)
    (walk,) = [w for w in s.walks("curated") if w["name"] == "projections"]
    kinds = sorted(i["kind"] for i in s.images(walk["id"]))
    s.close()
    assert kinds == ["projection", "target"]
    for body, kind in ((b"not a picture", "image/png"), (b"x", "text/plain")):
        req = urllib.request.Request(base + "/project", data=body, method="POST", headers={"Content-Type": kind})
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=10)
        msg = json.loads(e.value.read())["error"]
        assert e.value.code == 400 and "\n" not in msg and ("picture" in msg or "image" in msg), msg
