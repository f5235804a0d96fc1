"""The CPU budget follows what a scheduler asks for, within what the process may use."""

from __future__ import annotations

import os

import pytest

from homage.cpus import cpu_budget, inference_threads

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
