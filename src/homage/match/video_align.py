"""Temporal alignment of frame look-ups into copied segments: a Hough over speed and offset.

Each query frame brings its ``k`` nearest reference frames, looked up as decoded and mirrored.
A copied stretch shows up as many (query time, reference time) pairs on one line
``t_ref = speed * t_query + offset``, whatever else the frames look like; chance neighbours
scatter.  So, per reference work, pairs vote into cells of (speed on a log grid from ×0.5 to
×2, offset in ``offset_bin_s`` bins), one vote per query frame per cell, weighted by
similarity.  The strongest cell gives a line, refined by a weighted least-squares
fit on its inliers; the inliers split into runs wherever the query has a gap, and each run is
a segment.  Its pairs leave the pool and the next cell is taken, so a query that reuses
several shots of one film, out of order, yields one segment per shot.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from homage.match.vector_index import Neighbours


@dataclass(frozen=True)
class VideoAlignSettings:
    """Alignment parameters (seconds unless said)."""

    #: neighbours looked up per query frame
    neighbours: int = 16
    #: pairs less similar than this are not evidence at all
    min_similarity: float = 0.55
    min_speed: float = 0.45
    max_speed: float = 2.2
    speed_steps_per_octave: int = 12
    offset_bin_s: float = 0.5
    #: a pair is on a line when its reference time is within this of the line
    tolerance_s: float = 0.6
    #: a run of inliers breaks where the query has no inlier for this long
    max_gap_s: float = 1.6
    min_frames: int = 2
    min_duration_s: float = 0.9
    #: cells weaker than this (sum of vote weights) end the search in a work
    min_votes: float = 0.35
    #: a line fitted at speed v gives way to ×1 where ×1 holds ``exp(-speed_prior * |ln v|)``
    #: of its support (0: never)
    speed_prior: float = 0.0
    #: a segment ends at a query cut this close outside its first or last inlier frame
    cut_reach_s: float = 1.5
    max_segments_per_work: int = 64


@dataclass(frozen=True)
class VideoSegmentMatch:
    """One aligned stretch between a query and a reference work, before thresholding.

    ``similarity`` is the mean similarity of the inlier pairs, ``frames`` their count,
    ``coverage`` the fraction of the query frames inside the range that found the line,
    ``mirrored`` the fraction of inliers whose best look-up was the mirrored frame.
    ``query_rows``, ``reference_times`` and ``pair_similarities`` are the inlier pairs
    themselves, for the checks that follow alignment; ``layout`` is what the layout check
    found (see ``homage.copies``), ``distinctiveness`` what :func:`distinctiveness` found,
    ``region`` the picture-in-picture inset of the query the stretch was found in, if any;
    ``crop`` the part of the reference's picture the query shows, where a crop is recognised
    (an index into ``match.reframe.CROPS``; 0: all of it or none recognised, see
    ``homage.copies``).
    """

    work: int
    query_start: float
    query_end: float
    reference_start: float
    reference_end: float
    speed: float
    mirrored: float
    frames: int
    similarity: float
    coverage: float
    query_rows: np.ndarray
    reference_times: np.ndarray
    pair_similarities: np.ndarray
    layout: float = 0.0
    distinctiveness: float = 0.0
    score: float = 0.0
    region: tuple[float, float, float, float] | None = None
    crop: int = 0


@dataclass(frozen=True)
class _Pairs:
    row: np.ndarray  # query frame index
    tq: np.ndarray
    tr: np.ndarray
    sim: np.ndarray
    mirrored: np.ndarray

    def take(self, keep: np.ndarray) -> _Pairs:
        return _Pairs(self.row[keep], self.tq[keep], self.tr[keep], self.sim[keep],
                      self.mirrored[keep])


def align_frames(
    query_times: np.ndarray, neighbours: dict[bool, Neighbours], *,
    reference_durations: dict[int, float], query_duration: float, frame_step: float,
    settings: VideoAlignSettings,
) -> list[VideoSegmentMatch]:
    """Segments found between a query and every reference work its frames point to.

    Parameters
    ----------
    query_times:
        (n,) seconds of the query frames that were looked up.
    neighbours:
        ``{False: as decoded, True: mirrored}`` look-ups of the query frames.  Both vote
        together: a learned descriptor is nearly blind to mirroring, so which orientation
        it is gets decided after alignment, on evidence that can tell.
    frame_step:
        Seconds between kept query frames (``1 / fps``): a segment extends half a step
        beyond its first and last inlier frame.
    """
    rows, works, times, sims, flips = [], [], [], [], []
    for mirrored, result in neighbours.items():
        rows.append(np.repeat(np.arange(len(query_times)), result.work.shape[1]))
        works.append(result.work.ravel())
        times.append(result.time.ravel())
        sims.append(result.similarity.ravel())
        flips.append(np.full(result.work.size, mirrored))
    row, work, time_, sim, flip = (np.concatenate(a) for a in (rows, works, times, sims, flips))
    keep = (work >= 0) & (sim >= settings.min_similarity)
    found: list[VideoSegmentMatch] = []
    for work_id in np.unique(work[keep]):
        mask = keep & (work == work_id)
        pairs = _Pairs(row[mask], query_times[row[mask]], time_[mask], sim[mask], flip[mask])
        found.extend(_align_work(
            pairs, int(work_id), query_times, settings=settings,
            frame_step=frame_step, query_duration=query_duration,
            reference_duration=reference_durations.get(int(work_id), np.inf),
        ))
    return found


def _align_work(
    pairs: _Pairs, work: int, query_times: np.ndarray, *,
    settings: VideoAlignSettings, frame_step: float, query_duration: float,
    reference_duration: float,
) -> list[VideoSegmentMatch]:
    speeds = _speed_grid(settings)
    segments: list[VideoSegmentMatch] = []
    for _ in range(settings.max_segments_per_work):
        if len(pairs.row) < settings.min_frames:
            break
        line = _strongest_line(pairs, speeds, settings)
        if line is None:
            break
        inliers = np.flatnonzero(_inliers(pairs, *line, settings.tolerance_s))
        explained = np.zeros(len(pairs.row), dtype=bool)
        explained[inliers] = True
        # A Hough cell can hold two shots whose lines cross it; each run gets its own line.
        for run in _runs(pairs.take(inliers), settings.max_gap_s):
            seed = pairs.take(inliers[run])
            window = (pairs.tq >= seed.tq.min() - frame_step) & (
                pairs.tq <= seed.tq.max() + frame_step)
            local = _strongest_line(pairs.take(window), speeds, settings) or line
            rough = _inliers(pairs, *local, settings.tolerance_s) & window
            speed, offset = _fit_line(pairs.take(rough), *local, settings)
            speed, offset = _prefer_x1(pairs.take(window), speed, offset, settings)
            chosen = pairs.take(_inliers(pairs, speed, offset, settings.tolerance_s) & window)
            segment = _segment(chosen, work, speed, offset, query_times, settings=settings,
                               frame_step=frame_step, query_duration=query_duration,
                               reference_duration=reference_duration)
            if segment is not None:
                segments.append(segment)
            explained |= window & _near_line(pairs, speed, offset, settings.tolerance_s,
                                             chosen)
        pairs = pairs.take(~explained)
    return segments


def _speed_grid(settings: VideoAlignSettings) -> np.ndarray:
    octaves = np.log2(settings.max_speed / settings.min_speed)
    steps = int(np.ceil(octaves * settings.speed_steps_per_octave)) + 1
    return settings.min_speed * 2.0 ** np.linspace(0.0, octaves, steps)


def _strongest_line(pairs: _Pairs, speeds: np.ndarray,
                    settings: VideoAlignSettings) -> tuple[float, float] | None:
    """(speed, offset) of the Hough cell with most support, None when none is strong enough.

    A query frame votes at most once per cell (its best pair), so a long still shot whose
    frames all resemble each other cannot outvote a moving copy; a cell spans two offset bins
    so a line on a bin edge keeps all its votes.  Speeds are tried nearest ×1 first, so a
    tie (two or three frames agree with every speed) goes to the likeliest: taken in grid
    order, short copies were reported at the slowest speed searched, ×0.45, their reference
    range squeezed to half.
    """
    weight = _vote_weight(pairs, settings)
    order = np.argsort(-weight, kind="stable")
    n_rows = int(pairs.row.max()) + 1
    best: tuple[float, float, float] | None = None
    for speed in sorted(speeds, key=lambda v: abs(math.log(v))):
        offsets = pairs.tr - speed * pairs.tq
        bins = np.floor(offsets / settings.offset_bin_s).astype(np.int64)
        low = bins.min()
        for shift in (0, 1):  # a cell is bins (b, b+1): count each pair in both halves
            cell = (bins - low + shift) // 2
            key = cell[order] * n_rows + pairs.row[order]
            _, first = np.unique(key, return_index=True)
            votes = np.bincount(cell[order][first], weights=weight[order][first])
            top = int(np.argmax(votes))
            if best is None or votes[top] > best[0]:
                members = cell == top
                best = (float(votes[top]), float(speed),
                        float(np.median(offsets[members])))
    if best is None or best[0] < settings.min_votes:
        return None
    return best[1], best[2]


def _prefer_x1(pairs: _Pairs, speed: float, offset: float,
               settings: VideoAlignSettings) -> tuple[float, float]:
    """×1 and its best offset instead of the fitted line where ×1 holds nearly as much
    support: at least ``exp(-speed_prior * |ln speed|)`` of the fitted line's.

    In a still or slowly moving shot every speed finds neighbours, and a slow line, squeezed
    into fewer reference seconds, stays inside the look-alike shot for more query frames and
    wins: copies at ×1 were reported at ×0.45-0.55, half their reference range lost.  Most
    copies play at ×1, so a line must beat ×1 clearly to be believed.  Weighing every Hough
    cell by the prior instead also pulled a ×2 copy in smooth footage to ×1.78.
    """
    if settings.speed_prior <= 0 or speed == 1.0:
        return speed, offset
    at_x1 = _strongest_line(pairs, np.array([1.0]), settings)
    if at_x1 is None:
        return speed, offset
    needed = math.exp(-settings.speed_prior * abs(math.log(speed)))
    if _support(pairs, *at_x1, settings) < needed * _support(pairs, speed, offset, settings):
        return speed, offset
    return _fit_line(pairs.take(_inliers(pairs, *at_x1, settings.tolerance_s)), *at_x1,
                     dataclasses.replace(settings, min_speed=1.0, max_speed=1.0))


def _support(pairs: _Pairs, speed: float, offset: float,
             settings: VideoAlignSettings) -> float:
    """Vote weight of a line's inliers, one per query frame."""
    return float(np.sum(_vote_weight(pairs, settings)[_inliers(pairs, speed, offset,
                                                             settings.tolerance_s)]))


