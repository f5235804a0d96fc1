"""Evaluation metrics for the benchmarks: pure functions of ground truth and predictions.

Everything here is deliberately free of I/O and of any knowledge of how predictions were
made, so that the same numbers can be computed for homage and for every peer it is compared
with, and so that each metric can be checked against hand-worked examples.

The headline metric is the segment AP of the matching track of Meta's Video Similarity
Challenge 2022 (VSC): it rewards finding the right (query, reference) pair *and* localising
the borrowed stretch on both timelines, and it is what published copy-detection numbers are
reported in.  The others isolate one aspect each: pair micro-AP (detection without
localisation), per-query ranking (retrieval), false positives on clean queries, and recall
per transform (where a method breaks down).
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "SegmentPair",
    "false_positive_rate",
    "pair_micro_ap",
    "ranking_metrics",
    "recall_at_threshold",
    "recall_breakdown",
    "segment_ap",
    "shot_ranking",
]

Interval = tuple[float, float]
PairKey = tuple[str, str]


@dataclass(frozen=True)
class SegmentPair:
    """A borrowed stretch, true or predicted: query ``[query_start, query_end]`` corresponds to
    reference ``[reference_start, reference_end]`` (seconds on each work's own timeline).

    ``score`` is the confidence of a prediction (higher is surer); ground truth leaves it at
    1.0 and the metrics ignore it there.  Construction rejects reversed or NaN intervals, since
    those can only come from a bug upstream and would silently skew every length-based metric.
    """

    query: str
    reference: str
    query_start: float
    query_end: float
    reference_start: float
    reference_end: float
    score: float = 1.0

    def __post_init__(self) -> None:
        for start, end, axis in (
            (self.query_start, self.query_end, "query"),
            (self.reference_start, self.reference_end, "reference"),
        ):
            if not (start <= end):  # also catches NaN
                raise ValueError(f"invalid {axis} interval [{start}, {end}] in {self!r}")
        if math.isnan(self.score):
            raise ValueError(f"NaN score in {self!r}")

    @property
    def pair(self) -> PairKey:
        """The (query, reference) pair this segment belongs to."""
        return (self.query, self.reference)

    def interval(self, axis: int) -> Interval:
        """The interval on ``axis`` (0: query timeline, 1: reference timeline)."""
        if axis == 0:
            return (self.query_start, self.query_end)
        return (self.reference_start, self.reference_end)

    def overlaps(self, other: SegmentPair) -> bool:
        """Whether the two segments overlap with positive length on *both* axes.

        This is the VSC notion of a hit: the rectangles ``query × reference`` must intersect
        with positive area, so touching at an endpoint or overlapping on one timeline only
        is not an overlap (a right query stretch mapped to the wrong part of the reference
        did not find the borrowing).
        """
        q = min(self.query_end, other.query_end) - max(self.query_start, other.query_start)
        r = min(self.reference_end, other.reference_end) - max(
            self.reference_start, other.reference_start
        )
        return q > 0.0 and r > 0.0


# --------------------------------------------------------------------------------------------
# interval helpers


def _merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, disjoint union of ``intervals`` (so lengths are not counted twice)."""
    ordered = sorted(intervals)
    merged: list[Interval] = []
    for start, end in ordered:
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def _length(merged: Sequence[Interval]) -> float:
    """Total length of a disjoint union from :func:`_merge`."""
    return math.fsum(end - start for start, end in merged)


def _intersection_length(a: Sequence[Interval], b: Sequence[Interval]) -> float:
    """Length of the intersection of two disjoint unions from :func:`_merge` (two pointers)."""
    i = j = 0
    parts: list[float] = []
    while i < len(a) and j < len(b):
        lo = max(a[i][0], b[j][0])
        hi = min(a[i][1], b[j][1])
        if hi > lo:
            parts.append(hi - lo)
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return math.fsum(parts)


def _clamp01(x: float) -> float:
    """Clip to [0, 1]: sums of deltas can stray past the bounds by a few ulps."""
    return min(1.0, max(0.0, x))


def _score_groups(
    items: Iterable[tuple[float, bool]],
) -> list[tuple[int, int]]:
    """Collapse ``(score, is_positive)`` items into ``(n_items, n_positive)`` per distinct
    score, best score first.

    Items of equal score are one operating point (no threshold can separate them), so metrics
    must not depend on the order in which ties happen to be listed.
    """
    ordered = sorted(items, key=lambda it: -it[0])
    groups: list[tuple[int, int]] = []
    for _, grp in itertools.groupby(ordered, key=lambda it: it[0]):
        flags = [positive for _, positive in grp]
        groups.append((len(flags), sum(flags)))
    return groups


def _grouped_ap(items: Iterable[tuple[float, bool]], n_positive: int) -> float:
    """Average precision ``Σ P·ΔR`` over score groups for a ranked list of binary outcomes.

    With all scores distinct this is the usual (non-interpolated) AP; with ties, precision
    and recall are evaluated once after each whole tie group.  ``n_positive`` is the recall
    denominator, which includes positives never predicted.
    """
    if n_positive <= 0:
        return 0.0
    seen = hits = 0
    ap = 0.0
    for n, pos in _score_groups(items):
        seen += n
        hits += pos
        ap += (hits / seen) * (pos / n_positive)
    return _clamp01(ap)


# --------------------------------------------------------------------------------------------
# segment AP (VSC 2022 matching track)


class _PairState:
    """Predictions seen so far for one (query, reference) pair and what they cover.

    Follows the VSC evaluation: a ground-truth segment becomes *eligible* once any prediction
    of the pair overlaps it on both axes; from then on, on each axis, the covered length is
    the union of all predictions of the pair intersected with the union of eligible ground
    truth.  Eligibility is what stops a prediction that is right on one timeline but wrong on
    the other from earning credit.
    """

    __slots__ = ("eligible", "gts", "intersection", "predicted", "preds")

    def __init__(self, gts: list[SegmentPair]) -> None:
        self.gts = gts
        self.preds: list[SegmentPair] = []
        self.eligible = [False] * len(gts)
        self.intersection = [0.0, 0.0]
        self.predicted = [0.0, 0.0]

    def add(self, prediction: SegmentPair) -> None:
        self.preds.append(prediction)
        for k, gt in enumerate(self.gts):
            if not self.eligible[k] and gt.overlaps(prediction):
                self.eligible[k] = True

    def refresh(self) -> tuple[list[float], list[float]]:
        """Recompute the covered and predicted lengths; return their changes per axis."""
        d_inter = [0.0, 0.0]
        d_pred = [0.0, 0.0]
        eligible = [gt for gt, ok in zip(self.gts, self.eligible, strict=True) if ok]
        for axis in (0, 1):
            pred_union = _merge(p.interval(axis) for p in self.preds)
            gt_union = _merge(g.interval(axis) for g in eligible)
            inter = _intersection_length(pred_union, gt_union)
            total = _length(pred_union)
            d_inter[axis] = inter - self.intersection[axis]
            d_pred[axis] = total - self.predicted[axis]
            self.intersection[axis] = inter
            self.predicted[axis] = total
        return d_inter, d_pred


def segment_ap(truth: Sequence[SegmentPair], predictions: Sequence[SegmentPair]) -> float:
    """Segment average precision of the VSC 2022 matching track.

    Predictions are taken in descending score, one group of equal scores at a time (a
    threshold cannot split a tie).  After each group, on each axis (query timeline and
    reference timeline) separately:

    * precision = covered length / predicted length, and
    * recall = covered length / ground-truth length,

    where lengths are unions per (query, reference) pair summed over pairs, and the covered
    length of a pair is the union of its predictions intersected with the union of those of
    its ground-truth segments that some prediction of the pair overlaps on *both* axes.
    ``P`` and ``R`` are the geometric means of the two axes, and ``AP = Σ P·ΔR`` with recall
    starting from 0.

    Using lengths rather than counts rewards exact localisation (a prediction covering half
    of a borrowed stretch earns half its recall) and penalises padding; the geometric mean
    over axes means a method must localise on both timelines to score.

    Parameters
    ----------
    truth
        Ground-truth segments; their scores are ignored.
    predictions
        Predicted segments with confidences.

    Returns
    -------
    float
        AP in [0, 1]; 0.0 when either input is empty or the ground truth has zero length on
        an axis (recall would be undefined).

    Notes
    -----
    Matches ``match_metric`` in ``facebookresearch/vsc2022`` (``vsc/metrics.py``), except that
    an axis with zero predicted length counts as precision 0 instead of dividing by zero.
    """
    if not truth or not predictions:
        return 0.0

    gts_by_pair: dict[PairKey, list[SegmentPair]] = defaultdict(list)
    for gt in truth:
        gts_by_pair[gt.pair].append(gt)
    gt_total = [
        math.fsum(_length(_merge(g.interval(axis) for g in gts)) for gts in gts_by_pair.values())
        for axis in (0, 1)
    ]
    if gt_total[0] <= 0.0 or gt_total[1] <= 0.0:
        return 0.0

    states: dict[PairKey, _PairState] = {}
    intersection = [0.0, 0.0]
    predicted = [0.0, 0.0]
    recall_prev = 0.0
    ap = 0.0
    ordered = sorted(predictions, key=lambda p: -p.score)
    for _, group in itertools.groupby(ordered, key=lambda p: p.score):
        touched: dict[PairKey, _PairState] = {}
        for pred in group:
            state = states.get(pred.pair)
            if state is None:
                state = states[pred.pair] = _PairState(gts_by_pair.get(pred.pair, []))
            state.add(pred)
            touched[pred.pair] = state
        for state in touched.values():
            d_inter, d_pred = state.refresh()
            for axis in (0, 1):
                intersection[axis] += d_inter[axis]
                predicted[axis] += d_pred[axis]
        precision_axes = [
            _clamp01(intersection[a] / predicted[a]) if predicted[a] > 0.0 else 0.0 for a in (0, 1)
        ]
        recall_axes = [_clamp01(intersection[a] / gt_total[a]) for a in (0, 1)]
        precision = math.sqrt(precision_axes[0] * precision_axes[1])
        recall = math.sqrt(recall_axes[0] * recall_axes[1])
        ap += precision * (recall - recall_prev)
        recall_prev = recall
    return _clamp01(ap)


# --------------------------------------------------------------------------------------------
# pair-level and ranking metrics


def _pair_scores(predictions: Iterable[SegmentPair]) -> dict[PairKey, float]:
    """Best score per predicted (query, reference) pair: a pair is as confident as its best
    segment."""
    scores: dict[PairKey, float] = {}
    for p in predictions:
        best = scores.get(p.pair)
        if best is None or p.score > best:
            scores[p.pair] = p.score
    return scores


def pair_micro_ap(truth: Sequence[SegmentPair], predictions: Sequence[SegmentPair]) -> float:
    """Micro average precision over (query, reference) pairs, ignoring localisation.

    Each predicted pair scores the maximum of its segments' scores; it is a positive when the
    pair has any ground-truth segment.  AP is ``Σ P·ΔR`` over score groups (ties evaluated
    together) with recall over the number of distinct true pairs.  This is the VSC auxiliary
    "pairwise micro-AP": it separates "found the right source" from "found where".

    Returns
    -------
    float
        AP in [0, 1]; 0.0 for empty truth or predictions.
    """
    true_pairs = {gt.pair for gt in truth}
    if not true_pairs or not predictions:
        return 0.0
    items = [(score, pair in true_pairs) for pair, score in _pair_scores(predictions).items()]
    return _grouped_ap(items, len(true_pairs))


def ranking_metrics(
    truth: Sequence[SegmentPair], predictions: Sequence[SegmentPair]
) -> tuple[float, float]:
    """Retrieval quality per query: mean average precision and hit-rate at 1.

    For every query with at least one true reference, its predicted references are ranked by
    their best segment score.  Average precision is ``Σ P·ΔR`` over score groups with recall
    over that query's true references; hit@1 is 1 when the top-ranked reference is a true one.
    A tie at the top counts as the expected hit under random tie-breaking (fraction of true
    references among the tied top group), so the result never depends on listing order.
    Queries with no prediction score 0 on both; queries with no true reference are ignored
    (they are covered by :func:`false_positive_rate`).

    Returns
    -------
    tuple[float, float]
        ``(mAP, HR@1)``, both in [0, 1]; ``(0.0, 0.0)`` when no query has a true reference.
    """
    true_refs: dict[str, set[str]] = defaultdict(set)
    for gt in truth:
        true_refs[gt.query].add(gt.reference)
    if not true_refs:
        return (0.0, 0.0)

    per_query: dict[str, list[tuple[float, bool]]] = defaultdict(list)
    for (query, reference), score in _pair_scores(predictions).items():
        if query in true_refs:
            per_query[query].append((score, reference in true_refs[query]))

    ap_sum = 0.0
    hit_sum = 0.0
    for query, refs in true_refs.items():
        items = per_query.get(query, [])
        if not items:
            continue
        ap_sum += _grouped_ap(items, len(refs))
        n_top, pos_top = _score_groups(items)[0]
        hit_sum += pos_top / n_top
    n = len(true_refs)
    return (ap_sum / n, hit_sum / n)


# --------------------------------------------------------------------------------------------
# operating-point metrics


def false_positive_rate(
    negative_queries: Iterable[str],
    predictions: Sequence[SegmentPair],
    *,
    threshold: float,
) -> float:
    """Fraction of negative queries (which borrow nothing) with any prediction scoring at least
    ``threshold``.

    This is what a user sees at the default operating point on clean material: one spurious
    match makes the whole query a false alarm, however many segments it reports.

    Returns
    -------
    float
        Rate in [0, 1]; 0.0 when there are no negative queries.
    """
    negatives = set(negative_queries)
    if not negatives:
        return 0.0
    flagged = {p.query for p in predictions if p.score >= threshold and p.query in negatives}
    return len(flagged) / len(negatives)


def _found(gt: SegmentPair, by_pair: dict[PairKey, list[SegmentPair]]) -> bool:
    """Whether some prediction of ``gt``'s pair overlaps it on both axes."""
    return any(gt.overlaps(p) for p in by_pair.get(gt.pair, ()))


def _confident_by_pair(
    predictions: Iterable[SegmentPair], threshold: float
) -> dict[PairKey, list[SegmentPair]]:
    """Predictions at or above ``threshold``, grouped by pair for lookup per segment."""
    by_pair: dict[PairKey, list[SegmentPair]] = defaultdict(list)
    for p in predictions:
        if p.score >= threshold:
            by_pair[p.pair].append(p)
    return by_pair


def recall_at_threshold(
    truth: Sequence[SegmentPair],
    predictions: Sequence[SegmentPair],
    *,
    threshold: float,
) -> float:
    """Fraction of ground-truth segments found at the operating point ``threshold``.

    A segment is found when a prediction of the same (query, reference) pair with score at
    least ``threshold`` overlaps it with positive length on both axes.  Counting segments
    rather than seconds makes every borrowing weigh the same, short or long, which is what
    a per-transform breakdown needs.

    Returns
    -------
    float
        Recall in [0, 1]; 0.0 for empty truth.
    """
    if not truth:
        return 0.0
    by_pair = _confident_by_pair(predictions, threshold)
    return sum(_found(gt, by_pair) for gt in truth) / len(truth)


def recall_breakdown(
    truth_with_labels: Sequence[tuple[str, SegmentPair]],
    predictions: Sequence[SegmentPair],
    *,
    threshold: float,
) -> dict[str, dict[str, float]]:
    """Recall at ``threshold`` per label, e.g. per transform family and strength.

    Parameters
    ----------
    truth_with_labels
        ``(label, segment)`` pairs such as ``("speed:1.2-1.33", segment)``; a segment may be
        listed under several labels.
    predictions
        Predicted segments; see :func:`recall_at_threshold` for what counts as found.
    threshold
        Operating point.

    Returns
    -------
    dict[str, dict[str, float]]
        ``{label: {"recall": r, "count": n}}`` with ``n`` the number of ground-truth segments
        under the label (an ``int``), in first-seen label order, so a reader can tell a
        robust 0.9 from a lucky one.
    """
    by_pair = _confident_by_pair(predictions, threshold)
    counts: dict[str, list[int]] = {}
    for label, gt in truth_with_labels:
        tally = counts.setdefault(label, [0, 0])
        tally[0] += 1
        tally[1] += _found(gt, by_pair)
    return {label: {"recall": hit / n, "count": n} for label, (n, hit) in counts.items()}


# --------------------------------------------------------------------------------------------
# shot-level retrieval (visual homages)


def shot_ranking(
    truth: Sequence[SegmentPair],
    predictions: Sequence[SegmentPair],
    *,
    min_overlap: float = 0.5,
) -> tuple[float, float]:
    """Retrieval quality per borrowed *shot*: mean average precision and hit-rate at 1.

    For each true shot, the predictions on its query that cover at least ``min_overlap`` of
    its query range are ranked by score; a prediction is right when it names the true
    reference and overlaps the true reference range.  This asks what a user scrolling a
    query's shots asks: for this shot, is the first suggested source the right one?  AP is
    over the ranked covering predictions, recall over the right ones among them.  Ties are
    scored by group as in :func:`ranking_metrics`; a shot with no covering prediction scores
    0 on both.

    Returns
    -------
    tuple[float, float]
        ``(mAP, HR@1)`` in [0, 1]; ``(0.0, 0.0)`` for empty truth.
    """
    if not truth:
        return (0.0, 0.0)
    by_query: dict[str, list[SegmentPair]] = defaultdict(list)
    for p in predictions:
        by_query[p.query].append(p)
    ap_sum = hit_sum = 0.0
    for gt in truth:
        length = max(gt.query_end - gt.query_start, 1e-9)
        items = [
            (p.score, p.reference == gt.reference
             and min(p.reference_end, gt.reference_end) > max(p.reference_start,
                                                                gt.reference_start))
            for p in by_query.get(gt.query, ())
            if (min(p.query_end, gt.query_end) - max(p.query_start, gt.query_start))
            >= min_overlap * length
        ]
        if not items:
            continue
        ap_sum += _grouped_ap(items, max(1, sum(ok for _, ok in items)))
        n_top, pos_top = _score_groups(items)[0]
        hit_sum += pos_top / n_top
    return (ap_sum / len(truth), hit_sum / len(truth))
