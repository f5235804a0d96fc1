"""Decode ahead in a thread while the caller works on what was already decoded.

PyAV releases the GIL while FFmpeg decodes and converts, and ONNX Runtime while it infers, so
a decoder thread feeding a describing caller keeps two cores busy where one loop would
alternate between them.  A process granted one CPU (a one-CPU cluster worker) decodes in the
caller's thread instead: its second thread would only take the core of the worker beside it
(measured: a one-CPU worker used 1.18 cores, and two such workers on two cores gave ×1.55
one worker where their CPU seconds allowed ×1.9).
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

from homage.cpus import cpu_budget

T = TypeVar("T")

_DONE = object()


def prefetch(items: Iterator[T], *, depth: int = 2) -> Iterator[T]:
    """Yield ``items`` in order, produced by a background thread up to ``depth`` ahead.

    An exception raised while producing is re-raised here, at the item where it happened;
    when the caller stops early, the producer stops too (and its generator is closed).
    With a CPU budget of one (``homage.cpus.cpu_budget``) the items are produced inline.
    """
    if cpu_budget() < 2:
        yield from items
        return
    slots: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        slots.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            slots.put(_DONE)
        except BaseException as exc:  # handed to the consumer, raised there
            slots.put(exc)
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=produce, name="homage-decode", daemon=True)
    worker.start()
    try:
        while True:
            item = slots.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        while worker.is_alive():  # drain, so a producer blocked on a full queue sees ``stop``
            with contextlib.suppress(queue.Empty):
                slots.get(timeout=0.05)
        worker.join()
