"""Scanning on Ray: query files fan out to workers that each hold the library's indexes once
and match a batch of queries at a time; results come back in the order a one-process scan
gives them.

Why workers and not a task per query: what a query is matched against (the hash index, the
vector index, the reference shot windows, the descriptor's model) is slow to load and the
same for every query, so it is loaded once per worker.  With ``shards`` the frame vectors
are not loaded by the workers at all but searched in shard actors
(``homage.cluster.shards``), for libraries whose vector index outgrows one machine.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from homage.cluster.batches import file_sizes, largest_first, plan_batches
from homage.cluster.pool import batch_result, for_workers, worker_pool
from homage.cluster.progress import EventBuffer, InboxSender, OncePerFile
from homage.cluster.runtime import ray_session
from homage.cluster.shards import ShardedVectorIndex, vector_shards
from homage.config import Settings
from homage.errors import HomageError, LibraryError
from homage.library import Library
from homage.pipeline import Progress, ProgressEvent, Scanner
from homage.types import QueryResult


@dataclass(frozen=True)
class ScanBatch:
    """What a batch of queries came to: a result per query that could be matched, a
    failure per query that could not, or the library error that stopped the batch."""

    results: list[tuple[Path, QueryResult]] = field(default_factory=list)
    failures: list[tuple[Path, HomageError]] = field(default_factory=list)
    error: HomageError | None = None


class ScanWorker:
    """Matches batches of query files against the library named by ``settings.library``
    (a Ray actor body).

    Parameters
    ----------
    settings:
        The run's settings (``settings.library`` as the worker's machine sees it).
    inbox:
        The name of the run's ``ProgressInbox`` actor, or None for no progress.
    vectors:
        The sharded vector index to search, or None to load the library's own.
    """

    def __init__(self, settings: Settings, inbox: str | None = None,
                 vectors: ShardedVectorIndex | None = None) -> None:
        self._settings = settings
        self._send = InboxSender(inbox)
        self._vectors = vectors
        self._library: Library | None = None
        self._scanner: Scanner | None = None

    def identity(self) -> tuple[str, int]:
        """``(host name, process id)``: where this worker runs."""
        return socket.gethostname(), os.getpid()

    def scan_batch(self, paths: Sequence[Path]) -> ScanBatch:
        """Scan ``paths`` as a one-process scan would, one result or failure per file."""
        try:
            scanner = self._loaded()
        except LibraryError as exc:
            return ScanBatch(error=exc)
        buffer = EventBuffer(self._send)
        batch = ScanBatch()
        try:
            for path in paths:
                try:
                    batch.results.append((path, scanner.scan(path, progress=buffer)))
                except LibraryError as exc:
                    return ScanBatch(error=exc)
                except HomageError as exc:
                    batch.failures.append((path, exc))
                    buffer(ProgressEvent("failed", str(path), message=str(exc)))
        finally:
            buffer.flush()
        return batch

    def _loaded(self) -> Scanner:
        """The scanner, loaded at the first batch (so a library error reaches the caller
        as a batch's error, not as a worker that would not start)."""
        if self._scanner is None:
            settings = self._settings
            self._library = Library.open(settings.library, settings=settings.audio,
                                         visual=settings.visual, create=False)
            self._scanner = Scanner.load(self._library, settings=settings,
                                         vectors=self._vectors)
        return self._scanner


def scan_on_ray(
    library: Library, files: Sequence[Path], *, settings: Settings,
    workers: int | None = None, address: str | None = None, shards: int | None = None,
    progress: Progress | None = None,
) -> tuple[list[QueryResult], list[HomageError]]:
    """Scan ``files`` against ``library`` with Ray workers; returns what
    ``homage.pipeline.scan_paths`` returns for the same files, in the same order.

    Parameters
    ----------
    library:
        The library (open here only to check it before any worker starts).
    files:
        Query media files, as ``homage.pipeline.collect_media`` gives them.
    workers:
        Worker processes (default: one per CPU of the cluster); without ``address`` a
        local Ray of this many CPUs is started for the run.
    address:
        ``ray://HOST:PORT`` of a running cluster.
    shards:
        Serve frame-vector search from this many shard actors instead of a full index
        in each worker (see ``homage.cluster.shards``).

    Raises
    ------
    LibraryError
        The library failed in a worker (the run stops, as in one process).
    HomageError
        A batch's worker was lost past its retries, or the workers could not start.
    """
    if not files:
        return [], []
    library.works()  # an unreadable library is refused here, before Ray starts
    settings = replace(settings, library=for_workers(settings.library))
    given = {Path(p).absolute(): Path(p) for p in files}
    paths = list(given)
    told = progress or (lambda event: None)
    relay = OncePerFile(lambda event: told(_event_as_given(event, given)))
    visual = bool({"copy", "homage"} & set(settings.kinds))
    batches_back: dict[int, ScanBatch] = {}
    with ray_session(address=address, workers=workers) as ray:
        count = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        sizes = dict(zip(paths, file_sizes(paths), strict=True))
        batches = plan_batches(paths, list(sizes.values()), workers=count)
        with _vectors(ray, settings, shards if visual else None) as vectors, worker_pool(
            ray, ScanWorker, settings, count=min(count, len(batches)), extra=(vectors,),
        ) as pool:
            pool.dispatch(batches, largest_first(batches, sizes), method="scan_batch", relay=relay,
                          receive=lambda number, ref: batches_back.__setitem__(
                              number, _received(ray, ref, batches[number])))
    # results and failures name each query as the caller did (workers had absolute paths)
    found = {path: replace(result, query=str(given[path]))
             for batch in batches_back.values() for path, result in batch.results}
    failed = {path: _named(exc, path, given[path])
              for batch in batches_back.values() for path, exc in batch.failures}
    return [found[p] for p in paths if p in found], [failed[p] for p in paths if p in failed]


def _vectors(ray: Any, settings: Settings, shards: int | None) -> Any:
    """The shards' index for the workers, or a context that gives None (each worker then
    loads the library's own index)."""
    if shards is None:
                return nullcontext(None)
    return vector_shards(ray, settings, shards)


def _named(error: HomageError, absolute: Path, given: Path) -> HomageError:
    """``error`` naming ``given`` where it names the worker's ``absolute`` path."""
    if error.path == str(absolute):
        error.path = str(given)
    return error


def _event_as_given(event: ProgressEvent, given: dict[Path, Path]) -> ProgressEvent:
    """A worker's event about a query, naming it (and prefixing its message) as the caller
    did, so a parallel scan prints what a one-process scan prints."""
    original = given.get(Path(event.path))
    if original is None:
        return event
    message = event.message
    if message.startswith(f"{event.path}: "):
        message = f"{original}: {message[len(event.path) + 2:]}"
    return replace(event, path=str(original), message=message)


def _received(ray: Any, ref: Any, batch: Sequence[Path]) -> ScanBatch:
    result: ScanBatch = batch_result(ray, ref, batch, doing="scanning",
                                     then="re-run the scan")
    if result.error is not None:
        raise result.error
    return result
