"""The studio over a store made by a real headless show: every route and filter through Flask's
test client, the hostile requests, the walk service's API, render jobs and recall."""
from __future__ import annotations

import os
import re
import socket
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import livegan
from livegan.app import App
from livegan.media import read_video
from livegan.params import Command
from livegan.presets import load_preset, parse_preset
from livegan.show import Options, Show
from livegan.store import Store


def make_store(folder: Path, G, snapshots=(3, 6, 9, 12, 15, 18), record=True) -> Path:
    """A store as a show leaves it: snapshots in a session walk, a recording."""
    show = Show(Options(fps=30), parse_preset({"keyframes": [1, 2, 3], "speed": 1.0}, "studio.json"), G=G)
    app = App(show, folder, hud=False)

    def on_tick(i, s, d):
        if record and i == 1:
            s.post(Command("trigger", "record", 1, "key"))
        if i in snapshots:
            s.post(Command("trigger", "snapshot", None, "key"))
        if i == 10:
            s.post(Command("set", "contrast", 1.4, "key"))
    app.run_headless(24, realtime=False, on_tick=on_tick)
    return folder


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory, tiny):
    return make_store(tmp_path_factory.mktemp("studio"), tiny)


@pytest.fixture
def client(store_dir, tmp_path):
    from livegan.gallery import create_app

    app = create_app(store_dir, network="builtin:tiny", presets=tmp_path / "presets")
    app.testing = True
    return app.test_client(), app.extensions["studio"]


def snapshot_ids(studio) -> list[int]:
    return [r["id"] for r in studio.store.query_images("i.kind = 'snapshot'", ())[0]]


def test_pages_and_walk_cards(client):
    c, st = client
    r = c.get("/")
    assert r.status_code == 200 and b"session" in r.data and b"recording" in r.data
    assert c.get("/images").status_code == 200
    for asset in ("studio.js", "studio.css"):                 # served by the app itself: no CDN
        assert c.get(f"/static/{asset}").status_code == 200
    page = c.get("/").data.decode()
    assert "http://" not in page.replace("http://www.w3.org", "") and "https://" not in page
    img = snapshot_ids(st)[0]
    d = c.get(f"/image/{img}").data.decode()
    assert "/livegan/preset s recall-" in d and "&#34;keyframes&#34;" in d and "program frame" in d
    assert "session.mp4#t=" in d                              # the recording at that moment
    t = c.get(f"/thumb/{img}")
    assert t.status_code == 200 and t.mimetype == "image/jpeg"
    assert Image.open(__import__("io").BytesIO(t.data)).size[0] <= 256


def test_filters_parse_in_one_place_and_filter(client):
    c, st = client
    ids = snapshot_ids(st)
    assert len(ids) == 6
    all_ = c.get("/api/images").json
    assert all_["total"] == 6
    assert c.post(f"/api/images/{ids[0]}/like", json={"liked": True}).json == {"id": ids[0], "liked": True}
    assert c.post(f"/api/images/{ids[1]}/like", json={"liked": True}).status_code == 200
    liked = c.get("/api/images?liked=1").json
    assert liked["total"] == 2 and {i["id"] for i in liked["images"]} == set(ids[:2])
    assert c.post(f"/api/images/{ids[1]}/like", json={"liked": False}).status_code == 200
    assert c.get("/api/images?liked=1").json["total"] == 1
    assert c.post(f"/api/images/{ids[2]}/tags", json={"tag": "  Fire "}).json["tags"] == ["fire"]
    assert [i["id"] for i in c.get("/api/images?tag=fire").json["images"]] == [ids[2]]
    assert c.delete(f"/api/images/{ids[2]}/tags/fire").json["tags"] == []
    walk = st.store.walks("session")[0]["id"]
    assert c.get(f"/api/images?walk={walk}").json["total"] == 6
    assert c.get("/api/images?kind=recording").json["total"] == 0
    h = st.store.walks("session")[0]["network_hash"]
    assert c.get(f"/api/images?network={h[:10]}").json["total"] == 6
    assert c.get("/api/images?network=zzz").json["total"] == 0
    assert c.get("/api/images?since=2000-01-01&until=2999-01-01").json["total"] == 6
    assert c.get(f"/api/images?since={time.time() + 3600}").json["total"] == 0
    assert c.get("/api/images?per=2&page=2").json["images"][0]["id"] == all_["images"][2]["id"]
    for bad in ("liked=maybe", "walk=abc", "kind=nope", "since=yesterday", "page=0", "per=100000", "tag=" + "x" * 300):
        r = c.get(f"/api/images?{bad}")
        assert r.status_code == 400 and "error" in r.json and "\n" not in r.json["error"], bad
    decl = c.get("/api/filters").json                          # what the page builds its controls from
    assert [f["name"] for f in decl] == ["liked", "walk", "kind", "network", "class", "tag", "since", "until"]