def _vote_weight(pairs: _Pairs, settings: VideoAlignSettings) -> np.ndarray:
    """Each pair's vote: its similarity above the floor, plus a little so that every pair
    that passed the floor counts."""
    return pairs.sim - settings.min_similarity + 0.05


def _inliers(pairs: _Pairs, speed: float, offset: float, tolerance: float) -> np.ndarray:
    """Pairs on the line, one per query frame (its most similar), as a boolean mask."""
    residual = np.abs(pairs.tr - (speed * pairs.tq + offset))
    near = np.flatnonzero(residual <= tolerance)
    if near.size == 0:
        return np.zeros(len(pairs.row), dtype=bool)
    order = near[np.lexsort((-pairs.sim[near], pairs.row[near]))]
    _, first = np.unique(pairs.row[order], return_index=True)
    mask = np.zeros(len(pairs.row), dtype=bool)
    mask[order[first]] = True
    return mask


def _fit_line(pairs: _Pairs, speed: float, offset: float,
              settings: VideoAlignSettings) -> tuple[float, float]:
    """Weighted least-squares line through the inliers, kept within the searched speeds; the
    Hough estimate when the inliers span too little time to pin a slope."""
    if len(pairs.tq) < 3 or np.ptp(pairs.tq) < 2.0:
        return speed, float(np.median(pairs.tr - speed * pairs.tq))
    w = pairs.sim
    mean_q = np.average(pairs.tq, weights=w)
    mean_r = np.average(pairs.tr, weights=w)
    slope = np.sum(w * (pairs.tq - mean_q) * (pairs.tr - mean_r)) / np.sum(
        w * (pairs.tq - mean_q) ** 2)
    slope = float(np.clip(slope, settings.min_speed, settings.max_speed))
    return slope, float(mean_r - slope * mean_q)


