"""The visual-copy steps of the pipeline: describe a video's frames, match a query's frames.

Like ``homage.pipeline`` (which calls these), this module holds no algorithm of its own: it
joins decoding (``media.video``), shots, descriptors, the vector index and alignment.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from homage.cpus import describing_threads
from homage.match.homage_model import RESTYLE
from homage.match.reframe import CROPS, best_crop
from homage.match.restyle import RestyleModel, aligned_aspects, restyle_features
from homage.match.vector_index import Neighbours, NeighbourSearch
from homage.match.video_align import (
    VideoSegmentMatch,
    align_frames,
    distinctiveness,
    suppress_duplicates,
    within_shot,
)
from homage.match.video_score import calibration_for, score_segment
from homage.media.insets import PER_FRAME, InsetFinder
from homage.media.prefetch import prefetch
from homage.media.video import resize_rgb, video_frames
from homage.shots import CutDetector
from homage.types import Match, Transform
from homage.visual import descriptor_for
from homage.visual.base import FrameDescriptor
from homage.visual.looks import (
    LOOK_DIM,
    frame_looks,
    frame_luma,
    layout_agreement,
    layout_looks,
    luma_spread,
    mirror_looks,
)
from homage.visual.pdq import SAME_PICTURE, hamming, pdq_bits
from homage.visual.prints import LABELS_KEPT, VisualPrint, VisualSettings

#: Called with the seconds of video processed since the last call.
Advance = Callable[[float], None]


@dataclass(frozen=True)
class QueryFrames:
    """A query's frames as decoded and mirrored: ``mirrored_pdq`` (n, 32) and, where the
    descriptor tells a picture from its mirror image, ``mirrored`` (n, dim) describe each
    frame of ``print`` flipped left to right.  For a mirror-invariant descriptor ``mirrored``
    is None: the flipped frames would get vectors within 0.93-0.97 of the ones as decoded, at a
    fifth of the time it takes to describe a query (PDQ and the looks, which do see mirroring,
    tell which way round a copy is).

    ``inset_boxes`` (n, k, 4) is where each frame may hold a picture in the picture, its k
    likeliest, as (left, top, right, bottom) fractions of the frame (NaN where it holds fewer);
    ``insets`` (n, k, dim), ``inset_pdq`` (n, k, 32) and ``inset_looks`` (n, k, LOOK_DIM; their
    layouts only, ``layout_looks``) describe those insets alone (zeros where none): footage
    shown small inside other footage is found by its inset (``homage.media.insets``).
    """

    print: VisualPrint
    mirrored: np.ndarray | None
    mirrored_pdq: np.ndarray
    insets: np.ndarray | None = None
    inset_pdq: np.ndarray | None = None
    inset_boxes: np.ndarray | None = None
    inset_looks: np.ndarray | None = None


def describe_video(
    path: Path, settings: VisualSettings, *, query: bool = False,
    max_seconds: float | None = None, advance: Advance | None = None,
) -> QueryFrames:
    """Sample, describe and cut one video; a ``query`` is also described flipped (where the
    descriptor can tell), and the insets of its frames on their own (a reference is matched
    whole, as stored)."""
    descriptor = descriptor_for(settings.descriptor)
    flip = query and not descriptor.mirror_invariant
    cuts = CutDetector()
    insets = InsetFinder() if query else None
    parts: dict[str, list[np.ndarray]] = {
        k: [] for k in ("times", "boxes", "vectors", "pdq", "mirrored", "mirrored_pdq",
                        "looks", "labels", "label_scores", "insets", "inset_pdq",
                        "inset_boxes", "inset_looks")}
    done = 0.0
    previous = None
    inference, decoding = describing_threads(query=query)
    for batch in prefetch(video_frames(path, fps=settings.fps, size=descriptor.input_size,
                                       max_seconds=max_seconds, observer=cuts.update,
                                       remove_borders=settings.remove_borders,
                                       threads=decoding)):
        parts["times"].append(batch.times.astype(np.float32))
        parts["boxes"].append(batch.boxes)
        vectors, labels, scores = descriptor.describe_labelled(batch.frames, LABELS_KEPT,
                                                               threads=inference)
        parts["vectors"].append(vectors)
        if labels is not None and scores is not None:
            parts["labels"].append(labels)
            parts["label_scores"].append(scores)
        parts["pdq"].append(pdq_bits(batch.frames))
        parts["looks"].append(frame_looks(batch.frames, previous))
        previous = batch.frames[-1]
        if query:
            flipped = np.ascontiguousarray(batch.frames[:, :, ::-1])
            if flip:
                parts["mirrored"].append(descriptor.describe(flipped, threads=inference))
            parts["mirrored_pdq"].append(pdq_bits(flipped))
        if insets is not None:
            shots = np.searchsorted(np.asarray(cuts.cuts), batch.times, side="right")
            described = _describe_insets(batch.frames, shots, insets, descriptor, inference)
            for name, values in zip(("inset_boxes", "insets", "inset_pdq", "inset_looks"),
                                    described, strict=True):
                parts[name].append(values)
        if advance is not None:
            advance(float(batch.times[-1]) - done)
            done = float(batch.times[-1])
    empty = {"times": (0,), "boxes": (0, 4), "vectors": (0, descriptor.dim), "pdq": (0, 32),
             "mirrored": (0, descriptor.dim), "mirrored_pdq": (0, 32), "looks": (0, LOOK_DIM),
             "labels": (0, LABELS_KEPT), "label_scores": (0, LABELS_KEPT),
             "insets": (0, PER_FRAME, descriptor.dim), "inset_pdq": (0, PER_FRAME, 32),
             "inset_boxes": (0, PER_FRAME, 4), "inset_looks": (0, PER_FRAME, LOOK_DIM)}
    joined = {k: np.concatenate(v) if v else np.zeros(empty[k], np.float32)
              for k, v in parts.items()}
    classified = len(parts["labels"]) > 0 or len(joined["times"]) == 0
    frames = VisualPrint(times=joined["times"], vectors=joined["vectors"],
                         boxes=joined["boxes"], cuts=np.asarray(cuts.cuts, dtype=np.float32),
                         pdq=joined["pdq"].astype(np.uint8), looks=joined["looks"],
                         labels=joined["labels"].astype(np.int64) if classified else None,
                         label_scores=joined["label_scores"] if classified else None)
    seen_insets = {} if insets is None else {
        "insets": joined["insets"], "inset_pdq": joined["inset_pdq"].astype(np.uint8),
        "inset_boxes": joined["inset_boxes"], "inset_looks": joined["inset_looks"]}
    return QueryFrames(frames, joined["mirrored"] if flip else None,
                       joined["mirrored_pdq"].astype(np.uint8), **seen_insets)


#: Share of an inset's width and height left out on each side when it is described: its box
#: lies on the edges around the picture (a border line, the step to the footage around it),
#: which are no part of the copied picture.
_INSET_MARGIN = 0.03


def _describe_insets(frames: np.ndarray, shots: np.ndarray, finder: InsetFinder,
                     descriptor: FrameDescriptor, threads: int
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The inset boxes of a batch of frames, and the descriptors, PDQ hashes and layouts of the
    insets, each cut out and scaled to the descriptor's input size: (n, k, 4) with NaN where
    none, (n, k, dim), (n, k, 32) and (n, k, LOOK_DIM) with zeros there.  An inset that shows
    nothing (a black box) is no inset: like a blank frame, it would look like every other."""
    boxes = finder.boxes(frames, shots)
    h, w = frames.shape[1:3]
    crops, places = [], []
    for row, slot in zip(*np.nonzero(~np.isnan(boxes[:, :, 0])), strict=True):
        left, top, right, bottom = boxes[row, slot]
        inward_x, inward_y = _INSET_MARGIN * (right - left), _INSET_MARGIN * (bottom - top)
        crop = frames[row, round((top + inward_y) * h):round((bottom - inward_y) * h),
                      round((left + inward_x) * w):round((right - inward_x) * w)]
        if frame_luma(crop).std() < BLANK_LUMA_SPREAD:
            boxes[row, slot] = np.nan
            continue
        crops.append(resize_rgb(crop, descriptor.input_size))
        places.append((row, slot))
    vectors = np.zeros((*boxes.shape[:2], descriptor.dim), dtype=np.float32)
    hashes = np.zeros((*boxes.shape[:2], 32), dtype=np.uint8)
    looks = np.zeros((*boxes.shape[:2], LOOK_DIM), dtype=np.float32)
    if crops:
        pictures = np.stack(crops)
        rows, slots = np.array(places).T
        vectors[rows, slots] = descriptor.describe(pictures, threads=threads)
        hashes[rows, slots] = pdq_bits(pictures)
        looks[rows, slots] = layout_looks(pictures)
    return boxes, vectors, hashes, looks


