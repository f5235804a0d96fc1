"""Re-framings of a coarse layout: what a reference frame's 8 × 8 grids would look like had it
been shot closer in, off centre, or cropped.

A re-staging often frames its model tighter (the subject larger, a margin lost on one side),
and a copy is often cropped (a side or two cut away, the rest scaled to fill the frame).  The
layouts of ``visual.looks`` are positional, so a zoom of 1.3× moves every mass and edge by a
cell or two and the agreement of a true re-staging or crop falls to that of an unrelated shot.
Each framing here is a fixed linear map of a grid (a part of the reference's grid, read
bilinearly at the query's cell centres), so trying them costs matrix products, not pixels.
"""

from __future__ import annotations

from functools import cache
from typing import NamedTuple

import numpy as np

from homage.visual.looks import GRID, PARTS, standardise


class Framing(NamedTuple):
    """A part of the reference frame that fills the query's: ``1 / zoom_x`` of its width and
    ``1 / zoom_y`` of its height, placed ``left`` and ``top`` along the room left over (0: at
    the left or top edge, 1: at the right or bottom one)."""

    zoom_x: float
    zoom_y: float
    left: float
    top: float

    def region(self) -> tuple[float, float, float, float]:
        """(left, top, right, bottom) fractions of the reference frame."""
        width, height = 1 / self.zoom_x, 1 / self.zoom_y
        x, y = self.left * (1 - width), self.top * (1 - height)
        return (round(x, 3), round(y, 3), round(x + width, 3), round(y + height, 3))

    def grid_map(self, side: int) -> np.ndarray:
        """(side², side²): ``grid @ map.T`` reads a flattened grid in this framing."""
        return np.kron(_axis(self.zoom_y, self.top * (1 - 1 / self.zoom_y), side),
                       _axis(self.zoom_x, self.left * (1 - 1 / self.zoom_x), side))


WHOLE = Framing(1.0, 1.0, 0.5, 0.5)
"""The reference as it is framed."""

ZOOMS = (1.2, 1.45)
"""How much closer in a re-staging is tried (the query shows 1/zoom of the reference's side)."""
PLACES = (0.0, 0.5, 1.0)
"""Where the closer frame sits in the reference, per axis, as a share of the room left."""
RESTAGINGS: tuple[Framing, ...] = (WHOLE, *(
    Framing(zoom, zoom, left, top) for zoom in ZOOMS for top in PLACES for left in PLACES))
"""The framings a re-staging is compared in, the whole frame first: closer in by the same
factor both ways (a camera moved in keeps the picture's shape)."""

CROP_ZOOMS = (1.0, 1.1, 1.2, 1.33, 1.45)
"""Per axis, how much of the reference's side a crop may have cut away (up to a third)."""
CROPS: tuple[Framing, ...] = (WHOLE, *(
    Framing(zoom_x, zoom_y, left, top)
    for zoom_y in CROP_ZOOMS for zoom_x in CROP_ZOOMS if (zoom_x, zoom_y) != (1.0, 1.0)
    for top in (PLACES if zoom_y > 1 else (0.5,))
    for left in (PLACES if zoom_x > 1 else (0.5,))))
"""The framings a copy is compared in, the whole frame first: a crop cuts each axis by its
own share, and the picture left is stretched to fill the frame."""


@cache
def grid_maps(framings: tuple[Framing, ...], side: int = GRID) -> np.ndarray:
    """(len(framings), side², side²) maps of ``framings``: ``grid @ maps[i].T`` reads a row of
    flattened grids in framing i."""
    out = np.stack([f.grid_map(side) for f in framings]).astype(np.float32)
    out.setflags(write=False)
    return out


def reframings(side: int = GRID) -> np.ndarray:
    """The maps of ``RESTAGINGS``, the identity first."""
    return grid_maps(RESTAGINGS, side)


def framing_region(which: int) -> tuple[float, float, float, float] | None:
    """The part of the reference frame that ``RESTAGINGS[which]`` shows, as (left, top,
    right, bottom) fractions; None for the whole frame."""
    return None if which == 0 else RESTAGINGS[which].region()


def reframed(grids: np.ndarray, which: int) -> np.ndarray:
    """(n, GRID²) standardised grids re-framed by ``reframings()[which]``, standardised again
    (a crop of a grid has its own mean and spread)."""
    if which == 0:
        return grids
    return standardise(np.asarray(grids, np.float32) @ reframings()[which].T)


def best_reframing(query_mass: np.ndarray, query_edges: np.ndarray, ref_mass: np.ndarray,
                   ref_edges: np.ndarray, *, clearly_better: float = 0.05) -> np.ndarray:
    """Per pair of rows, the re-staging framing of the reference's grids that the query's agree
    with best; the identity unless another agrees ``clearly_better`` (every extra framing is a
    chance for a look-alike to agree).

    Agreement is the mean of the mass and edge correlations, or the edges' alone where that is
    higher: a sketch or an inked re-drawing loses the masses (a white page) but keeps where
    the edges sit, and read by both it would keep the plain framing."""
    maps = reframings()
    mass = framed_correlations(query_mass, ref_mass, maps)
    edges = framed_correlations(query_edges, ref_edges, maps)
    agreement = np.maximum((mass + edges) / 2, edges)
    best = np.argmax(agreement, axis=1)
    plain = agreement[:, 0]
    return np.where(agreement[np.arange(len(best)), best] > plain + clearly_better, best, 0)


def best_crop(query_looks: np.ndarray, reference_looks: np.ndarray, *,
              clearly_better: float = 0.05) -> tuple[int, np.ndarray]:
    """The crop (an index into ``CROPS``) that a stretch's pairs of looks agree with best, and
    each pair's layout agreement in it, (n,) (``layout_agreement``: mass and edges).

    One crop for the whole stretch, not one per pair: a copy is cropped the same way from
    its first frame to its last, and a look-alike shot rarely fits one framing on every pair.
    The whole frame unless another agrees ``clearly_better`` on average."""
    maps = grid_maps(CROPS)
    agreement = sum(framed_correlations(query_looks[:, PARTS[part]],
                                        reference_looks[:, PARTS[part]], maps)
                    for part in ("mass", "edges")) / 2
    mean = agreement.mean(axis=0)
    best = int(np.argmax(mean))
    if mean[best] <= mean[0] + clearly_better:
        best = 0
    return best, agreement[:, best]


def framed_correlations(query: np.ndarray, ref: np.ndarray, maps: np.ndarray) -> np.ndarray:
    """(n, len(maps)): the correlation of each standardised query grid with its reference
    grid read in each framing (standardised again: a part of a grid has its own mean and
    spread)."""
    moved = np.einsum("kij,nj->nki", maps, np.asarray(ref, np.float32))
    n, k, cells = moved.shape
    moved = standardise(moved.reshape(n * k, cells)).reshape(n, k, cells)
    return np.einsum("nki,ni->nk", moved, np.asarray(query, np.float32)) / cells


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
