"""The visual-homage step of the pipeline: which reference shots a query re-stages.

Like ``homage.copies`` it joins parts and holds no algorithm: windows and their pooled looks
(``match.shot_windows``), the two-pass comparison, placement and joining
(``match.homage_match``) and the learnt weights (``match.homage_model``).  A stretch the copy
matcher already reports is a copy, not a homage: it is reported once, as ``visual_copy``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from homage.copies import QueryFrames
from homage.match.homage_match import (
    Alignment,
    HomageCandidate,
    HomageModel,
    ReferenceWindows,
    align_in_shot,
    first_pass,
    join_continuations,
    pair_features,
)
from homage.match.homage_model import MODEL
from homage.match.reframe import best_reframing, framing_region, reframed_looks
from homage.match.shot_windows import ShotWindows, WindowSettings, describe_windows
from homage.types import Match, Transform
from homage.visual.looks import mirror_looks
from homage.visual.prints import VisualPrint

logger = logging.getLogger(__name__)

#: A homage candidate inside a reported copy (this share of its query range or more, same
#: reference) is that copy, seen again.
_COPY_OVERLAP = 0.5
#: So is a candidate that only partly overlaps a reported copy but shows the reference moment
#: the copy's line gives for its start, to within this many seconds (the candidate's start
#: is placed on a 0.25 s grid at a few trial speeds): the copy matcher often ends a stretch a
#: frame pair early, and the window after it is the same borrowing continued.
_ON_COPY_LINE_S = 1.0

WINDOWS = WindowSettings()


def reference_windows(works: Iterable[tuple[int, VisualPrint, float]],
                      settings: WindowSettings = WINDOWS) -> ReferenceWindows | None:
    """The windows of ``(work id, frames, duration)`` references; None when none has looks
    (a library indexed before looks were kept, or holding no video)."""
    parts, stale = [], 0
    for work, frames, duration in works:
        if frames.looks is None:
            stale += 1
            continue
        windows = describe_windows(frames, duration, settings, reference=True)
        if len(windows):
            parts.append((work, windows))
    if stale:
        logger.warning("%d video works were indexed before homage features were kept; "
                       "re-index them into a new library to match homages against them", stale)
    return ReferenceWindows.join(parts) if parts else None


def homage_candidates(
    query: QueryFrames, query_duration: float, refs: ReferenceWindows, *,
    prints_of: Callable[[int], VisualPrint], model: HomageModel = MODEL,
    settings: WindowSettings = WINDOWS, joined: bool = True,
) -> list[HomageCandidate]:
    """Every scored, placed and joined candidate, best first, not thresholded: what
    ``homage_matches`` reports from.  With ``joined`` False, every pair the first pass draws,
    both ways round, unjoined: what ``homage bench homage --fit`` learns from, chosen by no
    score, so that the examples a fit learns from do not depend on the weights it replaces."""
    frames = query.print
    if frames.looks is None or len(frames) == 0:
        return []
    prints: dict[int, VisualPrint] = {}
    looks_in: dict[tuple[int, int, int, int], np.ndarray] = {}

    def frames_of(work: int) -> VisualPrint:
        if work not in prints:
            prints[work] = prints_of(work)
        return prints[work]

    def shot_looks(work: int, lo: int, hi: int, framing: int) -> np.ndarray:
        """A reference shot's looks re-framed, once per query (many pairs share them)."""
        key = (work, lo, hi, framing)
        if key not in looks_in:
            looks = frames_of(work).looks
            assert looks is not None  # refs only hold works with looks
            looks_in[key] = reframed_looks(looks[lo:hi], framing)
        return looks_in[key]

    found: list[HomageCandidate] = []
    for mirrored in (False, True):
        windows = describe_windows(frames, query_duration, settings, reference=False,
                                   mirrored=mirrored, mirrored_vectors=query.mirrored)
        vectors = query.mirrored if mirrored and query.mirrored is not None \
            and len(query.mirrored) else frames.vectors
        looks = mirror_looks(frames.looks) if mirrored else frames.looks
        q, r = first_pass(windows, refs.windows, model.candidates)

        def ref_vectors(i: int, r: np.ndarray = r) -> np.ndarray:
            first, last = refs.windows.rows[r[i]]
            return frames_of(int(refs.works[r[i]])).vectors[first:last]

        framings = best_reframing(windows.mass[q], windows.edges[q], refs.windows.mass[r],
                                  refs.windows.edges[r])
        alignments = [_align(windows, int(qi), refs, int(ri), frames, vectors, looks,
                             frames_of(int(refs.works[ri])),
                             functools.partial(shot_looks, int(refs.works[ri]), framing=int(k)))
                      for qi, ri, k in zip(q, r, framings, strict=True)]
        features = pair_features(windows, q, refs.windows, r, query_vectors=vectors,
                                 ref_vectors=ref_vectors, alignments=alignments,
                                 framings=framings)
        scores = model.probability(features)
        chosen = _best_per_window(q, r, refs, alignments, windows, scores, model.per_window) \
            if joined else range(len(q))
        for i in chosen:
            a = alignments[i]
            length = float(windows.ends[q[i]] - windows.starts[q[i]])
            found.append(HomageCandidate(
                work=int(refs.works[r[i]]), query_start=float(windows.starts[q[i]]),
                query_end=float(windows.ends[q[i]]), reference_start=a.start,
                reference_end=min(a.start + length * a.speed,
                                  float(refs.windows.shot_ends[r[i]])),
                shot_start=float(refs.windows.shot_starts[r[i]]), speed=a.speed,
                mirrored=mirrored, features=features[i], score=float(scores[i]),
                query_shot_start=float(windows.shot_starts[q[i]]), framing=int(framings[i])))
    if not joined:
        return sorted(found, key=lambda c: -c.score)
    return join_continuations(_best_orientation(found))


