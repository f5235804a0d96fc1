"""The pure parts of ``homage bench video``: the score calibration fit and its labelling."""

from __future__ import annotations

import numpy as np
import pytest

from homage.bench.harness import SystemResult, score_system, summary_line
from homage.bench.metrics import SegmentPair
from homage.bench.video import _is_right, fit_logistic, markdown_table
from homage.match.video_align import VideoSegmentMatch


def test_fit_logistic_recovers_the_generating_weights() -> None:
    rng = np.random.default_rng(0)
    features = rng.normal(size=(4000, 2))
    true = np.array([-0.5, 2.0, -1.0])
    p = 1 / (1 + np.exp(-(true[0] + features @ true[1:])))
    labels = (rng.random(4000) < p).astype(float)
    fitted = fit_logistic(features, labels, l2=0.0)
    assert fitted == pytest.approx(true, abs=0.2)


def test_fit_logistic_stays_finite_on_separable_data() -> None:
    features = np.array([[0.0], [0.1], [0.9], [1.0]])
    labels = np.array([0.0, 0.0, 1.0, 1.0])
    fitted = fit_logistic(features, labels)
    assert np.all(np.isfinite(fitted)) and fitted[1] > 0


def _segment(q0: float, q1: float, r0: float, r1: float) -> VideoSegmentMatch:
    return VideoSegmentMatch(work=1, query_start=q0, query_end=q1, reference_start=r0,
                             reference_end=r1, speed=1.0, mirrored=0.0, frames=4,
                             similarity=0.9, coverage=1.0, query_rows=np.arange(4),
                             reference_times=np.zeros(4), pair_similarities=np.ones(4))


def test_a_segment_is_right_when_it_overlaps_a_true_copy_on_both_axes() -> None:
    truth = [SegmentPair("q.mp4", "r.mp4", 10.0, 20.0, 50.0, 60.0)]
    assert _is_right(_segment(11, 19, 51, 59), "q.mp4", "r.mp4", truth)
    assert not _is_right(_segment(11, 19, 80, 88), "q.mp4", "r.mp4", truth)
    assert not _is_right(_segment(11, 19, 51, 59), "q.mp4", "other.mp4", truth)
    assert not _is_right(_segment(11, 19, 51, 59), "other.mp4", "r.mp4", truth)


class _Copy:
    def __init__(self, segment: SegmentPair, labels: tuple[str, ...]) -> None:
        self.segment = segment
        self.labels = labels


def test_tables_and_summary_show_every_system() -> None:
    truth = [_Copy(SegmentPair("q.mp4", "r.mp4", 0.0, 5.0, 10.0, 15.0), ("flip", "combo:single"))]
    good = SystemResult("homage", [SegmentPair("q.mp4", "r.mp4", 0.0, 5.0, 10.0, 15.0, 0.9)],
                        index_cpu_seconds=1.0, reference_seconds=60.0, query_seconds=[0.5],
                        media_seconds=30.0, peak_rss_bytes=10**8, index_bytes=10**6)
    good.metrics = score_system(truth, ["n.mp4"], good, threshold=0.5)
    result = {"benchmark": "video", "variant": "quick",
              "systems": {"homage": {**good.metrics, "notes": ""},
                          "vpdq": {"notes": "not run: no compiler"}}}
    table = markdown_table(result)
    assert "| homage | 1.000 |" in table and "not run: no compiler" in table
    assert "| flip | 1.000 |" in table
    line = summary_line(result)
    assert line.startswith("BENCH ") and '"homage":{"segment_ap":1.0' in line
