"""Data never becomes markup: payloads stored in every text field the studio shows (walk names,
networks, presets, statuses, tags, render errors) stay text in Chromium with the studio's own
Content-Security-Policy on; and requests for another host name (DNS rebinding) are refused."""
from __future__ import annotations

import json
import urllib.parse
import urllib.request

import pytest
from test_gallery import make_store

from livegan.store import Store
from test_gallery_browser import CHROMIUM, FLAGS, start_gallery

pytestmark = pytest.mark.hostile

PAYLOADS = ['<img src="/pwned-img-{k}" onerror="window.__pwned={k}">',
            '</script><script>window.__pwned={k}</script>',
            '"><svg onload="window.__pwned={k}"></svg>',
            "';window.__pwned={k};'"]


@pytest.fixture(scope="module")
def hostile_store(tmp_path_factory, tiny):
    store_dir = make_store(tmp_path_factory.mktemp("xss-studio"), tiny)
    st = Store(store_dir)
    walks = st.walks()
    for k, w in enumerate(walks):
        p = PAYLOADS[k % len(PAYLOADS)]
        st.set_walk(w["id"], name=p.format(k=10 + k))
        with st._tx() as db:                          # fields a recording writes from the show's state
            db.execute("UPDATE walks SET network = ?, preset = ?, status = ? WHERE id = ?",
                       (p.format(k=20 + k), p.format(k=30 + k), p.format(k=60 + k), w["id"]))
    images = [i for w in walks for i in st.images(w["id"])]
    for k, img in enumerate(images[:8]):
        st.add_tag(img["id"], PAYLOADS[k % len(PAYLOADS)].format(k=40 + k))
    rid = st.add_render(walks[0]["id"], {"name": "x"})
    st.update_render(rid, status="failed", error=PAYLOADS[0].format(k=50))
    return store_dir, images[0]["id"]


def test_stored_payloads_stay_text_in_chromium(hostile_store, tmp_path):
    from playwright.sync_api import sync_playwright

    store_dir, image_id = hostile_store
    log = tmp_path / "server.log"
    with open(log, "w") as out:
        base, proc = start_gallery(store_dir, tmp_path / "presets", out)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
            page = browser.new_page()                       # the studio's CSP stays on
            requests, violations = [], []
            page.on("request", lambda r: requests.append(r.url))
            page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
            for path in ("/", "/images", f"/image/{image_id}", "/images?tag=" + urllib.request.quote(PAYLOADS[0].format(k=40))):
                resp = page.goto(base + path)
                assert "script-src 'self'" in resp.headers["content-security-policy"]
                page.wait_for_load_state("networkidle")
                assert page.evaluate("window.__pwned === undefined"), path
                text = page.evaluate("document.body.innerText")
                assert "window.__pwned=" in text or path.startswith("/images"), path   # shown, as text
            page.goto(base + "/images")
            page.wait_for_selector(".cell .tag")
            page.wait_for_load_state("networkidle")
            assert "onerror" in page.inner_text("#grid") and page.evaluate("window.__pwned === undefined")
            assert "window.__pwned=50" in page.inner_text("#renders")          # the render error, as text
            assert not [u for u in requests if "pwned" in urllib.parse.urlsplit(u).path]   # no injected element loaded
            browser.close()
        # a stored tag with a slash can be deleted through the API
        tag = PAYLOADS[1].format(k=41).lower()
        st = Store(store_dir)
        owner = next(i for w in st.walks() for i in st.images(w["id"]) if tag in st.tags(i["id"]))
        req = urllib.request.Request(f"{base}/api/images/{owner['id']}/tags/{urllib.request.quote(tag, safe='')}",
                                     method="DELETE")
        assert tag not in json.loads(urllib.request.urlopen(req, timeout=10).read())["tags"]
    finally:
        proc.terminate()
        proc.wait(10)
    assert "Traceback" not in log.read_text()


@pytest.fixture
def client(hostile_store, tmp_path):
    from livegan.gallery import create_app

    app = create_app(hostile_store[0], presets=tmp_path / "presets")
    return app.test_client(), app


def test_other_host_names_and_cross_site_writes_are_refused(client):
    c, app = client
    for host in ("evil.example", "evil.example:5000", "localhost.evil.example"):
        r = c.get("/", headers={"Host": host})
        assert r.status_code == 421 and "host" in r.json["error"]
        r = c.post("/api/walks/1", json={"name": "x"}, headers={"Host": host, "Origin": f"http://{host}"})
        assert r.status_code == 421
    assert c.get("/", headers={"Host": "127.0.0.1:5000"}).status_code == 200
    assert c.get("/", headers={"Host": "localhost:5000"}).status_code == 200
    # the one writing GET (the seed API's /next_image) refuses a cross-site request (an <img src>)
    r = c.get("/next_image", headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403


def test_bad_ids_and_numbers_are_4xx_lines(client):
    c, _ = client
    assert c.get("/thumb/99999999999999999999").status_code == 404
    for q in ("since=nan", "until=inf", "since=1e308"):
        r = c.get(f"/api/images?{q}")
        assert r.status_code == 400 and "NaN" not in r.get_data(as_text=True), q
