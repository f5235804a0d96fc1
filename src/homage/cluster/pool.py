"""A run's worker actors: started together, fed one batch at a time, stopped together.

Indexing and scanning fan out the same way (``driver`` and ``scan``): long-lived workers,
one per CPU, each taking the next batch as it finishes one, their progress relayed through
one inbox actor, and every actor killed at the end of the run however it ends.  Only what a
worker does with a batch differs, so that is all the callers give.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from homage.cluster.progress import OncePerFile, ProgressInbox
from homage.config import Settings
from homage.errors import HomageError, LibraryError

#: Times a lost worker is restarted, and its batch retried, before the run fails.
MAX_RETRIES = 3
#: Seconds between two looks at the workers' progress.
POLL_SECONDS = 0.2


@dataclass
class WorkerPool:
    """Started workers (Ray actor handles) and the inbox their progress goes through.

    ``startup_seconds``: wall seconds until every worker was ready (process start, imports,
    library opened), paid once per run.
    """

    ray: Any
    workers: list[Any]
    inbox: Any
    startup_seconds: float

    def dispatch(self, batches: Sequence[Sequence[Path]], order: Sequence[int], *,
                 method: str, receive: Callable[[int, Any], None],
                 relay: OncePerFile) -> None:
        """Keep every worker busy with one batch at a time, taking batches in ``order``,
        until all are back.

        ``method`` names the worker method that takes a batch; ``receive(number, ref)`` is
        called with each batch's number and result reference as it comes back (it calls
        ``ray.get``, and may raise to stop the run).
        """
        ray = self.ray
        waiting = list(order)[::-1]
        running: dict[Any, tuple[int, Any]] = {}
        idle = list(self.workers)
        while waiting or running:
            while idle and waiting:
                number = waiting.pop()
                worker = idle.pop()
                ref = getattr(worker, method).remote(list(batches[number]))
                running[ref] = (number, worker)
            ready, _ = ray.wait(list(running), num_returns=1, timeout=POLL_SECONDS)
            self._relay(relay)
            for ref in ready:
                number, worker = running.pop(ref)
                receive(number, ref)
                idle.append(worker)
        self._relay(relay)

    def _relay(self, relay: OncePerFile) -> None:
        for event in self.ray.get(self.inbox.take.remote()):
            relay(event)


@contextmanager
def worker_pool(ray: Any, worker: type, settings: Settings, *, count: int,
                retries: int = MAX_RETRIES, extra: Sequence[Any] = ()) -> Iterator[WorkerPool]:
    """``count`` actors of class ``worker``, each built as ``worker(settings, inbox_name,
    *extra)`` and given a CPU, restarted up to ``retries`` times when lost; all killed on
    the way out.

    Raises
    ------
    HomageError, LibraryError
        See :func:`check_machines`.
    """
    inbox_name = f"homage-progress-{uuid.uuid4().hex}"
    inbox = ray.remote(num_cpus=0)(ProgressInbox).options(name=inbox_name).remote()
    actor = ray.remote(num_cpus=1, max_restarts=retries, max_task_retries=retries)(worker)
    started = time.perf_counter()
    workers = [actor.remote(settings, inbox_name, *extra) for _ in range(count)]
    try:
        check_machines(ray, workers, settings.library)
        yield WorkerPool(ray, workers, inbox, time.perf_counter() - started)
    finally:
        for handle in [*workers, inbox]:
            ray.kill(handle)


def batch_result(ray: Any, ref: Any, batch: Sequence[Path], *, doing: str,
                 then: str) -> Any:
    """A batch's result; a worker's bug or a worker lost past its retries is a one-line
    ``HomageError`` naming the batch's first file (``doing``: "indexing"; ``then``: what
    the user can do about it)."""
    from ray.exceptions import RayActorError, RayTaskError

    try:
        return ray.get(ref)
    except RayTaskError as exc:  # a bug, not a file's or the library's failure
        raise HomageError(f"a worker failed on this batch ({last_line(exc)})",
                          path=batch[0]) from exc
    except RayActorError as exc:
        raise HomageError(f"worker lost while {doing} this batch of {len(batch)} files, "
                          f"retries exhausted; {then}", path=batch[0]) from exc


def last_line(exc: BaseException) -> str:
    """The last line of a Ray error: the worker's exception, without its traceback."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__


def for_workers(location: Path | str) -> Path | str:
    """A library folder as an absolute path (a worker's working directory is not the
    caller's); a database URL as it is."""
    if isinstance(location, str) and "://" in location:
        return location
    return Path(location).expanduser().absolute()


def check_machines(ray: Any, actors: Sequence[Any], location: Path | str) -> None:
    """Wait until every actor (with an ``identity()`` method) has started, and refuse a
    library folder (SQLite) that actors on several machines would open: its locks hold
    within one machine only.

    Raises
    ------
    HomageError
        An actor could not start (homage missing on a node, killed at start).
    LibraryError
        The actors run on several machines and the library is a folder.
    """
    from ray.exceptions import RayError

    try:
        hosts = {host for host, _ in ray.get([a.identity.remote() for a in actors])}
    except RayError as exc:  # homage missing on a node, a worker killed at start ...
        raise HomageError(f"the workers could not start ({last_line(exc)})",
                          path=str(location)) from exc
    if isinstance(location, Path) and len(hosts) > 1:
        raise LibraryError(
            f"workers on {len(hosts)} machines ({', '.join(sorted(hosts))}) cannot "
            "share a library folder (SQLite); run them on the library's machine, or "
            "use a PostgreSQL library", path=location)
