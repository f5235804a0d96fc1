"""From hash hits to sample matches: vote on the transform, fit a line, score the evidence.

Each hit pairs a query triplet with a reference triplet and so measures, on its own, the time
ratio (ratio of spans) and the pitch shift (difference of anchor log-frequencies).  Hits of a
real sample agree on both *and* on the line ``t_query = ratio * t_reference + offset``; chance
hits scatter.  We vote in (work, ratio, pitch, offset) cells, fit a robust line to each strong
cell, split it where the evidence stops, and score each segment by how unlikely that many
agreeing hits are by chance (a Poisson tail), so scores mean the same across queries.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace

import numpy as np
from scipy import special

from homage.audio import Fingerprints, FingerprintSettings
from homage.match.hash_index import Hits


@dataclass(frozen=True)
class AlignSettings:
    """Search ranges and tolerances of the alignment (not stored with the library)."""

    ratio_bin: float = 0.05  # in natural log units
    pitch_bin_semitones: float = 0.67
    offset_bin_s: float = 0.5
    line_tolerance_s: float = 0.15
    max_gap_s: float = 4.0
    min_votes: int = 3
    min_inliers: int = 3
    #: a hash value holding more postings than this many times the library's mean per hash
    #: value is a "stop word" of music (a common interval at a common rhythm, shared by many
    #: songs) and is not looked up: its hits are mostly chance, and chance lines of common
    #: musical figures are what false positives are made of (see ``postings_cap``)
    stop_hash_factor: float = 25.0
    #: ... but never below this many postings: in a small library counts are too few to tell
    #: a stop word from a hash that a song repeats
    min_stop_hash_postings: int = 20
    #: candidates per query passed on to peak verification, strongest first
    max_candidates: int = 150
    #: strongest vote cells examined per reference work
    max_cells_per_work: int = 16


def postings_cap(postings: int, space: int, align: AlignSettings) -> int:
    """Most postings a hash value may hold and still be looked up, for an index of
    ``postings`` over ``space`` hash values.

    Relative to the library's size, so the same share of the commonest hashes is skipped at
    any size: at 9.4 h the cap is 31, skips 31 % of the postings and two thirds of a query's
    hits, and (full audio bench) cuts false positives on negative queries from 18 % to 4 %
    at the same segment AP; an absolute cap would skip nothing in a small library and every
    hash in a large one.
    """
    mean = postings / max(space, 1)
    return max(align.min_stop_hash_postings, math.ceil(align.stop_hash_factor * mean))


@dataclass(frozen=True)
class AudioSegmentMatch:
    """One aligned segment against one reference work (times in seconds)."""

    work: int
    query_start: float
    query_end: float
    reference_start: float
    reference_end: float
    time_ratio: float  # query seconds per reference second (1 / tempo)
    offset: float  # query time of reference time zero on the fitted line
    pitch_semitones: float
    inliers: int
    #: expected number of chance alignments this strong among all cells searched
    false_alarms: float
    score: float
    #: query peaks of the inlier triplets (the hash evidence), set aside by verification
    voters: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64), compare=False)
    #: other reference ranges the same query stretch aligns with as strongly (repeats)
    also_at: tuple[tuple[float, float], ...] = ()


def align_hits(
    query: Fingerprints,
    hits: Hits,
    settings: FingerprintSettings,
    *,
    reference_durations: dict[int, float],
    query_duration: float,
    align: AlignSettings | None = None,
) -> list[AudioSegmentMatch]:
    """Turn hash hits into candidate segments, strongest first (not yet verified or pruned)."""
    align = align or AlignSettings()
    if len(hits) == 0:
        return []
    # The transform range searched is the fingerprint's (queries probe exactly that range).
    min_ratio, max_ratio = 1.0 / settings.max_time_stretch, settings.max_time_stretch
    by_work = _hits_by_work(query, hits, settings, (min_ratio, max_ratio))
    n_ratio = math.log(max_ratio / min_ratio) / align.ratio_bin
    n_pitch = 2 * settings.max_pitch_semitones / align.pitch_bin_semitones
    volumes: dict[int, float] = {}
    for wid, own in by_work:
        ref_dur = reference_durations.get(wid)
        if ref_dur is None:
            ref_dur = float(own.tr.max() + own.spr.max())
        n_offset = (query_duration + max_ratio * ref_dur) / align.offset_bin_s + 1
        volumes[wid] = n_ratio * n_pitch * n_offset
    total_cells = sum(volumes.values())
    results: list[AudioSegmentMatch] = []
    for wid, own in by_work:
        results.extend(_segments_of_work(
            wid, own, _Votes.cast(own.tq, own.tr, own.ratio, own.pitch, align), query.members,
            align, cells=volumes[wid], total_cells=total_cells,
            ratio_range=(min_ratio, max_ratio)))
    results.sort(key=lambda m: m.false_alarms)
    return results[: align.max_candidates]


@dataclass(frozen=True)
class _WorkHits:
    """Hits that measure a transform inside the searched range, one entry per hit (times and
    spans in seconds)."""

    anchor: np.ndarray  # query fingerprint row
    tq: np.ndarray
    spq: np.ndarray
    tr: np.ndarray
    spr: np.ndarray
    ratio: np.ndarray  # query seconds per reference second
    pitch: np.ndarray  # semitones

    def rows(self, start: int, stop: int) -> _WorkHits:
        """Hits ``start:stop``, as views."""
        return _WorkHits(*(getattr(self, f.name)[start:stop] for f in fields(self)))


def _hits_by_work(query: Fingerprints, hits: Hits, settings: FingerprintSettings,
                  ratio_range: tuple[float, float]) -> list[tuple[int, _WorkHits]]:
    """``(work id, its hits)`` for every work hit inside the searched transform range.

    Why one layout pass: a query against hours of music keeps millions of hits, and gathering
    each work's share of every array again, per work, cost more than all the voting.  After
    one stable grouping each work's hits are a contiguous slice, handed out as views.
    """
    fs = settings.frame_seconds
    bins_per_semitone = settings.bins_per_octave / 12.0
    spr = hits.span * fs
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (query.span * fs)[hits.query_row] / spr
    pitch = (query.freq[hits.query_row] - hits.freq) / bins_per_semitone
    # Half of the hits measure a transform outside the range searched: they are dropped
    # before the rest of their fields are gathered.
    kept = np.flatnonzero((ratio >= ratio_range[0]) & (ratio <= ratio_range[1])
                          & (np.abs(pitch) <= settings.max_pitch_semitones))
    if kept.size == 0:
        return []
    work = hits.work[kept]
    take = kept[_grouping_order(work)]
    anchor = hits.query_row[take]
    laid_out = _WorkHits(anchor=anchor, tq=(query.time * fs)[anchor],
                         spq=(query.span * fs)[anchor], tr=hits.time[take] * fs,
                         spr=spr[take], ratio=ratio[take], pitch=pitch[take])
    # Work ids are the catalogue's row ids, about as many as the works ever indexed: a count
    # per id is a small array, and cheaper than gathering the grouped ids.
    per_work = np.bincount(work)
    ids = np.flatnonzero(per_work)
    bounds = np.concatenate([[0], np.cumsum(per_work[ids])])
    return [(int(wid), laid_out.rows(int(start), int(stop)))
            for wid, start, stop in zip(ids, bounds[:-1], bounds[1:], strict=True)]


@dataclass(frozen=True)
class _Votes:
    """The two votes of every hit, by hit: ratio bin ``lower`` and ``lower + 1``, one pitch bin,
    and the offset bin measured with each of the two ratios.

    Each hit votes in the two ratio bins around its estimate: the offset is measured with the
    bin's ratio, so a sample whose ratio sits on a bin edge would otherwise split in two.
    """

    lower: np.ndarray
    pitch: np.ndarray
    offset_lower: np.ndarray
    offset_upper: np.ndarray

    @classmethod
    def cast(cls, tq: np.ndarray, tr: np.ndarray, ratio: np.ndarray, pitch: np.ndarray,
             align: AlignSettings) -> _Votes:
        lower = np.floor(np.log(ratio) / align.ratio_bin).astype(np.int64)
        first = int(lower.min())
        # The ratio of each bin, looked up: a few dozen exponentials instead of one per vote.
        bin_ratio = np.exp(np.arange(first, int(lower.max()) + 2) * align.ratio_bin)

        def offset_bin(above: int) -> np.ndarray:
            offset = tq - bin_ratio[lower - (first - above)] * tr
            return np.floor(offset / align.offset_bin_s).astype(np.int64)

        return cls(lower, np.rint(pitch / align.pitch_bin_semitones).astype(np.int64),
                   offset_bin(0), offset_bin(1))

    def cell_keys(self) -> tuple[np.ndarray, int]:
        """One integer per vote: its (ratio, pitch, offset) cell.

        Votes ``i`` and ``i + n_hits`` are the two of hit ``i``.  Also returns the length of
        the offset axis: a cell's neighbours lie at fixed steps from it, ``±1`` in offset and
        ``±n_offset`` in pitch (those axes have a free bin at each end, so neighbours never
        wrap around, nor fall below zero).
        """
        lower, pitch = self.lower, self.pitch
        offset_lower, offset_upper = self.offset_lower, self.offset_upper
        offset_origin = min(offset_lower.min(), offset_upper.min()) - 1
        pitch_origin = pitch.min() - 1
        n_pitch = int(pitch.max() - pitch_origin) + 2
        n_offset = int(max(offset_lower.max(), offset_upper.max()) - offset_origin) + 2
        base = ((lower - lower.min()) * n_pitch + (pitch - pitch_origin)) * n_offset
        keys = np.concatenate([base + (offset_lower - offset_origin),
                               base + (n_pitch * n_offset - offset_origin) + offset_upper])
        return keys, n_offset


def _segments_of_work(
    wid: int,
    own: _WorkHits,
    votes: _Votes,
    members: np.ndarray | None,
    align: AlignSettings,
    *,
    cells: float,
    total_cells: float,
    ratio_range: tuple[float, float],
) -> list[AudioSegmentMatch]:
    """Find every strong cell of one work's votes and turn it into segments."""
    keys, n_offset = votes.cell_keys()
    strong = _strongest_cells(keys, align)
    if strong.size == 0:
        return []
    # Only the votes around the strong cells are looked at again: grouped by cell (CSR), so a
    # neighbourhood is nine binary searches.
    neighbours = np.array([dp * n_offset + do for dp in (-1, 0, 1) for do in (-1, 0, 1)])
    near = np.flatnonzero(_marks(keys, (strong[:, None] + neighbours).ravel()))
    by_cell = near[np.argsort(keys[near], kind="stable")]
    cell, counts = np.unique(keys[by_cell], return_counts=True)
    starts = np.concatenate([[0], np.cumsum(counts)])
    # Expected chance hits in the inlier band of one neighbourhood: this work's votes spread
    # evenly over its cells, times three pitch cells, times the band's share of an offset cell.
    band_share = 2 * align.line_tolerance_s / align.offset_bin_s
    expected = max(keys.size * 3 * band_share / cells, 1e-9)
    n_hits = own.tq.size
    used_hits = np.zeros(n_hits, dtype=bool)  # hits an earlier line took
    found: list[AudioSegmentMatch] = []
    for key in strong:
        wanted = key + neighbours
        at = np.minimum(np.searchsorted(cell, wanted), cell.size - 1)
        picked = np.concatenate([by_cell[starts[i]: starts[i + 1]] for i in at[cell[at] == wanted]])
        near_hits = picked % n_hits
        near_hits = near_hits[~used_hits[near_hits]]
        if near_hits.size < align.min_votes:
            continue
        inl = _fit_line(np.unique(near_hits), own.tq, own.tr, own.ratio, align,
                        ratio_range=ratio_range)
        if inl is None:
            continue
        a, b, rows = inl
        used_hits[rows] = True
        for part in _split_on_gaps(rows, own.tq, align.max_gap_s):
            # Evidence is counted in distinct query anchor peaks: one peak of a chord heads
            # many triplets, and their hits are one coincidence, not many.
            anchors = own.anchor[part]
            heads = members[anchors, 0] if members is not None else anchors
            n_anchor = int(np.unique(heads).size)
            if n_anchor < align.min_inliers:
                continue
            p_chance = float(special.pdtrc(n_anchor - 1, expected))  # Poisson P(X >= n)
            false_alarms = p_chance * total_cells / 27.0
            found.append(
                AudioSegmentMatch(
                    work=wid,
                    query_start=float(own.tq[part].min()),
                    query_end=float((own.tq[part] + own.spq[part]).max()),
                    reference_start=float(own.tr[part].min()),
                    reference_end=float((own.tr[part] + own.spr[part]).max()),
                    time_ratio=a,
                    offset=b,
                    pitch_semitones=_median(own.pitch[part]),
                    inliers=n_anchor,
                    false_alarms=false_alarms,
                    score=significance_score(false_alarms),
                    voters=(np.unique(members[anchors]) if members is not None
                            else np.zeros(0, np.int64)),
                )
            )
    return found


