"""SQLite schema of a library, its version, and the marks that tell a library from a stranger."""

from __future__ import annotations

#: Written into the SQLite header (``PRAGMA application_id``): "hmg1".
APPLICATION_ID = 0x686D6731
SCHEMA_VERSION = 2
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
    pdq     BLOB NOT NULL
);
"""

#: Schema changes from each older version, applied in order inside one transaction.
#: Version 1 had no visual side: its table is created by ``SCHEMA`` (IF NOT EXISTS) and the
#: visual settings recorded, so a v1 audio library keeps all it indexed.
MIGRATIONS: dict[int, str] = {1: ""}