def test_walk_edit_archive_delete(client, tmp_path):
    c, st = client
    rec = st.store.walks("recording")[0]["id"]
    assert c.post(f"/api/walks/{rec}", json={"name": "opening set"}).json["name"] == "opening set"
    assert c.post(f"/api/walks/{rec}", json={"archived": True}).json["archived"] is True
    assert b"opening set" not in c.get("/").data and b"opening set" in c.get("/?archived=1").data
    assert c.post(f"/api/walks/{rec}", json={"archived": False}).status_code == 200
    victim = st.store.create_walk("random", "victim")
    outside = tmp_path / "outside.txt"
    outside.write_text("keep me")
    (st.store.walk_dir(victim) / "link").symlink_to(outside)
    assert c.delete(f"/api/walks/{victim}").json == {"deleted": victim}
    assert st.store.walk(victim) is None and not st.store.walk_dir(victim).exists() and outside.read_text() == "keep me"
    assert c.delete(f"/api/walks/{victim}").status_code == 404


def test_hostile_requests_get_one_line_4xx(client, store_dir):
    c, st = client
    walk = st.store.walks("session")[0]["id"]
    os.symlink("/etc/passwd", st.store.walk_dir(walk) / "escape.png")
    for url in (f"/files/{walk}/../livegan.db", f"/files/{walk}/escape.png", f"/generated_images/{walk}/..%2F..%2Fetc",
                f"/generated_images/{walk}/%2Fetc%2Fpasswd", f"/files/{walk}/nope.png", "/thumb/999999", "/image/999999"):
        r = c.get(url, follow_redirects=True)           # (werkzeug first merges '//' with a redirect)
        assert 400 <= r.status_code < 500 and r.is_json and "Traceback" not in r.get_data(as_text=True), url
    r = c.post("/api/images/1/like", json={"liked": True}, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403 and "cross-origin" in r.json["error"]
    r = c.delete(f"/api/walks/{walk}", headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403 and st.store.walk(walk) is not None
    assert c.post("/api/images/1/like", json={"liked": True}, headers={"Origin": "http://localhost"}).status_code == 200
    assert c.post("/api/images/1/tags", data="tag=x", content_type="text/plain").status_code == 400
    assert c.post("/api/images/1/tags", data="[1,2]", content_type="application/json").status_code == 400
    assert c.post("/api/images/1/tags", json={"tag": ""}).status_code == 400
    assert c.post("/api/images/1/tags", json={"tag": "x" * 100}).status_code == 400
    assert c.get("/api/images", headers={"Content-Length": "5"}).status_code == 200
    big = c.post("/api/curate", data=b"{" + b" " * (2 << 20) + b"}", content_type="application/json")
    assert big.status_code == 413 and big.is_json
    assert c.post("/api/curate", json={"images": [1]}).status_code == 400
    assert c.post("/api/curate", json={"images": [1, 2], "interpolation": "cubic"}).status_code == 400
    assert c.post("/api/curate", json={"images": [1, 999999]}).status_code == 404
    assert c.post("/api/curate", json={"images": [1, 2], "name": "../../etc"}).status_code == 400
    assert c.post("/api/images/1/recall", json={}).status_code == 400          # no --show
    assert c.put("/api/images").status_code == 405 and c.put("/api/images").is_json


def test_every_route_answers_generated_bodies_below_500(tmp_path, tiny):
    """Every route, every field the studio reads, hostile values (null, wrong types, huge, paths):
    a 4xx with a reason, never a 500 (a null 'steps' reached arithmetic: TypeError)."""
    import random

    from livegan.gallery import create_app

    folder = make_store(tmp_path / "store", tiny, snapshots=(3, 6))
    app = create_app(folder, network="builtin:tiny", presets=tmp_path / "presets")
    c = app.test_client()
    source = "".join(p.read_text() for p in (Path(__file__).parents[1] / "livegan" / "gallery").glob("*.py"))
    fields = sorted(set(re.findall(r'(?:\.get\(|number\([a-z_()]+, )"([a-z_]+)"', source)))
    assert {"steps", "keyframes", "images", "tag", "psi"} <= set(fields)
    hostile = [None, [], {}, "", -1, 0, 1e308, "x" * 3000, True, [None], {"a": None}, "../../etc/passwd", 2 ** 70]
    rng = random.Random(5)
    failures, asked = [], 0
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            for field, value in [(f, v) for f in fields for v in [None, [], {}, *rng.sample(hostile[3:], 2)]]:
                url = re.sub(r"<int:\w+>", lambda m: str(rng.choice([1, 2, 3, 99999])), rule.rule)
                url = re.sub(r"<path:\w+>", lambda m: rng.choice(["session.mp4", "../x", "a%00"]), url)
                if method == "GET":
                    r = c.get(url, query_string={field: str(value)})
                else:
                    r = c.open(url, method=method, json={field: value})
                asked += 1
                if r.status_code >= 500:
                    failures.append((method, url, field, repr(value)[:40], r.get_data(as_text=True)[:120]))
    assert asked > 5000 and not failures, failures[:5]


def test_curate_makes_a_playable_preset_and_a_render(client, tiny):
    c, st = client
    ids = snapshot_ids(st)[:3]
    r = c.post("/api/curate", json={"images": ids, "name": "my set", "interpolation": "slerp", "frames_per_key": 3,
                                    "loop": False, "psi": 1.0, "preset": True, "render": True}).json
    p = load_preset(r["preset_path"])
    assert p.name == "my-set" and len(p.keyframes) == 3 and p.interpolation == "slerp"
    assert np.allclose(p.keyframes[0].w, st.image_ws(st.store.image(ids[0])))
    job = st.videos.wait(r["render_id"], 120)
    assert job["status"] == "done", job
    from livegan.media import read_video
    frames = read_video(store_path(st, job["path"]))
    assert len(frames) == 2 * 3 + 1
    listed = c.get("/api/renders").json["renders"]
    assert listed[0]["id"] == r["render_id"] and listed[0]["url"].endswith(".webm")
    assert c.get(listed[0]["url"]).status_code == 200
    # the curated walk renders into a walk of its own, with its keyframes kept for later
    w = st.store.walk(r["walk_id"])
    assert w["kind"] == "curated" and w["status"] == "done" and w["info"]["spec"]["frames"] == 7


def store_path(st, rel: str) -> Path:
    walk, name = rel.split("/", 1)
    return st.file(int(walk), name)


def test_render_cancel_and_failure_reason(client):
    c, st = client
    ids = snapshot_ids(st)[:2]
    r = c.post("/api/curate", json={"images": ids, "frames_per_key": 400, "preset": False, "render": True}).json
    assert c.post(f"/api/renders/{r['render_id']}/cancel").json["cancelled"] is True
    job = st.videos.wait(r["render_id"], 120)
    assert job["status"] == "failed" and job["error"] == "cancelled"
    assert c.post("/api/renders/999999/cancel").status_code == 404


def test_recall_sends_the_preset_to_a_running_show(store_dir, tmp_path):
    from livegan.gallery import create_app
    from pythonosc.osc_packet import OscPacket

    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(5)
    app = create_app(store_dir, presets=tmp_path / "p", show=f"127.0.0.1:{rx.getsockname()[1]}")
    c, st = app.test_client(), app.extensions["studio"]
    img = snapshot_ids(st)[4]
    r = c.post(f"/api/images/{img}/recall", json={}).json
    msg = OscPacket(rx.recvfrom(4096)[0]).messages[0].message
    rx.close()
    assert msg.address == "/livegan/preset" and msg.params == [r["preset"]]
    p = load_preset(tmp_path / "p" / f"{r['preset']}.json")     # the show can load it by name from there
    state = st.store.image(img)["state"]
    assert p.params["psi"] == 1.0 and p.params["contrast"] == pytest.approx(state["params"]["contrast"])
    assert np.array_equal(p.keyframes[0].w, st.image_ws(st.store.image(img)))


@pytest.mark.hostile
def test_a_show_name_that_does_not_resolve_is_one_line(store_dir, tmp_path):
    # the show's name is looked up once per recall, off the messages; one that fails is a 400
    from livegan.gallery import create_app

    app = create_app(store_dir, presets=tmp_path / "p", show="no-such-show.invalid:9000")
    c, st = app.test_client(), app.extensions["studio"]
    r = c.post(f"/api/images/{snapshot_ids(st)[0]}/recall", json={})
    assert r.status_code == 400 and "--show no-such-show.invalid:9000: cannot resolve" in r.json["error"], r.json


def test_recalled_preset_recreates_the_frame(store_dir, tmp_path, tiny):
    """The snippet alone, played by a show, gives the snapshot's raw frame back."""
    from livegan.gallery import recall

    st = Store(store_dir)
    row = st.query_images("i.kind = 'snapshot'", ())[0][0]
    state = row["state"]
    ws = np.load(store_dir / str(row["walk_id"]) / state["ws"])
    name = recall.write_preset(tmp_path, row["id"], state, ws)
    show = Show(Options(fps=30), load_preset(tmp_path / f"{name}.json"), G=tiny)
    app = App(show, tmp_path / "out", hud=False)
    app.run_headless(2, realtime=False)
    raw = np.asarray(Image.open(store_dir / str(row["walk_id"]) / state["raw"]))
    assert np.abs(show.current_image.astype(int) - raw.astype(int)).max() <= 1


def test_walk_service_api(client, tmp_path):
    c, st = client
    r = c.post("/start_random_walk", json={"steps": 12, "keyframes": 3, "extent": 1.5, "sobol": 0.5})
    assert r.status_code == 200 and r.json["frames"] == 12
    wid = r.json["walk_id"]
    for i in range(3):
        png = c.get("/next_image")
        assert png.status_code == 200 and png.mimetype == "image/png" and png.headers["X-Frame"] == str(i)
        assert Image.open(__import__("io").BytesIO(png.data)).size == (256, 256)
    assert sorted(p.name for p in st.store.walk_dir(wid).glob("frame-*.png")) == [f"frame-0000{i}.png" for i in range(3)]
    assert c.get(f"/generated_images/{wid}/frame-00001.png").status_code == 200
    q = c.post("/start_random_walk?steps=6&keyframes=2&extent=1")      # query form, as the seed allowed
    assert q.status_code == 200 and q.json["frames"] == 6
    assert c.post(f"/load_walk/{wid}").json == {"walk_id": wid, "frames": 12}
    assert c.get("/next_image").headers["X-Frame"] == "0"
    job = c.post(f"/enqueue_walk/{wid}").json
    assert st.videos.wait(job["render_id"], 120)["status"] == "done"
    assert any(j["id"] == job["render_id"] and j["status"] == "done" for j in c.get("/queue_status").json["queue"])
    assert c.delete(f"/queue_item/{job['render_id']}").json["cancelled"] is False          # already done
    for bad, code in (({"steps": -1}, 400), ({"steps": "lots"}, 400), ({"extent": 0}, 400), ({"extent": -2}, 400),
                      ({"keyframes": 1}, 400), ({"sobol": 3}, 400), ({"steps": 2, "keyframes": 3}, 400)):
        r = c.post("/start_random_walk", json=bad)
        assert r.status_code == code and "error" in r.json, bad
    assert c.post("/start_random_walk", data="{not json", content_type="application/json").status_code == 400
    assert c.post("/load_walk/999999").status_code == 404
    assert c.post("/enqueue_walk/999999").status_code == 404
    session = st.store.walks("session")[0]["id"]
    assert c.post(f"/load_walk/{session}").status_code == 400            # a live session keeps no keyframes
    assert c.delete(f"/delete_walk/{wid}").json == {"deleted": wid}
    assert c.get("/next_image").status_code == 400                      # its walk is gone
    assert c.delete("/delete_walk/999999").status_code == 404


def test_a_network_the_studio_cannot_find_is_said_at_its_start(tmp_path):
    """The studio loads its network on first need (browsing needs none), so a typo in --network
    was found only at the first walk or render; now it is one line at the start."""
    for name, why in (("no-such.pkl", "no such network file"), ("builtin:nope", "unknown built-in network")):
        r = livegan("gallery", "--store", str(tmp_path), "--network", name, "--port", "0", ok=False)
        assert r.stderr.startswith("livegan gallery: error: ") and why in r.stderr and r.stderr.count("\n") == 1


def test_a_killed_render_is_failed_at_the_next_start(tmp_path):
    """A render job left 'rendering' by a gallery that died: its status says why, not 'rendering'."""
    import subprocess
    import sys

    code = ("import os, sys; from livegan.store import Store\n"
            "s = Store(sys.argv[1]); w = s.create_walk('curated', 'x', status='queued')\n"
            "r = s.add_render(w); s.update_render(r, status='rendering', progress=0.3)\n"
            "os._exit(0)\n")                                   # dies without finishing
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True, timeout=60)
    from livegan.gallery import create_app
    st = create_app(tmp_path).extensions["studio"]
    (r,) = st.store.renders()
    assert r["status"] == "failed" and "interrupted" in r["error"]
    assert st.store.walks()[0]["status"] == "interrupted"


def test_gallery_works_while_a_show_writes_the_store(tmp_path):
    """WAL: the gallery browses and likes while perform.py records and snapshots into the store."""
    import subprocess
    import sys

    from pythonosc.udp_client import SimpleUDPClient

    from livegan.gallery import create_app

    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    root = Path(__file__).resolve().parents[1]
    show = subprocess.Popen([sys.executable, str(root / "perform.py"), "--headless", "--duration", "8", "--record",
                             "--osc-port", str(port), "--no-oscquery", "--out", str(tmp_path)], cwd=root,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        end = time.time() + 60
        while not (tmp_path / "livegan.db").exists() and time.time() < end:
            time.sleep(0.1)
        c = create_app(tmp_path).test_client()
        osc = SimpleUDPClient("127.0.0.1", port)
        seen, liked = 0, set()
        while show.poll() is None and time.time() < end:
            osc.send_message("/livegan/snapshot", [])
            r = c.get("/api/images")
            assert r.status_code == 200, r.json
            seen = max(seen, r.json["total"])
            for img in r.json["images"]:
                if img["id"] not in liked:
                    assert c.post(f"/api/images/{img['id']}/like", json={"liked": True}).status_code == 200
                    liked.add(img["id"])
            assert c.get("/").status_code == 200
            time.sleep(0.3)
    finally:
        show.wait(60)
    assert show.returncode == 0, show.stderr.read()[-1000:]
    assert seen >= 3 and len(liked) >= 3
    st = Store(tmp_path)
    assert st.walks("recording")[0]["status"] == "done"
    assert c.get("/api/images?liked=1").json["total"] == len(liked)


def test_live_walks_are_not_deleted_and_ids_never_come_back(tmp_path):
    """A walk another process records into is refused (409); a deleted walk's id never returns,
    so a stopping recorder cannot overwrite a new walk's row."""
    import subprocess
    import sys

    from livegan.gallery import create_app

    code = ("import sys, time; from livegan.store import Store\n"
            "s = Store(sys.argv[1]); w = s.create_walk('recording', 'live', status='recording')\n"
            "print(w, flush=True); time.sleep(120)\n")
    p = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        live = int(p.stdout.readline())                        # the recorder owns it from here
        c = create_app(tmp_path, presets=tmp_path / "presets").test_client()
        r = c.delete(f"/api/walks/{live}")
        assert r.status_code == 409 and "recording" in r.json["error"]
        assert (tmp_path / str(live)).is_dir()                   # its files stay
        assert c.delete(f"/delete_walk/{live}").status_code == 409
    finally:
        p.kill()
        p.wait()
    st = Store(tmp_path)
    st.repair()
    a = st.create_walk("random", "a")
    st.delete_walk(a)
    b = st.create_walk("random", "b")
    assert b > a and st.walk(a) is None
    i1 = st.add_image(b, "x.png", "frame", 0, {})
    st.delete_walk(b)
    c2 = st.create_walk("random", "c")
    assert st.add_image(c2, "x.png", "frame", 0, {}) > i1


def test_renders_are_bounded_uniquely_named_and_presets_not_silently_replaced(client, tmp_path):
    c, st = client
    ids = snapshot_ids(st)[:2]
    first = c.post("/api/curate", json={"images": ids, "name": "mine", "render": False}).json
    assert first["preset"] == "mine"
    again = c.post("/api/curate", json={"images": ids, "name": "mine", "render": False})
    assert again.status_code == 409 and "overwrite" in again.json["error"]
    assert c.post("/api/curate", json={"images": ids, "name": "mine", "render": False, "overwrite": True}).status_code == 200
    codes, jobs = [], []
    for _ in range(14):                                         # far more than may wait
        r = c.post("/api/curate", json={"images": ids, "preset": False, "render": True, "frames_per_key": 400})
        codes.append(r.status_code)
        if r.status_code == 200:
            jobs.append(r.json["render_id"])
    assert codes.count(429) >= 14 - st.videos.MAX_WAITING and len(jobs) <= st.videos.MAX_WAITING
    for j in jobs:
        st.videos.cancel(j)
    for j in jobs:
        st.videos.wait(j, 120)
    wid = c.post("/start_random_walk", json={"steps": 2, "keyframes": 2}).json["walk_id"]
    a, b = (c.post(f"/enqueue_walk/{wid}").json["render_id"] for _ in range(2))   # the same second
    paths = [st.videos.wait(r, 120)["path"] for r in (a, b)]
    assert all(paths) and paths[0] != paths[1]                  # two jobs never share a file


def test_the_studio_runs_on_a_production_server(tmp_path):
    from test_gallery_browser import start_gallery

    store, presets = tmp_path / "store", tmp_path / "presets"
    store.mkdir()
    presets.mkdir()
    base, proc = start_gallery(store, presets)
    try:
        for _ in range(5):
            urllib.request.urlopen(base + "/").read()
        port = int(base.rsplit(":", 1)[1].strip("/"))
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\n\r\n")
            head = s.recv(4096).decode("latin-1")
        assert head.split()[1] in ("400", "421"), head
    finally:
        proc.terminate()
        out = proc.communicate(timeout=30)[0] or ""
    assert "development server" not in out and "WARNING" not in out, out
    assert not re.search(r'"GET / HTTP/1\.1" 200', out), out          # no line per request






def test_cli_walks_load_in_the_service_and_every_walk_renders(tmp_path, tiny):
    from livegan.gallery import create_app

    out = tmp_path / "store"
    livegan("walk", "random", "--steps", "9", "--keyframes", "3", "--outdir", str(out))
    st = Store(out)
    (walk,) = st.walks()
    assert len(st.images(walk["id"])) == 9
    app = create_app(out, network="builtin:tiny", presets=tmp_path / "presets")
    c = app.test_client()
    r = c.post(f"/load_walk/{walk['id']}")
    assert r.status_code == 200 and r.json["frames"] == 9
    r = c.post("/start_random_walk", json={"steps": 12, "keyframes": 3})
    assert r.json["frames"] == 12
    svc = r.json["walk_id"]
    ids = [i["id"] for i in st.images(walk["id"])]
    cur = c.post("/api/curate", json={"images": [ids[0], ids[-1]], "frames_per_key": 4, "render": False,
                                      "name": "two keys"})
    assert cur.status_code == 200, cur.json
    curated = [w for w in Store(out).walks() if w["kind"] == "curated"]
    for wid, n in [(walk["id"], 9), (svc, 12)] + [(w["id"], 5) for w in curated]:
        video = tmp_path / f"walk{wid}.mp4"
        r = livegan("render", str(wid), "--outdir", str(out), "--out", str(video))
        assert len(read_video(video)) == n, r.stdout


def test_gallery_says_when_the_show_cannot_find_what_it_sent(tmp_path):
    import socket

    from livegan.gallery import create_app

    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    out = tmp_path / "store"
    livegan("walk", "random", "--steps", "3", "--keyframes", "2", "--outdir", str(out))
    app = create_app(out, presets=tmp_path / "elsewhere", show=f"127.0.0.1:{rx.getsockname()[1]}")
    img = Store(out).images(1)[0]["id"]
    r = app.test_client().post(f"/api/images/{img}/recall", json={}).json
    rx.close()
    assert "--load-dir" in r["note"] and str(tmp_path / "elsewhere") in r["note"]
