"""The library: a catalogue of reference works and their fingerprints in one SQLite file.

SQLite is the source of truth and every write is one transaction, so a crash at any moment
leaves either the whole work or nothing.  The hash index used for look-ups is *derived*
(``homage.library.hash_files``) and rebuilt whenever the catalogue's generation moves on.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from homage import __version__
from homage.audio import AudioPrint, Fingerprints, FingerprintSettings, Peaks
from homage.errors import LibraryError
from homage.library.schema import (
    APPLICATION_ID,
    DATABASE_NAME,
    MIGRATIONS,
    SCHEMA,
    SCHEMA_VERSION,
)
from homage.types import MediaInfo
from homage.visual.looks import LOOK_DIM
from homage.visual.prints import LABELS_KEPT, VisualPrint, VisualSettings

logger = logging.getLogger(__name__)

#: How long a writer waits for another process's transaction before giving up.
BUSY_TIMEOUT_S = 120.0
#: A writer still waiting after this long says that it waits.
NOTICE_AFTER_S = 1.0


class AlreadyCatalogued(LibraryError):
    """Another process catalogued the same path or content while this one analysed it."""


@dataclass(frozen=True)
class WorkRecord:
    """One catalogued reference work."""

    id: int
    path: str
    content_hash: str
    size: int
    mtime: float
    duration: float
    container: str | None
    audio_codec: str | None
    video_codec: str | None
    fingerprints: int
    frames: int = 0


@dataclass(frozen=True)
class LibraryStats:
    works: int
    total_duration: float
    fingerprints: int
    database_bytes: int
    index_bytes: int
    frames: int = 0


class Library:
    """A library directory holding ``homage.sqlite`` and the derived hash index.

    Use :meth:`open`; it creates a library in an empty or missing directory and refuses a
    directory that holds something else, or a library built with other settings.
    """

    def __init__(self, directory: Path, connection: sqlite3.Connection,
                 settings: FingerprintSettings, visual: VisualSettings) -> None:
        self.directory = directory
        self._db = connection
        self.settings = settings
        self.visual_settings = visual

    # ----------------------------------------------------------------- opening
    @classmethod
    def open(
        cls, directory: str | Path, *, settings: FingerprintSettings | None = None,
        visual: VisualSettings | None = None, create: bool = True,
    ) -> Library:
        """Open (or create) the library in ``directory``.

        Raises
        ------
        LibraryError
            The directory is not a homage library, cannot be read or written, was written by a
            newer schema, or was built with other fingerprint settings.
        """
        directory = Path(directory).expanduser()
        settings = settings or FingerprintSettings()
        visual = visual or VisualSettings()
        db_path = directory / DATABASE_NAME
        if directory.exists() and not directory.is_dir():
            raise LibraryError("library path is a file, not a folder", path=directory)
        if not db_path.exists():
            if not create:
                raise LibraryError("no homage library here (run `homage index` first)",
                                   path=directory)
            if directory.exists() and any(not _ours(p.name) for p in directory.iterdir()):
                raise LibraryError(
                    "folder is not empty and holds no homage library; choose another folder",
                    path=directory,
                )
            try:
                directory.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise LibraryError(f"cannot create library folder ({exc.strerror})",
                                   path=directory) from exc
            _create_atomically(db_path, settings, visual)
        connection = _connect(db_path)
        library = cls(directory, connection, settings, visual)
        try:
            library._initialise()
        except BaseException:
            connection.close()
            raise
        return library

    def close(self) -> None:
        """Close, folding the write-ahead log back into the database first: after an index
        run it can hold as much again as the library, and it would stay on disk until the
        next writer (skipped quietly while another process still reads)."""
        with contextlib.suppress(sqlite3.Error):
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._db.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _initialise(self) -> None:
        db = self._db
        path = self.directory / DATABASE_NAME
        try:
            app_id = db.execute("PRAGMA application_id").fetchone()[0]
            names = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
            raise LibraryError(f"not a readable homage library ({_one_line(exc)})",
                               path=path) from exc
        tables = {n for n in names if not n.startswith("sqlite_")}
        if app_id == 0 and tables and tables <= _TABLES and self._all_empty(tables):
            # a creation interrupted between its schema and its stamp (by an older homage):
            # finish it
            with self._write():
                if db.execute("PRAGMA application_id").fetchone()[0] == 0:
                    _stamp(db, self.settings, self.visual_settings)
            return
        if app_id not in (0, APPLICATION_ID) or (app_id == 0 and tables):
            raise LibraryError("this SQLite file is not a homage library", path=path)
        if app_id == 0:  # an empty file: make it a library, in one transaction
            with self._write():
                if db.execute("PRAGMA application_id").fetchone()[0] == 0:
                    _stamp(db, self.settings, self.visual_settings)
            return
        try:
            meta = dict(db.execute("SELECT key, value FROM meta"))
            version = int(meta.get("schema_version") or 0)
            int(meta.get("generation") or 0)
            stored = {key: json.loads(meta.get(key) or "{}")
                      for key in ("audio_settings", "visual_settings")}
        except (ValueError, TypeError, sqlite3.DatabaseError) as exc:
            raise LibraryError(
                f"library metadata is damaged ({_one_line(exc)}); re-index into a new library "
                "folder", path=path) from exc
        if version in MIGRATIONS:
            version = self._migrate(version)
            stored["visual_settings"] = json.loads(self._meta("visual_settings") or "{}")
        if version != SCHEMA_VERSION:
            raise LibraryError(
                f"library schema v{version} is not the v{SCHEMA_VERSION} this homage "
                f"{__version__} reads; re-index into a new library folder",
                path=path,
            )
        for key, wanted, what in (
            ("audio_settings", self.settings.to_json(), "audio fingerprint"),
            ("visual_settings", self.visual_settings.to_json(), "visual descriptor"),
        ):
            if stored[key] != json.loads(_canonical(wanted)):
                raise LibraryError(
                    f"library was built with other {what} settings; use the settings it was "
                    "built with or re-index into a new library folder",
                    path=path,
                )

    def _all_empty(self, tables: set[str]) -> bool:
        return all(self._db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] == 0
                   for t in tables)

    def _migrate(self, version: int) -> int:
        """Bring an older schema up to date in place (each step is one transaction)."""
        while version in MIGRATIONS:
            logger.info("migrating library schema v%d to v%d", version, version + 1)
            self._db.executescript(SCHEMA)  # creates the tables the new version adds
            with self._write():
                step = MIGRATIONS[version]
                if step is not None:
                    step(self._db)
                if self._meta("visual_settings") is None:
                    self._set_meta("visual_settings",
                                   _canonical(self.visual_settings.to_json()))
                version += 1
                self._set_meta("schema_version", str(version))
        return version

    # ------------------------------------------------------------- transactions
    def _write(self) -> _Transaction:
        return _Transaction(self._db, self.directory)

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def _set_meta(self, key: str, value: str) -> None:
        self._db.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def _bump_generation(self) -> None:
        self._db.execute(
            "UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) "
            "WHERE key = 'generation'"
        )

    @property
    def generation(self) -> int:
        """Increases with every change to the fingerprints; names the derived index files."""
        return int(self._meta("generation") or 0)

    # ------------------------------------------------------------------ reading
    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """A read transaction: everything read inside sees one consistent state, even while
        another process indexes (SQLite WAL readers never block and are never blocked)."""
        self._db.execute("BEGIN")
        try:
            yield
        finally:
            self._db.execute("COMMIT")

    def work_by_path(self, path: str) -> WorkRecord | None:
        return self._one("WHERE w.path = ?", (path,))

    def work_by_hash(self, content_hash: str) -> WorkRecord | None:
        return self._one("WHERE w.content_hash = ?", (content_hash,))

    def work_by_id(self, work_id: int) -> WorkRecord | None:
        return self._one("WHERE w.id = ?", (work_id,))

    def works(self) -> list[WorkRecord]:
        return list(self._select("ORDER BY w.path", ()))

    def durations(self) -> dict[int, float]:
        return dict(self._db.execute("SELECT id, duration FROM works"))

    def paths(self) -> dict[int, str]:
        return dict(self._db.execute("SELECT id, path FROM works"))

    def stats(self) -> LibraryStats:
        works, duration = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(duration), 0) FROM works"
        ).fetchone()
        (prints,) = self._db.execute(
            "SELECT COALESCE(SUM(count), 0) FROM audio_fingerprints"
        ).fetchone()
        (frames,) = self._db.execute(
            "SELECT COALESCE(SUM(count), 0) FROM visual_features"
        ).fetchone()
        db_bytes = sum(
            p.stat().st_size for p in self.directory.glob(DATABASE_NAME + "*") if p.is_file()
        )
        index_bytes = sum(
            p.stat().st_size for name in ("hashindex", "vectorindex")
            for p in (self.directory / name).rglob("*") if p.is_file()
        )
        return LibraryStats(works, float(duration), int(prints), db_bytes, index_bytes,
                            int(frames))

    def iter_fingerprints(self) -> Iterator[tuple[int, Fingerprints]]:
        """Every work's fingerprints, read in one snapshot (one read transaction)."""
        cursor = self._db.execute(
            "SELECT work_id, count, hashes, time, freq, span FROM audio_fingerprints "
            "ORDER BY work_id"
        )
        for work_id, count, *blobs in cursor:
            hashes, t, f, s = (self._floats(work_id, b, count, d)
                               for b, d in zip(blobs, ("<u4", "<f4", "<f4", "<f4"), strict=True))
            yield work_id, Fingerprints(hashes=hashes, time=t, freq=f, span=s)

    def _floats(self, work_id: int, blob: object, count: int, dtype: str) -> np.ndarray:
        """One stored array, refused (not half-read) when damage has changed its length."""
        if not isinstance(blob, bytes) or len(blob) != 4 * count:
            raise LibraryError(f"work {work_id}: stored fingerprints are damaged; run "
                               "`homage library check --repair`", path=self.directory)
        return np.frombuffer(blob, dtype=dtype)

    def iter_visual(self) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """Every work's frame times (n,) and vectors (n, dim) float32, in one snapshot."""
        cursor = self._db.execute(
            "SELECT work_id, count, dim, times, vectors FROM visual_features ORDER BY work_id"
        )
        for work_id, count, dim, times, vectors in cursor:
            self._check_visual(work_id, count, dim, times=times, vectors=vectors)
            yield work_id, np.frombuffer(times, dtype="<f4"), \
                np.frombuffer(vectors, dtype="<f2").reshape(count, dim).astype(np.float32)

    def visual(self, work_id: int) -> VisualPrint | None:
        """One work's visual description, None for a work with no video."""
        row = self._db.execute(
            "SELECT count, dim, times, vectors, boxes, cuts, pdq, looks, labels "
            "FROM visual_features WHERE work_id = ?", (work_id,)
        ).fetchone()
        if row is None:
            return None
        count, dim, times, vectors, boxes, cuts, pdq, looks, labels = row
        self._check_visual(work_id, count, dim, times=times, vectors=vectors, boxes=boxes,
                           cuts=cuts, pdq=pdq, looks=looks, labels=labels)
        ids = scores = None
        if labels:
            half = 2 * LABELS_KEPT * count
            ids = np.frombuffer(labels[:half], dtype="<u2").reshape(count, LABELS_KEPT)
            scores = np.frombuffer(labels[half:], dtype="<f2").reshape(count, LABELS_KEPT)
        return VisualPrint(
            times=np.frombuffer(times, dtype="<f4"),
            vectors=np.frombuffer(vectors, dtype="<f2").reshape(count, dim).astype(np.float32),
            boxes=np.frombuffer(boxes, dtype="<f4").reshape(count, 4),
            cuts=np.frombuffer(cuts, dtype="<f4"),
            pdq=np.frombuffer(pdq, dtype=np.uint8).reshape(count, 32),
            looks=np.frombuffer(looks, dtype="<f2").reshape(count, LOOK_DIM).astype(np.float32)
            if looks else None,
            labels=ids.astype(np.int64) if ids is not None else None,
            label_scores=scores.astype(np.float32) if scores is not None else None,
        )

    def _check_visual(self, work_id: int, count: int, dim: int, **blobs: bytes) -> None:
        """Refuse a frame row whose arrays disagree with its count (see ``_BAD_VISUAL``);
        looks and labels may be empty (indexed before they were kept, or no classifier)."""
        per_frame = {"times": 4, "vectors": 2 * dim, "boxes": 16, "pdq": 32,
                     "looks": 2 * LOOK_DIM, "labels": 4 * LABELS_KEPT}
        sizes_ok = all(
            len(blob) % 4 == 0 if name == "cuts"
            else len(blob) == per_frame[name] * count or (name in _OPTIONAL and not blob)
            for name, blob in blobs.items()
        )
        if not sizes_ok:
            raise LibraryError(
                f"work {work_id}: stored frame arrays disagree with their count; run "
                "`homage library check --repair`", path=self.directory)

    def peaks(self, work_id: int) -> Peaks:
        """The spectral peaks of one work (for verifying a candidate match)."""
        row = self._db.execute(
            "SELECT peak_count, peak_time, peak_freq FROM audio_fingerprints WHERE work_id = ?",
            (work_id,),
        ).fetchone()
        if row is None:
            raise LibraryError(f"work {work_id} has no peaks; run `homage library check`",
                               path=self.directory)
        time_ = self._floats(work_id, row[1], row[0], "<f4")
        return Peaks(time_, self._floats(work_id, row[2], row[0], "<f4"), np.zeros_like(time_))

    def _one(self, where: str, params: tuple[object, ...]) -> WorkRecord | None:
        return next(iter(self._select(where, params)), None)

    def _select(self, tail: str, params: tuple[object, ...]) -> Iterator[WorkRecord]:
        sql = (
            "SELECT w.id, w.path, w.content_hash, w.size, w.mtime, w.duration, w.container, "
            "w.audio_codec, w.video_codec, COALESCE(f.count, 0), COALESCE(v.count, 0) "
            "FROM works w LEFT JOIN audio_fingerprints f ON f.work_id = w.id "
            "LEFT JOIN visual_features v ON v.work_id = w.id " + tail
        )
        for row in self._db.execute(sql, params):
            yield WorkRecord(*row)

    # ------------------------------------------------------------------ writing
    def add_work(
        self, *, path: str, content_hash: str, size: int, mtime: float, info: MediaInfo,
        duration: float, audio: AudioPrint | None, visual: VisualPrint | None = None,
    ) -> int:
        """Catalogue a work with its audio fingerprints and/or frame vectors in one
        transaction; returns its id."""
        if audio is None and visual is None:
            raise ValueError("a work needs audio fingerprints or frame vectors")
        try:
            return self._add_work(path=path, content_hash=content_hash, size=size, mtime=mtime,
                                  info=info, duration=duration, audio=audio, visual=visual)
        except sqlite3.IntegrityError as exc:
            raise AlreadyCatalogued("catalogued meanwhile by another homage process",
                                    path=path) from exc

    def _add_work(
        self, *, path: str, content_hash: str, size: int, mtime: float, info: MediaInfo,
        duration: float, audio: AudioPrint | None, visual: VisualPrint | None,
    ) -> int:
        with self._write():
            cursor = self._db.execute(
                "INSERT INTO works(path, content_hash, size, mtime, duration, container, "
                "audio_codec, video_codec, sample_rate, channels, indexed_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (path, content_hash, size, mtime, duration, info.container, info.audio_codec,
                 info.video_codec, info.sample_rate, info.channels,
                 time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())),
            )
            work_id = int(cursor.lastrowid or 0)
            if audio is not None:
                self._insert_audio(work_id, audio)
            if visual is not None:
                self._insert_visual(work_id, visual)
            self._bump_generation()
        return work_id

    def _insert_audio(self, work_id: int, audio: AudioPrint) -> None:
        prints, peaks = audio.fingerprints, audio.peaks
        self._db.execute(
            "INSERT INTO audio_fingerprints(work_id, count, hashes, time, freq, span, "
            "peak_count, peak_time, peak_freq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (work_id, len(prints), prints.hashes.astype("<u4").tobytes(),
             prints.time.astype("<f4").tobytes(), prints.freq.astype("<f4").tobytes(),
             prints.span.astype("<f4").tobytes(), len(peaks),
             peaks.time.astype("<f4").tobytes(), peaks.freq.astype("<f4").tobytes()),
        )

    def _insert_visual(self, work_id: int, visual: VisualPrint) -> None:
        """Vectors and looks are stored as float16: half the bytes, and cosine similarities
        move by less than 1e-3, far below what separates a copy from a look-alike."""
        vectors = np.asarray(visual.vectors)
        looks = b"" if visual.looks is None else visual.looks.astype("<f2").tobytes()
        labels = b""
        if visual.labels is not None and visual.label_scores is not None:
            labels = visual.labels.astype("<u2").tobytes() + \
                visual.label_scores.astype("<f2").tobytes()
        self._db.execute(
            "INSERT INTO visual_features(work_id, count, dim, times, vectors, boxes, cuts, pdq, "
            "looks, labels) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (work_id, len(visual), vectors.shape[1], visual.times.astype("<f4").tobytes(),
             vectors.astype("<f2").tobytes(), visual.boxes.astype("<f4").tobytes(),
             visual.cuts.astype("<f4").tobytes(), visual.pdq.astype(np.uint8).tobytes(),
             looks, labels),
        )

    def move_work(self, work_id: int, *, path: str, size: int, mtime: float,
                  replacing: int | None = None) -> None:
        """Record that a catalogued file now lives at ``path`` (recognised by content hash).

        ``replacing`` is the work previously catalogued at ``path``; it is removed in the same
        transaction, so the library never holds two works at one path nor loses both.
        """
        with self._write():
            if replacing is not None:
                self._delete(replacing)
            self._db.execute("UPDATE works SET path = ?, size = ?, mtime = ? WHERE id = ?",
                             (path, size, mtime, work_id))

    def touch_work(self, work_id: int, *, mtime: float) -> None:
        """Remember a new modification time for unchanged content, to skip hashing next time."""
        with self._write():
            self._db.execute("UPDATE works SET mtime = ? WHERE id = ?", (mtime, work_id))

    def remove_work(self, work_id: int) -> None:
        with self._write():
            self._delete(work_id)

    def _delete(self, work_id: int) -> None:
        self._db.execute("DELETE FROM audio_fingerprints WHERE work_id = ?", (work_id,))
        self._db.execute("DELETE FROM visual_features WHERE work_id = ?", (work_id,))
        self._db.execute("DELETE FROM works WHERE id = ?", (work_id,))
        self._bump_generation()

    # ------------------------------------------------------------------ checking
    def integrity_problems(self) -> list[str]:
        """What SQLite and the catalogue's own invariants say is wrong (empty: all good)."""
        problems = [
            f"sqlite: {row[0]}" for row in self._db.execute("PRAGMA integrity_check")
            if row[0] != "ok"
        ]
        for table, what in (("audio_fingerprints", "fingerprint"), ("visual_features", "frame")):
            orphans = self._db.execute(
                f"SELECT COUNT(*) FROM {table} WHERE work_id NOT IN (SELECT id FROM works)"
            ).fetchone()[0]
            if orphans:
                problems.append(f"{orphans} {what} sets belong to no work")
        missing = self._db.execute(f"SELECT path FROM works WHERE {_NO_FEATURES}").fetchall()
        problems.extend(f"{p}: catalogued without fingerprints or frames" for (p,) in missing)
        bad = self._db.execute(
            f"SELECT work_id FROM audio_fingerprints WHERE {_BAD_AUDIO} "
            f"UNION SELECT work_id FROM visual_features WHERE {_BAD_VISUAL}"
        ).fetchall()
        problems.extend(f"work {w}: stored arrays disagree with their count" for (w,) in bad)
        return problems

    def repair(self) -> int:
        """Drop what cannot be trusted (orphans, inconsistent arrays, works left with nothing
        to match); returns rows fixed."""
        with self._write():
            fixed = 0
            for table, bad in (("audio_fingerprints", _BAD_AUDIO),
                               ("visual_features", _BAD_VISUAL)):
                fixed += self._db.execute(
                    f"DELETE FROM {table} WHERE work_id NOT IN (SELECT id FROM works) OR {bad}"
                ).rowcount
            fixed += self._db.execute(f"DELETE FROM works WHERE {_NO_FEATURES}").rowcount
            if fixed:
                self._bump_generation()
        return fixed


