"""The PostgreSQL backend: one library shared by many machines, writers and readers.

``Library.open("postgresql://user@host/database")`` opens it.  The catalogue, fingerprints,
frame descriptors, settings and schema version live in the database (the current schema of
the connection, normally ``public``), so every machine sees one library; writers are
PostgreSQL transactions, and the unique constraints on path and content hash decide which of
two writers of the same work wins.  The derived look-up indexes (``hash_files``,
``vector_files``) are files, built per machine in its cache
(``~/.cache/homage/libraries/<library id>``, or ``$HOMAGE_INDEX_CACHE``) for the database's
current generation: the matcher memory-maps them, which a database cannot offer, and any
machine can rebuild them from the database.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import random
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict
from psycopg.pq import TransactionStatus

from homage import __version__
from homage.audio import FingerprintSettings
from homage.config import default_cache_dir
from homage.errors import LibraryError
from homage.library.base import Library, T, canonical, one_line, redacted
from homage.library.postgres_schema import (
    APPLICATION,
    MIGRATION_LOCK,
    MIGRATIONS,
    TABLES,
    VERSIONS_TABLE,
)
from homage.library.schema import SCHEMA_VERSION
from homage.visual.prints import VisualSettings

logger = logging.getLogger(__name__)

#: Seconds to wait for the server to answer a connection.
CONNECT_TIMEOUT_S = 10
#: How long a writer waits for a row another process holds before giving up (as SQLite's
#: ``BUSY_TIMEOUT_S``).
LOCK_TIMEOUT_S = 120
#: Writes that lose a deadlock or serialization conflict are run again up to this often.
WRITE_ATTEMPTS = 5
#: Rows fetched per round trip when every work's blobs are read.
STREAM_ROWS = 64

#: Where the derived indexes of database libraries are built on this machine, if not in
#: ``default_cache_dir() / "libraries"`` (a fast local disk, a test's own folder).
INDEX_CACHE_ENV = "HOMAGE_INDEX_CACHE"

#: Errors that undo a transaction through no fault of its own: running it again succeeds.
_RETRYABLE = (pg_errors.SerializationFailure, pg_errors.DeadlockDetected)


class PostgresLibrary(Library):
    """A homage library in a PostgreSQL database.  Open it with ``Library.open(url)``.

    Parameters
    ----------
    url:
        The connection URL, kept to say where the library is (without its password).
    connection:
        An autocommit connection: every read outside :meth:`snapshot` sees the latest
        commit, and every write is an explicit transaction.
    library_id:
        The random name given to the library when it was created; names the folder of its
        derived indexes, so a database dropped and created again at the same URL never
        reuses another library's index files.
    """

    _place: ClassVar[str] = "database"
    _conflicts: ClassVar[tuple[type[Exception], ...]] = (psycopg.IntegrityError,)

    def __init__(self, url: str, connection: psycopg.Connection[Any],
                 settings: FingerprintSettings, visual: VisualSettings,
                 library_id: str) -> None:
        super().__init__(settings, visual)
        self._url = url
        self._conn = connection
        self.library_id = library_id

    @property
    def location(self) -> str:
        return redacted(self._url)

    @property
    def index_dir(self) -> Path:
        return index_cache_root() / self.library_id

    # ----------------------------------------------------------------- opening
    @classmethod
    def _open_location(cls, location: str | Path, *, settings: FingerprintSettings,
                       visual: VisualSettings, create: bool) -> PostgresLibrary:
        """Connect, create or migrate the library if need be, and check its settings.

        Raises
        ------
        LibraryError
            The server cannot be reached or refuses the credentials; the database holds no
            homage library (and ``create`` is false) or holds other tables; its schema is
            newer than this homage's; it was built with other settings.
        """
        url = str(location)
        where = redacted(url)
        connection = _connect(url, where)
        try:
            with _translated(where, url):
                _prepare(connection, settings, visual, create=create, where=where)
            meta = _read_meta(connection, where, url)
            library = cls(url, connection, settings, visual, meta["library_id"])
            library._refuse_other_settings(
                {key: json.loads(meta.get(key) or "{}")
                 for key in ("audio_settings", "visual_settings")}, path=where)
        except BaseException:
            connection.close()
            raise
        return library

    def close(self) -> None:
        self._conn.close()

    # ------------------------------------------------------ engine primitives
    def _errors(self) -> contextlib.AbstractContextManager[None]:
        return _translated(self.location, self._url)

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._errors(), self._conn.cursor(binary=True) as cursor:
            return cursor.execute(_pg(sql), params).fetchall()

    def _stream(self, sql: str, params: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
        """Rows through a server-side cursor, ``STREAM_ROWS`` at a time: the blobs of a large
        library need not fit in memory twice."""
        with self.snapshot(), self._errors(), self._conn.cursor(
                name=f"homage_stream_{uuid.uuid4().hex}", binary=True) as cursor:
            cursor.itersize = STREAM_ROWS
            cursor.execute(_pg(sql), params)
            yield from cursor

    def _execute(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        with self._errors():
            return self._conn.execute(_pg(sql), params).rowcount

    def _insert(self, sql: str, params: tuple[Any, ...]) -> int:
        with self._errors():
            row = self._conn.execute(_pg(sql) + " RETURNING id", params).fetchone()
        assert row is not None  # INSERT … RETURNING of one row returns one row
        return int(row[0])

    def _transact(self, body: Callable[[], T]) -> T:
        """One transaction (READ COMMITTED: the unique constraints and the generation row's
        lock are what keep concurrent writers apart); a deadlock or serialization failure,
        which rolls everything back, is retried a few times after a short random pause."""
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                with self._errors(), self._conn.transaction():
                    return body()
            except _RETRYABLE as exc:
                if attempt == WRITE_ATTEMPTS:
                    raise LibraryError(
                        f"a write kept conflicting with other writers ({one_line(exc)}); "
                        "try again", path=self.location) from exc
                logger.info("write conflicted with another writer (%s); trying again",
                            one_line(exc))
                time.sleep(random.uniform(0.0, 0.05 * attempt))
        raise AssertionError("unreachable")

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """A REPEATABLE READ, READ ONLY transaction: one consistent state of the library
        while other machines write (nested calls share the outer one)."""
        if self._conn.info.transaction_status != TransactionStatus.IDLE:
            yield
            return
        with self._errors(), self._conn.transaction():
            self._conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield

    def _database_bytes(self) -> int:
        ((size,),) = self._rows(
            "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relkind = 'r' AND c.relname = ANY(?)",
            (sorted(TABLES),))
        return int(size)

    def _engine_problems(self) -> list[str]:
        """Indexes left invalid (a failed concurrent build: look-ups and unique checks would
        not use them), and gaps in the applied migrations."""
        invalid = self._rows(
            "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND NOT i.indisvalid ORDER BY c.relname")
        problems = [f"postgresql: index {name} is invalid; REINDEX it" for (name,) in invalid]
        applied = [v for (v,) in self._rows("SELECT version FROM schema_migrations "
                                            "ORDER BY version")]
        if applied != list(range(1, SCHEMA_VERSION + 1)):
            problems.append(f"postgresql: applied schema migrations are {applied}, not "
                            f"1…{SCHEMA_VERSION}")
        return problems


def index_cache_root() -> Path:
    """``$HOMAGE_INDEX_CACHE``, else ``~/.cache/homage/libraries``: one folder per database
    library (by its ``library_id``) holding its derived indexes."""
    if os.environ.get(INDEX_CACHE_ENV):
        return Path(os.environ[INDEX_CACHE_ENV]).expanduser()
    return default_cache_dir() / "libraries"


# ----------------------------------------------------------------- connecting
def _connect(url: str, where: str) -> psycopg.Connection[Any]:
    """An autocommit connection, with a connection timeout and a lock timeout unless the URL
    sets its own."""
    with _translated(where, url, doing="cannot connect to the library database"):
        params: dict[str, Any] = conninfo_to_dict(url)
        params.setdefault("connect_timeout", CONNECT_TIMEOUT_S)
        params.setdefault("application_name", "homage")
        connection = psycopg.connect(autocommit=True, **params)
    try:
        with _translated(where, url):
            connection.execute(f"SET lock_timeout = '{LOCK_TIMEOUT_S}s'")
    except BaseException:
        connection.close()
        raise
    return connection


def _prepare(connection: psycopg.Connection[Any], settings: FingerprintSettings,
             visual: VisualSettings, *, create: bool, where: str) -> None:
    """Refuse a database that is not a homage library; create one in an empty database,
    bring an older one up to ``SCHEMA_VERSION``.

    Creating and migrating happen in one transaction under an advisory lock, after looking
    again: of several processes opening a new database at once, one creates the library and
    the others find it made.
    """
    version = _version(connection, where, create=create)
    if version == SCHEMA_VERSION:
        return
    with connection.transaction():
        connection.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        version = _version(connection, where, create=create)
        if version == 0:
            logger.info("creating a homage library in %s", where)
            connection.execute(VERSIONS_TABLE)
        if version < SCHEMA_VERSION:
            _migrate(connection, version, where)
        if version == 0:
            _stamp(connection, settings, visual)
        elif not connection.execute(
                "SELECT 1 FROM meta WHERE key = 'visual_settings'").fetchone():
            # a v1 library recorded no visual settings (it had no visual side): ours now
            connection.execute("INSERT INTO meta(key, value) VALUES ('visual_settings', %s)",
                               (canonical(visual.to_json()),))


def _version(connection: psycopg.Connection[Any], where: str, *, create: bool) -> int:
    """The library's schema version, 0 for an empty database.

    Raises
    ------
    LibraryError
        The database is empty and ``create`` is false, holds other tables than a homage
        library's, or holds a library of a newer schema.
    """
    tables = {name for (name,) in connection.execute(  # even those we may not read
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'f')")}
    if not tables:
        if not create:
            raise LibraryError("no homage library in this database (run `homage index` "
                               "first)", path=where)
        return 0
    ours = tables <= TABLES and {"meta", "schema_migrations"} <= tables and \
        connection.execute("SELECT 1 FROM meta WHERE key = 'application' AND value = %s",
                           (APPLICATION,)).fetchone() is not None
    if not ours:
        raise LibraryError("database holds other tables and no homage library; choose "
                           "another database (or schema)", path=where)
    row = connection.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
    version = int(row[0]) if row and row[0] is not None else 0
    if version > SCHEMA_VERSION:
        raise LibraryError(
            f"library schema v{version} is newer than the v{SCHEMA_VERSION} this homage "
            f"{__version__} reads; upgrade homage", path=where)
    if version < 1:
        raise LibraryError("library records no schema version; re-index into a new library "
                           "database", path=where)
    return version


def _migrate(connection: psycopg.Connection[Any], version: int, where: str) -> None:
    """Apply migrations ``version + 1`` … ``SCHEMA_VERSION`` inside the caller's transaction,
    recording each in ``schema_migrations``."""
    for step in range(version + 1, SCHEMA_VERSION + 1):
        if version:
            logger.info("migrating library schema of %s to v%d", where, step)
        for statement in MIGRATIONS[step]:
            connection.execute(statement)
        connection.execute(
            "INSERT INTO schema_migrations(version, homage_version) VALUES (%s, %s)",
            (step, __version__))


def _stamp(connection: psycopg.Connection[Any], settings: FingerprintSettings,
           visual: VisualSettings) -> None:
    """Record what makes this database a homage library, and the settings it is built with."""
    with connection.cursor() as cursor:
        cursor.executemany("INSERT INTO meta(key, value) VALUES (%s, %s)", [
            ("application", APPLICATION),
            ("library_id", uuid.uuid4().hex),
            ("audio_settings", canonical(settings.to_json())),
            ("visual_settings", canonical(visual.to_json())),
            ("generation", "0"),
            ("created_by", f"homage {__version__}"),
        ])


def _read_meta(connection: psycopg.Connection[Any], where: str, url: str) -> dict[str, str]:
    with _translated(where, url):
        meta = dict(connection.execute("SELECT key, value FROM meta").fetchall())
    try:
        int(meta.get("generation") or "")
        uuid.UUID(hex=meta.get("library_id") or "")
        for key in ("audio_settings", "visual_settings"):
            json.loads(meta.get(key) or "{}")
    except ValueError as exc:
        raise LibraryError(f"library metadata is damaged ({one_line(exc)}); re-index into a "
                           "new library database", path=where) from exc
    return meta


# ----------------------------------------------------------------- errors
@contextlib.contextmanager
def _translated(where: str, url: str, *,
                doing: str = "library database error") -> Iterator[None]:
    """Turn the driver's errors into one-line ``LibraryError``s naming the library (never its
    password).  Unique violations and retryable conflicts pass through: the callers that
    expect them decide what they mean."""
    try:
        yield
    except (*PostgresLibrary._conflicts, *_RETRYABLE):
        raise
    except pg_errors.LockNotAvailable as exc:
        raise LibraryError(
            f"another homage process kept the library locked for {LOCK_TIMEOUT_S} s; try "
            "again when it has finished", path=where) from exc
    except psycopg.Error as exc:
        raise LibraryError(f"{doing} ({_scrubbed(one_line(exc), url)})", path=where) from exc


def _scrubbed(text: str, url: str) -> str:
    """``text`` without the URL's password, should the driver ever quote it."""
    with contextlib.suppress(psycopg.Error):
        password = conninfo_to_dict(url).get("password")
        if password:
            text = text.replace(str(password), "***")
    return text


@functools.lru_cache(maxsize=256)
def _pg(sql: str) -> str:
    """Shared SQL (``?`` placeholders) in psycopg's dialect (``%s``, literal ``%`` doubled)."""
    return sql.replace("%", "%%").replace("?", "%s")