def _marks(keys: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """``np.isin(keys, wanted)`` for the non-negative cell keys of one work.

    A look-up table where the keys are dense enough for one (the usual case): ``isin`` sorts
    or hashes, and this ran over every vote of every work.
    """
    size = int(max(keys.max(), wanted.max())) + 1
    if size > _DENSE_CELLS:
        return np.isin(keys, wanted)
    table = np.zeros(size, dtype=bool)
    table[wanted] = True
    return table[keys]


def _grouping_order(values: np.ndarray) -> np.ndarray:
    """Indices that sort non-negative integers (work ids) stably.

    Stable passes over 16-bit digits (one while every id fits in 16 bits), which NumPy sorts
    by radix in linear time; a comparison sort of the tens of millions of votes a long query
    casts took seconds.
    """
    if values.size == 0:
        return np.argsort(values, kind="stable")
    largest = int(values.max())
    if largest >= 1 << 32:
        return np.argsort(values, kind="stable")
    order = np.argsort((values & 0xFFFF).astype(np.uint16), kind="stable")
    if largest >= 1 << 16:
        high = values[order] >> 16
        order = order[np.argsort(high.astype(np.uint16), kind="stable")]
    return order


#: Cells of one work counted in a dense array up to this many (a 3-hour reference against a
#: 3-minute query spans about 12 million); beyond, they are sorted and counted.
_DENSE_CELLS = 1 << 24


def _strongest_cells(keys: np.ndarray, align: AlignSettings) -> np.ndarray:
    """Keys of the cells holding at least ``min_votes`` votes, most votes first (ties in key
    order), at most ``max_cells_per_work``.

    Why counting, not sorting: a query against hours of music casts tens of millions of
    chance votes, and sorting them per work was most of a scan's time.
    """
    if int(keys.max()) < _DENSE_CELLS:
        counts = np.bincount(keys)
        cell = np.flatnonzero(counts >= align.min_votes)
        counts = counts[cell]
    else:
        cell, counts = np.unique(keys, return_counts=True)
        strong = counts >= align.min_votes
        cell, counts = cell[strong], counts[strong]
    return cell[np.argsort(-counts, kind="stable")][: align.max_cells_per_work]


def _fit_line(
    g: np.ndarray,
    tq: np.ndarray,
    tr: np.ndarray,
    ratio: np.ndarray,
    align: AlignSettings,
    *,
    ratio_range: tuple[float, float],
) -> tuple[float, float, np.ndarray] | None:
    """Robust fit of ``tq = a * tr + b`` to the hits ``g``.

    Starts from the median per-hit ratio and median offset, keeps hits within the tolerance,
    and refines by least squares when the hits span enough reference time to pin the slope.
    Returns ``(a, b, inlier hits)`` or None.
    """
    # Centre the reference times: the slope is only known to a few per cent from single hits,
    # so the intercept must be measured where the hits are, not at the work's time zero.
    centre = _median(tr[g])
    a = _median(ratio[g])
    c = _median(tq[g] - a * (tr[g] - centre))
    inliers = g
    for _ in range(3):
        resid = np.abs(tq[g] - (a * (tr[g] - centre) + c))
        inliers = g[resid <= align.line_tolerance_s]
        if inliers.size < align.min_votes:
            return None
        gi = inliers
        if np.ptp(tr[gi]) >= 3.0:
            slope, intercept = _least_squares(tr[gi] - centre, tq[gi])
            if ratio_range[0] <= slope <= ratio_range[1]:
                a, c = float(slope), float(intercept)
        else:
            c = _median(tq[gi] - a * (tr[gi] - centre))
    b = c - a * centre
    return a, b, inliers


# A query fits lines to a couple of thousand vote cells, most of them a few dozen hits: NumPy's
# general ``median`` and ``polyfit`` cost ten times the arithmetic in per-call overhead there.

def _median(values: np.ndarray) -> float:
    """``np.median`` of a 1-D array (the same value, to the bit)."""
    ordered = np.sort(values)
    return float((ordered[(ordered.size - 1) // 2] + ordered[ordered.size // 2]) / 2)


def _least_squares(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Slope and intercept of the least-squares line through ``(x, y)`` (x not constant)."""
    x, y = x.astype(np.float64), y.astype(np.float64)
    dx = x - x.mean()
    slope = float(dx @ (y - y.mean()) / (dx @ dx))
    return slope, float(y.mean() - slope * x.mean())


def _split_on_gaps(global_rows: np.ndarray, tq: np.ndarray, max_gap: float) -> list[np.ndarray]:
    """Split aligned hits where the query has no evidence for more than ``max_gap`` seconds."""
    order = global_rows[np.argsort(tq[global_rows], kind="stable")]
    gaps = np.flatnonzero(np.diff(tq[order]) > max_gap) + 1
    return np.split(order, gaps)


#: Alignments within this score of each other count as equally supported.
_EQUAL_SCORE = 0.02

#: Music agrees with music more often than the Poisson and binomial models assume (shared
#: keys, rhythms and production).  Measured on a calibration corpus (``bench audio`` seed 1,
#: never the benchmark's seed 0): model false-alarm counts are multiplied by this so that
#: the default threshold keeps chance matches off queries that borrow nothing.  Denser
#: reference peaks (17 a second, was 14) bring more chance hits, so it was raised from 40 to
#: the least of 40, 120, 400, 1200 and 2000 that keeps seed 1's negative queries as clean as
#: before (5 of 50 with a match at the threshold).
CHANCE_CALIBRATION = 2000.0


def significance_score(false_alarms: float) -> float:
    """Map the expected number of chance matches this strong to a score in [0, 1].

    With ``E`` the calibrated expectation (model × ``CHANCE_CALIBRATION``) and
    ``s = -log10(E)``: ``score = s / (s + 6)`` for ``s > 0``.  E = 1e-2 scores 0.25,
    E = 1e-6 scores 0.5, E = 1e-30 scores 0.83.  Monotone, and the same E gives the same score
    in every run, which is what makes one default threshold hold across queries and libraries.
    """
    s = -math.log10(max(false_alarms * CHANCE_CALIBRATION, 1e-300))
    return 0.0 if s <= 0 else s / (s + 6.0)


def suppress_overlaps(matches: list[AudioSegmentMatch]) -> list[AudioSegmentMatch]:
    """Keep the best alignment of each stretch of query against each work, best first.

    A reference that repeats itself (a loop-built track, a returning chorus) aligns a sample
    at several reference times.  Weaker alignments of the same query stretch are dropped.  One
    as strong as the best at another reference time is true, since the very same audio is
    there too, but it is not a second borrowing: it goes into the best match's ``also_at``, so
    that one stretch of the query is one match, with the places it could have come from.  The
    best is the one with the fewest expected chance alignments, which is the exact take when
    the repeats differ at all.  Loops in the query (the same reference range at several query
    times) do not overlap on the query axis and stay separate matches.
    """
    kept: list[AudioSegmentMatch] = []
    for m in matches:
        length = max(m.query_end - m.query_start, 1e-6)
        rivals = [
            i for i, k in enumerate(kept)
            if k.work == m.work
            and min(k.query_end, m.query_end) - max(k.query_start, m.query_start) > 0.5 * length
        ]
        if not rivals:
            kept.append(m)
        elif all(_equal_elsewhere(m, kept[i]) for i in rivals):
            best = kept[rivals[0]]
            kept[rivals[0]] = replace(
                best, also_at=(*best.also_at, (m.reference_start, m.reference_end)))
    return kept


def _equal_elsewhere(m: AudioSegmentMatch, k: AudioSegmentMatch) -> bool:
    """``m`` is as strong as ``k`` and places the query stretch elsewhere in the reference."""
    apart = all(min(end, m.reference_end) <= max(start, m.reference_start)
                for start, end in ((k.reference_start, k.reference_end), *k.also_at))
    return apart and m.score >= k.score - _EQUAL_SCORE
