"""A store whose database file is damaged never stops a show from recording: opening it sets the
damaged file aside whole (one line says where) and starts a fresh database whose walks never
reuse an existing folder; a row whose text or JSON is damaged still lists."""
from __future__ import annotations

import random
import sqlite3

import pytest

from livegan.app import App
from livegan.presets import parse_preset
from livegan.show import Options, Show
from livegan.store import Store
from livegan.store.core import DB_NAME

pytestmark = pytest.mark.hostile
PRESET = parse_preset({"keyframes": [1, 2], "speed": 0.5}, "damage.json")


@pytest.fixture(scope="module")
def healthy(tmp_path_factory) -> bytes:
    """A store with 30 walks of 5 tagged images, checkpointed into one file."""
    d = tmp_path_factory.mktemp("healthy")
    s = Store(d)
    for i in range(30):
        w = s.create_walk("session", name=f"walk {i}", info={"i": i})
        for j in range(5):
            s.add_tag(s.add_image(w, f"img{j}.png"), f"t{j}")
    s.close()
    con = sqlite3.connect(d / DB_NAME)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    return (d / DB_NAME).read_bytes()


def damaged_copies(data: bytes, n: int, seed: int):
    rng = random.Random(seed)
    for _ in range(n):
        b = bytearray(data)
        for _ in range(rng.choice([4, 16, 64, 256])):
            b[rng.randrange(len(b))] = rng.randrange(256)
        yield bytes(b)


def test_every_damaged_database_opens_lists_and_takes_a_new_walk(tmp_path, healthy, capsys):
    # 'malformed database schema', 'database disk image is malformed' (some met only by a write,
    # after SQLite's quick check passed) and undecodable text once failed the recording's start
    set_aside = 0
    for i, data in enumerate(damaged_copies(healthy, 80, seed=1)):
        d = tmp_path / str(i)
        d.mkdir()
        for k in range(1, 31):                         # the walks' folders, as a show left them
            (d / str(k)).mkdir()
        (d / DB_NAME).write_bytes(data)
        s = Store(d)
        for w in s.walks():
            s.images(w["id"])
        s.all_tags()
        s.query_images()
        wid = s.create_walk("recording", name="tonight")
        if s.set_aside is not None:
            set_aside += 1
            assert s.set_aside.read_bytes() == data and wid == 31      # kept whole; no folder reused
        s.close()
    out = capsys.readouterr().out.splitlines()
    said = [ln for ln in out if "is damaged" in ln]
    assert len(said) == set_aside > 0 and all("set aside as livegan.db.damaged-" in ln for ln in said)


def test_a_show_records_into_a_store_whose_database_is_not_one(tmp_path, tiny):
    (tmp_path / DB_NAME).write_bytes(b"not a database at all" * 100)
    show = Show(Options(fps=30), PRESET, G=tiny)
    app = App(show, tmp_path, hud=False)
    app.record(True)
    app.run_headless(10, realtime=False)
    (walk,) = Store(tmp_path).walks("recording")
    assert walk["status"] == "done" and walk["info"]["video_frames"] == 10
    assert len(list(tmp_path.glob(f"{DB_NAME}.damaged-*"))) == 1


def test_damaged_text_and_json_in_a_row_still_list(tmp_path):
    s = Store(tmp_path)
    w = s.create_walk("session", name="walk", info={"a": 1})
    s._conn().execute("UPDATE walks SET name = CAST(X'6869FF' AS TEXT), info = '{\"a\": 1,' WHERE id = ?", (w,))
    (row,) = s.walks()
    assert row["name"] == "hi\ufffd" and row["info"] == {"damaged": '{"a": 1,'}


def test_a_busy_database_is_never_set_aside(tmp_path):
    # 'database is locked' is a healthy file another process holds: waiting, not damage
    from livegan.store import damage

    s = Store(tmp_path)
    locked = sqlite3.OperationalError("database is locked")
    locked.sqlite_errorcode = 5                        # SQLITE_BUSY
    assert not damage.is_damage(locked) and s.set_aside is None
    s.close()


def test_a_network_named_by_a_fifo_has_an_identity_without_reading_it(tmp_path):
    # its sha256 once opened the FIFO, which waits for a writer that never comes
    import os

    from livegan.store import network_identity

    fifo = tmp_path / "net.pkl"
    os.mkfifo(fifo)
    assert network_identity(str(fifo)).startswith("url-")