def copy_matches(
    query: QueryFrames, index: NeighbourSearch, durations: dict[int, float],
    names: dict[int, str], query_duration: float, *, prints_of: Callable[[int], VisualPrint],
    settings: VisualSettings, threshold: float, restyle: RestyleModel | None = RESTYLE,
) -> list[Match]:
    """Look up, align, check the layout, score, threshold: the frame-aligned matches of one
    described query.  ``prints_of(work)`` gives a reference's stored frames.

    Most are ``visual_copy``; a stretch that ``restyle`` judges re-rendered in another look
    (cel shading, paint, a sketch) is a ``visual_homage`` that follows its model frame by
    frame, and is reported as one.  With ``restyle`` None (homages not asked for) every
    stretch is a copy, as a copy detector sees it.  So is a stretch found in an inset: shown
    small and scaled back up, a picture has lost the fine detail and edges the label reads
    how it was rendered from (all 10 found in insets on the video benchmark's corpus were
    called re-renderings, 2 still when their looks were taken on the inset alone).
    """
    segments = copy_segments(query, index, durations, query_duration, prints_of=prints_of,
                             settings=settings)
    matches = []
    for segment in (s for s in segments if s.score >= threshold):
        pair = aligned_looks(segment, query, prints_of(segment.work)) \
            if restyle is not None and segment.region is None else None
        aspects = None
        if pair is not None and restyle is not None:
            features = restyle_features(*pair)
            if restyle.probability(features[None])[0] >= 0.5:
                aspects = aligned_aspects(*pair)
        matches.append(segment_match(segment, names[segment.work], query.print, aspects))
    return matches


