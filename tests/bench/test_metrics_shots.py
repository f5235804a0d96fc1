"""``shot_ranking``: per-shot retrieval of the right source, worked by hand."""

from __future__ import annotations

import pytest

from homage.bench.metrics import SegmentPair, shot_ranking


def pair(ref: str, q0: float, q1: float, r0: float, r1: float, score: float = 1.0,
         query: str = "q") -> SegmentPair:
    return SegmentPair(query, ref, q0, q1, r0, r1, score)


def test_the_first_suggestion_decides_hit_at_one_and_its_rank_the_ap() -> None:
    truth = [pair("a", 0, 4, 10, 14), pair("b", 10, 12, 0, 2)]
    predictions = [
        pair("a", 0, 4, 11, 15, 0.9),      # right, ranked first for shot 1
        pair("c", 0, 4, 11, 15, 0.5),
        pair("c", 10, 12, 0, 2, 0.8),      # wrong reference, ranked first for shot 2
        pair("b", 10.5, 12, 1, 2.5, 0.7),  # right, second
        pair("b", 10, 12, 30, 32, 0.9, query="other"),  # another query: ignored
    ]
    m_ap, hr1 = shot_ranking(truth, predictions)
    assert hr1 == pytest.approx(0.5)
    assert m_ap == pytest.approx((1.0 + 0.5) / 2)


def test_predictions_covering_too_little_of_a_shot_or_the_wrong_moment_do_not_count() -> None:
    truth = [pair("a", 0, 4, 10, 14)]
    assert shot_ranking(truth, [pair("a", 3, 4, 10, 11, 0.9)]) == (0.0, 0.0)  # 25 % covered
    assert shot_ranking(truth, [pair("a", 0, 4, 20, 24, 0.9)]) == (0.0, 0.0)  # elsewhere
    assert shot_ranking([], [pair("a", 0, 4, 10, 14)]) == (0.0, 0.0)


def test_a_tie_at_the_top_counts_as_the_expected_hit() -> None:
    truth = [pair("a", 0, 4, 10, 14)]
    predictions = [pair("a", 0, 4, 10, 14, 0.8), pair("b", 0, 4, 10, 14, 0.8)]
    assert shot_ranking(truth, predictions) == (pytest.approx(0.5), pytest.approx(0.5))
