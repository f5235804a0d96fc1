"""SQLite schema of a library, its version, and the marks that tell a library from a stranger."""

from __future__ import annotations

#: Written into the SQLite header (``PRAGMA application_id``): "hmg1".
APPLICATION_ID = 0x686D6731
SCHEMA_VERSION = 1
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
"""