def aligned_looks(segment: VideoSegmentMatch, query: QueryFrames,
                  reference: VisualPrint) -> tuple[np.ndarray, np.ndarray] | None:
    """The looks of a stretch's aligned frame pairs, (k, LOOK_DIM) each, the query's turned
    the reference's way round; None where either work has no looks stored."""
    if query.print.looks is None or reference.looks is None:
        return None
    ref_rows = _reference_rows(segment, reference)
    looks = query.print.looks[segment.query_rows]
    if segment.mirrored > 0.5:
        looks = mirror_looks(looks)
    return looks, reference.looks[ref_rows]


def _reference_rows(segment: VideoSegmentMatch, reference: VisualPrint) -> np.ndarray:
    """The reference's stored frames at the times of ``segment``'s inlier pairs."""
    return np.clip(np.searchsorted(reference.times, segment.reference_times),
                   0, len(reference.times) - 1)


def copy_segments(
    query: QueryFrames, index: NeighbourSearch, durations: dict[int, float],
    query_duration: float, *, prints_of: Callable[[int], VisualPrint],
    settings: VisualSettings,
) -> list[VideoSegmentMatch]:
    """Every scored segment, best first, duplicates removed but not thresholded (what
    ``copy_matches`` reports from, and what calibration learns from)."""
    calibration = calibration_for(settings.descriptor)
    align = calibration.align
    neighbours = {False: index.search(query.print.vectors, k=align.neighbours)}
    if query.mirrored is not None:
        neighbours[True] = index.search(query.mirrored, k=align.neighbours)
    blank = blank_frames(query.print)
    if blank.any():
        neighbours = {side: _without(found, blank) for side, found in neighbours.items()}
    if query.insets is not None and query.inset_boxes is not None:
        rows, slots = np.nonzero(~np.isnan(query.inset_boxes[:, :, 0]))
        if rows.size:
            found = index.search(query.insets[rows, slots], k=align.neighbours)
            neighbours[False] = _with_insets(neighbours[False], found, rows, slots,
                                             query.inset_boxes.shape[1])
    segments = align_frames(
        query.print.times.astype(np.float64), neighbours,
        reference_durations=durations, query_duration=query_duration,
        frame_step=1.0 / settings.fps, settings=align,
    )
    query_times = query.print.times.astype(np.float64)
    segments = [within_shot(s, query_times, query.print.cuts, reach=align.cut_reach_s,
                            reference_duration=durations.get(s.work, np.inf))
                for s in segments]
    prints = {w: prints_of(w) for w in {s.work for s in segments}}
    scored = []
    for found in segments:
        reference = prints[found.work]
        checked = _place_inset(_check_layout(found, query, reference), query, reference)
        settled = _settle_in_still_footage(checked, query, reference,
                                           durations.get(found.work, np.inf))
        if settled is not checked:
            checked = _place_inset(_check_layout(settled, query, reference), query, reference)
        scored.append(score_segment(dataclasses.replace(
            checked, distinctiveness=distinctiveness(checked, neighbours[False])), calibration))
    return suppress_duplicates(scored)


