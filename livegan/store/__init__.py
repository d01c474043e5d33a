"""The walk/snapshot store: one SQLite database (WAL) in the output folder (core.py), its schema as
migrations (schema.py)."""
from .core import (DB_NAME, LIVE_STATES, MAX_TAG, OWNER_FILE, RENDER_STATES, WALK_KINDS, Store, WalkBusy, check_tag,
                   file_hash, network_identity)
from .schema import FOREIGN_KEYS_OFF, MIGRATIONS

__all__ = ["Store", "WalkBusy", "check_tag", "file_hash", "network_identity", "DB_NAME", "LIVE_STATES", "MAX_TAG",
           "OWNER_FILE", "RENDER_STATES", "WALK_KINDS", "FOREIGN_KEYS_OFF", "MIGRATIONS"]