def _runs(pairs: _Pairs, max_gap: float) -> list[np.ndarray]:
    """Index arrays of the inliers split wherever the query time jumps by more than
    ``max_gap``."""
    if len(pairs.tq) == 0:
        return []
    order = np.argsort(pairs.tq, kind="stable")
    breaks = np.flatnonzero(np.diff(pairs.tq[order]) > max_gap) + 1
    return np.split(order, breaks)


def _near_line(pairs: _Pairs, speed: float, offset: float, tolerance: float,
               chosen: _Pairs) -> np.ndarray:
    """Pairs explained by this line: near it, or sharing a query frame with an inlier."""
    residual = np.abs(pairs.tr - (speed * pairs.tq + offset))
    return (residual <= 2 * tolerance) | np.isin(pairs.row, chosen.row)


def _segment(
    run: _Pairs, work: int, speed: float, offset: float,
    query_times: np.ndarray, *, settings: VideoAlignSettings, frame_step: float,
    query_duration: float, reference_duration: float,
) -> VideoSegmentMatch | None:
    if len(run.row) < settings.min_frames:
        return None
    q0 = max(0.0, float(run.tq.min()) - frame_step / 2)
    q1 = min(query_duration, float(run.tq.max()) + frame_step / 2)
    if q1 - q0 < settings.min_duration_s:
        return None
    inside = np.count_nonzero((query_times >= run.tq.min()) & (query_times <= run.tq.max()))
    r0 = float(np.clip(speed * q0 + offset, 0.0, reference_duration))
    r1 = float(np.clip(speed * q1 + offset, 0.0, reference_duration))
    return VideoSegmentMatch(
        work=work, query_start=q0, query_end=q1, reference_start=r0, reference_end=r1,
        speed=speed, mirrored=float(run.mirrored.mean()), frames=len(run.row),
        similarity=float(run.sim.mean()), coverage=len(run.row) / max(inside, 1),
        query_rows=run.row, reference_times=run.tr, pair_similarities=run.sim,
    )