#: A frame whose luma spreads less than this (standard deviation, 0-1) shows nothing: black
#: between shots, the end of a fade.
BLANK_LUMA_SPREAD = 0.01


def blank_frames(frames: VisualPrint) -> np.ndarray:
    """(n,) bool: the frames that show nothing.  Every blank frame looks like every other
    (a black frame in a query found a film's opening black at 0.93), so they are no evidence
    of a copy.  Without stored looks no frame is called blank."""
    if frames.looks is None:
        return np.zeros(len(frames), dtype=bool)
    return luma_spread(frames.looks) < BLANK_LUMA_SPREAD


def _without(found: Neighbours, rows: np.ndarray) -> Neighbours:
    """``found`` with the neighbours of ``rows`` taken away."""
    return Neighbours(work=np.where(rows[:, None], -1, found.work), time=found.time,
                      similarity=found.similarity)


def _with_insets(found: Neighbours, inset: Neighbours, rows: np.ndarray, slots: np.ndarray,
                 per_frame: int) -> Neighbours:
    """The look-ups of whole frames with those of their insets beside them (``per_frame``
    more blocks of columns, empty where a frame has no such inset): all vote in one
    alignment, as the two orientations do, and the alignment takes whichever view a stretch
    follows."""
    n, k = found.work.shape
    work = np.full((n, per_frame, k), -1, dtype=found.work.dtype)
    time_ = np.zeros((n, per_frame, k), dtype=found.time.dtype)
    similarity = np.full((n, per_frame, k), -1.0, dtype=found.similarity.dtype)
    work[rows, slots], time_[rows, slots] = inset.work, inset.time
    similarity[rows, slots] = inset.similarity
    return Neighbours(work=np.hstack([found.work, work.reshape(n, -1)]),
                      time=np.hstack([found.time, time_.reshape(n, -1)]),
                      similarity=np.hstack([found.similarity, similarity.reshape(n, -1)]))


#: How far either way (seconds) a stretch may be moved along its reference...
_STILL_REACH_S = 30.0
#: ...to a place where its pairs stay as alike to the descriptor as this (mean similarity
#: at most this much lower; an inset's, small and scaled up, is the noisier)...
_STILL_ALIKE = 0.03
_STILL_INSET_ALIKE = 0.05
#: ...and PDQ finds the pictures closer, by this many bits on average (an inset's layouts
#: agree better, by this much).
_STILL_PDQ_GAIN = 8.0
_STILL_LAYOUT_GAIN = 0.05


