"""``homage.match.video_score``: the features a segment's calibrated score is made of."""

from __future__ import annotations

import numpy as np
import pytest

from homage.match.video_align import VideoSegmentMatch
from homage.match.video_score import (
    calibration_for,
    independent_frames,
    score_segment,
    segment_features,
)


def _segment(frames: int, speed: float) -> VideoSegmentMatch:
    """``frames`` inliers over 5 s of query, all alike, nothing else to tell them apart."""
    return VideoSegmentMatch(
        work=1, query_start=0.0, query_end=5.0, reference_start=10.0,
        reference_end=10.0 + 5.0 * speed, speed=speed, mirrored=0.0, frames=frames,
        similarity=0.83, coverage=1.0, query_rows=np.arange(frames),
        reference_times=np.zeros(frames, np.float32),
        pair_similarities=np.full(frames, 0.83, np.float32))


@pytest.mark.parametrize(("speed", "counted"), [(0.5, 5.0), (1.0, 10.0), (2.0, 10.0)])
def test_frames_count_as_the_reference_pictures_they_show(speed: float,
                                                          counted: float) -> None:
    # slowed to x0.5, ten query frames show five reference pictures; sped up, each query
    # frame is a picture of its own
    assert independent_frames(_segment(10, speed)) == pytest.approx(counted)
    assert segment_features(_segment(10, speed))[1] == pytest.approx(np.log(counted))


def test_a_slow_line_is_weaker_evidence_than_the_same_pairs_at_normal_speed() -> None:
    calibration = calibration_for("effnet-lite0")
    slow = score_segment(_segment(11, 0.45), calibration).score
    normal = score_segment(_segment(11, 1.0), calibration).score
    # 11 look-alike frames lined up at x0.45 with 2.3 s of a reference were reported as a
    # copy (0.57); they span five reference pictures, and that is all they can show
    assert slow < 0.5 < normal
