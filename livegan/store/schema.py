"""The store's schema, as the migrations that build it: version N is the first N entries."""
from __future__ import annotations

FOREIGN_KEYS_OFF = "-- rebuilds a table: foreign keys off"    # SQLite's table-rebuild procedure needs them off

# Each entry upgrades the schema by one version; never edit a shipped entry, append a new one.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE walks (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('session', 'random', 'curated', 'recording')),
        name TEXT NOT NULL DEFAULT '',
        created REAL NOT NULL,
        network TEXT,
        network_hash TEXT,
        preset TEXT,
        status TEXT NOT NULL DEFAULT 'open',
        info TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TABLE images (
        id INTEGER PRIMARY KEY,
        walk_id INTEGER NOT NULL REFERENCES walks(id) ON DELETE CASCADE,
        filename TEXT NOT NULL,
        path TEXT NOT NULL,
        kind TEXT NOT NULL DEFAULT 'snapshot',
        frame INTEGER,
        created REAL NOT NULL,
        state TEXT NOT NULL DEFAULT '{}',
        UNIQUE (walk_id, filename)
    );
    CREATE TABLE renders (
        id INTEGER PRIMARY KEY,
        walk_id INTEGER NOT NULL REFERENCES walks(id) ON DELETE CASCADE,
        path TEXT,
        status TEXT NOT NULL CHECK (status IN ('queued', 'rendering', 'done', 'failed')),
        progress REAL NOT NULL DEFAULT 0,
        error TEXT,
        created REAL NOT NULL,
        updated REAL NOT NULL,
        options TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX images_walk ON images(walk_id);
    """,
    # 2: curation (the gallery): likes, tags, archived walks; indexes for its filters.
    """
    ALTER TABLE images ADD COLUMN liked INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE walks ADD COLUMN archived INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE tags (
        image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        tag TEXT NOT NULL,
        PRIMARY KEY (image_id, tag)
    );
    CREATE INDEX tags_tag ON tags(tag);
    CREATE INDEX images_liked ON images(liked);
    CREATE INDEX images_created ON images(created);
    """,
    # 3: ids are never reused: a deleted walk's id (its folder name, its render rows) never comes
    # back for a new one, so a stopping recorder or a late render cannot write into a stranger's row.
    """
    CREATE TABLE id_floor (tbl TEXT PRIMARY KEY, last INTEGER NOT NULL);
    INSERT INTO id_floor SELECT 'walks', COALESCE(MAX(id), 0) FROM walks;
    INSERT INTO id_floor SELECT 'images', COALESCE(MAX(id), 0) FROM images;
    INSERT INTO id_floor SELECT 'renders', COALESCE(MAX(id), 0) FROM renders;
    """,
    # 4: training runs are walks (fakes over time, their curves, their snapshots as networks).  The
    # kind's CHECK can only change by rebuilding the table (SQLite's documented procedure).
    FOREIGN_KEYS_OFF + """
    CREATE TABLE walks_new (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('session', 'random', 'curated', 'recording', 'training')),
        name TEXT NOT NULL DEFAULT '',
        created REAL NOT NULL,
        network TEXT,
        network_hash TEXT,
        preset TEXT,
        status TEXT NOT NULL DEFAULT 'open',
        info TEXT NOT NULL DEFAULT '{}',
        archived INTEGER NOT NULL DEFAULT 0
    );
    INSERT INTO walks_new (id, kind, name, created, network, network_hash, preset, status, info, archived)
        SELECT id, kind, name, created, network, network_hash, preset, status, info, archived FROM walks;
    DROP TABLE walks;
    ALTER TABLE walks_new RENAME TO walks;
    """,
)