def _settle_in_still_footage(segment: VideoSegmentMatch, query: QueryFrames,
                             reference: VisualPrint, duration: float) -> VideoSegmentMatch:
    """``segment`` moved along its reference to where its very pictures are, where the
    descriptor cannot tell that place from the one the alignment took.

    In still footage (a fixed camera, a slow opening shot) every moment looks alike to a
    descriptor made to see through edits, and the alignment takes whichever its noise
    favours: on the video benchmark, four whole-frame copies of still footage were placed
    4-15 s from the truth at 0.9 or more (each a false match and a missed copy at once).
    PDQ, a hash of the picture itself, still tells those moments apart (a copy of a slowly
    moving tree 18 s in: 19 bits from its true frames on average, 35-38 from the opening
    frames it was placed on), so the stretch's pairs are read again at every shift within
    ``_STILL_REACH_S`` that keeps the descriptor's similarity within ``_STILL_ALIKE``, and it
    moves where PDQ is closer by ``_STILL_PDQ_GAIN`` bits or more and recognises the picture
    (``SAME_PICTURE`` on average: a copy rotated by 5-10 degrees is 100 bits from everything,
    and 8 bits there is noise).  Either orientation counts: which way round it is gets decided
    afterwards.

    A stretch found in an inset is read on its inset, where PDQ recognises little: there the
    inset's coarse layout does, as in ``_place_inset`` (a fixed street camera shown at a third
    of the frame, mirrored and noisy: its layout agrees with the true moment at 0.91, with the
    one the descriptor chose 6 s away at 0.79; the descriptor is 0.04 less alike there)."""
    rows, times = segment.query_rows, segment.reference_times
    if len(rows) < 2 or len(reference.times) < 2:
        return segment
    # each shift brings the first pair onto a stored frame: no two shifts read the same rows
    shifts = reference.times.astype(np.float64) - float(times[0])
    first, last = float(reference.times[0]), float(reference.times[-1])
    shifts = shifts[(np.abs(shifts) <= _STILL_REACH_S) & (times.min() + shifts >= first)
                    & (times.max() + shifts <= last)]
    if shifts.size < 2:
        return segment
    at = np.clip(np.searchsorted(reference.times, times[None, :] + shifts[:, None]),
                 0, len(reference.times) - 1)
    evidence = _whole_picture_evidence if segment.region is None else _inset_evidence
    found = evidence(segment, query, reference, at)
    if found is None:
        return segment
    similarity, closeness = found.alike.mean(axis=1), found.closeness
    here = int(np.argmin(np.abs(shifts)))
    plausible = similarity >= similarity[here] - found.alike_within
    best = int(np.argmax(np.where(plausible, closeness, -np.inf)))
    if closeness[best] < max(closeness[here] + found.gain, found.recognised):
        return segment  # no clearly closer place, or none recognised (a strong edit)
    shift = float(shifts[best] - shifts[here])
    moved = found.alike[best]
    return dataclasses.replace(
        segment, reference_times=times + shift,
        reference_start=float(np.clip(segment.reference_start + shift, 0.0, duration)),
        reference_end=float(np.clip(segment.reference_end + shift, 0.0, duration)),
        pair_similarities=moved, similarity=float(moved.mean()))


class _StillEvidence(NamedTuple):
    """What ``_settle_in_still_footage`` weighs at each shift of a stretch."""

    alike: np.ndarray  #: (shifts, pairs) the descriptor's similarities
    closeness: np.ndarray  #: (shifts,) how close the very pictures are (larger: closer)
    alike_within: float  #: how much less alike (mean) a place may be than the found one
    gain: float  #: how much closer it must be
    recognised: float  #: the closeness at which the pictures are recognised as the same


def _whole_picture_evidence(segment: VideoSegmentMatch, query: QueryFrames,
                            reference: VisualPrint, at: np.ndarray) -> _StillEvidence:
    """Whole frames: the descriptor either way round, and PDQ (closeness: minus the bits)."""
    rows = segment.query_rows
    low, high = int(at.min()), int(at.max()) + 1
    vectors, hashes = reference.vectors[low:high], reference.pdq[low:high]
    alike = query.print.vectors[rows] @ vectors.T
    if query.mirrored is not None:
        alike = np.maximum(alike, query.mirrored[rows] @ vectors.T)
    apart = np.minimum(hamming(query.print.pdq[rows][:, None, :], hashes[None, :, :]),
                       hamming(query.mirrored_pdq[rows][:, None, :], hashes[None, :, :]))
    pairs = np.arange(len(rows))[None, :]
    return _StillEvidence(alike[pairs, at - low], -apart[pairs, at - low].mean(axis=1),
                          _STILL_ALIKE, _STILL_PDQ_GAIN, -float(SAME_PICTURE))


def _inset_evidence(segment: VideoSegmentMatch, query: QueryFrames, reference: VisualPrint,
                    at: np.ndarray) -> _StillEvidence | None:
    """An inset: its descriptor, and its layout the way round it was found (closeness: the
    mean agreement); None without the insets' looks."""
    if query.insets is None or query.inset_looks is None or reference.looks is None:
        return None
    slot, _ = _inset_slots(segment, query, reference)
    rows = segment.query_rows
    looks = query.inset_looks[rows, slot]
    if segment.mirrored > 0.5:
        looks = mirror_looks(looks)
    low, high = int(at.min()), int(at.max()) + 1
    alike = query.insets[rows, slot] @ reference.vectors[low:high].T
    agreement = np.stack([layout_agreement(looks, reference.looks[place]) for place in at])
    return _StillEvidence(alike[np.arange(len(rows))[None, :], at - low],
                          agreement.mean(axis=1), _STILL_INSET_ALIKE, _STILL_LAYOUT_GAIN,
                          _SAME_PICTURE_BY_LAYOUT)


