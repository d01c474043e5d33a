"""A training run is a walk in the store: its fakes over time, its curves and its snapshots as
networks, in the studio in a real browser; a resumed run continues its walk."""
from __future__ import annotations

import json
import urllib.error
import urllib.request

from test_training import TRAIN, _pictures, train

from test_gallery_browser import CHROMIUM, FLAGS, start_gallery


def test_a_training_run_is_a_walk_the_studio_plots(tmp_path):
    from playwright.sync_api import sync_playwright
    from stylegan3 import load_network

    from livegan.store import Store
    from livegan.training.dataset import make_dataset

    make_dataset([str(_pictures(tmp_path / "pics", size=16))], tmp_path / "ds.zip", 16, progress=False)
    store, run = tmp_path / "store", tmp_path / "runs" / "faces"
    args = [a for a in TRAIN if a not in ("--store", "")]
    r = train("--data", tmp_path / "ds.zip", "--outdir", run, "--store", store, *args)
    assert r.returncode == 0 and "as walk" in r.stdout, r.stdout + r.stderr
    st = Store(store)
    (w,) = st.walks("training")
    assert (w["name"], w["status"], w["info"]["run"]) == ("faces", "done", str(run.resolve()))
    fakes = [i for i in st.images(w["id"]) if i["kind"] == "fakes"]
    assert [i["state"]["kimg"] for i in fakes] == [0.016, 0.032, 0.048, 0.064]
    assert all((st.walk_dir(w["id"]) / i["filename"]).is_file() for i in fakes)       # the gallery's copies
    G = load_network(fakes[-1]["state"]["network"])                                    # snapshots are networks
    assert G.img_resolution == 16
    # resumed: the same walk goes on
    last = sorted(run.glob("snapshot-*.pt"))[-1]
    kimg = [a if a != "0.064" else "0.096" for a in args]
    r = train("--data", tmp_path / "ds.zip", "--outdir", run, "--store", store, "--resume", last, *kimg)
    assert r.returncode == 0, r.stdout + r.stderr
    (w,) = st.walks("training")
    assert w["status"] == "done" and len([i for i in st.images(w["id"]) if i["kind"] == "fakes"]) == 6
    rows = [json.loads(x) for x in (st.walk_dir(w["id"]) / "training_stats.jsonl").read_text().splitlines()]
    assert [round(x["kimg"], 3) for x in rows] == [0.016, 0.032, 0.048, 0.064, 0.08, 0.096]

    base, proc = start_gallery(store, tmp_path / "presets")
    try:
        for bad in ("/api/training/999", f"/api/training/{w['id'] + 1}"):
            try:
                urllib.request.urlopen(base + bad, timeout=10)
                raise AssertionError(f"{bad} answered")
            except urllib.error.HTTPError as e:
                assert e.code == 404 and "not found" in json.loads(e.read())["error"]
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900}, bypass_csp=True)
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(base + "/")
            page.locator(f".card[data-walk='{w['id']}'] a").first.click()            # the card opens the run
            page.wait_for_selector("svg[data-plot='losses'] polyline[data-series='loss_G']", timeout=30000)
            assert page.url.endswith(f"/training/{w['id']}")
            for plot, series in (("losses", "loss_G"), ("losses", "loss_D"), ("D signs", "signs_real"),
                                 ("augment p", "augment_p")):
                line = page.locator(f"svg[data-plot='{plot}'] polyline[data-series='{series}']")
                assert line.get_attribute("data-points") == "6", (plot, series)
                pts = [tuple(map(float, xy.split(","))) for xy in line.get_attribute("points").split()]
                assert len(pts) == 6 and len({x for x, _ in pts}) == 6 and pts == sorted(pts)   # drawn over kimg
            page.wait_for_function("document.querySelector('#fakes').naturalWidth > 0")
            assert page.evaluate("document.querySelector('#fakes').naturalWidth") == 8 * 16   # the 8x8 grid
            assert page.locator("#fakes").get_attribute("src").endswith(fakes[-1]["filename"].replace("0.064", "0.096"))
            page.locator("#scrub").fill("0")                                          # scrub to the first
            assert page.locator("#fakes").get_attribute("src").endswith(fakes[0]["filename"])
            assert "0.016 kimg" in page.locator("#fakes-caption").inner_text()
            assert page.locator("#strip img").count() == 6
            assert page.locator("#snaps tbody tr").count() == 6
            assert "perform.py --network" in page.locator("#snaps tbody tr").last.inner_text()
            assert f"run:{run.resolve()}" in page.locator("#follow").inner_text()
            assert not errors, errors
            browser.close()
    finally:
        proc.terminate()
        proc.wait(10)
