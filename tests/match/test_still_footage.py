"""A copy of still footage is placed where PDQ finds its very pictures (one shown small: where
its coarse layout is recognised), not where the descriptor's noise put it."""

from __future__ import annotations

import dataclasses

import numpy as np

from homage.copies import QueryFrames, _settle_in_still_footage
from homage.match.video_align import VideoSegmentMatch
from homage.visual.base import l2_normalise
from homage.visual.looks import LOOK_DIM, PARTS, mirror_looks, standardise
from homage.visual.prints import VisualPrint

STEP = 0.5  # seconds between stored frames


def _print(vectors: np.ndarray, pdq: np.ndarray) -> VisualPrint:
    n = len(vectors)
    return VisualPrint(times=np.arange(n, dtype=np.float32) * STEP, vectors=vectors,
                       boxes=np.tile(np.array([0, 0, 1, 1], np.float32), (n, 1)),
                       cuts=np.zeros(0, np.float32), pdq=pdq)


def _still_film(seconds: float, *, moving: bool = False) -> VisualPrint:
    """A reference whose frames the descriptor finds alike (or, ``moving``, unlike), each
    with a PDQ hash of its own."""
    rng = np.random.default_rng(0)
    n = round(seconds / STEP)
    base = rng.normal(size=(1, 64))
    vectors = base + (rng.normal(size=(n, 64)) * (3.0 if moving else 0.05))
    return _print(l2_normalise(vectors), rng.integers(0, 256, size=(n, 32), dtype=np.uint8))


def _copy_of(film: VisualPrint, first: int, count: int, *, flipped_bits: int) -> QueryFrames:
    """Query frames showing ``film``'s frames ``first`` on, their hashes a few bits off."""
    rng = np.random.default_rng(1)
    pdq = film.pdq[first:first + count].copy()
    bits = np.unpackbits(pdq, axis=1)
    for row in bits:
        row[rng.choice(256, size=flipped_bits, replace=False)] ^= 1
    frames = _print(film.vectors[first:first + count], np.packbits(bits, axis=1))
    return QueryFrames(frames, None, frames.pdq)


def _placed_at(start: float, count: int) -> VideoSegmentMatch:
    times = start + np.arange(count) * STEP
    return VideoSegmentMatch(
        work=0, query_start=0.0, query_end=count * STEP, reference_start=start,
        reference_end=start + count * STEP, speed=1.0, mirrored=0.0, frames=count,
        similarity=0.9, coverage=1.0, query_rows=np.arange(count), reference_times=times,
        pair_similarities=np.full(count, 0.9))


def test_a_copy_of_still_footage_moves_to_where_pdq_recognises_it() -> None:
    film = _still_film(30.0)
    query = _copy_of(film, first=36, count=8, flipped_bits=20)  # 18-22 s of the film
    settled = _settle_in_still_footage(_placed_at(2.0, 8), query, film, 30.0)
    assert settled.reference_start == 18.0 and settled.reference_end == 22.0
    np.testing.assert_allclose(settled.reference_times, 18.0 + np.arange(8) * STEP)


def test_a_place_pdq_prefers_but_the_descriptor_does_not_is_not_taken() -> None:
    # moving footage, copied heavily edited: PDQ happens to sit closer to frames 2-6 s in,
    # whose pictures the descriptor finds nothing like the copy's
    film = _still_film(30.0, moving=True)
    query = _copy_of(film, first=36, count=8, flipped_bits=80)  # 18-22 s, far off in PDQ
    query.print.pdq[:] = _copy_of(film, first=4, count=8, flipped_bits=20).print.pdq
    placed = _placed_at(18.0, 8)
    assert _settle_in_still_footage(placed, query, film, 30.0) is placed


def test_pictures_pdq_recognises_nowhere_stay_where_they_were_aligned() -> None:
    # a strong edit (a rotation): every place is a hundred bits away, and a few bits is noise
    film = _still_film(30.0)
    query = _copy_of(film, first=36, count=8, flipped_bits=100)
    placed = _placed_at(2.0, 8)
    assert _settle_in_still_footage(placed, query, film, 30.0) is placed


def _looks(rng: np.random.Generator, n: int) -> np.ndarray:
    """Looks whose mass and edge layouts are random, standardised as a frame's are."""
    looks = rng.normal(size=(n, LOOK_DIM)).astype(np.float32)
    for part in ("mass", "edges"):
        looks[:, PARTS[part]] = standardise(looks[:, PARTS[part]])
    return looks


def _shown_small(film: VisualPrint, first: int, count: int, *, layouts_kept: bool
                 ) -> QueryFrames:
    """Query frames of other footage with ``film``'s frames ``first`` on in an inset, shown
    mirrored: the inset's descriptor finds every moment of the still film alike, and its
    layouts are the true frames' (a little noisy) or, not ``layouts_kept``, nobody's."""
    rng = np.random.default_rng(2)
    frames = _print(l2_normalise(rng.normal(size=(count, 64))),
                    rng.integers(0, 256, size=(count, 32), dtype=np.uint8))
    assert film.looks is not None
    looks = film.looks[first:first + count] + rng.normal(0, 0.3, (count, LOOK_DIM))
    if not layouts_kept:
        looks = _looks(rng, count)
    for part in ("mass", "edges"):
        looks[:, PARTS[part]] = standardise(looks[:, PARTS[part]])
    boxes = np.full((count, 2, 4), np.nan, np.float32)
    boxes[:, 0] = (0.5, 0.1, 0.8, 0.5)
    insets = np.zeros((count, 2, 64), np.float32)
    insets[:, 0] = film.vectors[first:first + count]
    inset_looks = np.zeros((count, 2, LOOK_DIM), np.float32)
    inset_looks[:, 0] = mirror_looks(looks)
    return QueryFrames(frames, None, frames.pdq, insets=insets,
                       inset_pdq=np.zeros((count, 2, 32), np.uint8), inset_boxes=boxes,
                       inset_looks=inset_looks)


def _still_film_with_looks(seconds: float) -> VisualPrint:
    film = _still_film(seconds)
    return dataclasses.replace(film, looks=_looks(np.random.default_rng(3), len(film.times)))


def _found_in_inset(start: float, count: int) -> VideoSegmentMatch:
    return dataclasses.replace(_placed_at(start, count), region=(0.5, 0.1, 0.8, 0.5),
                               mirrored=1.0)


def test_an_inset_of_still_footage_moves_to_where_its_layout_is_recognised() -> None:
    # PDQ recognises nothing of a picture shown small; its coarse layout still does
    film = _still_film_with_looks(30.0)
    query = _shown_small(film, first=36, count=8, layouts_kept=True)  # 18-22 s of the film
    settled = _settle_in_still_footage(_found_in_inset(2.0, 8), query, film, 30.0)
    assert settled.reference_start == 18.0 and settled.reference_end == 22.0


def test_an_inset_whose_layout_is_recognised_nowhere_stays_where_it_was_aligned() -> None:
    film = _still_film_with_looks(30.0)
    query = _shown_small(film, first=36, count=8, layouts_kept=False)
    placed = _found_in_inset(2.0, 8)
    assert _settle_in_still_footage(placed, query, film, 30.0) is placed
