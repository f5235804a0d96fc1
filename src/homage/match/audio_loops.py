"""Loops: one reference range repeated back to back in the query, found as one chain.

Each repeat of a loop is verified on its own, and each gets its ends wrong in its own way:
a repeat under loud host music lands few peaks and comes out short, and a reference that is
itself built of repeats (most loop-based music) lets a repeat's stretch run on into the next
repeat, where the query plays the loop's start again and the reference its continuation,
which sounds the same.  A run-on repeat then also hides the next one, which overlaps it.

Together the repeats say more than each alone.  They play the same reference range, so they
share its ends; and played back to back, one starts where the one before ends, so the range
is exactly one period long, the step in query time between consecutive repeats.  This module
finds such chains among the verified alignments of one query, proposes the repeats a chain is
missing for peak verification to test, and gives every repeat the range that agrees best with
all of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from homage.match.audio_align import AudioSegmentMatch


@dataclass(frozen=True)
class LoopSettings:
    """When alignments are repeats of one loop, and when those repeats tile."""

    #: the same transform: time ratios within this (natural log) and pitch within this
    max_log_ratio_difference: float = 0.015
    max_pitch_difference: float = 0.3
    #: offsets closer than this are one repeat found twice, not two repeats
    min_period_s: float = 1.0
    #: least intersection over union of two repeats' reference ranges
    min_reference_iou: float = 0.4
    #: two repeats overlap in the query by at most this share of the shorter one
    max_query_overlap: float = 0.5
    #: a repeat takes part only when it is credible on its own: the default threshold's
    #: value, held here so that a user's lower reporting threshold does not let chance
    #: alignments set a loop's period
    min_score: float = 0.5
    #: the least period, as a share of the shortest member
    min_period_share: float = 0.8
    #: repeats tile (back to back) when the reference they cover together is at least this
    #: share of one period; farther apart, they are reuses whose lengths are not known
    min_tiling: float = 0.85
    #: repeats proposed beyond each end of a loop's chain, for verification to test
    extra_repeats: int = 3


@dataclass(frozen=True)
class Loop:
    """A chain of repeats of one reference range: ``members`` index the matches it was found
    in; ``period`` is the step between repeats in query seconds; ``reference`` the range."""

    work: int
    members: tuple[int, ...]
    period: float
    reference: tuple[float, float]


def find_loops(matches: Sequence[AudioSegmentMatch], *, reference_durations: Mapping[int, float],
               settings: LoopSettings | None = None) -> list[Loop]:
    """The back-to-back loops among verified alignments of one query (any works, any order),
    each with its common reference range, within its work (``reference_durations`` by id)."""
    settings = settings or LoopSettings()
    by_work: dict[int, list[int]] = {}
    for i, m in enumerate(matches):
        if m.score >= settings.min_score:
            by_work.setdefault(m.work, []).append(i)
    loops = []
    for work, rows in by_work.items():
        for chain in _chains([matches[i] for i in rows], settings):
            members = tuple(rows[k] for k in chain)
            found = _loop_range([matches[i] for i in members], settings)
            if found is None:
                continue
            period, (start, end) = found
            loops.append(Loop(work, members, period,
                              (start, min(end, reference_durations[work]))))
    return loops


def harmonise_loops(matches: Sequence[AudioSegmentMatch], *, query_duration: float,
                    reference_durations: Mapping[int, float],
                    settings: LoopSettings | None = None) -> list[AudioSegmentMatch]:
    """Give the repeats of each back-to-back loop their common reference range.

    The result is ``matches`` in the same order, with the repeats of each loop re-ranged
    within the query and within their work.  Scores are kept: each repeat's evidence is its
    own.
    """
    out = list(matches)
    for loop in find_loops(matches, reference_durations=reference_durations,
                           settings=settings):
        for i in loop.members:
            out[i] = _placed(out[i], loop.reference, query_duration)
    return out


def unfound_repeats(matches: Sequence[AudioSegmentMatch], *, query_duration: float,
                    reference_durations: Mapping[int, float],
                    settings: LoopSettings | None = None) -> list[AudioSegmentMatch]:
    """Where the loops' repeats that no alignment holds would be, for verification to test.

    A loop found at some repeats is likely to be at the others: in the gaps of its chain and
    for a few periods either side of it.  The hash stage misses a repeat where host music
    drowns most of its triplets; single peaks, which verification counts, survive better.
    Each proposal is an alignment with no hash evidence (no voters, no inliers) whose
    expected chance count is the number of places proposed for its loop, so that
    verification scores it on its peaks alone, corrected for the places tried.
    """
    settings = settings or LoopSettings()
    proposals: list[AudioSegmentMatch] = []
    for loop in find_loops(matches, reference_durations=reference_durations,
                           settings=settings):
        members = [matches[i] for i in loop.members]
        ratio = float(np.median([m.time_ratio for m in members]))
        pitch = float(np.median([m.pitch_semitones for m in members]))
        start, end = loop.reference
        length = ratio * (end - start)
        # Where each member's line plays the loop's start; the repeat at step k starts at
        # first + k * period (k may be negative).
        starts = [m.time_ratio * start + m.offset for m in members]
        first = min(starts)
        held = {round((q - first) / loop.period) for q in starts}
        reach = settings.extra_repeats
        steps = [k for k in range(min(held) - reach, max(held) + reach + 1) if k not in held]
        places = [first + k * loop.period for k in steps]
        places = [q for q in places
                  if q >= 0.0 and q + length <= query_duration
                  and not _held_elsewhere(matches, loop.work, q, length)]
        for q in places:
            proposals.append(AudioSegmentMatch(
                work=loop.work, query_start=q, query_end=q + length,
                reference_start=start, reference_end=end, time_ratio=ratio,
                offset=q - ratio * start, pitch_semitones=pitch, inliers=0,
                false_alarms=float(len(places)), score=0.0))
    return proposals


def _held_elsewhere(matches: Sequence[AudioSegmentMatch], work: int, query_start: float,
                    length: float) -> bool:
    """Some alignment of ``work`` already covers most of this query stretch."""
    return any(m.work == work and min(m.query_end, query_start + length)
               - max(m.query_start, query_start) > 0.5 * length for m in matches)


def _chains(matches: list[AudioSegmentMatch], settings: LoopSettings) -> list[list[int]]:
    """Groups (two or more) of alignments linked pairwise as repeats of one range."""
    parent = list(range(len(matches)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(matches)):
        for j in range(i + 1, len(matches)):
            if _repeats(matches[i], matches[j], settings):
                parent[root(i)] = root(j)
    groups: dict[int, list[int]] = {}
    for i in range(len(matches)):
        groups.setdefault(root(i), []).append(i)
    return [g for g in groups.values() if len(g) > 1]


def _repeats(m: AudioSegmentMatch, k: AudioSegmentMatch, settings: LoopSettings) -> bool:
    """``m`` and ``k`` play the same reference range with the same transform, and where two
    repeats are apart, their query starts are apart by about the step between their lines
    (which tells a repeat in the query from a repeat in the reference: the latter places the
    same query stretch at two reference times) and they overlap in the query by little (a
    line a beat or a bar off the true one, in a reference built of repeats, overlaps it by
    most of its length)."""
    if abs(np.log(m.time_ratio / k.time_ratio)) > settings.max_log_ratio_difference:
        return False
    if abs(m.pitch_semitones - k.pitch_semitones) > settings.max_pitch_difference:
        return False
    shared = min(m.reference_end, k.reference_end) - max(m.reference_start, k.reference_start)
    either = max(m.reference_end, k.reference_end) - min(m.reference_start, k.reference_start)
    if shared <= 0 or shared < settings.min_reference_iou * either:
        return False
    step = k.offset - m.offset
    if abs(step) < settings.min_period_s:
        return True
    overlap = min(m.query_end, k.query_end) - max(m.query_start, k.query_start)
    shorter = min(m.query_end - m.query_start, k.query_end - k.query_start)
    return (overlap <= settings.max_query_overlap * shorter
            and abs((k.query_start - m.query_start) - step) <= 0.5 * abs(step))


def _loop_range(members: list[AudioSegmentMatch], settings: LoopSettings
                ) -> tuple[float, tuple[float, float]] | None:
    """The period and the reference range one period long that overlaps the members' own
    ranges most, or None when the members are not back-to-back repeats."""
    period = _period(members, settings)
    if period is None:
        return None
    ratio = float(np.median([m.time_ratio for m in members]))
    length = period / ratio
    starts = np.array([m.reference_start for m in members])
    ends = np.array([m.reference_end for m in members])
    if ends.max() - starts.min() < settings.min_tiling * length:
        return None
    # The summed overlap of [s, s + length] with the members' ranges is piecewise linear in
    # s, so its maximum lies at a breakpoint: where a window end meets a member's end.  Where
    # the maximum is a plateau (every member runs on past one period) its middle is taken:
    # repeats run on forwards and backwards alike.
    breakpoints = np.unique(np.concatenate([starts, ends - length, starts - length, ends]))
    breakpoints = breakpoints[breakpoints >= 0.0]
    if breakpoints.size == 0:
        return None
    overlap = np.clip(np.minimum(breakpoints[:, None] + length, ends[None, :])
                      - np.maximum(breakpoints[:, None], starts[None, :]), 0.0, None).sum(1)
    best = breakpoints[overlap >= overlap.max() - 1e-6]
    start = float(best.min() + best.max()) / 2
    return period, (start, start + length)


def _period(members: list[AudioSegmentMatch], settings: LoopSettings) -> float | None:
    """The step in query time between consecutive repeats, or None when there is none that
    a loop of these members could have.

    Each member's line is read at one common reference time: the query times where the
    repeats play it (lines' offsets alone are not comparable, since fitted ratios differ a
    little).  Times closer than ``min_period_s`` are one repeat found twice.  A missing
    repeat makes a step of two periods, so each step counts as its multiple of the shortest.
    A repeat is about one period long, or longer where it ran on; a "period" much shorter
    than every member is the beat or bar of a reference built of repeats, not the loop.
    """
    at = float(np.median([(m.reference_start + m.reference_end) / 2 for m in members]))
    times = np.sort([m.time_ratio * at + m.offset for m in members])
    repeats = np.split(times, np.flatnonzero(np.diff(times) >= settings.min_period_s) + 1)
    if len(repeats) < 2:
        return None
    steps = np.diff([float(np.median(r)) for r in repeats])
    shortest = float(steps.min())
    if shortest < settings.min_period_share * min(m.query_end - m.query_start
                                                  for m in members):
        return None
    return float(np.mean(steps / np.round(steps / shortest)))


def _placed(m: AudioSegmentMatch, reference: tuple[float, float], query_duration: float
            ) -> AudioSegmentMatch:
    """``m`` on its own line over the given reference range, within the query."""
    start, end = reference
    q_start = max(0.0, m.time_ratio * start + m.offset)
    q_end = min(query_duration, m.time_ratio * end + m.offset)
    if q_end <= q_start:
        return m
    return replace(m, reference_start=(q_start - m.offset) / m.time_ratio,
                   reference_end=(q_end - m.offset) / m.time_ratio,
                   query_start=q_start, query_end=q_end)
