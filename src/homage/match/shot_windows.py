"""Shots of a described work, cut into windows and pooled into one description each.

A homage re-stages a *shot*: its unit of comparison is the shot, not the frame (a re-staging
keeps no frame-to-frame correspondence a copy detector could line up).  Long shots are cut
into windows so that a short re-staged moment of a long reference take still has a window
its own length to match; reference windows overlap so the moment need not start on a window
boundary.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from homage.visual.base import l2_normalise
from homage.visual.looks import PARTS, mirror_looks, standardise
from homage.visual.prints import VisualPrint

TOP_LABELS = 5
"""ImageNet classes kept per window (their probabilities summed over its frames)."""


@dataclass(frozen=True)
class WindowSettings:
    """How works are cut into windows.

    ``max_seconds``: longer shots are split; ``reference_step``: reference windows of a long
    shot start this far apart (they overlap); ``min_seconds``: shorter query windows (flashes,
    the frame or two at a cut) are not matched.
    """

    max_seconds: float = 4.0
    reference_step: float = 2.0
    min_seconds: float = 0.9


@dataclass(frozen=True)
class ShotWindows:
    """Windows of one work and what each looks like, pooled over its frames.

    Attributes
    ----------
    starts, ends : (m,) float64
        Window bounds in seconds.
    shot_starts, shot_ends : (m,) float64
        Bounds of the shot each window lies in.
    rows : (m, 2) int64
        First and one-past-last frame row of each window in the work's print.
    semantic : (m, dim) float32
        Unit mean of the frame descriptors.
    mass, edges : (m, 64) float32
        Mean layouts, standardised again (their inner product / 64 is a correlation).
    lines : (m, 64) float32
        Mean edge-direction layout, unit norm.
    colour : (m, 32) float32
        Mean opponent-colour layout.
    camera : (m, 2) float32
        Mean camera velocity (frame widths and heights per second).
    change : (m, 16) float32
        Mean layout of the subject's motion, standardised again.
    labels, label_scores : (m, TOP_LABELS)
        Likeliest ImageNet classes over the window and their summed probabilities per frame
        (zeros where the descriptor gives no classes).
    """

    starts: np.ndarray
    ends: np.ndarray
    shot_starts: np.ndarray
    shot_ends: np.ndarray
    rows: np.ndarray
    semantic: np.ndarray
    mass: np.ndarray
    edges: np.ndarray
    lines: np.ndarray
    colour: np.ndarray
    camera: np.ndarray
    change: np.ndarray
    labels: np.ndarray
    label_scores: np.ndarray

    def __len__(self) -> int:
        return len(self.starts)


def shot_bounds(frames: VisualPrint, duration: float) -> list[tuple[float, float]]:
    """The shots of a work: spans between its cuts, the last one ending at ``duration``."""
    end = max(duration, float(frames.times[-1]) + 1e-3 if len(frames) else 0.0)
    cuts = sorted(float(c) for c in frames.cuts if 0.0 < c < end)
    edges = [0.0, *cuts, end]
    return [(a, b) for a, b in itertools.pairwise(edges) if b > a]


def windows_of(shots: list[tuple[float, float]], settings: WindowSettings, *,
               reference: bool) -> list[tuple[float, float, float, float]]:
    """(start, end, shot start, shot end) of every window.

    A query shot is split into equal windows of at most ``max_seconds``; a reference shot
    into windows of ``max_seconds`` starting every ``reference_step`` (the last one flush
    with the shot's end).
    """
    out = []
    for a, b in shots:
        length = b - a
        if length <= settings.max_seconds:
            out.append((a, b, a, b))
        elif reference:
            starts = np.arange(a, b - settings.max_seconds, settings.reference_step)
            out += [(s, s + settings.max_seconds, a, b) for s in starts]
            out.append((b - settings.max_seconds, b, a, b))
        else:
            n = int(np.ceil(length / settings.max_seconds))
            bounds = np.linspace(a, b, n + 1)
            out += [(s, e, a, b) for s, e in itertools.pairwise(bounds)]
    return out


def describe_windows(frames: VisualPrint, duration: float, settings: WindowSettings, *,
                     reference: bool, mirrored: bool = False,
                     mirrored_vectors: np.ndarray | None = None) -> ShotWindows:
    """Cut a work into windows and pool each; ``mirrored`` describes the work flipped left to
    right (looks mirrored; ``mirrored_vectors`` replace the descriptors when given, for
    descriptors that are not mirror invariant)."""
    if frames.looks is None:
        raise ValueError("this work was described before looks were kept")
    looks = mirror_looks(frames.looks) if mirrored else frames.looks
    vectors = mirrored_vectors if mirrored and mirrored_vectors is not None \
        and len(mirrored_vectors) else frames.vectors
    times = frames.times.astype(np.float64)
    spans = windows_of(shot_bounds(frames, duration), settings, reference=reference)
    if not reference:
        spans = [s for s in spans if s[1] - s[0] >= settings.min_seconds]
    rows = np.array([[np.searchsorted(times, s, "left"), np.searchsorted(times, e, "left")]
                     for s, e, _, _ in spans], dtype=np.int64).reshape(-1, 2)
    keep = rows[:, 1] > rows[:, 0]
    spans = [s for s, k in zip(spans, keep, strict=True) if k]
    rows = rows[keep]
    velocity = _velocities(times, looks)
    pooled = {name: [] for name in ("semantic", "mass", "edges", "lines", "colour", "camera",
                                    "change")}
    top, top_scores = [], []
    for (first, last), (_, _, shot_start, _) in zip(rows, spans, strict=True):
        part = slice(first, last)
        pooled["semantic"].append(vectors[part].mean(axis=0))
        window_looks = looks[part]
        for name in ("mass", "edges", "lines", "colour"):
            pooled[name].append(window_looks[:, PARTS[name]].mean(axis=0))
        moving = times[part] > shot_start + 1e-3  # a shot's first frame has no "before"
        motion = window_looks[moving, PARTS["motion"]]
        pooled["camera"].append(velocity[part][moving].mean(axis=0) if moving.any()
                                else np.zeros(2, np.float32))
        pooled["change"].append(motion[:, 2:].mean(axis=0) if moving.any()
                                else np.zeros(16, np.float32))
        ids, scores = _window_labels(frames, part)
        top.append(ids)
        top_scores.append(scores)
    m = len(spans)
    arrays = {name: np.asarray(values, np.float32).reshape(m, -1)
              for name, values in pooled.items()}
    bounds = np.asarray([s[:4] for s in spans], np.float64).reshape(m, 4)
    return ShotWindows(
        starts=bounds[:, 0], ends=bounds[:, 1], shot_starts=bounds[:, 2],
        shot_ends=bounds[:, 3], rows=rows,
        semantic=l2_normalise(arrays["semantic"]),
        mass=standardise(arrays["mass"]), edges=standardise(arrays["edges"]),
        lines=l2_normalise(arrays["lines"]), colour=arrays["colour"],
        camera=arrays["camera"], change=standardise(arrays["change"]),
        labels=np.asarray(top, np.int64).reshape(m, TOP_LABELS),
        label_scores=np.asarray(top_scores, np.float32).reshape(m, TOP_LABELS),
    )


def _velocities(times: np.ndarray, looks: np.ndarray) -> np.ndarray:
    """Camera shift per second: frames are not evenly spaced (shots add their first frame)."""
    shifts = looks[:, PARTS["motion"]][:, :2]
    gaps = np.diff(times, prepend=times[0] if len(times) else 0.0)
    return np.divide(shifts, gaps[:, None], out=np.zeros_like(shifts),
                     where=gaps[:, None] > 1e-3).astype(np.float32)


def _window_labels(frames: VisualPrint, part: slice) -> tuple[np.ndarray, np.ndarray]:
    ids = np.zeros(TOP_LABELS, np.int64)
    scores = np.zeros(TOP_LABELS, np.float32)
    if frames.labels is None or frames.label_scores is None:
        return ids, scores
    totals: dict[int, float] = {}
    for label, score in zip(frames.labels[part].ravel(), frames.label_scores[part].ravel(),
                            strict=True):
        totals[int(label)] = totals.get(int(label), 0.0) + float(score)
    count = max(part.stop - part.start, 1)
    best = sorted(totals.items(), key=lambda kv: -kv[1])[:TOP_LABELS]
    for i, (label, total) in enumerate(best):
        ids[i], scores[i] = label, total / count
    return ids, scores

