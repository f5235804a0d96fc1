"""The repeats of a loop share one reference range, one period long."""

from __future__ import annotations

import pytest

from homage.match.audio_align import AudioSegmentMatch
from homage.match.audio_loops import LoopSettings, harmonise_loops, unfound_repeats


def repeat(offset: float, r: tuple[float, float], *, ratio: float = 1.0, pitch: float = 0.0,
           work: int = 1, score: float = 0.9) -> AudioSegmentMatch:
    """An alignment on the line ``q = ratio * r + offset`` over reference range ``r``."""
    return AudioSegmentMatch(work=work, query_start=ratio * r[0] + offset,
                             query_end=ratio * r[1] + offset, reference_start=r[0],
                             reference_end=r[1], time_ratio=ratio, offset=offset,
                             pitch_semitones=pitch, inliers=20, false_alarms=1e-9, score=score)


LONG = {1: 600.0, 2: 600.0}
"""Reference durations: long enough to hold every range below."""


def ranges(matches: list[AudioSegmentMatch]) -> list[tuple[float, ...]]:
    return [tuple(round(x, 2) for x in (m.query_start, m.query_end, m.reference_start,
                                        m.reference_end)) for m in matches]


def test_repeats_that_run_on_into_the_next_are_cut_to_one_period() -> None:
    """Reference 5.4-16.8 played four times from query 30 (period 11.4 s), in a reference
    that goes on sounding alike: the first three repeats ran on past their end; the last,
    with nothing after it, did not."""
    found = [repeat(24.6, (5.4, 24.9)), repeat(36.0, (5.4, 26.6)), repeat(47.4, (5.4, 27.0)),
             repeat(58.8, (5.4, 16.8))]
    assert ranges(harmonise_loops(found, query_duration=90.0, reference_durations=LONG)) == [
        (30.0, 41.4, 5.4, 16.8), (41.4, 52.8, 5.4, 16.8), (52.8, 64.2, 5.4, 16.8),
        (64.2, 75.6, 5.4, 16.8)]


def test_a_repeat_under_loud_music_is_given_the_others_range() -> None:
    """Three repeats of reference 66.8-77.6 at 1.02x: the middle one landed peaks only in
    its second half; the others place the range and the step between them its length."""
    ratio = 1.02
    period = ratio * 10.8
    found = [repeat(1.1 - ratio * 66.8 + k * period, r, ratio=ratio)
             for k, r in enumerate([(66.6, 77.8), (70.1, 77.3), (66.9, 77.5)])]
    out = harmonise_loops(found, query_duration=60.0, reference_durations=LONG)
    for m in out:
        assert m.reference_start == pytest.approx(66.8, abs=0.25)
        assert m.reference_end == pytest.approx(77.6, abs=0.25)
    assert out[1].query_start == pytest.approx(out[0].query_end, abs=0.05)
    assert [m.score for m in out] == [m.score for m in found]


def test_a_repeat_in_the_reference_is_not_a_loop() -> None:
    """One query stretch aligned at two reference times 5 s apart (the reference repeats
    itself): the query starts do not move with the lines' offsets, so nothing changes."""
    found = [repeat(-30.0, (40.0, 52.0)), repeat(-35.0, (45.0, 57.0))]
    assert harmonise_loops(found, query_duration=60.0, reference_durations=LONG) == found


def test_reuses_far_apart_keep_their_own_ranges() -> None:
    """The same 6 s used at 10 s and again at 50 s: they do not tile, so how long the
    borrowed range is cannot be told from the step, and each keeps what it found."""
    found = [repeat(-20.0, (30.0, 36.0)), repeat(20.0, (30.5, 36.2))]
    assert harmonise_loops(found, query_duration=80.0, reference_durations=LONG) == found


@pytest.mark.parametrize("other", [
    {"pitch": 2.0}, {"ratio": 1.1}, {"work": 2},
])
def test_repeats_must_share_work_and_transform(other: dict[str, float]) -> None:
    first = repeat(-10.0, (10.0, 25.0))
    second = repeat(0.0, (10.0, 25.0), **other)  # type: ignore[arg-type]
    assert harmonise_loops([first, second], query_duration=60.0,
                           reference_durations=LONG) == [first, second]


def test_a_step_much_shorter_than_every_repeat_is_not_a_loop_period() -> None:
    """Two 10 s alignments 6 s apart (a bar of a reference built of repeats, lined up
    twice): a loop's repeats are about a period long, so 6 s is not the loop's period."""
    found = [repeat(-20.0, (30.0, 40.0)), repeat(-14.0, (30.0, 40.0))]
    assert harmonise_loops(found, query_duration=60.0, reference_durations=LONG) == found


def test_a_weak_alignment_takes_no_part() -> None:
    found = [repeat(24.6, (5.4, 24.9)), repeat(36.0, (5.4, 16.8), score=0.3)]
    assert harmonise_loops(found, query_duration=90.0, reference_durations=LONG) == found


def test_a_loop_range_stays_within_its_reference() -> None:
    """Repeats found short of a reference that ends at 20 s: the period asks for 11.4 s from
    10 s, the reference holds 10 of them."""
    found = [repeat(20.0, (10.0, 19.5)), repeat(31.4, (10.0, 19.8))]
    out = harmonise_loops(found, query_duration=90.0, reference_durations={1: 20.0})
    assert [m.reference_end for m in out] == [pytest.approx(20.0), pytest.approx(20.0)]


def test_the_repeats_a_loop_is_missing_are_proposed_for_verification() -> None:
    """Repeats of reference 10-20 found at query 20, 30 and 50: the gap at 40, and one period
    either side within a 70 s query (0-10 before, 60-70 after), are proposed; each proposal
    carries no hash evidence and counts the places tried as its chance expectation."""
    found = [repeat(10.0, (10.0, 20.0)), repeat(20.0, (10.0, 20.0)),
             repeat(40.0, (10.0, 20.0)), repeat(-5.0, (40.0, 45.0), work=2)]
    proposed = unfound_repeats(found, query_duration=70.0, reference_durations=LONG,
                               settings=LoopSettings(extra_repeats=1))
    assert [(m.work, round(m.query_start, 2), round(m.query_end, 2)) for m in proposed] == [
        (1, 10.0, 20.0), (1, 40.0, 50.0), (1, 60.0, 70.0)]
    for m in proposed:
        assert (m.reference_start, m.reference_end) == (10.0, 20.0)
        assert m.inliers == 0 and m.voters.size == 0 and m.false_alarms == 3.0


def test_no_repeat_is_proposed_where_an_alignment_already_lies() -> None:
    """Found at 20 and 30; a weak alignment of the same work holds 42-49, so of the repeats
    one period either side only the one at 10 is proposed."""
    found = [repeat(10.0, (10.0, 20.0)), repeat(20.0, (10.0, 20.0)),
             repeat(30.0, (12.0, 19.0), score=0.2)]
    proposed = unfound_repeats(found, query_duration=60.0, reference_durations=LONG,
                               settings=LoopSettings(extra_repeats=1))
    assert [round(m.query_start, 2) for m in proposed] == [10.0]