#: a frame kept at a cut and the cut's time may differ by float rounding (seconds)
_SAME_S = 1e-3


def within_shot(segment: VideoSegmentMatch, query_times: np.ndarray, cuts: np.ndarray, *,
                reach: float, reference_duration: float) -> VideoSegmentMatch:
    """``segment`` with each end moved to the query cut nearest outside its inliers, where
    one lies within ``reach`` of the first (last) inlier frame; ends with no cut that near
    keep their padding.

    Copied footage is cut in: it begins and ends at a cut, and a frame is kept at every cut
    (``query_times`` holds them).  Alignment pads a segment by half a frame step either side,
    the right guess for a copy that may begin anywhere between two kept frames, but past a
    cut that padding is someone else's footage; and where the first frames of a copy fail to
    match (a fade in, an inset still growing) the segment starts late, and the cut just
    before it is where the copy starts.
    """
    inliers = query_times[segment.query_rows]
    first, last = float(inliers.min()), float(inliers.max())
    cuts = np.asarray(cuts, dtype=np.float64)
    before = cuts[(cuts > min(segment.query_start, first - reach)) & (cuts <= first + _SAME_S)]
    after = cuts[(cuts > last + _SAME_S) & (cuts < max(segment.query_end, last + reach))]
    q0 = float(before.max()) if before.size else segment.query_start
    q1 = float(after.min()) if after.size else segment.query_end
    r0 = segment.reference_start + segment.speed * (q0 - segment.query_start)
    r1 = segment.reference_end + segment.speed * (q1 - segment.query_end)
    return dataclasses.replace(
        segment, query_start=q0, query_end=q1,
        reference_start=float(np.clip(r0, 0.0, reference_duration)),
        reference_end=float(np.clip(r1, 0.0, reference_duration)))


def distinctiveness(segment: VideoSegmentMatch, neighbours: Neighbours, *,
                    elsewhere_s: float = 5.0) -> float:
    """How much better the segment's pairs are than the best look-alike elsewhere.

    For each inlier query frame, the look-alike is its most similar neighbour in another work
    or more than ``elsewhere_s`` away in this one (the least similar neighbour when all of them
    sit near the match).  A copied frame stands out from everything else in the library; a
    frame that merely shares a film's look (same characters, same meadow) has look-alikes all
    over that film, and this margin stays small.
    """
    rows = segment.query_rows
    work, time_, sim = neighbours.work[rows], neighbours.time[rows], neighbours.similarity[rows]
    away = (work != segment.work) | (np.abs(time_ - segment.reference_times[:, None])
                                     > elsewhere_s)
    away &= work >= 0
    alternative = np.where(away.any(axis=1), np.where(away, sim, -np.inf).max(axis=1),
                           np.where(work >= 0, sim, np.inf).min(axis=1))
    return float(np.mean(segment.pair_similarities - alternative))


def suppress_duplicates(segments: list[VideoSegmentMatch]) -> list[VideoSegmentMatch]:
    """Best first; a segment of the same work overlapping a kept one on the query axis by more
    than half of the shorter is the same finding seen twice (a still shot matching at two
    offsets) and is dropped."""
    kept: list[VideoSegmentMatch] = []
    for seg in sorted(segments, key=lambda s: -s.score):
        duplicate = any(
            k.work == seg.work and _overlap(k, seg) > 0.5 * min(
                k.query_end - k.query_start, seg.query_end - seg.query_start)
            for k in kept
        )
        if not duplicate:
            kept.append(seg)
    return kept


def _overlap(a: VideoSegmentMatch, b: VideoSegmentMatch) -> float:
    return max(0.0, min(a.query_end, b.query_end) - max(a.query_start, b.query_start))
