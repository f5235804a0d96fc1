"""The CPU budget follows what a scheduler asks for, within what the process may use."""

from __future__ import annotations

import os

import pytest

from homage.cpus import cpu_budget, describing_threads, inference_threads

ALLOWED = len(os.sched_getaffinity(0))


@pytest.mark.parametrize(("value", "expected"), [
    ("1", 1),
    ("0", ALLOWED),         # not a budget: the default
    ("-3", ALLOWED),
    ("two", ALLOWED),       # not a number: the default
    ("", ALLOWED),
    ("100000", ALLOWED),    # never more than the process may run on
])
def test_budget_follows_omp_num_threads(monkeypatch: pytest.MonkeyPatch, value: str,
                                        expected: int) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", value)
    assert cpu_budget() == expected


def test_budget_without_omp_num_threads_is_the_affinity(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert cpu_budget() == ALLOWED


def test_a_one_cpu_worker_runs_inference_on_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # what Ray sets in a num_cpus=1 actor
    assert inference_threads() == 1
    from homage.visual import EfficientNetLite0

    assert EfficientNetLite0().threads == 1


def test_inference_threads_are_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert inference_threads(most=1) == 1
    assert inference_threads() == min(2, ALLOWED)


@pytest.mark.parametrize(("budget", "reference", "query"), [
    # (inference, decoder) threads: a reference leaves the decoder a core, a query does not
    ("1", (1, 1), (1, 1)),
    ("2", (1, 1), (2, 1)),
    ("8", (2, 6), (2, 6)),
])
def test_describing_splits_the_budget_between_model_and_decoder(
        monkeypatch: pytest.MonkeyPatch, budget: str, reference: tuple[int, int],
        query: tuple[int, int]) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(8)))
    monkeypatch.setenv("OMP_NUM_THREADS", budget)
    assert describing_threads(query=False) == reference
    assert describing_threads(query=True) == query