def _inset_slots(segment: VideoSegmentMatch, query: QueryFrames,
                 reference: VisualPrint) -> tuple[np.ndarray, np.ndarray]:
    """For each inlier pair, the inset that resembles the reference frame most, and whether
    it resembles it more than the whole frame does: (pairs,) ints and bools."""
    assert query.insets is not None and query.inset_boxes is not None
    rows = segment.query_rows
    vectors = reference.vectors[_reference_rows(segment, reference)]
    whole = np.einsum("ij,ij->i", query.print.vectors[rows], vectors)
    insets = np.einsum("isj,ij->is", query.insets[rows], vectors)
    insets[np.isnan(query.inset_boxes[rows, :, 0])] = -np.inf
    slot = np.argmax(insets, axis=1)
    return slot, insets[np.arange(len(rows)), slot] > whole


def _place_inset(segment: VideoSegmentMatch, query: QueryFrames,
                 reference: VisualPrint) -> VideoSegmentMatch:
    """``segment`` found in an inset: its ``region``, its orientation and its ``layout``
    measured on the inset, where most of its inlier frames resemble the reference more by an
    inset than whole (the footage around an inset is someone else's, and only the inset can
    be the very picture).  Other segments are returned as they are.

    An inset is small, and PDQ, made for whole pictures, recognises few insets (a third of
    the frame's side, scaled up, is blurred and ringing); their coarse layouts still agree,
    as a crop's do, so a pair whose layouts agree as the same picture's counts in ``layout``
    too (true insets: 0.85-0.98 mostly; an inset against random reference frames: 0.8 or
    more for 0-2.5 % of pairs)."""
    if query.insets is None or query.inset_boxes is None or query.inset_pdq is None:
        return segment
    rows = segment.query_rows
    ref_rows = _reference_rows(segment, reference)
    slot, better = _inset_slots(segment, query, reference)
    if np.count_nonzero(better) * 2 <= len(rows):
        return segment
    picture = np.median(query.print.boxes[rows], axis=0)
    inner = np.median(query.inset_boxes[rows[better], slot[better]], axis=0)
    width, height = picture[2] - picture[0], picture[3] - picture[1]
    region = (picture[0] + inner[0] * width, picture[1] + inner[1] * height,
              picture[0] + inner[2] * width, picture[1] + inner[3] * height)
    same = hamming(query.inset_pdq[rows, slot], reference.pdq[ref_rows]) <= SAME_PICTURE
    mirrored = segment.mirrored
    if query.inset_looks is not None and reference.looks is not None:
        looks, theirs = query.inset_looks[rows, slot], reference.looks[ref_rows]
        turned = _turned_share(looks[better], theirs[better])
        mirrored = mirrored if turned is None else turned
        if mirrored > 0.5:
            looks = mirror_looks(looks)
        same |= layout_agreement(looks, theirs) >= _SAME_PICTURE_BY_LAYOUT
    return dataclasses.replace(segment, region=tuple(round(float(v), 3) for v in region),
                               mirrored=mirrored,
                               layout=max(segment.layout, float(np.mean(same & better))))


def _check_layout(segment: VideoSegmentMatch, query: QueryFrames,
                  reference: VisualPrint) -> VideoSegmentMatch:
    """Decide the orientation and measure layout agreement on the PDQ hashes of the inliers.

    Where PDQ recognises the picture (distance under ``SAME_PICTURE`` either way round) it
    says which way round the copy is; where it recognises nothing (a heavy crop, a strong
    recolouring, a picture in a picture) ``_mirrored_share`` decides.  ``layout`` is the
    fraction of inliers PDQ recognises: an exact-picture check the score can lean on.  A crop
    defeats PDQ, so the coarse layouts are also read in the crop of the reference they agree
    with best (``match.reframe.best_crop``); where they recognise each other in it, that is
    the ``crop`` reported, and its pairs that agree as the same picture count in ``layout``.
    """
    rows = segment.query_rows
    ref_rows = _reference_rows(segment, reference)
    straight = hamming(query.print.pdq[rows], reference.pdq[ref_rows])
    flipped = hamming(query.mirrored_pdq[rows], reference.pdq[ref_rows])
    known = np.minimum(straight, flipped) <= SAME_PICTURE
    if np.count_nonzero(known) >= 2:
        mirrored = float(np.mean(flipped[known] < straight[known]))
    else:
        mirrored = _mirrored_share(query, reference, rows, ref_rows)
    layout, crop = float(np.mean(known)), 0
    if query.print.looks is not None and reference.looks is not None:
        looks = query.print.looks[rows]
        crop, agreement = best_crop(mirror_looks(looks) if mirrored > 0.5 else looks,
                                    reference.looks[ref_rows])
        if crop and np.mean(agreement) >= _LAYOUT_RECOGNISED:
            layout = max(layout, float(np.mean(agreement >= _SAME_PICTURE_BY_LAYOUT)))
        else:
            crop = 0  # the whole frame, or a crop in which the layouts recognise nothing
    return dataclasses.replace(segment, mirrored=mirrored, layout=layout, crop=crop)


