"""The SQLite backend: a library folder holding ``homage.sqlite`` and the derived indexes.

SQLite is the source of truth and every write is one transaction, so a crash at any moment
leaves either the whole work or nothing.  The hash index used for look-ups is *derived*
(``homage.library.hash_files``) and rebuilt whenever the catalogue's generation moves on.
What a library holds and how it is read and written is shared with the PostgreSQL backend
(``homage.library.base``); this module is how SQLite opens, locks and checks it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

from homage import __version__
from homage.audio import FingerprintSettings
from homage.errors import LibraryError
from homage.library.base import (
    AlreadyCatalogued,
    Library,
    LibraryStats,
    T,
    WorkRecord,
    canonical,
    one_line,
)
from homage.library.schema import (
    APPLICATION_ID,
    DATABASE_NAME,
    MIGRATIONS,
    SCHEMA,
    SCHEMA_VERSION,
)
from homage.visual.prints import VisualSettings

logger = logging.getLogger(__name__)

__all__ = ["AlreadyCatalogued", "Library", "LibraryStats", "SQLiteLibrary", "WorkRecord"]

#: How long a writer waits for another process's transaction before giving up.
BUSY_TIMEOUT_S = 120.0
#: A writer still waiting after this long says that it waits.
NOTICE_AFTER_S = 1.0


class SQLiteLibrary(Library):
    """A library directory holding ``homage.sqlite`` and the derived hash index.

    Open it with ``Library.open(folder)``; it creates a library in an empty or missing
    directory and refuses a directory that holds something else, or a library built with
    other settings.
    """

    _conflicts: ClassVar[tuple[type[Exception], ...]] = (sqlite3.IntegrityError,)

    def __init__(self, directory: Path, connection: sqlite3.Connection,
                 settings: FingerprintSettings, visual: VisualSettings) -> None:
        super().__init__(settings, visual)
        self.directory = directory
        self._db = connection

    @property
    def location(self) -> str:
        return str(self.directory)

    @property
    def index_dir(self) -> Path:
        return self.directory

    # ----------------------------------------------------------------- opening
    @classmethod
    def _open_location(cls, location: str | Path, *, settings: FingerprintSettings,
                       visual: VisualSettings, create: bool) -> SQLiteLibrary:
        """Open (or create) the library in the folder ``location``.

        Raises
        ------
        LibraryError
            The directory is not a homage library, cannot be read or written, was written by a
            newer schema, or was built with other fingerprint settings.
        """
        directory = Path(location).expanduser()
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

    def _initialise(self) -> None:
        db = self._db
        path = self.directory / DATABASE_NAME
        try:
            app_id = db.execute("PRAGMA application_id").fetchone()[0]
            names = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
            raise LibraryError(f"not a readable homage library ({one_line(exc)})",
                               path=path) from exc
        if not all(isinstance(n, str) for n in names):  # a damaged schema table
            raise LibraryError("not a readable homage library (its schema table is damaged)",
                               path=path)
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
                f"library metadata is damaged ({one_line(exc)}); re-index into a new library "
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
        self._refuse_other_settings(stored, path=path)

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
                                   canonical(self.visual_settings.to_json()))
                version += 1
                self._set_meta("schema_version", str(version))
        return version

    # ------------------------------------------------------------- transactions
    def _write(self) -> _Transaction:
        return _Transaction(self._db, self.directory)

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """A read transaction: everything read inside sees one consistent state, even while
        another process indexes (SQLite WAL readers never block and are never blocked)."""
        self._db.execute("BEGIN")
        try:
            yield
        finally:
            self._db.execute("COMMIT")

    def _transact(self, body: Callable[[], T]) -> T:
        with self._write():
            return body()

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return self._db.execute(sql, params).fetchall()

    def _stream(self, sql: str, params: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
        # a plain loop, not ``yield from``: a stream left unfinished would otherwise close
        # its cursor when collected, which raises once the library itself is closed
        for row in self._db.execute(sql, params):  # noqa: UP028 (see above)
            yield row

    def _execute(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        return self._db.execute(sql, params).rowcount

    def _insert(self, sql: str, params: tuple[Any, ...]) -> int:
        return int(self._db.execute(sql, params).lastrowid or 0)

    def _database_bytes(self) -> int:
        return sum(
            p.stat().st_size for p in self.directory.glob(DATABASE_NAME + "*") if p.is_file()
        )

    def _engine_problems(self) -> list[str]:
        return [
            f"sqlite: {row[0]}" for row in self._db.execute("PRAGMA integrity_check")
            if row[0] != "ok"
        ]


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
        raise LibraryError(f"cannot open library database ({one_line(exc)})",
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
                       ("audio_settings", canonical(settings.to_json())),
                       ("visual_settings", canonical(visual.to_json())),
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
        raise LibraryError(f"cannot create the library ({one_line(exc)})",
                           path=db_path) from exc
    finally:
        for leftover in (scratch, Path(f"{scratch}-wal"), Path(f"{scratch}-shm")):
            leftover.unlink(missing_ok=True)

