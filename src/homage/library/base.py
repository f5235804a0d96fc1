"""The library interface: what indexing, scanning, the web UI and ``library check`` ask of a
store of reference works, whichever database holds it.

Two backends implement it: SQLite in a library folder (``homage.library.store``, the default)
and PostgreSQL for one library shared by many machines and writers
(``homage.library.postgres``).  What a work is, how its arrays are packed into blobs, what
makes a row damaged and how the generation moves are written here once, in SQL both engines
speak (``?`` placeholders); a backend brings its connection, its transactions, how it is
opened and created, and what only its engine can tell (its size on disk, its own checks).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np

from homage.audio import AudioPrint, Fingerprints, FingerprintSettings, Peaks
from homage.config import is_database_url
from homage.errors import LibraryError
from homage.types import MediaInfo
from homage.visual.looks import LOOK_DIM
from homage.visual.prints import LABELS_KEPT, VisualPrint, VisualSettings

T = TypeVar("T")

#: Backends by name, as ``module:class``; imported when first used, so that a SQLite user
#: never needs the PostgreSQL driver.
BACKENDS = {
    "sqlite": "homage.library.store:SQLiteLibrary",
    "postgresql": "homage.library.postgres:PostgresLibrary",
}


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


def backend_for(location: str | Path) -> str:
    """The name of the backend (a key of ``BACKENDS``) that holds the library at
    ``location``: a ``postgresql://`` or ``postgres://`` URL names a PostgreSQL database,
    anything else a SQLite library folder."""
    return "postgresql" if is_database_url(location) else "sqlite"


class Library(ABC):
    """A catalogue of reference works with their audio fingerprints and frame descriptors.

    Use :meth:`open`.  The catalogue is the source of truth and each write is one
    transaction; the look-up indexes built from it (``hash_files``, ``vector_files``) live in
    :attr:`index_dir`, one folder per :attr:`generation`.
    """

    #: What a library is called in messages ("re-index into a new library folder").
    _place: ClassVar[str] = "folder"
    #: The engine's exceptions for a broken unique constraint (the same work twice).
    _conflicts: ClassVar[tuple[type[Exception], ...]] = ()

    def __init__(self, settings: FingerprintSettings, visual: VisualSettings) -> None:
        self.settings = settings
        self.visual_settings = visual

    # ----------------------------------------------------------------- opening
    @classmethod
    def open(
        cls, location: str | Path, *, settings: FingerprintSettings | None = None,
        visual: VisualSettings | None = None, create: bool = True,
    ) -> Library:
        """Open (or create) the library at ``location``: a folder (SQLite) or a
        ``postgresql://user@host/database`` URL.

        Raises
        ------
        LibraryError
            There is no homage library there (and ``create`` is false), or something else
            is; it cannot be reached, read or written; it was written by a newer schema; or
            it was built with other fingerprint or frame settings.
        """
        backend = _backend_class(location) if cls is Library else cls
        return backend._open_location(location, settings=settings or FingerprintSettings(),
                                      visual=visual or VisualSettings(), create=create)

    @classmethod
    @abstractmethod
    def _open_location(cls, location: str | Path, *, settings: FingerprintSettings,
                       visual: VisualSettings, create: bool) -> Library:
        """This backend's :meth:`open`."""

    @abstractmethod
    def close(self) -> None:
        """Let go of the database connection."""

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    @abstractmethod
    def location(self) -> str:
        """The library as a user names it in messages: a folder, or a database URL without
        its password."""

    @property
    @abstractmethod
    def index_dir(self) -> Path:
        """The folder of the derived look-up indexes (rebuilt from the catalogue at will)."""

    def _refuse_other_settings(self, stored: dict[str, Any], *, path: str | Path) -> None:
        """Refuse a library whose recorded extraction settings differ from ours: its hashes
        and vectors would not be comparable with the ones we make."""
        for key, wanted, what in (
            ("audio_settings", self.settings.to_json(), "audio fingerprint"),
            ("visual_settings", self.visual_settings.to_json(), "visual descriptor"),
        ):
            if stored[key] != json.loads(canonical(wanted)):
                raise LibraryError(
                    f"library was built with other {what} settings; use the settings it was "
                    f"built with or re-index into a new library {self._place}",
                    path=path,
                )

    # ------------------------------------------------------ engine primitives
    @abstractmethod
    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """All rows of a query (``?`` placeholders)."""

    @abstractmethod
    def _stream(self, sql: str, params: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
        """The rows of a large query, a few at a time (blobs of every work)."""

    @abstractmethod
    def _execute(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        """Run a statement; returns the rows it changed."""

    @abstractmethod
    def _insert(self, sql: str, params: tuple[Any, ...]) -> int:
        """Run an ``INSERT`` into a table with an ``id`` key; returns the new row's id."""

    @abstractmethod
    def _transact(self, body: Callable[[], T]) -> T:
        """Run ``body`` in one write transaction: all of it is committed, or none."""

    @abstractmethod
    def snapshot(self) -> contextlib.AbstractContextManager[None]:
        """A read transaction: everything read inside sees one consistent state, even while
        other processes write."""

    @abstractmethod
    def _database_bytes(self) -> int:
        """What the catalogue occupies in its database."""

    @abstractmethod
    def _engine_problems(self) -> list[str]:
        """What the database engine itself finds wrong (empty: all good)."""

    # ------------------------------------------------------------------ meta
    def _meta(self, key: str) -> str | None:
        rows = self._rows("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def _set_meta(self, key: str, value: str) -> None:
        self._execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def _bump_generation(self) -> None:
        """One step on, inside the caller's write transaction: the update locks the row, so
        concurrent writers each get their own generation, in commit order."""
        self._execute(
            "UPDATE meta SET value = CAST(CAST(value AS BIGINT) + 1 AS TEXT) "
            "WHERE key = 'generation'"
        )

    @property
    def generation(self) -> int:
        """Increases with every change to the fingerprints; names the derived index files."""
        return int(self._meta("generation") or 0)

    # ------------------------------------------------------------------ reading
    def work_by_path(self, path: str) -> WorkRecord | None:
        return self._one("WHERE w.path = ?", (path,))

    def work_by_hash(self, content_hash: str) -> WorkRecord | None:
        return self._one("WHERE w.content_hash = ?", (content_hash,))

    def work_by_id(self, work_id: int) -> WorkRecord | None:
        return self._one("WHERE w.id = ?", (work_id,))

    def works(self) -> list[WorkRecord]:
        return list(self._select("ORDER BY w.path", ()))

    def durations(self) -> dict[int, float]:
        return {int(i): float(d) for i, d in self._rows("SELECT id, duration FROM works")}

    def paths(self) -> dict[int, str]:
        return {int(i): p for i, p in self._rows("SELECT id, path FROM works")}

    def stats(self) -> LibraryStats:
        ((works, duration),) = self._rows(
            "SELECT COUNT(*), COALESCE(SUM(duration), 0) FROM works")
        ((prints,),) = self._rows("SELECT COALESCE(SUM(count), 0) FROM audio_fingerprints")
        index_bytes = sum(
            p.stat().st_size for name in ("hashindex", "vectorindex")
            for p in (self.index_dir / name).rglob("*") if p.is_file()
        )
        return LibraryStats(int(works), float(duration), int(prints), self._database_bytes(),
                            index_bytes, self.frame_count())

    def iter_fingerprints(self) -> Iterator[tuple[int, Fingerprints]]:
        """Every work's fingerprints; call it inside :meth:`snapshot` for one consistent
        state."""
        rows = self._stream(
            "SELECT work_id, count, hashes, time, freq, span FROM audio_fingerprints "
            "ORDER BY work_id"
        )
        for work_id, count, *blobs in rows:
            try:
                hashes, t, f, s = (
                    self._floats(work_id, b, count, d)
                    for b, d in zip(blobs, ("<u4", "<f4", "<f4", "<f4"), strict=True))
            except LibraryError:
                # end the read now: the error's traceback keeps this frame, and the stream's
                # open statement with it (a read transaction that holds off checkpoints)
                rows.close()
                raise
            yield work_id, Fingerprints(hashes=hashes, time=t, freq=f, span=s)

    def _floats(self, work_id: int, blob: object, count: int, dtype: str) -> np.ndarray:
        """One stored array, refused (not half-read) when damage has changed its length."""
        if not isinstance(blob, bytes) or len(blob) != 4 * count:
            raise LibraryError(f"work {work_id}: stored fingerprints are damaged; run "
                               "`homage library check --repair`", path=self.location)
        return np.frombuffer(blob, dtype=dtype)

    def iter_visual(self, shard: tuple[int, int] | None = None,
                    ) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """Every work's frame times (n,) and vectors (n, dim) float32; call it inside
        :meth:`snapshot` for one consistent state.

        ``shard`` ``(number, count)`` keeps the works whose id is ``number`` modulo
        ``count``: one of ``count`` disjoint parts of the library, each work whole in one.
        """
        where, params = _shard_clause(shard)
        rows = self._stream(
            "SELECT work_id, count, dim, times, vectors FROM visual_features "
            f"{where}ORDER BY work_id", params
        )
        for work_id, count, dim, times, vectors in rows:
            self._check_visual(work_id, count, dim, times=times, vectors=vectors)
            yield work_id, np.frombuffer(times, dtype="<f4"), \
                np.frombuffer(vectors, dtype="<f2").reshape(count, dim).astype(np.float32)

    def frame_count(self, shard: tuple[int, int] | None = None) -> int:
        """Frames stored, over the library or one shard of it (see :meth:`iter_visual`)."""
        where, params = _shard_clause(shard)
        ((frames,),) = self._rows(
            f"SELECT COALESCE(SUM(count), 0) FROM visual_features {where}", params)
        return int(frames)

    def visual(self, work_id: int) -> VisualPrint | None:
        """One work's visual description, None for a work with no video."""
        rows = self._rows(
            "SELECT count, dim, times, vectors, boxes, cuts, pdq, looks, labels "
            "FROM visual_features WHERE work_id = ?", (work_id,)
        )
        if not rows:
            return None
        count, dim, times, vectors, boxes, cuts, pdq, looks, labels = rows[0]
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
                "`homage library check --repair`", path=self.location)

    def peaks(self, work_id: int) -> Peaks:
        """The spectral peaks of one work (for verifying a candidate match)."""
        rows = self._rows(
            "SELECT peak_count, peak_time, peak_freq FROM audio_fingerprints WHERE work_id = ?",
            (work_id,),
        )
        if not rows:
            raise LibraryError(f"work {work_id} has no peaks; run `homage library check`",
                               path=self.location)
        count, peak_time, peak_freq = rows[0]
        time_ = self._floats(work_id, peak_time, count, "<f4")
        return Peaks(time_, self._floats(work_id, peak_freq, count, "<f4"),
                     np.zeros_like(time_))

    def _one(self, where: str, params: tuple[object, ...]) -> WorkRecord | None:
        return next(iter(self._select(where, params)), None)

    def _select(self, tail: str, params: tuple[object, ...]) -> Iterator[WorkRecord]:
        sql = (
            "SELECT w.id, w.path, w.content_hash, w.size, w.mtime, w.duration, w.container, "
            "w.audio_codec, w.video_codec, COALESCE(f.count, 0), COALESCE(v.count, 0) "
            "FROM works w LEFT JOIN audio_fingerprints f ON f.work_id = w.id "
            "LEFT JOIN visual_features v ON v.work_id = w.id " + tail
        )
        for row in self._rows(sql, params):
            yield WorkRecord(*row)

    # ------------------------------------------------------------------ writing
    def add_work(
        self, *, path: str, content_hash: str, size: int, mtime: float, info: MediaInfo,
        duration: float, audio: AudioPrint | None, visual: VisualPrint | None = None,
    ) -> int:
        """Catalogue a work with its audio fingerprints and/or frame vectors in one
        transaction; returns its id.

        Raises
        ------
        AlreadyCatalogued
            Its path or content was catalogued meanwhile by another process (the unique
            constraints decide, so two writers never both succeed).
        """
        if audio is None and visual is None:
            raise ValueError("a work needs audio fingerprints or frame vectors")

        def write() -> int:
            work_id = self._insert(
                "INSERT INTO works(path, content_hash, size, mtime, duration, container, "
                "audio_codec, video_codec, sample_rate, channels, indexed_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (path, content_hash, size, mtime, duration, info.container, info.audio_codec,
                 info.video_codec, info.sample_rate, info.channels,
                 time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())),
            )
            if audio is not None:
                self._insert_audio(work_id, audio)
            if visual is not None:
                self._insert_visual(work_id, visual)
            self._bump_generation()
            return work_id

        return self._catalogue(write, path=path)

    def _catalogue(self, body: Callable[[], T], *, path: str) -> T:
        """``_transact`` for a write that puts a work at ``path``: a unique constraint broken
        by another process's commit means that process catalogued it first."""
        try:
            return self._transact(body)
        except self._conflicts as exc:
            raise AlreadyCatalogued("catalogued meanwhile by another homage process",
                                    path=path) from exc

    def _insert_audio(self, work_id: int, audio: AudioPrint) -> None:
        prints, peaks = audio.fingerprints, audio.peaks
        self._execute(
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
        self._execute(
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
        def write() -> None:
            if replacing is not None:
                self._delete(replacing)
            self._execute("UPDATE works SET path = ?, size = ?, mtime = ? WHERE id = ?",
                          (path, size, mtime, work_id))

        self._catalogue(write, path=path)

    def touch_work(self, work_id: int, *, mtime: float) -> None:
        """Remember a new modification time for unchanged content, to skip hashing next time."""
        self._transact(lambda: self._execute("UPDATE works SET mtime = ? WHERE id = ?",
                                             (mtime, work_id)))

    def remove_work(self, work_id: int) -> None:
        self._transact(lambda: self._delete(work_id))

    def _delete(self, work_id: int) -> None:
        self._execute("DELETE FROM audio_fingerprints WHERE work_id = ?", (work_id,))
        self._execute("DELETE FROM visual_features WHERE work_id = ?", (work_id,))
        self._execute("DELETE FROM works WHERE id = ?", (work_id,))
        self._bump_generation()

    # ------------------------------------------------------------------ checking
    def integrity_problems(self) -> list[str]:
        """What the engine and the catalogue's own invariants say is wrong (empty: all
        good)."""
        problems = self._engine_problems()
        for table, what in (("audio_fingerprints", "fingerprint"), ("visual_features", "frame")):
            ((orphans,),) = self._rows(
                f"SELECT COUNT(*) FROM {table} WHERE work_id NOT IN (SELECT id FROM works)")
            if orphans:
                problems.append(f"{orphans} {what} sets belong to no work")
        missing = self._rows(f"SELECT path FROM works WHERE {_NO_FEATURES} ORDER BY path")
        problems.extend(f"{p}: catalogued without fingerprints or frames" for (p,) in missing)
        bad = self._rows(
            f"SELECT work_id FROM audio_fingerprints WHERE {_BAD_AUDIO} "
            f"UNION SELECT work_id FROM visual_features WHERE {_BAD_VISUAL}"
        )
        problems.extend(f"work {w}: stored arrays disagree with their count" for (w,) in bad)
        return problems

    def repair(self) -> int:
        """Drop what cannot be trusted (orphans, inconsistent arrays, works left with nothing
        to match); returns rows fixed."""
        def write() -> int:
            fixed = 0
            for table, bad in (("audio_fingerprints", _BAD_AUDIO),
                               ("visual_features", _BAD_VISUAL)):
                fixed += self._execute(
                    f"DELETE FROM {table} WHERE work_id NOT IN (SELECT id FROM works) OR {bad}")
            fixed += self._execute(f"DELETE FROM works WHERE {_NO_FEATURES}")
            if fixed:
                self._bump_generation()
            return fixed

        return self._transact(write)


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


def _backend_class(location: str | Path) -> type[Library]:
    name = backend_for(location)
    module_name, _, class_name = BACKENDS[name].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name == module_name:
            raise
        raise LibraryError(
            f"a {name} library needs the {exc.name} package: pip install 'homage[postgres]'",
            path=redacted(location)) from exc
    backend: type[Library] = getattr(module, class_name)
    return backend


def redacted(location: str | Path) -> str:
    """``location`` safe to print: a database URL loses its password (in the address or in
    a ``password=`` parameter); a folder is itself."""
    if not is_database_url(location):
        return str(location)
    parts = urlsplit(str(location))
    netloc = parts.netloc
    if "@" in netloc:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.partition(':')[0]}@{host}"
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                       if k.lower() != "password"])
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def one_line(exc: BaseException) -> str:
    """An exception's first line, for one-line errors (the engines' messages can run on)."""
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0] if text.strip() else type(exc).__name__


def canonical(settings: dict[str, object]) -> str:
    """Settings as the text stored with a library (sorted keys, so equal settings compare
    equal as text too)."""
    return json.dumps(settings, sort_keys=True)


def _shard_clause(shard: tuple[int, int] | None) -> tuple[str, tuple[int, ...]]:
    """``WHERE`` clause and parameters keeping shard ``(number, count)``'s works."""
    if shard is None:
        return "", ()
    return "WHERE work_id % ? = ? ", (shard[1], shard[0])
