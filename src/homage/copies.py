"""The visual-copy steps of the pipeline: describe a video's frames, match a query's frames.

Like ``homage.pipeline`` (which calls these), this module holds no algorithm of its own: it
joins decoding (``media.video``), shots, descriptors, the vector index and alignment.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from homage.errors import ParameterError
from homage.match.vector_index import VectorIndex
from homage.match.video_align import (
    VideoSegmentMatch,
    align_frames,
    suppress_duplicates,
)
from homage.match.video_score import calibration_for, score_segment
from homage.media.video import video_frames
from homage.shots import CutDetector
from homage.types import Match, Transform
from homage.visual import AVAILABLE_DESCRIPTORS, FrameDescriptor
from homage.visual.prints import VisualPrint, VisualSettings

#: Called with the seconds of video processed since the last call.
Advance = Callable[[float], None]


@dataclass(frozen=True)
class QueryFrames:
    """A query's frames as decoded and mirrored: ``mirrored`` is (n, dim) like
    ``print.vectors``, describing each frame flipped left to right."""

    print: VisualPrint
    mirrored: np.ndarray


@functools.cache
def descriptor_for(name: str) -> FrameDescriptor:
    """The descriptor registered as ``name``, built once per process (models load slowly)."""
    try:
        return AVAILABLE_DESCRIPTORS[name]()
    except KeyError:
        raise ParameterError(
            f"unknown descriptor {name!r}; choose from {', '.join(AVAILABLE_DESCRIPTORS)}"
        ) from None


def describe_video(
    path: Path, settings: VisualSettings, *, mirrored: bool = False,
    max_seconds: float | None = None, advance: Advance | None = None,
) -> QueryFrames:
    """Sample, describe and cut one video; ``mirrored`` also describes flipped frames."""
    descriptor = descriptor_for(settings.descriptor)
    cuts = CutDetector()
    times, vectors, flipped, boxes = [], [], [], []
    done = 0.0
    for batch in video_frames(path, fps=settings.fps, size=descriptor.input_size,
                              max_seconds=max_seconds, observer=cuts.update,
                              remove_borders=settings.remove_borders):
        times.append(batch.times)
        boxes.append(batch.boxes)
        vectors.append(descriptor.describe(batch.frames))
        if mirrored:
            flipped.append(descriptor.describe(np.ascontiguousarray(batch.frames[:, :, ::-1])))
        if advance is not None:
            advance(float(batch.times[-1]) - done)
            done = float(batch.times[-1])
    dim = descriptor.dim
    frames = VisualPrint(
        times=np.concatenate(times).astype(np.float32),
        vectors=np.concatenate(vectors) if vectors else np.zeros((0, dim), np.float32),
        boxes=np.concatenate(boxes),
        cuts=np.asarray(cuts.cuts, dtype=np.float32),
    )
    mirror = np.concatenate(flipped) if flipped else np.zeros((0, dim), np.float32)
    return QueryFrames(frames, mirror)


def copy_matches(
    query: QueryFrames, index: VectorIndex, durations: dict[int, float],
    names: dict[int, str], query_duration: float, *, settings: VisualSettings,
    threshold: float,
) -> list[Match]:
    """Look up, align, score, threshold: the ``visual_copy`` matches of one described query."""
    calibration = calibration_for(settings.descriptor)
    align = calibration.align
    neighbours = {
        False: index.search(query.print.vectors, k=align.neighbours),
        True: index.search(query.mirrored, k=align.neighbours),
    }
    segments = align_frames(
        query.print.times.astype(np.float64), neighbours,
        reference_durations=durations, query_duration=query_duration,
        frame_step=1.0 / settings.fps, settings=align,
    )
    scored = [score_segment(s, calibration) for s in segments]
    return [
        _to_match(s, names[s.work], query.print)
        for s in suppress_duplicates(scored) if s.score >= threshold
    ]


def _to_match(segment: VideoSegmentMatch, reference: str, frames: VisualPrint) -> Match:
    inside = (frames.times >= segment.query_start) & (frames.times <= segment.query_end)
    box = np.median(frames.boxes[inside], axis=0) if inside.any() else None
    region = None if box is None or np.allclose(box, (0, 0, 1, 1), atol=0.02) \
        else tuple(round(float(v), 3) for v in box)
    return Match(
        kind="visual_copy",
        reference=reference,
        query_start=segment.query_start,
        query_end=segment.query_end,
        reference_start=segment.reference_start,
        reference_end=segment.reference_end,
        score=segment.score,
        transform=Transform(speed=segment.speed, tempo=segment.speed,
                            mirrored=segment.mirrored, region=region),
    )
