"""The library: a catalogue of reference works and their fingerprints in one SQLite file.

SQLite is the source of truth and every write is one transaction, so a crash at any moment
leaves either the whole work or nothing.  The hash index used for look-ups is *derived*
(``homage.library.hash_files``) and rebuilt whenever the catalogue's generation moves on.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from homage import __version__
from homage.audio import AudioPrint, Fingerprints, FingerprintSettings, Peaks
from homage.errors import LibraryError
from homage.library.schema import APPLICATION_ID, DATABASE_NAME, SCHEMA, SCHEMA_VERSION
from homage.types import MediaInfo

logger = logging.getLogger(__name__)

#: How long a writer waits for another process's transaction before giving up.
BUSY_TIMEOUT_S = 120.0


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


@dataclass(frozen=True)
class LibraryStats:
    works: int
    total_duration: float
    fingerprints: int
    database_bytes: int
    index_bytes: int


class Library:
    """A library directory holding ``homage.sqlite`` and the derived hash index.

    Use :meth:`open`; it creates a library in an empty or missing directory and refuses a
    directory that holds something else, or a library built with other settings.
    """

    def __init__(self, directory: Path, connection: sqlite3.Connection,
                 settings: FingerprintSettings) -> None:
        self.directory = directory
        self._db = connection
        self.settings = settings

    # ----------------------------------------------------------------- opening
    @classmethod
    def open(
        cls, directory: str | Path, *, settings: FingerprintSettings | None = None,
        create: bool = True,
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
        db_path = directory / DATABASE_NAME
        if directory.exists() and not directory.is_dir():
            raise LibraryError("library path is a file, not a folder", path=directory)
        if not db_path.exists():
            if not create:
                raise LibraryError("no homage library here (run `homage index` first)",
                                   path=directory)
            if directory.exists() and any(
                p.name not in {".DS_Store"} for p in directory.iterdir()
            ):
                raise LibraryError(
                    "folder is not empty and holds no homage library; choose another folder",
                    path=directory,
                )
            try:
                directory.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise LibraryError(f"cannot create library folder ({exc.strerror})",
                                   path=directory) from exc
        connection = _connect(db_path)
        library = cls(directory, connection, settings)
        library._initialise()
        return library

    def close(self) -> None:
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
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
        except sqlite3.DatabaseError as exc:
            raise LibraryError(f"not a readable homage library ({exc})", path=path) from exc
        if app_id not in (0, APPLICATION_ID) or (app_id == 0 and tables):
            raise LibraryError("this SQLite file is not a homage library", path=path)
        if app_id == 0:
            db.executescript(SCHEMA)  # idempotent; executescript manages its own transaction
            with self._write():
                db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                self._set_meta("schema_version", str(SCHEMA_VERSION))
                self._set_meta("audio_settings", json.dumps(self.settings.to_json(),
                                                            sort_keys=True))
                self._set_meta("generation", "0")
                self._set_meta("created_by", f"homage {__version__}")
            return
        version = int(self._meta("schema_version") or 0)
        if version != SCHEMA_VERSION:
            raise LibraryError(
                f"library schema v{version} is not the v{SCHEMA_VERSION} this homage "
                f"{__version__} reads; re-index into a new library folder",
                path=path,
            )
        stored = json.loads(self._meta("audio_settings") or "{}")
        if stored != json.loads(json.dumps(self.settings.to_json(), sort_keys=True)):
            raise LibraryError(
                "library was built with other audio fingerprint settings; use the settings it "
                "was built with or re-index into a new library folder",
                path=path,
            )

    # ------------------------------------------------------------- transactions
    def _write(self) -> _Transaction:
        return _Transaction(self._db)

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
        db_bytes = sum(
            p.stat().st_size for p in self.directory.glob(DATABASE_NAME + "*") if p.is_file()
        )
        index_dir = self.directory / "hashindex"
        index_bytes = sum(p.stat().st_size for p in index_dir.rglob("*") if p.is_file()) \
            if index_dir.exists() else 0
        return LibraryStats(works, float(duration), int(prints), db_bytes, index_bytes)

    def iter_fingerprints(self) -> Iterator[tuple[int, Fingerprints]]:
        """Every work's fingerprints, read in one snapshot (one read transaction)."""
        cursor = self._db.execute(
            "SELECT work_id, hashes, time, freq, span FROM audio_fingerprints ORDER BY work_id"
        )
        for work_id, hashes, t, f, s in cursor:
            yield work_id, Fingerprints(
                hashes=np.frombuffer(hashes, dtype="<u4"),
                time=np.frombuffer(t, dtype="<f4"),
                freq=np.frombuffer(f, dtype="<f4"),
                span=np.frombuffer(s, dtype="<f4"),
            )

    def peaks(self, work_id: int) -> Peaks:
        """The spectral peaks of one work (for verifying a candidate match)."""
        row = self._db.execute(
            "SELECT peak_time, peak_freq FROM audio_fingerprints WHERE work_id = ?", (work_id,)
        ).fetchone()
        if row is None:
            raise LibraryError(f"work {work_id} has no peaks; run `homage library check`",
                               path=self.directory)
        time_ = np.frombuffer(row[0], dtype="<f4")
        return Peaks(time_, np.frombuffer(row[1], dtype="<f4"), np.zeros_like(time_))

    def _one(self, where: str, params: tuple[object, ...]) -> WorkRecord | None:
        return next(iter(self._select(where, params)), None)

    def _select(self, tail: str, params: tuple[object, ...]) -> Iterator[WorkRecord]:
        sql = (
            "SELECT w.id, w.path, w.content_hash, w.size, w.mtime, w.duration, w.container, "
            "w.audio_codec, w.video_codec, COALESCE(f.count, 0) FROM works w "
            "LEFT JOIN audio_fingerprints f ON f.work_id = w.id " + tail
        )
        for row in self._db.execute(sql, params):
            yield WorkRecord(*row)

    # ------------------------------------------------------------------ writing
    def add_work(
        self, *, path: str, content_hash: str, size: int, mtime: float, info: MediaInfo,
        duration: float, audio: AudioPrint,
    ) -> int:
        """Catalogue a work, its peaks and fingerprints in one transaction; returns its id."""
        prints, peaks = audio.fingerprints, audio.peaks
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
            self._db.execute(
                "INSERT INTO audio_fingerprints(work_id, count, hashes, time, freq, span, "
                "peak_count, peak_time, peak_freq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (work_id, len(prints), prints.hashes.astype("<u4").tobytes(),
                 prints.time.astype("<f4").tobytes(), prints.freq.astype("<f4").tobytes(),
                 prints.span.astype("<f4").tobytes(), len(peaks),
                 peaks.time.astype("<f4").tobytes(), peaks.freq.astype("<f4").tobytes()),
            )
            self._bump_generation()
        return work_id

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
        self._db.execute("DELETE FROM works WHERE id = ?", (work_id,))
        self._bump_generation()

    # ------------------------------------------------------------------ checking
    def integrity_problems(self) -> list[str]:
        """What SQLite and the catalogue's own invariants say is wrong (empty: all good)."""
        problems = [
            f"sqlite: {row[0]}" for row in self._db.execute("PRAGMA integrity_check")
            if row[0] != "ok"
        ]
        orphans = self._db.execute(
            "SELECT COUNT(*) FROM audio_fingerprints f LEFT JOIN works w ON w.id = f.work_id "
            "WHERE w.id IS NULL"
        ).fetchone()[0]
        if orphans:
            problems.append(f"{orphans} fingerprint sets belong to no work")
        missing = self._db.execute(
            "SELECT w.path FROM works w LEFT JOIN audio_fingerprints f ON f.work_id = w.id "
            "WHERE f.work_id IS NULL"
        ).fetchall()
        problems.extend(f"{p}: catalogued without fingerprints" for (p,) in missing)
        for work_id, count, hashes, t, f, s, n_peaks, pt, pf in self._db.execute(
            "SELECT work_id, count, length(hashes), length(time), length(freq), length(span), "
            "peak_count, length(peak_time), length(peak_freq) FROM audio_fingerprints"
        ):
            if not hashes == t == f == s == 4 * count or not pt == pf == 4 * n_peaks:
                problems.append(f"work {work_id}: fingerprint arrays disagree with their count")
        return problems

    def repair(self) -> int:
        """Drop what cannot be trusted (orphans, works without fingerprints); returns rows fixed."""
        with self._write():
            a = self._db.execute(
                "DELETE FROM audio_fingerprints WHERE work_id NOT IN (SELECT id FROM works) "
                "OR length(hashes) != 4 * count OR length(time) != 4 * count "
                "OR length(freq) != 4 * count OR length(span) != 4 * count "
                "OR length(peak_time) != 4 * peak_count OR length(peak_freq) != 4 * peak_count"
            ).rowcount
            b = self._db.execute(
                "DELETE FROM works WHERE id NOT IN (SELECT work_id FROM audio_fingerprints)"
            ).rowcount
            if a or b:
                self._bump_generation()
        return a + b


class _Transaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT``: takes the write lock up front so writers queue cleanly
    instead of failing half-way, and rolls back on any exception (Ctrl-C included)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self._db.execute("COMMIT")
        else:
            self._db.execute("ROLLBACK")


def _connect(db_path: Path) -> sqlite3.Connection:
    try:
        connection = sqlite3.connect(
            db_path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = NORMAL")
        connection.execute("PRAGMA foreign_keys = ON")
    except sqlite3.DatabaseError as exc:
        raise LibraryError(f"cannot open library database ({exc})", path=db_path) from exc
    return connection
