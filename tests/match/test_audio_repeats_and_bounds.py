"""Two decisions after alignment: where a sample's ends are put, and what becomes of equally
strong alignments of one query stretch at several reference times."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from homage.match.audio_align import AudioSegmentMatch, suppress_overlaps
from homage.match.audio_verify import _sample_bounds


def test_sample_ends_are_estimated_beyond_the_first_and_last_landing() -> None:
    """Landings spread over a 6 s sample: the first and last fall inside it, so the span
    between them is short; the estimate widens it by one mean gap each side and is unbiased
    over many draws."""
    rng = np.random.default_rng(7)
    starts, ends = [], []
    for _ in range(400):
        landed = np.sort(rng.uniform(10.0, 16.0, size=12))
        start, end = _sample_bounds(landed, within=(0.0, 100.0))
        assert start <= landed[0] and end >= landed[-1]
        starts.append(start)
        ends.append(end)
    assert np.mean(starts) == pytest.approx(10.0, abs=0.05)
    assert np.mean(ends) == pytest.approx(16.0, abs=0.05)


def test_sample_ends_stay_within_the_examined_stretch() -> None:
    assert _sample_bounds(np.array([1.0, 5.0]), within=(0.5, 6.0)) == (0.5, 6.0)


def segment(q: tuple[float, float], r: tuple[float, float], score: float) -> AudioSegmentMatch:
    return AudioSegmentMatch(work=1, query_start=q[0], query_end=q[1], reference_start=r[0],
                             reference_end=r[1], time_ratio=1.0, offset=q[0] - r[0],
                             pitch_semitones=0.0, inliers=20, false_alarms=1e-9, score=score)


def test_an_equally_strong_repeat_is_folded_into_the_best_match() -> None:
    best = segment((10, 18), (40, 48), 0.95)
    repeat = segment((10.2, 18), (70, 78), 0.94)
    third = segment((10, 17.5), (100, 107.5), 0.945)
    assert suppress_overlaps([best, repeat, third]) == [
        dataclasses.replace(best, also_at=((70, 78), (100, 107.5)))]


def test_a_weaker_alignment_elsewhere_is_dropped_and_a_query_loop_is_kept() -> None:
    best = segment((10, 18), (40, 48), 0.95)
    weaker = segment((10, 18), (70, 78), 0.80)
    same_place = segment((11, 18), (41, 48), 0.95)
    loop = segment((18, 26), (40, 48), 0.90)
    assert suppress_overlaps([best, weaker, same_place, loop]) == [best, loop]


def test_a_repeat_is_folded_only_when_it_is_elsewhere_from_every_match_it_overlaps() -> None:
    """Two matches of neighbouring query stretches at two reference places; an alignment
    spanning both that sits at the second one's place says nothing new and is dropped."""
    first = segment((10, 18), (40, 48), 0.95)
    second = segment((14, 22), (70, 78), 0.95)
    across = segment((12, 20), (72, 80), 0.95)
    assert suppress_overlaps([first, second, across]) == [first, second]
