"""Hand-worked checks of the benchmark metrics; every expected number is derived in a comment."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from homage.bench.metrics import (
    SegmentPair,
    false_positive_rate,
    pair_micro_ap,
    ranking_metrics,
    recall_at_threshold,
    recall_breakdown,
    segment_ap,
)


def seg(
    q: str, r: str, qs: float, qe: float, rs: float, re: float, score: float = 1.0
) -> SegmentPair:
    return SegmentPair(q, r, qs, qe, rs, re, score)


GT = seg("Q1", "R1", 0, 10, 5, 15)


# --- SegmentPair ------------------------------------------------------------------------------


def test_segment_pair_rejects_reversed_and_nan_intervals() -> None:
    with pytest.raises(ValueError):
        seg("Q", "R", 5, 4, 0, 1)
    with pytest.raises(ValueError):
        seg("Q", "R", 0, 1, math.nan, 1)
    with pytest.raises(ValueError):
        seg("Q", "R", 0, 1, 0, 1, math.nan)


def test_overlap_needs_positive_length_on_both_axes() -> None:
    a = seg("Q", "R", 0, 10, 0, 10)
    assert a.overlaps(seg("Q", "R", 9, 12, 9, 12))
    assert not a.overlaps(seg("Q", "R", 10, 12, 5, 8))  # touches at q=10 only
    assert not a.overlaps(seg("Q", "R", 2, 8, 20, 30))  # query yes, reference no


# --- segment AP -------------------------------------------------------------------------------


def test_segment_ap_empty_inputs_are_zero() -> None:
    assert segment_ap([], [GT]) == 0.0
    assert segment_ap([GT], []) == 0.0


def test_segment_ap_perfect_prediction() -> None:
    # Prediction equals the truth: P = 1 on both axes, R jumps 0 -> 1, AP = 1 * 1.
    pred = seg("Q1", "R1", 0, 10, 5, 15, 0.9)
    assert segment_ap([GT], [pred]) == 1.0


def test_segment_ap_half_length_prediction() -> None:
    # Prediction covers q[0,5] r[5,10]: on each axis overlap 5, predicted 5, truth 10,
    # so precision 5/5 = 1 and recall 5/10 = 0.5 on both; AP = 1 * (0.5 - 0) = 0.5.
    pred = seg("Q1", "R1", 0, 5, 5, 10, 0.9)
    assert segment_ap([GT], [pred]) == pytest.approx(0.5)


def test_segment_ap_padding_on_one_axis_halves_precision() -> None:
    # gt q[0,10] r[0,10], pred q[0,10] r[0,40]: P_q = 10/10 = 1, P_r = 10/40 = 0.25,
    # P = sqrt(1 * 0.25) = 0.5; R = 1 on both axes; AP = 0.5 * 1 = 0.5.
    gt = seg("Q1", "R1", 0, 10, 0, 10)
    pred = seg("Q1", "R1", 0, 10, 0, 40, 0.7)
    assert segment_ap([gt], [pred]) == pytest.approx(0.5)


def test_segment_ap_wrong_reference_scores_zero() -> None:
    # Same intervals but pair (Q1, R2): no truth for that pair, so no overlap anywhere.
    pred = seg("Q1", "R2", 0, 10, 5, 15, 0.9)
    assert segment_ap([GT], [pred]) == 0.0


def test_segment_ap_query_axis_only_overlap_gets_no_credit() -> None:
    # gt q[0,10] r[0,10]; pred q[0,10] r[20,30] lines up on the query timeline but points at
    # the wrong part of the reference: the rectangles do not intersect, the gt never becomes
    # eligible, overlap is 0 on both axes, AP = 0.
    gt = seg("Q1", "R1", 0, 10, 0, 10)
    pred = seg("Q1", "R1", 0, 10, 20, 30, 0.9)
    assert segment_ap([gt], [pred]) == 0.0


def test_segment_ap_eligibility_is_per_pair_as_in_vsc() -> None:
    # VSC semantics: once any prediction of the pair overlaps a gt on both axes, the union of
    # *all* the pair's predictions is intersected with it on each axis.
    # gt q[0,10] r[0,10]; A (0.9) q[0,10] r[20,30]; B (0.5) q[0,2] r[0,2].
    # After A: gt not eligible -> overlap 0, predicted 10 / 10 -> P = 0, R = 0, AP += 0.
    # After B: gt eligible (B overlaps it).
    #   query axis: preds [0,10] ∩ gt [0,10] = 10, predicted 10 -> P_q = 1,  R_q = 1
    #   ref axis:   preds [0,2]∪[20,30] = 12, ∩ gt [0,10] = 2  -> P_r = 1/6, R_r = 0.2
    #   P = sqrt(1/6), R = sqrt(0.2); AP = sqrt(1/6) * sqrt(0.2) = sqrt(1/30) ≈ 0.18257.
    gt = seg("Q1", "R1", 0, 10, 0, 10)
    a = seg("Q1", "R1", 0, 10, 20, 30, 0.9)
    b = seg("Q1", "R1", 0, 2, 0, 2, 0.5)
    assert segment_ap([gt], [a, b]) == pytest.approx(math.sqrt(1 / 30))


TWO_GTS = [seg("Q1", "R1", 0, 10, 0, 10), seg("Q2", "R2", 0, 30, 0, 30)]  # 40 s per axis


def test_segment_ap_two_truths_two_scores() -> None:
    # Truth: 10 s on (Q1,R1) and 30 s on (Q2,R2), 40 s on each axis (axes are symmetric here,
    # so per-axis values equal the geometric means).
    # exact (0.9) on (Q2,R2): overlap 30, predicted 30 -> P = 1,   R = 30/40 = 0.75, +0.75
    # padded (0.4) q,r[0,20] on (Q1,R1): overlap 30+10 = 40, predicted 30+20 = 50
    #                                             -> P = 0.8, R = 1, ΔR = 0.25,  +0.2
    # AP = 0.75 + 0.2 = 0.95.
    exact = seg("Q2", "R2", 0, 30, 0, 30, 0.9)
    padded = seg("Q1", "R1", 0, 20, 0, 20, 0.4)
    assert segment_ap(TWO_GTS, [padded, exact]) == pytest.approx(0.95)

    # Swap the confidences: padded (0.9) first: overlap 10, predicted 20 -> P = 0.5,
    # R = 10/40 = 0.25, +0.125; then exact: overlap 40, predicted 50 -> P = 0.8, ΔR = 0.75,
    # +0.6.  AP = 0.725: ranking the sloppy prediction first costs AP.
    exact = seg("Q2", "R2", 0, 30, 0, 30, 0.4)
    padded = seg("Q1", "R1", 0, 20, 0, 20, 0.9)
    assert segment_ap(TWO_GTS, [exact, padded]) == pytest.approx(0.725)


def test_segment_ap_false_positive_in_between() -> None:
    # exact (0.9) on (Q2,R2): P = 1, R = 0.75, +0.75.
    # false positive (0.6) of 10 s on (Q3,R3): overlap 30, predicted 40 -> P = 0.75, ΔR = 0.
    # exact (0.3) on (Q1,R1): overlap 40, predicted 50 -> P = 0.8, ΔR = 0.25, +0.2.
    # AP = 0.95.
    preds = [
        seg("Q2", "R2", 0, 30, 0, 30, 0.9),
        seg("Q3", "R3", 0, 10, 0, 10, 0.6),
        seg("Q1", "R1", 0, 10, 0, 10, 0.3),
    ]
    assert segment_ap(TWO_GTS, preds) == pytest.approx(0.95)


def test_segment_ap_ties_are_one_group() -> None:
    # Both predictions at 0.5 form one operating point: overlap 30 + 10 = 40,
    # predicted 30 + 20 = 50 -> P = 0.8, R = 1; AP = 0.8 * 1 = 0.8, in either order.
    # (Without grouping, exact-first would give 0.95 and padded-first 0.725.)
    exact = seg("Q2", "R2", 0, 30, 0, 30, 0.5)
    padded = seg("Q1", "R1", 0, 20, 0, 20, 0.5)
    assert segment_ap(TWO_GTS, [exact, padded]) == pytest.approx(0.8)
    assert segment_ap(TWO_GTS, [padded, exact]) == pytest.approx(0.8)


def test_segment_ap_overlapping_predictions_are_not_double_counted() -> None:
    # Two predictions q,r[0,6] and q,r[4,10] on gt q,r[0,10]: union 10 on each axis, not 12.
    # Same score -> one group: overlap 10, predicted 10, P = 1, R = 1, AP = 1.
    gt = seg("Q1", "R1", 0, 10, 0, 10)
    preds = [seg("Q1", "R1", 0, 6, 0, 6, 0.5), seg("Q1", "R1", 4, 10, 4, 10, 0.5)]
    assert segment_ap([gt], preds) == pytest.approx(1.0)


# --- pair micro-AP ----------------------------------------------------------------------------


def test_pair_micro_ap() -> None:
    # True pairs: (Q1,R1), (Q2,R2), (Q3,R3) -> 3 positives.
    # Predicted pairs by max score: (Q1,R1) 0.9 [max of 0.9, 0.2], (Q1,R9) 0.8, (Q2,R2) 0.7.
    # 0.9 TP: P = 1/1, ΔR = 1/3 -> +1/3
    # 0.8 FP: ΔR = 0
    # 0.7 TP: P = 2/3, ΔR = 1/3 -> +2/9
    # AP = 1/3 + 2/9 = 5/9; (Q3,R3) never predicted caps recall at 2/3.
    truth = [
        seg("Q1", "R1", 0, 1, 0, 1),
        seg("Q1", "R1", 5, 6, 5, 6),  # second segment, same pair: still one positive
        seg("Q2", "R2", 0, 1, 0, 1),
        seg("Q3", "R3", 0, 1, 0, 1),
    ]
    preds = [
        seg("Q1", "R1", 50, 60, 50, 60, 0.9),  # localisation is irrelevant here
        seg("Q1", "R1", 0, 1, 0, 1, 0.2),
        seg("Q1", "R9", 0, 1, 0, 1, 0.8),
        seg("Q2", "R2", 0, 1, 0, 1, 0.7),
    ]
    assert pair_micro_ap(truth, preds) == pytest.approx(5 / 9)


def test_pair_micro_ap_ties_and_empty() -> None:
    # One true pair; a TP and an FP tied at 0.5 form one group: P = 1/2, ΔR = 1 -> AP = 0.5,
    # whichever is listed first.
    truth = [seg("Q1", "R1", 0, 1, 0, 1)]
    tp = seg("Q1", "R1", 0, 1, 0, 1, 0.5)
    fp = seg("Q1", "R2", 0, 1, 0, 1, 0.5)
    assert pair_micro_ap(truth, [tp, fp]) == pytest.approx(0.5)
    assert pair_micro_ap(truth, [fp, tp]) == pytest.approx(0.5)
    assert pair_micro_ap([], [tp]) == 0.0
    assert pair_micro_ap(truth, []) == 0.0


# --- ranking ----------------------------------------------------------------------------------


def test_ranking_metrics() -> None:
    # Q1 true refs {R1, R2}; ranked R1 0.9 (T), R5 0.8 (F), R2 0.6 (T):
    #   AP = 1/1 * 1/2 + 2/3 * 1/2 = 5/6, hit@1 = 1.
    # Q2 true ref {R3}; ranked R7 0.9 (F), R3 0.5 (T): AP = 1/2 * 1 = 1/2, hit@1 = 0.
    # Q3 true ref {R4}, no prediction: AP = 0, hit@1 = 0.
    # Q4 has no true ref: ignored.
    # mAP = (5/6 + 1/2 + 0) / 3 = 4/9; HR@1 = 1/3.
    truth = [
        seg("Q1", "R1", 0, 1, 0, 1),
        seg("Q1", "R2", 0, 1, 0, 1),
        seg("Q2", "R3", 0, 1, 0, 1),
        seg("Q3", "R4", 0, 1, 0, 1),
    ]
    preds = [
        seg("Q1", "R1", 0, 1, 0, 1, 0.9),
        seg("Q1", "R1", 0, 1, 0, 1, 0.1),
        seg("Q1", "R5", 0, 1, 0, 1, 0.8),
        seg("Q1", "R2", 0, 1, 0, 1, 0.6),
        seg("Q2", "R7", 0, 1, 0, 1, 0.9),
        seg("Q2", "R3", 0, 1, 0, 1, 0.5),
        seg("Q4", "R1", 0, 1, 0, 1, 0.99),
    ]
    m_ap, hr1 = ranking_metrics(truth, preds)
    assert m_ap == pytest.approx(4 / 9)
    assert hr1 == pytest.approx(1 / 3)


def test_ranking_metrics_tie_at_top_and_empty() -> None:
    # Q1 true {R1}; R1 and R2 tied at 0.5: AP = 1/2 * 1 = 0.5; hit@1 is the expected hit
    # under random tie-breaking, 1 true of 2 tied = 0.5.
    truth = [seg("Q1", "R1", 0, 1, 0, 1)]
    preds = [seg("Q1", "R2", 0, 1, 0, 1, 0.5), seg("Q1", "R1", 0, 1, 0, 1, 0.5)]
    assert ranking_metrics(truth, preds) == pytest.approx((0.5, 0.5))
    assert ranking_metrics([], preds) == (0.0, 0.0)
    assert ranking_metrics(truth, []) == (0.0, 0.0)


# --- false-positive rate ----------------------------------------------------------------------


def test_false_positive_rate() -> None:
    # Negatives N1..N4 (N1 listed twice: counted once).  At threshold 0.5 only N1 (0.9) is
    # flagged: 1/4.  At 0.3, N2 (best 0.4) is flagged too: 2/4.  Q1 is not a negative.
    negatives = ["N1", "N2", "N3", "N4", "N1"]
    preds = [
        seg("N1", "R1", 0, 1, 0, 1, 0.9),
        seg("N1", "R2", 0, 1, 0, 1, 0.95),
        seg("N2", "R1", 0, 1, 0, 1, 0.3),
        seg("N2", "R1", 0, 1, 0, 1, 0.4),
        seg("Q1", "R1", 0, 1, 0, 1, 0.9),
    ]
    assert false_positive_rate(negatives, preds, threshold=0.5) == pytest.approx(0.25)
    assert false_positive_rate(negatives, preds, threshold=0.3) == pytest.approx(0.5)
    assert false_positive_rate(iter(negatives), preds, threshold=0.4) == pytest.approx(0.5)
    assert false_positive_rate([], preds, threshold=0.5) == 0.0


# --- recall at threshold and breakdown --------------------------------------------------------

RECALL_TRUTH = [
    seg("Q1", "R1", 0, 10, 0, 10),  # g1
    seg("Q1", "R1", 50, 60, 50, 60),  # g2
    seg("Q2", "R2", 0, 10, 0, 10),  # g3
]
RECALL_PREDS = [
    seg("Q1", "R1", 5, 8, 5, 8, 0.9),  # inside g1: found
    seg("Q1", "R1", 50, 60, 0, 10, 0.9),  # g2 on query axis only (and misses g1 on query)
    seg("Q2", "R2", 0, 10, 0, 10, 0.2),  # finds g3, but only below 0.5
]


def test_recall_at_threshold() -> None:
    # threshold 0.5: g1 found, g2 not (no overlap on the reference axis), g3's prediction
    # too weak -> 1/3.  threshold 0.1: g3 found as well -> 2/3.
    assert recall_at_threshold(RECALL_TRUTH, RECALL_PREDS, threshold=0.5) == pytest.approx(1 / 3)
    assert recall_at_threshold(RECALL_TRUTH, RECALL_PREDS, threshold=0.1) == pytest.approx(2 / 3)
    assert recall_at_threshold([], RECALL_PREDS, threshold=0.5) == 0.0


def test_recall_breakdown() -> None:
    # speed:1.0 holds g1 (found) and g3 (too weak at 0.5): recall 1/2 of 2.
    # speed:1.2-1.33 holds g2 (not found): recall 0 of 1.
    labelled = [
        ("speed:1.0", RECALL_TRUTH[0]),
        ("speed:1.2-1.33", RECALL_TRUTH[1]),
        ("speed:1.0", RECALL_TRUTH[2]),
    ]
    out = recall_breakdown(labelled, RECALL_PREDS, threshold=0.5)
    assert out == {
        "speed:1.0": {"recall": pytest.approx(0.5), "count": 2},
        "speed:1.2-1.33": {"recall": 0.0, "count": 1},
    }
    assert recall_breakdown([], RECALL_PREDS, threshold=0.5) == {}


# --- properties -------------------------------------------------------------------------------


@st.composite
def segments(draw: st.DrawFn, min_length: float = 0.0) -> SegmentPair:
    qs = draw(st.floats(0, 100))
    rs = draw(st.floats(0, 100))
    ql = draw(st.floats(min_length, 50))
    rl = draw(st.floats(min_length, 50))
    return SegmentPair(
        query=draw(st.sampled_from(["Q1", "Q2"])),
        reference=draw(st.sampled_from(["R1", "R2"])),
        query_start=qs,
        query_end=qs + ql,
        reference_start=rs,
        reference_end=rs + rl,
        score=draw(st.floats(0.01, 1.0)),
    )


@settings(max_examples=200, deadline=None)
@given(st.lists(segments(), max_size=6), st.lists(segments(), max_size=8))
def test_segment_ap_is_in_unit_interval(
    truth: list[SegmentPair], predictions: list[SegmentPair]
) -> None:
    ap = segment_ap(truth, predictions)
    assert 0.0 <= ap <= 1.0
    assert 0.0 <= pair_micro_ap(truth, predictions) <= 1.0
    m_ap, hr1 = ranking_metrics(truth, predictions)
    assert 0.0 <= m_ap <= 1.0 and 0.0 <= hr1 <= 1.0


@settings(max_examples=200, deadline=None)
@given(
    st.lists(segments(min_length=0.5), min_size=1, max_size=6),
    st.data(),
)
def test_segment_ap_is_one_for_truth_as_predictions(
    truth: list[SegmentPair], data: st.DataObject
) -> None:
    # Every prediction equals some truth segment, so precision stays 1 on both axes and the
    # final recall is 1, whatever the scores: AP = Σ ΔR = 1.
    scores = data.draw(st.lists(st.floats(1e-6, 1e6), min_size=len(truth), max_size=len(truth)))
    preds = [
        SegmentPair(t.query, t.reference, t.query_start, t.query_end,
                    t.reference_start, t.reference_end, s)
        for t, s in zip(truth, scores, strict=True)
    ]  # fmt: skip
    assert segment_ap(truth, preds) == pytest.approx(1.0)
    assert pair_micro_ap(truth, preds) == pytest.approx(1.0)


@settings(max_examples=100, deadline=None)
@given(st.lists(segments(), max_size=6), st.lists(segments(), max_size=8), st.randoms())
def test_segment_ap_ignores_prediction_order(
    truth: list[SegmentPair], predictions: list[SegmentPair], rnd: random.Random
) -> None:
    shuffled = list(predictions)
    rnd.shuffle(shuffled)
    assert segment_ap(truth, shuffled) == pytest.approx(segment_ap(truth, predictions))
