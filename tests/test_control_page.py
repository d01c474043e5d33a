"""The control page in a real browser (Playwright driving Debian's chromium) against a running
headless show: every registry parameter has a control; dragging psi changes the show (its value,
OSC feedback, the frames); an OSC change moves the fader; a keyframe button jumps; save-as-preset
writes a preset `--preset` plays; other origins, other hosts and missing tokens are refused; phone
and laptop screenshots have content."""
from __future__ import annotations

import io
import json
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, free_port_pair
from livegan.params import PARAMS
from livegan.presets import parse_preset
from livegan.show import Options
from livegan.show import Show
from test_gallery_browser import CHROMIUM, FLAGS


class Stop(Exception):
    pass


def wait_for(cond, timeout=30.0, what="the condition"):
    end = time.time() + timeout
    while time.time() < end:
        got = cond()
        if got:
            return got
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def osc_packet(address: str, *args) -> bytes:
    from pythonosc.osc_message_builder import OscMessageBuilder

    m = OscMessageBuilder(address)
    for a in args:
        m.add_arg(a)
    return m.build().dgram


class LiveShow:
    """A headless show in real time on a thread, with OSC, OSCQuery and the control page on free
    ports, OSC feedback to a socket of ours, and each presented program frame kept by tick."""

    def __init__(self, tiny, tmp, control_allow=()):
        from livegan.app import App
        from livegan.control.surfaces import ControlOptions, Controls
        from livegan.presets import parse_preset
        from livegan.show import Options, Show

        self.feedback = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.feedback.bind(("127.0.0.1", 0))
        self.feedback.settimeout(0.2)
        self.presets = tmp / "presets"
        preset = parse_preset({"keyframes": [1, 2, 3], "speed": 0.0, "psi": 0.7}, "page.json")
        self.show = Show(Options(fps=30, save_dir=self.presets), preset, G=tiny)
        self.controls = Controls(self.show, ControlOptions(osc_port=0, oscquery_port=0, mdns=False,
                                                           osc_out=f"127.0.0.1:{self.feedback.getsockname()[1]}",
                                                           control_allow=list(control_allow)), log=lambda m: None).start()
        self.app = App(self.show, tmp / "rec", hud=False, controls=self.controls)
        self.port = self.controls.query.port
        self.base = f"http://127.0.0.1:{self.port}"
        self.frames: dict = {}
        self.stop = threading.Event()
        self.fed: list = []
        self.fed_lock = threading.Lock()
        threading.Thread(target=self._listen, daemon=True).start()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        wait_for(lambda: self.show.current is not None and self.frames, 60, "the show's first frame")

    def _run(self):
        def tick(i, s, d):
            self.frames[s.tick_index] = (np.array(d.renderer.read_program()), dict(s.registry.value))
            for k in [k for k in self.frames if k < s.tick_index - 120]:
                del self.frames[k]
            if self.stop.is_set():
                raise Stop
        try:
            self.app.run_headless(10 ** 6, size=(128, 128), realtime=True, on_tick=tick)
        except Stop:
            pass

    def latest(self):
        k = max(self.frames)
        return self.frames[k]

    def osc(self, address, *args):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(osc_packet(address, *args), ("127.0.0.1", self.controls.osc.port))

    def _listen(self):
        """Keep reading the feedback socket (a full socket buffer drops datagrams: the show sends
        status twice a second whether or not a test is listening)."""
        from pythonosc.osc_message import OscMessage

        while not self.stop.is_set():
            try:
                data = self.feedback.recv(65536)
            except (socket.timeout, OSError):
                continue
            try:
                m = OscMessage(data)
            except Exception:
                continue
            with self.fed_lock:
                self.fed.append((m.address, m.params[0] if m.params else None))

    def heard(self, address):
        """Every value fed back to `address` so far, oldest first."""
        with self.fed_lock:
            return [v for a, v in self.fed if a == address]

    def close(self):
        self.stop.set()
        self.thread.join(30)
        self.controls.stop()
        self.feedback.close()


@pytest.fixture(scope="module")
def live(tiny, tmp_path_factory):
    s = LiveShow(tiny, tmp_path_factory.mktemp("page"))
    yield s
    s.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert __import__("pathlib").Path(CHROMIUM).exists(), "make test installs Debian's chromium"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield b
        b.close()