_BAD_AUDIO = (
    "length(hashes) != 4 * count OR length(time) != 4 * count OR length(freq) != 4 * count "
    "OR length(span) != 4 * count OR length(peak_time) != 4 * peak_count "
    "OR length(peak_freq) != 4 * peak_count"
)
_BAD_VISUAL = (
    "length(times) != 4 * count OR length(vectors) != 2 * count * dim "
    "OR length(boxes) != 16 * count OR length(cuts) % 4 != 0 OR length(pdq) != 32 * count "
    f"OR length(looks) NOT IN (0, {2 * LOOK_DIM} * count) "
    f"OR length(labels) NOT IN (0, {4 * LABELS_KEPT} * count)"
)
_OPTIONAL = frozenset({"looks", "labels"})
_NO_FEATURES = (
    "id NOT IN (SELECT work_id FROM audio_fingerprints) "
    "AND id NOT IN (SELECT work_id FROM visual_features)"
)


class _Transaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT``: takes the write lock up front so writers queue cleanly
    instead of failing half-way, and rolls back on any exception (Ctrl-C included).  A writer
    that has to wait for another process says so, and gives up after ``BUSY_TIMEOUT_S``."""

    def __init__(self, db: sqlite3.Connection, directory: Path) -> None:
        self._db = db
        self._directory = directory

    def __enter__(self) -> None:
        notice_after = min(NOTICE_AFTER_S, BUSY_TIMEOUT_S)
        self._db.execute(f"PRAGMA busy_timeout = {round(notice_after * 1000)}")
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc):
                raise
            logger.warning("waiting for the library lock: another homage process is writing "
                           "to %s", self._directory)
            self._db.execute(
                f"PRAGMA busy_timeout = {round((BUSY_TIMEOUT_S - notice_after) * 1000)}")
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as again:
                if not _is_busy(again):
                    raise
                raise LibraryError(
                    f"another homage process kept the library locked for {BUSY_TIMEOUT_S:g} s; "
                    "try again when it has finished", path=self._directory) from again
        finally:
            self._db.execute(f"PRAGMA busy_timeout = {round(BUSY_TIMEOUT_S * 1000)}")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self._db.execute("COMMIT")
        else:
            self._db.execute("ROLLBACK")


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


def _connect(db_path: Path) -> sqlite3.Connection:
    try:
        connection = sqlite3.connect(
            db_path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
        if connection.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = NORMAL")
        connection.execute("PRAGMA foreign_keys = ON")
    except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
        # UnicodeDecodeError: SQLite's message quoting a damaged schema is not UTF-8
        raise LibraryError(f"cannot open library database ({_one_line(exc)})",
                           path=db_path) from exc
    return connection


#: the tables of a homage library (an unstamped file holding only these, empty, is one
#: whose creation was interrupted)
_TABLES = frozenset({"meta", "works", "audio_fingerprints", "visual_features"})


def _ours(name: str) -> bool:
    """Files a library folder may hold before its database exists (a creation under way)."""
    return name == ".DS_Store" or name.startswith(f".{DATABASE_NAME}.") \
        or name.startswith(DATABASE_NAME)


def _stamp(db: sqlite3.Connection, settings: FingerprintSettings,
           visual: VisualSettings) -> None:
    """Create the schema and record version and settings; inside the caller's transaction."""
    for statement in SCHEMA.split(";"):
        if statement.strip():
            db.execute(statement)
    db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    for key, value in (("schema_version", str(SCHEMA_VERSION)),
                       ("audio_settings", _canonical(settings.to_json())),
                       ("visual_settings", _canonical(visual.to_json())),
                       ("generation", "0"), ("created_by", f"homage {__version__}")):
        db.execute("INSERT INTO meta(key, value) VALUES (?, ?) "
                   "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))


def _create_atomically(db_path: Path, settings: FingerprintSettings,
                       visual: VisualSettings) -> None:
    """Build a complete library database beside ``db_path`` and link it into place, so that
    no process (and no crash) ever sees a half-made library; if another process got there
    first, its library is used and ours is dropped."""
    scratch = db_path.with_name(f".{DATABASE_NAME}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        db = sqlite3.connect(scratch, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("BEGIN IMMEDIATE")
            _stamp(db, settings, visual)
            db.execute("COMMIT")
        finally:
            db.close()
        try:
            os.link(scratch, db_path)
        except FileExistsError:
            pass  # another process created the library first: theirs is as good as ours
        except OSError:  # a file system without hard links
            if not db_path.exists():
                os.replace(scratch, db_path)
    except (OSError, sqlite3.Error) as exc:
        raise LibraryError(f"cannot create the library ({_one_line(exc)})",
                           path=db_path) from exc
    finally:
        for leftover in (scratch, Path(f"{scratch}-wal"), Path(f"{scratch}-shm")):
            leftover.unlink(missing_ok=True)


def _one_line(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0] if text.strip() else type(exc).__name__


def _canonical(settings: dict[str, object]) -> str:
    return json.dumps(settings, sort_keys=True)
