"""Scans started from the web UI: run one after another on a worker thread, each reporting
its progress for the page to poll, its results kept for the result page."""

from __future__ import annotations

import contextlib
import itertools
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from homage.config import Settings
from homage.errors import HomageError
from homage.library import Library
from homage.pipeline import ProgressEvent, collect_media, scan_paths
from homage.report.evidence import MatchEvidence, gather_evidence
from homage.types import QueryResult

logger = logging.getLogger(__name__)

#: Share of a job's progress bar given to decoding the pictures of the report.
_EVIDENCE_SHARE = 0.15


@dataclass
class ScanJob:
    """One scan: ``state`` is "queued", "scanning", "evidence", "done" or "failed";
    ``fraction`` in [0, 1]."""

    id: int
    path: str
    state: str = "queued"
    fraction: float = 0.0
    message: str = "waiting"
    results: list[tuple[QueryResult, tuple[MatchEvidence, ...]]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed")

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id, "path": self.path, "state": self.state,
            "fraction": round(self.fraction, 4), "message": self.message,
            "matches": sum(len(r.matches) for r, _ in self.results),
            "failures": list(self.failures),
        }


class Jobs:
    """The scans of one web UI session, run one at a time on a worker thread.

    ``open_library`` opens the library in the worker thread (SQLite connections belong to the
    thread that opened them).
    """

    def __init__(self, settings: Settings, open_library: Callable[[], Library]) -> None:
        self._settings = settings
        self._open_library = open_library
        self._jobs: dict[int, ScanJob] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._queue: queue.Queue[ScanJob | None] = queue.Queue()
        # a daemon thread: stopping the server never waits for a scan to finish
        self._worker = threading.Thread(target=self._work, name="homage-scan", daemon=True)
        self._worker.start()

    def start(self, path: str) -> ScanJob:
        """Queue a scan of ``path`` (a file or a folder) and return its job at once."""
        with self._lock:
            job = ScanJob(next(self._ids), path)
            self._jobs[job.id] = job
        self._queue.put(job)
        return job

    def get(self, job_id: int) -> ScanJob | None:
        with self._lock:
            return self._jobs.get(job_id)

    def all(self) -> list[ScanJob]:
        with self._lock:
            return sorted(self._jobs.values(), key=lambda j: -j.id)

    def scanned_files(self) -> set[str]:
        """Paths of every query a finished scan read: the web UI may serve these."""
        with self._lock:
            return {r.query for job in self._jobs.values() for r, _ in job.results}

    def close(self) -> None:
        """Stop after the scan under way; queued scans are dropped."""
        with contextlib.suppress(queue.Empty):
            while True:
                self._queue.get_nowait()
        self._queue.put(None)

    def _work(self) -> None:
        while (job := self._queue.get()) is not None:
            self._run(job)

    def _run(self, job: ScanJob) -> None:
        try:
            self._scan(job)
        except HomageError as exc:
            job.state, job.message = "failed", str(exc)
        except Exception as exc:  # a bug must not kill the worker silently
            logger.exception("scan of %s failed", job.path)
            job.state, job.message = "failed", f"internal error: {exc!r}"

    def _scan(self, job: ScanJob) -> None:
        files, missing = collect_media([Path(job.path).expanduser()])
        files = [f.resolve() for f in files]
        job.failures = [str(e) for e in missing]
        if not files:
            job.state = "failed"
            job.message = "; ".join(job.failures) or "no media files to scan"
            return
        job.state, job.message = "scanning", f"scanning {len(files)} file(s)"
        tracker = _Tracker(job, len(files))
        with self._open_library() as library:
            results, failures = scan_paths(library, files, settings=self._settings,
                                           progress=tracker)
        job.failures += [str(e) for e in failures]
        job.state, job.message = "evidence", "decoding frames and spectrograms"
        total = max(1, sum(len(r.matches) for r in results))
        done = 0

        def advance(_: int, __: int) -> None:
            nonlocal done
            done += 1
            job.fraction = 1.0 - _EVIDENCE_SHARE + _EVIDENCE_SHARE * done / total

        job.results = [(r, gather_evidence(r, progress=advance)) for r in results]
        job.fraction = 1.0
        n = sum(len(r.matches) for r in results)
        job.message = f"{n} match{'es' if n != 1 else ''} in {len(results)} file(s)"
        job.state = "done" if results else "failed"
        if not results:
            job.message = "; ".join(job.failures) or "nothing could be scanned"


class _Tracker:
    """Turns pipeline progress events into the job's fraction and message."""

    def __init__(self, job: ScanJob, files: int) -> None:
        self.job = job
        self.files = files
        self.finished = 0
        self.total = 0.0
        self.seen = 0.0

    def __call__(self, event: ProgressEvent) -> None:
        if event.stage == "start":
            self.total, self.seen = max(event.seconds, 1e-6), 0.0
            self.job.message = f"scanning {Path(event.path).name}"
        elif event.stage == "advance":
            self.seen = min(self.total, self.seen + event.seconds)
        elif event.stage in ("done", "failed"):
            self.finished += 1
            self.seen = 0.0
        current = self.seen / self.total if self.total else 0.0
        share = (1.0 - _EVIDENCE_SHARE) / self.files
        self.job.fraction = min(1.0 - _EVIDENCE_SHARE, share * (self.finished + current))