def open_page(browser, url, width=1280, height=900):
    # The harness waits with page functions, which the page's CSP (no eval) would block: they run
    # with the policy bypassed; test_the_page_loads_under_its_own_policy checks the policy itself.
    page = browser.new_page(viewport={"width": width, "height": height}, bypass_csp=True)
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']", timeout=30000)
    page.wait_for_selector("#conn.ok", timeout=30000)
    return page, errors


def test_every_parameter_has_a_control_and_the_psi_fader_drives_the_show(live, browser):
    page, errors = open_page(browser, live.base + "/control")
    for p in PARAMS:                                   # built from the registry: nothing missing
        assert page.locator(f"[data-param='{p.name}']").count() == 1, p.name
    groups = {p.group for p in PARAMS}
    assert {page.locator(f"section[data-group='{g}']").count() for g in groups} == {1}
    before_frame, before = live.latest()
    assert before["psi"] == pytest.approx(0.7)
    page.locator("[data-param='psi']").scroll_into_view_if_needed()
    box = page.locator("[data-param='psi']").bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.57, y)         # about the thumb at 0.7 of -1..2
    page.mouse.down()
    for f in np.linspace(0.57, 0.95, 12):                      # a real drag, in steps
        page.mouse.move(box["x"] + box["width"] * f, y)
    page.mouse.up()
    wait_for(lambda: live.show.registry.target["psi"] > 1.6, what="the dragged psi in the show")
    wait_for(lambda: live.show.registry.target["psi"] == page.evaluate(
        "Number(document.querySelector(\"[data-param='psi']\").value)"), what="the drag's last step in the show")
    target = live.show.registry.target["psi"]
    # the feedback of the final value arrives (earlier drag steps may come first)
    wait_for(lambda: any(abs(v - target) < 1e-4 for v in live.heard("/livegan/psi")), 60,
             what="OSC feedback of the new psi")
    # the picture changes: the generator renders the new psi (a few frames after the value)
    # psi glides to its target and the generator (late on a busy machine) catches up: both hold
    # at once, on one presented frame
    def moved():
        picture, values = live.latest()
        return abs(values["psi"] - target) < 0.05 and np.abs(picture.astype(int) - before_frame.astype(int)).mean() > 3
    wait_for(moved, 60, what="a frame at the new psi with a changed picture")
    assert not errors, errors
    page.close()


def test_a_change_from_osc_moves_the_fader_on_every_page(live, browser):
    a, _ = open_page(browser, live.base + "/control")
    b, _ = open_page(browser, live.base + "/control", 390, 844)
    live.osc("/livegan/contrast", 2.5)
    for page in (a, b):
        page.wait_for_function("document.querySelector(\"[data-param='contrast']\").value == '2.5'", timeout=15000)
        assert "2.500" in page.locator(".fader:has([data-param='contrast']) .val").inner_text()
    a.close()
    b.close()


