"""Re-framings of a coarse layout: what a reference frame's 8 × 8 grids would look like had it
been shot closer in, off centre.

A re-staging often frames its model tighter (the subject larger, a margin lost on one side).
The layouts of ``visual.looks`` are positional, so a zoom of 1.3× moves every mass and edge by
a cell or two and the agreement of a true re-staging falls to that of an unrelated shot.
Each re-framing here is a fixed linear map of a grid (a crop of the reference's grid, read
bilinearly at the query's cell centres), so trying them costs matrix products, not pixels.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from homage.visual.looks import GRID, PARTS, standardise

ZOOMS = (1.2, 1.45)
"""How much closer in a re-framing is tried (the query shows 1/zoom of the reference's side)."""
PLACES = (0.0, 0.5, 1.0)
"""Where the closer frame sits in the reference, per axis, as a share of the room left."""
_FRAMINGS = tuple((zoom, top, left) for zoom in ZOOMS for top in PLACES for left in PLACES)
"""Every re-framing after the identity, in the order of ``reframings()`` from index 1."""


@cache
def reframings(side: int = GRID) -> np.ndarray:
    """(k, side², side²) maps, the identity first: ``grid @ maps[i].T`` re-frames a row of
    flattened grids."""
    maps = [np.eye(side * side)]
    for zoom, top, left in _FRAMINGS:
        rows = _axis(zoom, top * (1 - 1 / zoom), side)
        cols = _axis(zoom, left * (1 - 1 / zoom), side)
        maps.append(np.kron(rows, cols))
    out = np.stack(maps).astype(np.float32)
    out.setflags(write=False)
    return out


def framing_region(which: int) -> tuple[float, float, float, float] | None:
    """The part of the reference frame that ``reframings()[which]`` shows, as (left, top,
    right, bottom) fractions; None for the identity (the whole frame)."""
    if which == 0:
        return None
    zoom, top, left = _FRAMINGS[which - 1]
    side = 1 / zoom
    x, y = left * (1 - side), top * (1 - side)
    return (round(x, 3), round(y, 3), round(x + side, 3), round(y + side, 3))


def reframed(grids: np.ndarray, which: int) -> np.ndarray:
    """(n, GRID²) standardised grids re-framed by ``reframings()[which]``, standardised again
    (a crop of a grid has its own mean and spread)."""
    if which == 0:
        return grids
    return standardise(np.asarray(grids, np.float32) @ reframings()[which].T)


def best_reframing(query_mass: np.ndarray, query_edges: np.ndarray, ref_mass: np.ndarray,
                   ref_edges: np.ndarray, *, clearly_better: float = 0.05) -> np.ndarray:
    """Per pair of rows, the re-framing of the reference's grids that the query's agree with
    best; the identity unless another agrees ``clearly_better`` (every extra framing is a
    chance for a look-alike to agree).

    Agreement is the mean of the mass and edge correlations, or the edges' alone where that is
    higher: a sketch or an inked re-drawing loses the masses (a white page) but keeps where
    the edges sit, and read by both it would keep the plain framing."""
    maps = reframings()
    cells = GRID * GRID

    def correlations(query: np.ndarray, ref: np.ndarray) -> np.ndarray:
        return np.stack([np.einsum("ij,ij->i", query, standardise(ref @ m.T)) / cells
                         for m in maps], axis=1)

    mass, edges = correlations(query_mass, ref_mass), correlations(query_edges, ref_edges)
    agreement = np.maximum((mass + edges) / 2, edges)
    best = np.argmax(agreement, axis=1)
    plain = agreement[:, 0]
    return np.where(agreement[np.arange(len(best)), best] > plain + clearly_better, best, 0)


def _axis(zoom: float, offset: float, side: int) -> np.ndarray:
    """(side, side) bilinear read of a reference axis at the query's cell centres."""
    out = np.zeros((side, side))
    for i in range(side):
        position = (offset + (i + 0.5) / (side * zoom)) * side - 0.5
        low = int(np.clip(np.floor(position), 0, side - 1))
        high = min(low + 1, side - 1)
        share = float(np.clip(position - low, 0.0, 1.0))
        out[i, low] += 1 - share
        out[i, high] += share
    return out


def reframed_lines(lines: np.ndarray, which: int) -> np.ndarray:
    """(n, 64) edge-direction layouts (4 × 4 cells × 4 directions) re-framed like the grids."""
    if which == 0:
        return lines
    half = GRID // 2
    cells = np.asarray(lines, np.float32).reshape(len(lines), half * half, 4)
    moved = np.einsum("ij,njd->nid", reframings(half)[which], cells)
    return moved.reshape(len(lines), -1)


def reframed_looks(looks: np.ndarray, which: int) -> np.ndarray:
    """(n, LOOK_DIM) frame looks with their mass, edge and edge-direction layouts re-framed
    (the other parts do not depend on where things sit in the frame)."""
    if which == 0:
        return looks
    out = np.array(looks, np.float32)
    for part in ("mass", "edges"):
        out[:, PARTS[part]] = reframed(out[:, PARTS[part]], which)
    out[:, PARTS["lines"]] = reframed_lines(out[:, PARTS["lines"]], which)
    return out
