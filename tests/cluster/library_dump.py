"""A library's content as plain values, for "same library" assertions: every catalogue
column but row ids and indexing times, and every fingerprint and frame blob, keyed by path
(so two libraries built in different orders compare equal when they hold the same)."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

import numpy as np

from homage.library import Library
from homage.library.schema import DATABASE_NAME

_NOT_CONTENT = {"id", "work_id", "indexed_at"}


def library_content(directory: Path) -> dict[str, dict[str, dict[str, object]]]:
    """``path → {"work": columns, "audio": columns, "visual": columns}``."""
    db = sqlite3.connect(directory / DATABASE_NAME)
    try:
        db.row_factory = sqlite3.Row
        content: dict[str, dict[str, dict[str, object]]] = {}
        for work in db.execute("SELECT * FROM works"):
            entry = {"work": _columns(work)}
            for table, key in (("audio_fingerprints", "audio"), ("visual_features", "visual")):
                row = db.execute(f"SELECT * FROM {table} WHERE work_id = ?",
                                 (work["id"],)).fetchone()
                entry[key] = {} if row is None else _columns(row)
            content[work["path"]] = entry
        return content
    finally:
        db.close()


def _columns(row: sqlite3.Row) -> dict[str, object]:
    return {key: row[key] for key in row.keys() if key not in _NOT_CONTENT}  # noqa: SIM118


def library_features(library: Library) -> dict[str, dict[str, object]]:
    """The same comparison through the ``Library`` interface, for any backend: each work's
    catalogue fields and the bytes of its fingerprints, peaks and frame arrays."""
    prints = {work: fp for work, fp in library.iter_fingerprints()}
    content: dict[str, dict[str, object]] = {}
    for work in library.works():
        audio: tuple[bytes, ...] = ()
        if work.id in prints:
            fp, peaks = prints[work.id], library.peaks(work.id)
            audio = tuple(np.asarray(a).tobytes() for a in (
                fp.hashes, fp.time, fp.freq, fp.span, peaks.time, peaks.freq))
        visual = library.visual(work.id)
        frames = () if visual is None else tuple(
            (f.name, np.asarray(getattr(visual, f.name)).tobytes())
            for f in dataclasses.fields(visual) if getattr(visual, f.name) is not None)
        record = dataclasses.asdict(work)
        del record["id"]
        content[work.path] = {"work": record, "audio": audio, "visual": frames}
    return content