def test_a_keyframe_button_jumps_and_save_as_preset_writes_a_preset_that_plays(live, browser, tmp_path):
    page, errors = open_page(browser, live.base + "/control")
    page.wait_for_selector("[data-goto='2']")
    page.click("[data-goto='2']")
    wait_for(lambda: live.show.current.keyframe == 2, what="keyframe 2 on screen")
    live.osc("/livegan/hue", 40.0)
    wait_for(lambda: live.show.registry.target["hue"] == 40.0, what="hue 40")
    page.fill("#save-name", "from the page")
    page.click("#save")
    path = live.presets / "from-the-page.json"
    wait_for(path.exists, what="the saved preset")
    page.wait_for_function("document.getElementById('notice').textContent.startsWith('saved preset from-the-page')",
                           timeout=15000)
    assert (live.presets / "from-the-page.png").stat().st_size > 100                 # with its thumbnail
    page.wait_for_selector("[data-preset='from-the-page'] img")                      # listed, with it
    saved = json.loads(path.read_text())
    assert [k["seed"] for k in saved["keyframes"]] == [1, 2, 3] and saved["params"]["hue"] == 40.0
    first = path.read_bytes()
    page.click("#save")                                                              # the same name again
    page.wait_for_function("document.getElementById('notice').textContent.includes('not saved')", timeout=15000)
    assert path.read_bytes() == first                                                # never overwritten
    r = subprocess.run([sys.executable, "perform.py", "--headless", "--no-osc", "--frames", "3", "--video", "",
                        "--preset", str(path)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "preset from-the-page: 3 keyframes" in r.stdout, r.stdout + r.stderr
    assert not errors, errors
    page.close()


def test_a_preset_played_from_the_page_gets_its_thumbnail(live, browser):
    page, errors = open_page(browser, live.base + "/control")
    page.click("[data-preset='drift']")
    wait_for(lambda: live.show.preset.name == "drift", what="the drift preset on stage")
    page.wait_for_selector("[data-preset='drift'] img", timeout=30000)        # what it looked like
    page.wait_for_function("document.querySelector(\"[data-preset='drift'] img\").naturalWidth > 0", timeout=15000)
    thumb = Image.open(io.BytesIO(urllib.request.urlopen(live.base + "/control/thumb/drift", timeout=10).read()))
    assert thumb.size == (256, 256) and np.asarray(thumb).std() > 5
    for bad in ("..%2F..%2Fetc%2Fpasswd", "drift.png", "%00"):                  # plain names only
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(live.base + "/control/thumb/" + bad, timeout=10)
        assert e.value.code == 404
    assert not errors, errors
    page.close()


def test_the_page_loads_under_its_own_policy_and_strangers_are_refused(live, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 900})           # CSP enforced
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(live.base + "/control")
    page.wait_for_selector("body[data-ready='1']", timeout=30000)
    page.wait_for_selector("#conn.ok", timeout=30000)
    assert not errors, errors
    page.close()
    req = urllib.request.Request(live.base + "/control/state", headers={"Origin": "http://evil.example"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code == 403
    from websockets.sync.client import connect
    from websockets.exceptions import InvalidStatus
    with pytest.raises(InvalidStatus):                                # a socket from another site's page
        connect(f"ws://127.0.0.1:{live.port}/control/ws", origin="http://evil.example", open_timeout=10)
    req = urllib.request.Request(live.base + "/control", headers={"Host": "evil.example"})   # DNS rebinding
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code == 421


def test_another_device_needs_the_token_and_an_allowed_address(tiny, tmp_path):
    from livegan.control.mdns import local_ip
    from livegan.control.page import PageAccess

    acc = PageAccess(["192.0.2.0/24"], token="secret-token")
    assert acc.check("127.0.0.1", None) is None                              # this machine: no token
    assert "token" in acc.check("192.0.2.7", None) and "token" in acc.check("192.0.2.7", "wrong")
    assert acc.check("192.0.2.7", "secret-token") is None
    assert "this machine only" in acc.check("203.0.113.5", "secret-token")   # not admitted
    assert "this machine only" in PageAccess([]).check("192.0.2.7", "anything")
    ip = local_ip()
    if ip.startswith("127."):          # no interface besides loopback: the access rule above is what can be proved
        return
    live = LiveShow(tiny, tmp_path, control_allow=[ip])
    try:
        token = live.controls.page.access.token
        assert token in live.controls.page_line()                         # the start line has the URL
        url = f"http://{ip}:{live.port}/control/state"
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(url, timeout=10)
        assert e.value.code == 403 and b"token" in e.value.read()
        assert urllib.request.urlopen(url + "?token=" + token, timeout=10).status == 200
        with pytest.raises(urllib.error.HTTPError):                       # OSCQuery itself stays local
            urllib.request.urlopen(f"http://{ip}:{live.port}/livegan/psi", timeout=10)
    finally:
        live.close()


def test_phone_and_laptop_screenshots_have_content(live, browser):
    for w, h in ((390, 844), (1366, 768)):
        page, errors = open_page(browser, live.base + "/control", w, h)
        img = np.asarray(Image.open(io.BytesIO(page.screenshot(full_page=False))).convert("L"), float)
        assert img.shape == (h, w) and img.std() > 20, (w, h, img.std())
        assert len(np.unique((img // 16).astype(int))) > 4                # text, faders, panels
        assert page.evaluate("document.documentElement.scrollWidth") <= w + 1   # no sideways scroll
        assert not errors, errors
        page.close()


PRESET = parse_preset({"keyframes": [1, 3, 6, 7], "speed": 0.0}, "corners.json")


def test_the_terminal_and_the_page_hear_of_snapshots_and_recordings(tmp_path):
    p = free_port_pair()
    proc = subprocess.Popen([sys.executable, "perform.py", "--headless", "--duration", "8", "--video", "", "--record",
                             "--osc-port", str(p), "--no-oscquery", "--out", str(tmp_path)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = []
    for line in proc.stdout:
        out.append(line)
        if "recording to" in line:
            break
    from pythonosc.udp_client import SimpleUDPClient
    SimpleUDPClient("127.0.0.1", p).send_message("/livegan/snapshot", [])
    rest, _ = proc.communicate(timeout=120)
    text = "".join(out) + rest
    assert proc.returncode == 0, text
    assert re.search(r"livegan: snapshot \S+/snap-\S+\.png", text), text
    assert re.search(r"livegan: recording \d+ stopped: \d+ frames \(\d+\.\d s\), in ", text), text


def test_the_show_notifies_the_page_of_a_saved_snapshot(tmp_path, tiny):
    from livegan.app import App
    from livegan.params import Command
    from realtime import realtime_run

    show = Show(Options(fps=30), PRESET, G=tiny)
    app = App(show, tmp_path, hud=False)
    before = show.notice[0]
    realtime_run(app, 20, on_tick=lambda i, s, d: s.post(Command("trigger", "snapshot", None, "page")) if i == 5 else None)
    app.writer.drain()
    assert show.notice[0] > before and show.notice[1].startswith("snapshot saved: snap-"), show.notice


def test_the_page_monitor_shows_the_program_and_the_layer_view(live, browser):
    """The page's monitor: a JPEG of the program from the shared read-back (a few a second, only
    while a page is open) and the layer view when one is on; the program itself stays clean."""
    page, errors = open_page(browser, live.base + "/control", 390, 844)
    page.wait_for_function("document.getElementById('preview').naturalWidth > 0", timeout=30000)
    # The preview says which tick it shows: compared with that very frame, not with whichever
    # frame was near in time (the show moves; a loaded machine shifts which one that is).
    def preview_and_its_frame():
        with urllib.request.urlopen(live.base + "/control/preview.jpg", timeout=10) as r:
            tick, jpg = int(r.headers["X-Livegan-Tick"]), np.asarray(Image.open(io.BytesIO(r.read())))
        frames = live.frames.copy()                                          # (one C call, whole)
        return (jpg, frames[tick][0]) if tick in frames else None
    jpg, frame = wait_for(preview_and_its_frame, 30, "a preview of a frame the test still holds")
    assert jpg.shape[1] <= 320 and jpg.shape[2] == 3 and jpg.std() > 5
    assert jpg.shape == frame.shape                                           # 128 px: not scaled
    assert np.abs(frame.astype(float) - jpg).mean() < 4                       # the picture on stage, as a JPEG
    assert page.is_hidden("#layerview")
    live.osc("/livegan/layer_view", 3)
    page.wait_for_function("!document.getElementById('layerview').hidden && "
                           "document.getElementById('layerview').naturalWidth > 0", timeout=30000)
    png = np.asarray(Image.open(io.BytesIO(urllib.request.urlopen(live.base + "/control/layerview.png", timeout=10).read())))
    assert png.shape[1] >= 72 and png.std() > 1
    live.osc("/livegan/layer_view", -1)
    page.wait_for_selector("#layerview", state="hidden", timeout=30000)
    assert not errors, errors
    page.close()


def test_previews_are_made_only_while_a_page_is_open():
    from livegan.control.page import ControlPage, PageAccess

    page = ControlPage(lambda c: None, PageAccess([]))
    assert not page.wants_preview()                                           # no page: no read-back for it
    page._clients.add(object())
    assert page.wants_preview()
    page.preview.offer(np.zeros((8, 8, 3), np.uint8), None)
    assert not page.wants_preview()                                           # a few a second, not every frame
    page.preview.offer(np.zeros((8, 8, 3), np.uint8), None, tick=7)
    assert page.preview.picture("layerview") is None and page.preview.picture("preview")[1:] == ("image/jpeg", 7)
