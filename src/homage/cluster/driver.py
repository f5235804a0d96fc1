"""The caller's side of a parallel index run: start workers, hand out batches, relay
progress, merge the workers' reports into one ``IndexReport``.

The result is the library a one-process ``index_paths`` run would leave (same works, same
fingerprint and frame bytes): every file goes through the same ``index_paths`` code, only in
another process.  What can differ is which of two files with identical content is catalogued
and which is reported as its duplicate (the first to finish wins, as between two concurrent
``homage index`` runs).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from homage.cluster.batches import file_sizes, largest_first, plan_batches
from homage.cluster.pool import MAX_RETRIES, batch_result, for_workers, worker_pool
from homage.cluster.progress import OncePerFile
from homage.cluster.runtime import ray_session
from homage.cluster.worker import BatchResult, IndexWorker
from homage.config import Settings
from homage.library import Library
from homage.pipeline import IndexReport, Progress

logger = logging.getLogger(__name__)


@dataclass
class ClusterReport(IndexReport):
    """An ``IndexReport`` with what the workers cost: CPU seconds in the worker processes
    (all, and the busiest worker's: with a core each, the run's length), wall seconds until
    every worker was ready (process start, imports, library opened), and how many ran."""

    worker_cpu_seconds: float = 0.0
    busiest_worker_cpu_seconds: float = 0.0
    startup_seconds: float = 0.0
    workers: int = 0


@dataclass
class _Run:
    """The batches of one run and the results that came back (by batch number)."""

    batches: list[list[Path]]
    results: dict[int, BatchResult] = field(default_factory=dict)


def index_on_ray(
    library: Library, files: Sequence[Path], *, settings: Settings,
    workers: int | None = None, address: str | None = None,
    progress: Progress | None = None, retries: int = MAX_RETRIES,
    worker: type[IndexWorker] = IndexWorker,
) -> ClusterReport:
    """Index ``files`` into ``library`` with Ray workers; returns the one-process report
    (with the workers' costs).

    Parameters
    ----------
    library:
        The library the workers write to (each opens its own connection to it); it must
        exist, and a library folder (SQLite) must be on the machine the workers run on.
    files:
        Media files, as ``homage.pipeline.collect_media`` gives them.
    workers:
        Worker processes (default: one per CPU of the cluster).  Without ``address`` a
        local Ray of this many CPUs is started for the run.
    address:
        ``ray://HOST:PORT`` of a running cluster; the files and the library must be at the
        same paths on its machines, and homage installed there.
    retries:
        A worker lost mid-batch (killed, out of memory, its machine gone) is restarted and
        its batch run again up to this many times; works it had committed are then found
        unchanged, so nothing is written twice.
    worker:
        The worker class (``IndexWorker`` or one that extends it, to observe or instrument
        the workers).

    Raises
    ------
    LibraryError
        The library failed (the run stops, as in one process), or the workers' writes
        would come from more than one machine.
    HomageError
        A batch failed ``retries + 1`` times.
    """
    if not files:
        return ClusterReport()
    relay = OncePerFile(progress or (lambda event: None))
    before = _catalogue(library)
    settings = replace(settings, library=for_workers(settings.library))
    paths = [Path(p).absolute() for p in files]
    with ray_session(address=address, workers=workers) as ray:
        count = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        sizes = dict(zip(paths, file_sizes(paths), strict=True))
        run = _Run(plan_batches(paths, list(sizes.values()), workers=count))
        order = largest_first(run.batches, sizes)
        with worker_pool(ray, worker, settings, count=min(count, len(run.batches)),
                         retries=retries) as pool:
            pool.dispatch(run.batches, order, method="index_batch", relay=relay,
                          receive=lambda number, ref: run.results.__setitem__(
                              number, _result(ray, ref, run.batches[number])))
            ray.get([w.close.remote() for w in pool.workers])
    report = _reconcile(library, _merge(run), before)
    report.startup_seconds, report.workers = pool.startup_seconds, len(pool.workers)
    return report


def _result(ray: Any, ref: Any, batch: list[Path]) -> BatchResult:
    """A batch's result; the library error that stopped it is raised as itself."""
    result: BatchResult = batch_result(ray, ref, batch, doing="indexing",
                                       then="re-run to resume")
    if result.error is not None:
        raise result.error
    return result


def _merge(run: _Run) -> ClusterReport:
    """The batches' reports joined in plan order (the one-process order)."""
    merged = ClusterReport()
    busy: dict[int, float] = {}
    for number in range(len(run.batches)):
        result = run.results[number]
        part = result.report
        assert part is not None
        merged.added += part.added
        merged.unchanged += part.unchanged
        merged.moved += part.moved
        merged.duplicates += part.duplicates
        merged.failed += part.failed
        merged.seconds += part.seconds
        merged.worker_cpu_seconds += result.cpu_seconds
        busy[result.worker_pid] = busy.get(result.worker_pid, 0.0) + result.cpu_seconds
    merged.busiest_worker_cpu_seconds = max(busy.values(), default=0.0)
    return merged


def _catalogue(library: Library) -> dict[str, str]:
    """``path → content hash`` of every catalogued work."""
    return {work.path: work.content_hash for work in library.works()}


def _reconcile(library: Library, report: ClusterReport,
               before: dict[str, str]) -> ClusterReport:
    """Correct what a retried batch reports: a work committed by the lost attempt comes back
    "unchanged", but it is new (or moved) in this run; the catalogue from before the run
    tells which."""
    if not report.unchanged:
        return report
    where = {digest: path for path, digest in before.items()}
    after = {work.path: work for work in library.works()}
    unchanged = []
    for name in report.unchanged:
        work = after.get(name)
        if work is None or before.get(name) == work.content_hash:
            unchanged.append(name)
        elif work.content_hash in where:
            report.moved.append((where[work.content_hash], name))
        else:
            report.added.append(name)
            report.seconds += work.duration
    if len(unchanged) != len(report.unchanged):
        logger.info("%d works were committed by a lost worker before its batch was retried",
                    len(report.unchanged) - len(unchanged))
    report.unchanged = unchanged
    return report