#: A pair's coarse layouts recognise each other (``layout_agreement``) from this value on,
#: in one orientation or the other.
_LAYOUT_RECOGNISED = 0.5
#: A pair whose layouts agree this well (in a stretch's recognised crop, or an inset against
#: the whole reference) is the very same picture: what PDQ says of an uncropped full-size
#: pair, and cannot say once every cell of its grid has moved or the picture is shown small
#: (0.7 and 0.8 scored alike on the calibration corpora for crops, 0.9 lower).
_SAME_PICTURE_BY_LAYOUT = 0.8


def _mirrored_share(query: QueryFrames, reference: VisualPrint, rows: np.ndarray,
                    ref_rows: np.ndarray) -> float:
    """The share of pairs that look more alike mirrored, where PDQ recognises too few.

    The coarse layout of masses and edges decides where it recognises the picture one way
    round: a crop of a fifth of the frame or a recolouring keeps it, a mirror image reverses
    it.  Otherwise (a picture in a picture fills too little of the frame for its layout to
    show) a descriptor that tells mirror images apart does; a mirror-invariant one cannot
    (its margin for the right orientation was a smooth picture or a change of arithmetic
    away from tipping), and the picture is taken as it is shown.
    """
    if query.print.looks is not None and reference.looks is not None:
        turned = _turned_share(query.print.looks[rows], reference.looks[ref_rows])
        if turned is not None:
            return turned
    if query.mirrored is None:
        return 0.0
    vectors = reference.vectors[ref_rows]
    as_is = np.einsum("ij,ij->i", query.print.vectors[rows], vectors)
    turned = np.einsum("ij,ij->i", query.mirrored[rows], vectors)
    return float(np.mean(turned > as_is))


def _turned_share(looks: np.ndarray, theirs: np.ndarray) -> float | None:
    """The share of paired looks that agree better mirrored, among the pairs whose layouts
    recognise each other one way round or the other; None where fewer than two do."""
    as_is = layout_agreement(looks, theirs)
    turned = layout_agreement(mirror_looks(looks), theirs)
    recognised = np.maximum(as_is, turned) >= _LAYOUT_RECOGNISED
    if np.count_nonzero(recognised) < 2:
        return None
    return float(np.mean(turned[recognised] > as_is[recognised]))


def segment_match(segment: VideoSegmentMatch, reference: str, frames: VisualPrint,
                  aspects: tuple[str, ...] | None = None) -> Match:
    """The match a copy-matcher stretch is reported as: a ``visual_copy``, or with
    ``aspects`` a frame-aligned ``visual_homage``; ``frames`` are the query's (where a
    letterbox shows, its picture is the ``region``)."""
    region = segment.region
    inside = (frames.times >= segment.query_start) & (frames.times <= segment.query_end)
    if region is None and inside.any():
        box = np.median(frames.boxes[inside], axis=0)
        if not np.allclose(box, (0, 0, 1, 1), atol=0.02):
            region = tuple(round(float(v), 3) for v in box)
    crop = CROPS[segment.crop].region() if segment.crop and segment.region is None else None
    return Match(
        kind="visual_copy" if aspects is None else "visual_homage",
        reference=reference,
        query_start=segment.query_start,
        query_end=segment.query_end,
        reference_start=segment.reference_start,
        reference_end=segment.reference_end,
        score=segment.score,
        transform=Transform(speed=segment.speed, tempo=segment.speed,
                            mirrored=segment.mirrored > 0.5, region=region,
                            aspects=aspects, reference_region=crop),
    )
