"""Visual homages: which reference shot a query shot re-stages, and where in it.

Every query window is compared with every reference window in two steps.  A cheap first
pass (semantic similarity plus the correlation of mass and edge layouts, one matrix product
each) keeps the ``candidates`` likeliest reference windows per query window and orientation;
the second computes the full evidence of each candidate pair (``FEATURES``) and a logistic
model learnt on the training split of ``homage bench homage`` turns it into a score.  The
winning pairs are then placed exactly (the reference stretch whose frames line up best with
the query window's, inside the reference shot) and consecutive windows of one query shot that
continue one reference stretch are joined.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from homage.match.shot_windows import ShotWindows
from homage.visual.looks import PARTS
from homage.visual.prints import VisualPrint

FEATURES = (
    "semantic", "semantic_best", "mass", "edges", "lines", "colour_pattern",
    "colour_distance", "camera", "change", "labels",
)
"""The evidence of a pair of windows, in the order the model's weights follow."""

ASPECTS = ("composition", "colour", "motion")
"""What a homage is said to share with its model, in ``Transform.aspects``."""


@dataclass(frozen=True)
class HomageModel:
    """Logistic weights over ``FEATURES`` (``bias`` apart), and how candidates are drawn."""

    bias: float
    weights: tuple[float, ...]
    candidates: int = 16
    per_window: int = 3
    fitted_on: str = ""

    def score(self, features: np.ndarray) -> np.ndarray:
        """(n, len(FEATURES)) → (n,) probabilities."""
        z = self.bias + np.asarray(features, np.float64) @ np.asarray(self.weights)
        return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))


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
    ``[reference_start, reference_end]``; ``features`` follow ``FEATURES``."""

    work: int
    query_start: float
    query_end: float
    reference_start: float
    reference_end: float
    shot_start: float
    mirrored: bool
    features: np.ndarray
    score: float

    @property
    def aspects(self) -> tuple[str, ...]:
        """The aspects that match clearly (for the words of a report, not for the score)."""
        f = dict(zip(FEATURES, self.features, strict=True))
        shared = []
        if (f["mass"] + f["edges"]) / 2 >= 0.5 or f["lines"] >= 0.95:
            shared.append("composition")
        if f["colour_pattern"] >= 0.5 and f["colour_distance"] <= 0.06:
            shared.append("colour")
        if f["change"] >= 0.5 or (f["camera"] >= -0.05 and f["change"] >= 0.2):
            shared.append("motion")
        return tuple(shared)


def pair_features(query: ShotWindows, q: np.ndarray, refs: ShotWindows, r: np.ndarray, *,
                  query_vectors: np.ndarray, ref_vectors: Callable[[int], np.ndarray],
                  ) -> np.ndarray:
    """Evidence for pairs ``(q[i], r[i])`` of window indices: (n, len(FEATURES)).

    ``query_vectors`` are the query's frame descriptors (in the orientation ``query`` was
    described in); ``ref_vectors(i)`` gives reference window ``r[i]``'s frame descriptors.
    """
    n = len(q)
    out = np.zeros((n, len(FEATURES)), np.float64)
    if n == 0:
        return out
    out[:, 0] = np.einsum("ij,ij->i", query.semantic[q], refs.semantic[r])
    for i in range(n):
        first, last = query.rows[q[i]]
        out[i, 1] = float(np.max(query_vectors[first:last] @ ref_vectors(i).T))
    out[:, 2] = np.einsum("ij,ij->i", query.mass[q], refs.mass[r]) / query.mass.shape[1]
    out[:, 3] = np.einsum("ij,ij->i", query.edges[q], refs.edges[r]) / query.edges.shape[1]
    out[:, 4] = np.einsum("ij,ij->i", query.lines[q], refs.lines[r])
    out[:, 5] = _correlation(query.colour[q], refs.colour[r])
    out[:, 6] = np.abs(query.colour[q] - refs.colour[r]).mean(axis=1)
    out[:, 7] = -np.linalg.norm(query.camera[q] - refs.camera[r], axis=1)
    out[:, 8] = np.einsum("ij,ij->i", query.change[q], refs.change[r]) / query.change.shape[1]
    out[:, 9] = _label_overlap(query.labels[q], query.label_scores[q], refs.labels[r],
                               refs.label_scores[r])
    return out


def first_pass(query: ShotWindows, refs: ShotWindows, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` likeliest reference windows of each query window by the cheap score:
    (q indices, r indices), each (m·k,)."""
    if len(query) == 0 or len(refs) == 0:
        empty = np.zeros(0, np.int64)
        return empty, empty
    cheap = query.semantic @ refs.semantic.T
    layout = np.hstack([query.mass, query.edges]) @ np.hstack([refs.mass, refs.edges]).T
    cheap += layout / (2 * query.mass.shape[1])
    k = min(k, cheap.shape[1])
    best = np.argpartition(-cheap, k - 1, axis=1)[:, :k]
    return np.repeat(np.arange(len(query)), k), best.ravel()


