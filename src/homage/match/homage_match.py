"""Visual homages: which reference shot a query shot re-stages, and where in it.

Every query window is compared with every reference window in two steps.  A cheap first
pass (matrix products of pooled descriptors and layouts) keeps the likeliest reference windows
per query window and orientation.  The second aligns each candidate frame by frame with its
reference shot (the best start and speed: a re-staging follows its model's motion; the
reference's layouts re-framed closer in where that agrees clearly better, ``match.reframe``),
computes the full evidence of the pair (``FEATURES``), and a model learnt on the training
split of ``homage bench homage`` (weights and boosted trees, ``HomageModel``) turns it into a
score.  Consecutive windows of one query shot that continue one reference stretch are then
joined.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage

from homage.match.boosted_trees import BoostedTrees
from homage.match.logistic import Logistic
from homage.match.reframe import reframed
from homage.match.shot_windows import ShotWindows
from homage.visual.base import l2_normalise
from homage.visual.looks import GRID, PARTS

FEATURES = (
    "semantic", "semantic_best", "mass", "edges", "lines", "colour_pattern",
    "colour_distance", "camera", "change", "labels", "aligned_semantic", "aligned_layout",
    "aligned_outline", "contrast", "margin", "aligned_motion",
)
"""The evidence of a pair of windows, in the order the model's weights follow: pooled over
each window first, then frame by frame along the best alignment in the reference shot, then
how far that alignment stands out among the query window's other candidates (a re-staged
shot has one model; a shot that re-stages nothing resembles many things a little), and
whether what moves in the frame moves alike along the alignment."""

SPEEDS = (0.8, 0.9, 1.0, 1.12, 1.25)
"""Playback-speed ratios tried when aligning a query window with a reference shot (a
re-staging rarely keeps the model's pace exactly)."""
_CLEARLY_BETTER = 0.01
"""A speed other than 1 must line up this much better (mean summed similarity) to be taken:
at a few frames a second, nearby speeds and starts often pick the same frames."""
_MOMENT_STARTS = 4
"""Starts either side (of ``align_in_shot``'s step, a quarter second) within which lines are
one moment of the shot: the pictures place a window within a moment, the motion chooses
between moments."""
_MOVING = np.r_[PARTS["mass"], PARTS["edges"]]
"""The parts of a look whose change from frame to frame is what moves in the picture."""
_MOVES_ALIKE = 0.3
"""Motion agreement along the alignment over which a pair is said to share its motion: 99 %
of the wrong pairs of 30 training queries stay under 0.22, half the right ones pass 0.28."""

LAYOUT_EVIDENCE = ("mass", "edges", "lines", "aligned_layout", "aligned_outline")
"""The features that say whether two pictures are laid out alike.  The score's trees may only
rise with them: no combination of the other evidence can make a pair whose layouts disagree
more of a homage than one whose layouts agree."""

GRID_CELLS = GRID * GRID

ASPECTS = ("composition", "colour", "motion")
"""What a homage is said to share with its model, in ``Transform.aspects``."""


@dataclass(frozen=True)
class HomageModel(Logistic):
    """The homage score: how likely a pair of windows is a re-staging, from ``FEATURES``;
    and how candidates are drawn.

    The score is two experts that must agree: the mean of the linear log-odds (``bias``,
    ``weights``) and of boosted ``trees``' log-odds.  The trees rank by combinations of the
    evidence (a sketch keeps the outline but not the colours, a re-framing the colours but not
    the layout), which a weighted sum cannot.  Alone they were certain about pairs unlike any
    they were fitted on (held-out footage of a reference's own film, synthetic shots); the
    linear half extrapolates smoothly, so such a pair must convince both.  Without trees the
    score is the linear model alone.
    """

    trees: BoostedTrees | None = None
    candidates: int = 16
    per_window: int = 3

    def log_odds(self, features: np.ndarray) -> np.ndarray:
        linear = super().log_odds(features)
        if self.trees is None:
            return linear
        return (linear + self.trees.log_odds(features)) / 2


@dataclass(frozen=True)
class ReferenceWindows:
    """The windows of every reference work, side by side (one look-up table per library)."""

    works: np.ndarray
    windows: ShotWindows

    @classmethod
    def join(cls, parts: Sequence[tuple[int, ShotWindows]]) -> ReferenceWindows:
        if not parts:
            raise ValueError("no reference windows")
        fields = ShotWindows.__dataclass_fields__
        joined = {name: np.concatenate([getattr(w, name) for _, w in parts])
                  for name in fields}
        works = np.concatenate([np.full(len(w), work, np.int64) for work, w in parts])
        return cls(works=works, windows=ShotWindows(**joined))

    def __len__(self) -> int:
        return len(self.works)


@dataclass(frozen=True)
class HomageCandidate:
    """One scored pair: query ``[query_start, query_end]`` re-stages reference ``work``'s
    ``[reference_start, reference_end]`` at ``speed`` (reference seconds per query second);
    ``features`` follow ``FEATURES``."""

    work: int
    query_start: float
    query_end: float
    reference_start: float
    reference_end: float
    shot_start: float
    speed: float
    mirrored: bool
    features: np.ndarray
    score: float
    #: start of the query shot its (last) window lies in: windows of one shot continue each
    #: other freely, see :func:`join_continuations`
    query_shot_start: float = 0.0
    #: the re-framing of the reference's layouts it was matched with (``match.reframe``; 0:
    #: as framed)
    framing: int = 0

    @property
    def aspects(self) -> tuple[str, ...]:
        """The aspects that match clearly (for the words of a report, not for the score)."""
        f = dict(zip(FEATURES, self.features, strict=True))
        shared = []
        if (f["mass"] + f["edges"]) / 2 >= 0.5 or f["lines"] >= 0.95:
            shared.append("composition")
        if f["colour_pattern"] >= 0.5 and f["colour_distance"] <= 0.06:
            shared.append("colour")
        if f["change"] >= 0.5 or (f["camera"] >= -0.05 and f["change"] >= 0.2) \
                or f["aligned_motion"] >= _MOVES_ALIKE:
            shared.append("motion")
        return tuple(shared)


def pair_features(query: ShotWindows, q: np.ndarray, refs: ShotWindows, r: np.ndarray, *,
                  query_vectors: np.ndarray, ref_vectors: Callable[[int], np.ndarray],
                  alignments: Sequence[Alignment], framings: np.ndarray | None = None
                  ) -> np.ndarray:
    """Evidence for pairs ``(q[i], r[i])`` of window indices: (n, len(FEATURES)).

    ``query_vectors`` are the query's frame descriptors (in the orientation ``query`` was
    described in); ``ref_vectors(i)`` gives reference window ``r[i]``'s frame descriptors;
    ``alignments[i]`` is pair i's best line in the reference shot; ``framings[i]`` is the
    re-framing of the reference's mass and edge layouts pair i is compared in (none: all as
    framed).
    """
    n = len(q)
    out = np.zeros((n, len(FEATURES)), np.float64)
    if n == 0:
        return out
    out[:, 0] = np.einsum("ij,ij->i", query.semantic[q], refs.semantic[r])
    for i in range(n):
        first, last = query.rows[q[i]]
        out[i, 1] = float(np.max(query_vectors[first:last] @ ref_vectors(i).T))
    ref_mass, ref_edges = refs.mass[r], refs.edges[r]
    if framings is not None:
        ref_mass, ref_edges = ref_mass.copy(), ref_edges.copy()
        for k in np.unique(framings[framings > 0]):
            chosen = framings == k
            ref_mass[chosen] = reframed(ref_mass[chosen], int(k))
            ref_edges[chosen] = reframed(ref_edges[chosen], int(k))
    out[:, 2] = np.einsum("ij,ij->i", query.mass[q], ref_mass) / query.mass.shape[1]
    out[:, 3] = np.einsum("ij,ij->i", query.edges[q], ref_edges) / query.edges.shape[1]
    out[:, 4] = np.einsum("ij,ij->i", query.lines[q], refs.lines[r])
    out[:, 5] = _correlation(query.colour[q], refs.colour[r])
    out[:, 6] = np.abs(query.colour[q] - refs.colour[r]).mean(axis=1)
    out[:, 7] = -np.linalg.norm(query.camera[q] - refs.camera[r], axis=1)
    out[:, 8] = np.einsum("ij,ij->i", query.change[q], refs.change[r]) / query.change.shape[1]
    out[:, 9] = _label_overlap(query.labels[q], query.label_scores[q], refs.labels[r],
                               refs.label_scores[r])
    out[:, 10:13] = [(a.semantic, a.layout, a.outline) for a in alignments]
    out[:, 13:15] = _standing_out(q, out[:, 10:13].sum(axis=1), r, refs, alignments)
    out[:, 15] = [a.motion for a in alignments]
    return out


def _standing_out(q: np.ndarray, totals: np.ndarray, r: np.ndarray, refs: ShotWindows,
                  alignments: Sequence[Alignment]) -> np.ndarray:
    """Per pair: its summed aligned similarity minus the median over its query window's
    candidates (``contrast``), and minus the best candidate of that window showing another
    reference moment (``margin``; zero when there is none).  (n, 2)."""
    out = np.zeros((len(q), 2))
    for window in np.unique(q):
        members = np.flatnonzero(q == window)
        values = totals[members]
        out[members, 0] = values - np.median(values)
        for i in members:
            elsewhere = [totals[j] for j in members if j != i and not _same_moment(
                refs, alignments, int(r[i]), int(r[j]), i, j)]
            out[i, 1] = totals[i] - max(elsewhere) if elsewhere else 0.0
    return out


def _same_moment(refs: ShotWindows, alignments: Sequence[Alignment], ri: int, rj: int,
                 i: int, j: int, tolerance: float = 2.0) -> bool:
    """Two candidates aligned to one stretch of one reference shot (a window and its
    overlapping neighbour usually are)."""
    return bool(refs.shot_starts[ri] == refs.shot_starts[rj]
                and refs.shot_ends[ri] == refs.shot_ends[rj]
                and abs(alignments[i].start - alignments[j].start) <= tolerance)


def first_pass(query: ShotWindows, refs: ShotWindows, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The likeliest reference windows of each query window by two cheap scores: the ``k``
    best by descriptor similarity plus mass-and-edge layout, and the ``k`` best by outline
    alone (edge layout and line directions: what survives a sketch, which keeps neither the
    descriptor nor the masses).  Returns (q indices, r indices), distinct pairs."""
    if len(query) == 0 or len(refs) == 0:
        empty = np.zeros(0, np.int64)
        return empty, empty
    grid = query.mass.shape[1]
    edges = query.edges @ refs.edges.T / grid
    looks = query.semantic @ refs.semantic.T + (query.mass @ refs.mass.T / grid + edges) / 2
    outline = edges + query.lines @ refs.lines.T
    k = min(k, len(refs))
    picks = np.hstack([np.argpartition(-score, k - 1, axis=1)[:, :k] for score in (looks,
                                                                               outline)])
    pairs = {(i, int(j)) for i, row in enumerate(picks) for j in row}
    q, r = zip(*sorted(pairs), strict=True)
    return np.asarray(q, np.int64), np.asarray(r, np.int64)


@dataclass(frozen=True)
class Alignment:
    """Where a query window lines up best in a reference shot: from ``start`` at ``speed``
    (reference seconds per query second), how alike the frames are along that line by
    descriptor, by mass-and-edge layout and by outline (edges and line directions), and how
    alike they change from frame to frame (``motion``, see ``_motion_agreement``)."""

    start: float
    speed: float
    semantic: float
    layout: float
    outline: float
    motion: float


def align_in_shot(query_times: np.ndarray, query_vectors: np.ndarray, query_looks: np.ndarray,
                  ref_times: np.ndarray, ref_vectors: np.ndarray, ref_looks: np.ndarray, *,
                  window_start: float, window_end: float, shot_start: float, shot_end: float,
                  step: float = 0.25) -> Alignment:
    """Slide a query window's frames along a reference shot at each of ``SPEEDS``.

    A re-staging follows its model's motion over time, a look-alike does not: the mean frame
    similarity along the best line is the strongest evidence there is, and the line places
    the homage in the reference.  ``ref_*`` are the reference shot's frames (times, unit
    descriptors, looks); the query's are the window's, already in the reference's orientation.
    A re-framing (``match.reframe``) is applied to ``ref_looks`` by the caller.

    Where the camera holds still (a street camera, a still life), every moment of the shot
    looks alike and the pictures cannot tell them apart; what moves in the frame can.  So the
    line is the best moment by similarity plus motion agreement (``_motion_agreement``),
    placed within its moment by similarity alone (motion at a few frames a second is too
    coarse to place a line, and pulled off the picture's best fit it lowers the evidence).
    """
    grid = GRID_CELLS
    mass, edges, lines = PARTS["mass"], PARTS["edges"], PARTS["lines"]
    semantic = query_vectors @ ref_vectors.T
    edge = query_looks[:, edges] @ ref_looks[:, edges].T / grid
    layout = (query_looks[:, mass] @ ref_looks[:, mass].T / grid + edge) / 2
    q_lines, r_lines = (l2_normalise(x[:, lines]) for x in (query_looks, ref_looks))
    outline = (edge + q_lines @ r_lines.T) / 2
    total = semantic + layout + outline
    offsets = query_times.astype(np.float64) - window_start
    length = window_end - window_start
    ref_times = ref_times.astype(np.float64)
    speeds = sorted(SPEEDS, key=lambda v: abs(np.log(v)))  # the plainest first
    # every speed's lines at once, padded to the longest (padding never chosen)
    starts = [np.arange(shot_start, max(shot_start, shot_end - length * v) + 1e-9, step)
              for v in speeds]
    rows = np.zeros((len(speeds), max(map(len, starts)), len(offsets)), np.int64)
    padding = np.ones(rows.shape[:2], bool)
    for i, (speed, begin) in enumerate(zip(speeds, starts, strict=True)):
        rows[i, :len(begin)] = np.clip(np.searchsorted(
            ref_times, begin[:, None] + offsets[None, :] * speed, "right") - 1,
            0, len(ref_times) - 1)
        padding[i, :len(begin)] = False
    k = np.arange(len(offsets))
    values = np.where(padding, -np.inf, total[k, rows].mean(axis=-1))
    moments = ~padding & (values >= ndimage.maximum_filter1d(
        values, 2 * _MOMENT_STARTS + 1, axis=1, mode="nearest"))
    moved = np.zeros_like(values)
    moved[moments] = _motion_agreement(query_looks, ref_looks, rows[moments])
    chosen = np.where(moments, values + moved, -np.inf)
    best: tuple[int, int] | None = None
    for i, j in enumerate(np.argmax(chosen, axis=1)):
        if best is None or chosen[i, j] > chosen[best] + _CLEARLY_BETTER:
            best = (i, int(j))
    assert best is not None
    line = rows[best]
    return Alignment(start=float(starts[best[0]][best[1]]), speed=speeds[best[0]],
                     semantic=float(semantic[k, line].mean()),
                     layout=float(layout[k, line].mean()),
                     outline=float(outline[k, line].mean()), motion=float(moved[best]))


def _motion_agreement(query_looks: np.ndarray, ref_looks: np.ndarray,
                      rows: np.ndarray) -> np.ndarray:
    """How alike the picture changes from frame to frame along lines through a reference
    shot, (lines,): per consecutive pair of a query window's frames, the cosine between the
    change of its mass-and-edge layout and the change between the reference frames a line
    pairs them with (``rows[line]``; 0 where either holds still), averaged over the pairs."""
    changes = np.diff(query_looks[:, _MOVING].astype(np.float64), axis=0)
    if len(changes) == 0 or len(rows) == 0:
        return np.zeros(len(rows))
    theirs = np.diff(ref_looks[rows][..., _MOVING].astype(np.float64), axis=1)
    dot = np.einsum("lkf,kf->lk", theirs, changes)
    size = np.linalg.norm(theirs, axis=-1) * np.linalg.norm(changes, axis=-1)
    cosine = np.divide(dot, size, out=np.zeros_like(dot), where=size > 1e-12)
    return cosine.mean(axis=1)


def join_continuations(candidates: list[HomageCandidate], *, tolerance: float = 1.5,
                       credible: float = 0.5) -> list[HomageCandidate]:
    """Join candidates of consecutive query windows that continue one reference stretch
    (same work and orientation, reference start moving with the query start).

    Within a query shot, continuing the line is enough.  Across a cut (a re-staging of a
    passage that itself holds cuts) both pieces must be at least ``credible`` on their own:
    the window after a cut is other footage more often than not, and joined it would take
    the stretch's score.

    Each window holds several candidates (one per reference moment it resembles), so a
    continuation is looked for among every stretch still open where the window begins, not
    only the last one kept: the stretch a window continues is rarely the last candidate of
    the window before it.  Where several open stretches fit, the best-scoring one is
    continued; each stretch takes at most one candidate of the next window (once extended,
    it ends where that window does).
    """
    joined: list[HomageCandidate] = []
    by_kind: dict[tuple[int, bool], list[int]] = {}  # (work, orientation) -> rows of joined
    for c in sorted(candidates, key=lambda c: (c.query_start, -c.score)):
        rows = by_kind.setdefault((c.work, c.mirrored), [])
        fitting = [i for i in rows if _continues(joined[i], c, tolerance, credible)]
        if not fitting:
            rows.append(len(joined))
            joined.append(c)
            continue
        i = max(fitting, key=lambda i: joined[i].score)
        last = joined[i]
        joined[i] = replace(
            last, query_end=c.query_end,
            reference_end=max(last.reference_end, c.reference_end),
            score=max(last.score, c.score),
            features=last.features if last.score >= c.score else c.features,
            framing=last.framing if last.score >= c.score else c.framing,
            query_shot_start=c.query_shot_start)
    return sorted(joined, key=lambda c: -c.score)


def _continues(stretch: HomageCandidate, c: HomageCandidate, tolerance: float,
               credible: float) -> bool:
    """``c``'s window starts where ``stretch`` ends and continues its reference line, within
    the stretch's last query shot or, across a cut, with both credible on their own."""
    return (abs(c.query_start - stretch.query_end) < 1e-3
            and abs((c.reference_start - stretch.reference_start)
                    - (c.query_start - stretch.query_start)) <= tolerance
            and (c.query_shot_start == stretch.query_shot_start
                 or min(c.score, stretch.score) >= credible))


def _correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return np.divide(np.einsum("ij,ij->i", a, b), norms, out=np.zeros(len(a)),
                     where=norms > 1e-9)


def _label_overlap(ids_a: np.ndarray, scores_a: np.ndarray, ids_b: np.ndarray,
                   scores_b: np.ndarray) -> np.ndarray:
    """Shared probability mass of two windows' top classes: Σ min(pa, pb) over shared ones."""
    same = ids_a[:, :, None] == ids_b[:, None, :]
    shared = np.minimum(scores_a[:, :, None], scores_b[:, None, :]) * same
    return shared.sum(axis=(1, 2))

