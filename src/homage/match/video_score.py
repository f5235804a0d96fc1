"""Calibrated scores for aligned video segments, per descriptor.

A segment's evidence is how alike its frame pairs are (``similarity``), how many there are
(``frames``), how steadily the line holds across the range (``coverage``), how many pairs
are the very same picture by a layout hash (``layout``) and how far the pairs stand out from
the best look-alikes elsewhere in the library (``distinctiveness``).  A logistic model
maps them to [0, 1] so that one threshold means the same for every descriptor; its weights are
fitted by ``homage bench video --calibrate`` on a corpus built with a *different seed* from the
benchmark's (see docs/benchmarks.md), never on the benchmark's own queries.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass

from homage.match.video_align import VideoAlignSettings, VideoSegmentMatch

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Calibration:
    """Alignment settings and logistic weights for one descriptor."""

    align: VideoAlignSettings
    bias: float
    similarity: float
    log_frames: float
    coverage: float
    layout: float
    distinctiveness: float


CALIBRATIONS: dict[str, Calibration] = {
    "effnet-lite0": Calibration(
        align=VideoAlignSettings(min_similarity=0.6),
        # fitted on the quick corpora of seeds 1-3 (170 segments, 67 right), 2026-11-24
        bias=-19.688, similarity=9.335, log_frames=1.996, coverage=7.416, layout=4.105,
        distinctiveness=1.494,
    ),
    "pdq": Calibration(
        align=VideoAlignSettings(min_similarity=0.3),
        # fitted on the quick corpus of seed 1 (19 segments, 16 right: few wrong ones to
        # learn from; the ablation is compared on ranking, segment AP), 2026-11-24
        bias=2.815, similarity=2.139, log_frames=0.077, coverage=-2.842, layout=0.0,
        distinctiveness=0.0,
    ),
}


def calibration_for(descriptor: str) -> Calibration:
    """The descriptor's fitted weights; a user's own model (``onnx:PATH``) borrows the default
    descriptor's until ``homage bench video --calibrate`` is run for it."""
    if descriptor not in CALIBRATIONS:
        logger.info("no calibration for descriptor %s: using effnet-lite0's", descriptor)
    return CALIBRATIONS.get(descriptor, CALIBRATIONS["effnet-lite0"])


def segment_features(segment: VideoSegmentMatch) -> tuple[float, ...]:
    """The model's inputs: (similarity, log frames, coverage, layout, distinctiveness)."""
    return (segment.similarity, math.log(max(segment.frames, 1)), segment.coverage,
            segment.layout, segment.distinctiveness)


def score_segment(segment: VideoSegmentMatch, calibration: Calibration) -> VideoSegmentMatch:
    """``segment`` with its calibrated score."""
    sim, log_frames, coverage, layout, distinct = segment_features(segment)
    z = (calibration.bias + calibration.similarity * sim + calibration.log_frames * log_frames
         + calibration.coverage * coverage + calibration.layout * layout
         + calibration.distinctiveness * distinct)
    return dataclasses.replace(segment, score=1.0 / (1.0 + math.exp(-z)))
