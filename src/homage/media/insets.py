"""Picture-in-picture: the smaller picture set into a frame, found by its edges.

A film shown small inside other footage (a news report over a clip, a reaction video) fills a
fraction of the query frame, so a whole-frame descriptor sees mostly the footage around it and
the copy is missed.  The inset itself is easy to describe once it is found: its four sides are
straight edges that stay where they are while the pictures on both sides move.  So each frame's
strong edges are counted over a few neighbouring kept frames, and a rectangle whose four sides
are edges in (nearly) all of them is the inset.

Content edges move with the picture and fade out of the count; what stays is the inset's frame
and static overlays (a logo box, a timecode), which are kept too: describing a static box costs
one more look-up and matches nothing.  Why not a single frame: a picture is full of straight
edges (a horizon, a door), and on one frame they form rectangles as readily as an inset does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: A boundary pixel changes by at least this much (0-255, largest of R, G, B) across it.
EDGE_STEP = 20
#: Kept frames counted around each frame: about three seconds at the default rate.
WINDOW = 6
#: ...of which a side's pixels must be edges in at least this share...
PERSISTENT = 0.8
#: ...and at least this many of them in the frame's shot (one frame cannot tell an inset
#: from a door or a window: it takes the pictures moving around it).
MIN_FRAMES = 2
#: Each side spans at least this share of the frame's side...
MIN_SIDE = 0.15
#: ...and at least this share of it is a persistent edge (the rest blends into the footage).
MIN_COVER = 0.7
#: The inset covers this range of the frame's area: smaller is a logo, larger is a crop.
AREA_RANGE = (0.03, 0.7)
#: A side this close (half-resolution pixels) to the frame's edge touches it: a rectangle
#: from edge to edge is the picture split in two, not an inset.
_SLACK = 2
#: Insets kept per frame, likeliest first.
PER_FRAME = 2
#: Two rectangles sharing less than this of the smaller one are two insets.
_DISTINCT = 0.2
#: Candidate lines kept per direction, longest first (a frame of noise has hundreds).
_MAX_LINES = 24
#: A line this close (rows) to a longer one kept is the same edge: widening spreads every
#: edge over three rows, four where it is blurred over two pixels.
_SAME_LINE = 2


@dataclass
class InsetFinder:
    """Finds insets in a stream of frames that arrive in batches.

    The count around a frame reaches ``WINDOW // 2`` kept frames back and forward within its
    shot (an inset usually comes and goes with a cut, and the frames of another shot would
    dilute the count), across batch boundaries backwards: the last maps of a batch are
    carried to the next.
    """

    _carried: np.ndarray | None = None  # (k, 2, h, w) bool: the last maps of the last batch
    _carried_shots: np.ndarray | None = None  # (k,) their shots

    def boxes(self, frames: np.ndarray, shots: np.ndarray) -> np.ndarray:
        """(n, ``PER_FRAME``, 4) float32 (left, top, right, bottom) fractions of each frame's
        likeliest insets, NaN where there are fewer.  ``frames`` (n, h, w, 3) uint8 RGB, one
        size throughout; ``shots`` (n,) the shot each frame belongs to (any labels that
        differ across a cut)."""
        out = np.full((len(frames), PER_FRAME, 4), np.nan, dtype=np.float32)
        if len(frames) == 0:
            return out
        maps = edge_maps(frames)
        if self._carried is not None and self._carried.shape[1:] == maps.shape[1:]:
            assert self._carried_shots is not None
            maps = np.concatenate([self._carried, maps])
            shots = np.concatenate([self._carried_shots, shots])
        before = len(maps) - len(frames)
        counts = np.concatenate([np.zeros((1, *maps.shape[1:]), np.int16),
                                 np.cumsum(maps, axis=0, dtype=np.int16)])
        back, ahead = WINDOW // 2, WINDOW - WINDOW // 2 - 1
        last: tuple[bytes, list[tuple[float, float, float, float]]] | None = None
        for i in range(len(frames)):
            at = before + i
            lo, hi = max(0, at - back), min(len(maps), at + ahead + 1)
            same = np.flatnonzero(shots[lo:hi] == shots[at]) + lo  # one run: shots are ordered
            lo, hi = int(same[0]), int(same[-1]) + 1
            if hi - lo < MIN_FRAMES:
                continue
            persistent = (counts[hi] - counts[lo]) >= PERSISTENT * (hi - lo)
            key = np.packbits(persistent).tobytes()
            if last is None or last[0] != key:  # a static overlay repeats frame after frame
                last = (key, find_rectangles(persistent[0], persistent[1]))
            for slot, box in enumerate(last[1]):
                out[i, slot] = box
        self._carried, self._carried_shots = maps[-back:], shots[-back:]
        return out


def edge_maps(frames: np.ndarray) -> np.ndarray:
    """(n, 2, h/2, w/2) bool: the edges between rows and between columns of each frame, at
    half resolution (the sides of an inset survive halving, and it quarters the work)."""
    h, w = (frames.shape[1] // 2) * 2, (frames.shape[2] // 2) * 2
    small = sum(frames[:, dy:h:2, dx:w:2].astype(np.int16) for dy in (0, 1) for dx in (0, 1))
    step = 4 * EDGE_STEP  # ``small`` sums four pixels
    maps = np.zeros((len(frames), 2, h // 2, w // 2), dtype=bool)
    maps[:, 0, 1:-1] = np.abs(small[:, 2:] - small[:, :-2]).max(axis=3) > step
    maps[:, 1, :, 1:-1] = np.abs(small[:, :, 2:] - small[:, :, :-2]).max(axis=3) > step
    return maps


def find_rectangles(rows: np.ndarray, cols: np.ndarray
                    ) -> list[tuple[float, float, float, float]]:
    """Up to ``PER_FRAME`` distinct rectangles whose tops and bottoms lie on ``rows`` (edges
    between rows) and whose sides lie on ``cols``, likeliest first, as (left, top, right,
    bottom) fractions.

    Every row holding a long run of edge is a candidate top or bottom, every such column a
    candidate side, and each combination is measured by how much of its four sides are edges:
    a side may blend into the footage for a stretch, so it need not be one unbroken run.  The
    likeliest is the most complete outline and, of equally complete ones (a border drawn
    round an inset has an inner and an outer edge), the larger.  More than one is kept because
    a static scene (a fixed camera, a logo box) draws rectangles of its own.
    """
    h, w = rows.shape
    raw_rows, raw_cols = rows, cols
    rows, cols = _widened(rows, axis=0), _widened(cols, axis=1)
    ys = _lines(rows, int(MIN_SIDE * w), raw_rows)
    xs = _lines(cols.T, int(MIN_SIDE * h), raw_cols.T)
    if len(ys) < 2 or len(xs) < 2:
        return []
    top, bottom = (a.ravel() for a in np.meshgrid(ys, ys, indexing="ij"))
    tall = bottom - top >= MIN_SIDE * h
    left, right = (a.ravel() for a in np.meshgrid(xs, xs, indexing="ij"))
    wide = right - left >= MIN_SIDE * w
    top, bottom, left, right = top[tall], bottom[tall], left[wide], right[wide]
    if top.size == 0 or left.size == 0:
        return []
    along_rows = np.pad(np.cumsum(rows, axis=1), ((0, 0), (1, 0)))
    along_cols = np.pad(np.cumsum(cols, axis=0), ((1, 0), (0, 0)))
    t, b, lf, rt = top[:, None], bottom[:, None], left[None, :], right[None, :]
    width, height = rt - lf, b - t
    cover = np.minimum.reduce([
        (along_rows[t, rt] - along_rows[t, lf]) / width,
        (along_rows[b, rt] - along_rows[b, lf]) / width,
        (along_cols[b, lf] - along_cols[t, lf]) / height,
        (along_cols[b, rt] - along_cols[t, rt]) / height,
    ])
    area = width * height / (w * h)
    whole = ((lf <= _SLACK) & (rt >= w - 1 - _SLACK)) | ((t <= _SLACK) & (b >= h - 1 - _SLACK))
    good = (cover >= MIN_COVER) & (area >= AREA_RANGE[0]) & (area <= AREA_RANGE[1]) & ~whole
    i, j = np.nonzero(good)
    boxes = np.stack([left[j] / w, top[i] / h, right[j] / w, bottom[i] / h], axis=1)
    likelihood = cover[i, j] + area[i, j]
    found: list[tuple[float, float, float, float]] = []
    while likelihood.size and len(found) < PER_FRAME:
        best = boxes[int(np.argmax(likelihood))]
        found.append(tuple(float(v) for v in best))
        apart = _shared(boxes, best) < _DISTINCT
        boxes, likelihood = boxes[apart], likelihood[apart]
    return found


def _shared(boxes: np.ndarray, box: np.ndarray) -> np.ndarray:
    """For each of ``boxes`` (k, 4), the share of the smaller of it and ``box`` inside the
    other: a rectangle inside an inset is part of its picture, not a second inset."""
    width = np.clip(np.minimum(boxes[:, 2], box[2]) - np.maximum(boxes[:, 0], box[0]), 0, None)
    height = np.clip(np.minimum(boxes[:, 3], box[3]) - np.maximum(boxes[:, 1], box[1]), 0,
                     None)
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    smaller = np.minimum(areas, (box[2] - box[0]) * (box[3] - box[1]))
    return width * height / np.maximum(smaller, 1e-9)


def _widened(edges: np.ndarray, axis: int) -> np.ndarray:
    """``edges`` or'ed with their neighbours across ``axis``: a side that is not quite level
    (a slightly rotated inset, an edge blurred over two pixels) counts as one line."""
    out = edges.copy()
    if axis == 0:
        out[1:] |= edges[:-1]
        out[:-1] |= edges[1:]
    else:
        out[:, 1:] |= edges[:, :-1]
        out[:, :-1] |= edges[:, 1:]
    return out


def _lines(mask: np.ndarray, min_length: int, unwidened: np.ndarray) -> np.ndarray:
    """Rows of ``mask`` holding a run of True at least ``min_length`` long (gaps of one
    pixel bridged), the ``_MAX_LINES`` longest if there are more, one row per edge: of
    equally long rows, the one with the most edge pixels in ``unwidened`` (``mask`` before
    ``_widened``), the edge itself rather than a row beside it.

    Why one row per edge: each edge fills three or four neighbouring rows, so a cap on rows
    is a cap of six to eight edges, and the static edges of a still background took them
    all from an inset's sides."""
    bridged = mask.copy()
    bridged[:, 1:-1] |= mask[:, :-2] & mask[:, 2:]
    candidates = np.flatnonzero(np.count_nonzero(bridged, axis=1) >= min_length)
    if candidates.size == 0:
        return candidates
    steps = np.diff(bridged[candidates].astype(np.int8), prepend=0, append=0, axis=1)
    which, starts = np.nonzero(steps == 1)
    ends = np.nonzero(steps == -1)[1]  # row-major order pairs each start with its end
    longest = np.zeros(candidates.size, dtype=np.int64)
    np.maximum.at(longest, which, ends - starts)
    keep = longest >= min_length
    candidates, longest = candidates[keep], longest[keep]
    taken = np.zeros(len(mask) + 2 * _SAME_LINE, dtype=bool)
    kept: list[int] = []
    strength = np.count_nonzero(unwidened[candidates], axis=1)
    for row in candidates[np.lexsort((-strength, -longest))]:
        if taken[row + _SAME_LINE]:
            continue
        kept.append(int(row))
        taken[row:row + 2 * _SAME_LINE + 1] = True
        if len(kept) == _MAX_LINES:
            break
    return np.sort(np.array(kept, dtype=np.int64))