def place_in_shot(query: ShotWindows, q: int, query_frames: VisualPrint, query_looks: np.ndarray,
                  ref_frames: VisualPrint, ref_start: float, ref_end: float,
                  window_start: float, *, step: float = 0.25) -> float:
    """Where in the reference shot ``[ref_start, ref_end]`` the query window's frames line up
    best (frame by frame: layouts and descriptors), searched within one window length of the
    candidate window starting at ``window_start``; returns the start of that stretch."""
    first, last = query.rows[q]
    offsets = query_frames.times[first:last].astype(np.float64) - query.starts[q]
    length = float(query.ends[q] - query.starts[q])
    low = max(ref_start, window_start - length)
    high = max(low, min(ref_end - length, window_start + length))
    trials = np.arange(low, high + 1e-9, step)
    if len(trials) <= 1 or ref_frames.looks is None:
        return float(np.clip(window_start, ref_start, max(ref_start, ref_end - length)))
    ref_times = ref_frames.times.astype(np.float64)
    layout = np.hstack([query_looks[first:last, PARTS["mass"]],
                        query_looks[first:last, PARTS["edges"]]])
    ref_layout = np.hstack([ref_frames.looks[:, PARTS["mass"]],
                            ref_frames.looks[:, PARTS["edges"]]])
    best, best_value = float(trials[0]), -math.inf
    for start in trials:
        rows = np.clip(np.searchsorted(ref_times, start + offsets, "right") - 1, 0,
                       len(ref_times) - 1)
        value = float(np.mean(np.einsum("ij,ij->i", layout, ref_layout[rows]))
                      / layout.shape[1]
                      + np.mean(np.einsum("ij,ij->i", query_frames.vectors[first:last],
                                          ref_frames.vectors[rows])))
        if value > best_value:
            best, best_value = float(start), value
    return best


def join_continuations(candidates: list[HomageCandidate], *,
                       tolerance: float = 1.5) -> list[HomageCandidate]:
    """Join candidates of consecutive query windows of one shot that continue one reference
    stretch (same work and orientation, reference start moving with the query start)."""
    ordered = sorted(candidates, key=lambda c: (c.work, c.mirrored, c.query_start))
    joined: list[HomageCandidate] = []
    for c in ordered:
        last = joined[-1] if joined else None
        if (last is not None and last.work == c.work and last.mirrored == c.mirrored
                and abs(c.query_start - last.query_end) < 1e-3
                and abs((c.reference_start - last.reference_start)
                        - (c.query_start - last.query_start)) <= tolerance):
            joined[-1] = replace(
                last, query_end=c.query_end, reference_end=max(last.reference_end,
                                                               c.reference_end),
                score=max(last.score, c.score),
                features=last.features if last.score >= c.score else c.features)
        else:
            joined.append(c)
    return sorted(joined, key=lambda c: -c.score)


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

