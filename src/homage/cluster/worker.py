"""The worker: one long-lived process per CPU that indexes batches of files into the shared
library (the body of a Ray actor).

Why an actor and not a task per file: the process outlives its batches, so what is slow to
set up is set up once per worker, not once per file: the library connection, and the frame
descriptor's model (``homage.copies.descriptor_for`` builds it once per process, at the
worker's first video).  Why the worker writes: features are large (fingerprints and frame
vectors, megabytes per hour of media) and the library takes concurrent writers, so sending
them back through the caller would only add a copy and a bottleneck.  Each work is committed
in its own transaction as soon as it is extracted, so a batch retried after a lost worker
finds the works already written "unchanged" and never writes one twice.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from homage.cluster.progress import EventBuffer, InboxSender
from homage.config import Settings
from homage.errors import HomageError, LibraryError
from homage.library import Library
from homage.pipeline import IndexReport, index_paths

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchResult:
    """What a batch came to: the files' report, or the library error that stopped it (a
    value, not an exception, so the caller decides when to stop and Ray never reports an
    error nobody asked for)."""

    report: IndexReport | None
    error: HomageError | None = None
    #: CPU seconds the worker process spent on the batch (all its threads), and its id
    cpu_seconds: float = 0.0
    worker_pid: int = 0


class IndexWorker:
    """Indexes batches of files into the library named by ``settings.library``.

    Parameters
    ----------
    settings:
        The run's settings; ``settings.library`` is a database URL, or an absolute path
        that this worker's machine sees (the caller makes it absolute).
    inbox:
        The name of the run's ``ProgressInbox`` actor, or None for no progress.  A name, not
        a handle: Ray cannot promise to restart an actor whose constructor was handed
        another actor, and restarting a lost worker is the point.
    """

    def __init__(self, settings: Settings, inbox: str | None = None) -> None:
        self._settings = settings
        self._send = InboxSender(inbox)
        self._library: Library | None = None
        self._error: HomageError | None = None
        try:
            self._library = Library.open(settings.library, settings=settings.audio,
                                         visual=settings.visual, create=False)
        except HomageError as exc:  # returned by index_batch, where the caller sees it
            self._error = exc

    def identity(self) -> tuple[str, int]:
        """``(host name, process id)``: where this worker writes from."""
        return socket.gethostname(), os.getpid()

    def index_batch(self, paths: Sequence[Path]) -> BatchResult:
        """Index ``paths`` exactly as a one-process run would (``homage.pipeline.index_paths``,
        which commits each work on its own) and report what happened to each file."""
        if self._error is not None:
            return BatchResult(None, self._error)
        assert self._library is not None
        buffer = EventBuffer(self._send)
        start = time.process_time()
        try:
            report = index_paths(self._library, list(paths), settings=self._settings,
                                 progress=buffer)
        except LibraryError as exc:
            return BatchResult(None, exc)
        finally:
            buffer.flush()
        return BatchResult(report, cpu_seconds=time.process_time() - start,
                           worker_pid=os.getpid())

    def close(self) -> None:
        """Close the library connection (for SQLite, folding its write-ahead log back)."""
        if self._library is not None:
            self._library.close()
            self._library = None
            self._error = LibraryError("worker closed", path=str(self._settings.library))
