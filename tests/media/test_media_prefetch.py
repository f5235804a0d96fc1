"""Decoding ahead in a thread: same items, same order, errors where they happened."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from homage.errors import DecodeError
from homage.media.prefetch import prefetch


@pytest.fixture(autouse=True, params=["1", "2"], ids=["one-cpu", "two-cpus"])
def cpus(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """Every behaviour holds inline (one CPU) and threaded (two)."""
    monkeypatch.setattr("homage.media.prefetch.cpu_budget", lambda: int(request.param))
    return int(request.param)


def test_items_arrive_in_order() -> None:
    assert list(prefetch(iter(range(100)), depth=3)) == list(range(100))


def test_an_error_is_raised_at_the_item_where_it_happened() -> None:
    def items() -> Iterator[int]:
        yield 1
        yield 2
        raise DecodeError("corrupt video stream", path="x.mp4")

    seen = []
    with pytest.raises(DecodeError, match=r"x\.mp4: corrupt video stream"):
        for item in prefetch(items()):
            seen.append(item)
    assert seen == [1, 2]


def test_stopping_early_stops_and_closes_the_producer() -> None:
    closed = threading.Event()

    def endless() -> Iterator[int]:
        try:
            n = 0
            while True:
                yield n
                n += 1
        finally:
            closed.set()

    for item in prefetch(endless(), depth=2):
        if item == 5:
            break
    assert closed.wait(5.0)
    assert not any(t.name == "homage-decode" and t.is_alive() for t in threading.enumerate())


def test_a_decoder_thread_only_where_there_is_a_second_cpu(cpus: int) -> None:
    def names() -> Iterator[str]:
        while True:
            yield threading.current_thread().name

    producer = next(prefetch(names()))
    assert producer == ("homage-decode" if cpus > 1 else threading.current_thread().name)
