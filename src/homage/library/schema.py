"""SQLite schema of a library, its version, and the marks that tell a library from a stranger."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

#: Written into the SQLite header (``PRAGMA application_id``): "hmg1".
APPLICATION_ID = 0x686D6731
SCHEMA_VERSION = 3
DATABASE_NAME = "homage.sqlite"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS works (
    id           INTEGER PRIMARY KEY,
    path         TEXT NOT NULL UNIQUE,
    content_hash TEXT NOT NULL UNIQUE,
    size         INTEGER NOT NULL,
    mtime        REAL NOT NULL,
    duration     REAL NOT NULL,
    container    TEXT,
    audio_codec  TEXT,
    video_codec  TEXT,
    sample_rate  INTEGER,
    channels     INTEGER,
    indexed_at   TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audio_fingerprints (
    work_id INTEGER PRIMARY KEY REFERENCES works(id) ON DELETE CASCADE,
    count   INTEGER NOT NULL,
    hashes  BLOB NOT NULL,
    time    BLOB NOT NULL,
    freq    BLOB NOT NULL,
    span    BLOB NOT NULL,
    peak_count INTEGER NOT NULL,
    peak_time  BLOB NOT NULL,
    peak_freq  BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS visual_features (
    work_id INTEGER PRIMARY KEY REFERENCES works(id) ON DELETE CASCADE,
    count   INTEGER NOT NULL,
    dim     INTEGER NOT NULL,
    times   BLOB NOT NULL,
    vectors BLOB NOT NULL,
    boxes   BLOB NOT NULL,
    cuts    BLOB NOT NULL,
    pdq     BLOB NOT NULL,
    looks   BLOB NOT NULL DEFAULT x'',
    labels  BLOB NOT NULL DEFAULT x''
);
"""

def _add_frame_looks(db: sqlite3.Connection) -> None:
    """v2 → v3: each frame's look and top ImageNet labels, for visual homages.  Works indexed
    before keep empty columns: they match as copies, and as homages once re-indexed."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(visual_features)")}
    for column in ("looks", "labels"):
        if column not in columns:  # a v1 library got the v3 table from SCHEMA already
            db.execute(f"ALTER TABLE visual_features ADD COLUMN {column} BLOB NOT NULL "
                       "DEFAULT x''")


#: Schema changes from each older version, applied in order, each inside one transaction.
#: Version 1 had no visual side: its table is created by ``SCHEMA`` (IF NOT EXISTS) and the
#: visual settings recorded, so a v1 audio library keeps all it indexed.
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None] | None] = {
    1: None,
    2: _add_frame_looks,
}