def _align(windows: ShotWindows, q: int, refs: ReferenceWindows, r: int, frames: VisualPrint,
           vectors: np.ndarray, looks: np.ndarray, reference: VisualPrint,
           reference_looks: Callable[[int, int], np.ndarray]) -> Alignment:
    """Align query window ``q`` with the reference shot holding window ``r``;
    ``reference_looks(lo, hi)`` gives the looks of the reference's frames ``lo:hi`` as the
    pair compares them (re-framed or not)."""
    first, last = windows.rows[q]
    shot_start, shot_end = refs.windows.shot_starts[r], refs.windows.shot_ends[r]
    times = reference.times
    lo, hi = np.searchsorted(times, [shot_start, shot_end], "left")
    hi = max(hi, lo + 1)
    return align_in_shot(
        frames.times[first:last], vectors[first:last], looks[first:last], times[lo:hi],
        reference.vectors[lo:hi], reference_looks(int(lo), int(hi)),
        window_start=float(windows.starts[q]), window_end=float(windows.ends[q]),
        shot_start=float(shot_start), shot_end=float(shot_end))


def homage_matches(
    query: QueryFrames, query_duration: float, refs: ReferenceWindows | None,
    names: dict[int, str], *, prints_of: Callable[[int], VisualPrint], threshold: float,
    copies: Sequence[Match] = (),
) -> list[Match]:
    """The ``visual_homage`` matches of one described query, leaving out what ``copies``
    (its ``visual_copy`` matches) already report."""
    if refs is None:
        return []
    candidates = homage_candidates(query, query_duration, refs, prints_of=prints_of)
    return [_to_match(c, names[c.work]) for c in candidates
            if c.score >= threshold and not repeats_copy(c, names[c.work], copies)]


def _best_per_window(q: np.ndarray, r: np.ndarray, refs: ReferenceWindows,
                     alignments: Sequence[Alignment], windows: ShotWindows, scores: np.ndarray,
                     keep: int) -> list[int]:
    """Per query window, the ``keep`` best pairs that are not the same reference moment
    again (overlapping windows of one reference shot align to the same stretch)."""
    chosen: list[int] = []
    for window in np.unique(q):
        length = float(windows.ends[window] - windows.starts[window])
        taken: list[tuple[int, float, float]] = []
        for i in sorted(np.flatnonzero(q == window), key=lambda i: -scores[i]):
            work = int(refs.works[r[i]])
            start = alignments[i].start
            end = start + length * alignments[i].speed
            if any(w == work and start < e and s < end for w, s, e in taken):
                continue
            taken.append((work, start, end))
            chosen.append(int(i))
            if len(taken) == keep:
                break
    return chosen


def _best_orientation(found: list[HomageCandidate]) -> list[HomageCandidate]:
    """A query window matched to one reference moment both ways round keeps the likelier."""
    best: dict[tuple[int, float, int, int], HomageCandidate] = {}
    for c in found:
        key = (c.work, c.query_start, round(c.reference_start), round(c.reference_end))
        if key not in best or c.score > best[key].score:
            best[key] = c
    return list(best.values())


def repeats_copy(candidate: HomageCandidate, reference: str, copies: Sequence[Match]) -> bool:
    """The candidate is one of ``copies`` (what the copy matcher reports, either label) seen
    again: it lies mostly inside one of the same reference, or overlaps one and continues its
    line."""
    length = max(candidate.query_end - candidate.query_start, 1e-9)
    for copy in copies:
        if copy.reference != reference:
            continue
        shared = min(copy.query_end, candidate.query_end) - max(copy.query_start,
                                                                candidate.query_start)
        if shared / length >= _COPY_OVERLAP:
            return True
        on_line = copy.reference_start + (candidate.query_start - copy.query_start) \
            * copy.transform.speed
        if shared > 0 and abs(on_line - candidate.reference_start) <= _ON_COPY_LINE_S:
            return True
    return False


def _to_match(candidate: HomageCandidate, reference: str) -> Match:
    return Match(
        kind="visual_homage", reference=reference, query_start=candidate.query_start,
        query_end=candidate.query_end, reference_start=candidate.reference_start,
        reference_end=candidate.reference_end, score=candidate.score,
        transform=Transform(speed=candidate.speed, tempo=candidate.speed,
                            mirrored=candidate.mirrored, aspects=candidate.aspects,
                            reference_region=framing_region(candidate.framing)),
    )
