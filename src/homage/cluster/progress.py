"""Progress across processes: workers buffer their events and send them in bursts; the
caller's process forwards them to its ``progress`` callback once per file.

Why buffer: a file reports an "advance" per decoded chunk, and each send to another process
costs far more than the callback does in one process; coalescing advances and sending at
most every ``FLUSH_SECONDS`` keeps the relay's cost negligible beside decoding.
Why de-duplicate: a batch retried after a lost worker reports its files again; the caller
should see each file finish once, as in a one-process run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from homage.pipeline import Progress, ProgressEvent

#: A worker sends its buffered events at most this often (seconds).
FLUSH_SECONDS = 0.5

_FINAL = ("done", "failed")


class EventBuffer:
    """A ``Progress`` callback for a worker: buffers events and hands them to ``send`` in
    lists, merging consecutive "advance" events of one file.

    Parameters
    ----------
    send:
        Takes a list of events (a remote call to the caller's inbox, say).
    every:
        Seconds between sends; :meth:`flush` sends whatever is left.
    clock:
        Monotonic seconds (a parameter so tests need not sleep).
    """

    def __init__(self, send: Callable[[list[ProgressEvent]], None], *,
                 every: float = FLUSH_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._send = send
        self._every = every
        self._clock = clock
        self._pending: list[ProgressEvent] = []
        self._last = clock()

    def __call__(self, event: ProgressEvent) -> None:
        last = self._pending[-1] if self._pending else None
        if (last is not None and event.stage == "advance" and last.stage == "advance"
                and last.path == event.path):
            self._pending[-1] = ProgressEvent("advance", event.path,
                                              seconds=last.seconds + event.seconds)
        else:
            self._pending.append(event)
        if self._clock() - self._last >= self._every:
            self.flush()

    def flush(self) -> None:
        """Send what is buffered (nothing when the buffer is empty)."""
        self._last = self._clock()
        if self._pending:
            events, self._pending = self._pending, []
            self._send(events)


class InboxSender:
    """Sends a worker's events to the run's inbox actor, found by name at the first send
    (a name, not a handle: Ray cannot promise to restart an actor whose constructor was
    handed another actor).  With no name, events go nowhere.

    Each send waits until the inbox holds the events: Ray orders the calls of one caller,
    not of two, so a batch's last events sent without waiting could reach the inbox after
    the caller, holding the batch's result, had emptied it for the last time (a file's
    "done" then went missing, one run in a few).
    """

    def __init__(self, name: str | None) -> None:
        self._name = name
        self._inbox: Any | None = None

    def __call__(self, events: list[ProgressEvent]) -> None:
        if self._name is None:
            return
        import ray

        if self._inbox is None:
            self._inbox = ray.get_actor(self._name)
        ray.get(self._inbox.put.remote(events))


class ProgressInbox:
    """Where workers leave their events and the caller picks them up (a Ray actor body:
    one per run, holding no CPU)."""

    def __init__(self) -> None:
        self._events: list[ProgressEvent] = []

    def put(self, events: list[ProgressEvent]) -> None:
        self._events.extend(events)

    def take(self) -> list[ProgressEvent]:
        events, self._events = self._events, []
        return events


class OncePerFile:
    """Forward events to ``progress``, dropping those of a file already finished (a retried
    batch's repeats), so each file is done, or failed, exactly once."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._finished: set[str] = set()

    def __call__(self, event: ProgressEvent) -> None:
        if event.path in self._finished:
            return
        if event.stage in _FINAL:
            self._finished.add(event.path)
        self._progress(event)

    def finished(self, path: str) -> bool:
        """Whether ``path`` has been reported done or failed."""
        return path in self._finished
