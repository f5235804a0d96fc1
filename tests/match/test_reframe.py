"""Re-framings of the coarse layouts: a closer, off-centre framing of a picture, or a crop of
it, is recognised as that picture's layout, and a picture compared with itself is left as it
is."""

from __future__ import annotations

import numpy as np
import pytest

from homage.match.reframe import (
    CROP_ZOOMS,
    CROPS,
    WHOLE,
    ZOOMS,
    best_crop,
    best_reframing,
    framing_region,
    reframed,
    reframed_lines,
    reframings,
)
from homage.visual.looks import PARTS, frame_looks


def _scene(side: int = 224) -> np.ndarray:
    """Bright and dark masses with edges in every part of the frame."""
    y, x = np.mgrid[0:side, 0:side] / side
    picture = np.zeros((side, side, 3), np.float32)
    picture[..., 0] = 0.5 + 0.5 * np.sin(7 * x + 3 * y)
    picture[..., 1] = ((x - 0.3) ** 2 + (y - 0.6) ** 2 < 0.04) * 0.9
    picture[..., 2] = (x > 0.7) * (y < 0.4) * 0.8 + 0.1 * y
    return (picture * 255).astype(np.uint8)


def _closer(picture: np.ndarray, zoom: float, top: float, left: float, *,
            zoom_y: float | None = None) -> np.ndarray:
    """The picture framed ``zoom`` times closer (``zoom_y`` times vertically where given: a
    crop), cut at (top, left) shares of the room left, scaled back to its size (nearest pixel:
    enough at these grids)."""
    side = picture.shape[0]
    width, height = round(side / zoom), round(side / (zoom_y or zoom))
    y0, x0 = round(top * (side - height)), round(left * (side - width))
    rows = y0 + (np.arange(side) * height // side)
    cols = x0 + (np.arange(side) * width // side)
    return picture[rows][:, cols]


def _grids(picture: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    looks = frame_looks(picture[None])
    return looks[:, PARTS["mass"]], looks[:, PARTS["edges"]]


def _agreement(query: tuple[np.ndarray, np.ndarray], ref: tuple[np.ndarray, np.ndarray],
               which: int) -> float:
    return float(sum((q * reframed(r, which)).sum() for q, r in zip(query, ref, strict=True))
                 / (2 * 64))


def test_the_identity_comes_first_and_each_map_reads_whole_cells() -> None:
    maps = reframings()
    assert len(maps) == 1 + 9 * len(ZOOMS)
    np.testing.assert_array_equal(maps[0], np.eye(64))
    np.testing.assert_allclose(maps.sum(axis=2), 1.0, atol=1e-6)  # bilinear: weights sum to 1


def test_a_closer_off_centre_framing_is_recognised() -> None:
    picture = _scene()
    ref = _grids(picture)
    query = _grids(_closer(picture, 1.4, top=1.0, left=0.0))  # bottom left, 1.4x closer
    which = int(best_reframing(*query, *ref)[0])
    assert which != 0
    left, top, right, bottom = framing_region(which)  # the 1.45x framing at the bottom left
    assert (left, bottom) == (0.0, 1.0)
    assert right - left == pytest.approx(1 / 1.45, abs=1e-3) == bottom - top
    assert _agreement(query, ref, which) > 0.75  # 0.19 as framed
    assert _agreement(query, ref, which) > _agreement(query, ref, 0) + 0.5


def test_a_picture_compared_with_itself_keeps_its_framing() -> None:
    mass, edges = _grids(_scene())
    assert best_reframing(mass, edges, mass, edges).tolist() == [0]
    assert framing_region(0) is None


def test_edge_directions_move_with_their_cells_and_keep_their_direction() -> None:
    rng = np.random.default_rng(0)
    lines = rng.random((3, 64)).astype(np.float32)
    which = len(reframings()) - 1
    moved = reframed_lines(lines, which).reshape(3, 16, 4)
    cells = lines.reshape(3, 16, 4)
    for direction in range(4):
        np.testing.assert_allclose(moved[:, :, direction],
                                   cells[:, :, direction] @ reframings(4)[which].T, rtol=1e-5)
    np.testing.assert_array_equal(reframed_lines(lines, 0), lines)


def test_a_drawing_that_keeps_only_the_edges_is_reframed_too() -> None:
    """A sketch: dark lines on a white page, so its masses run against the picture's (read
    together with them, the framing that fits stands out no more than the plain one), while its
    lines sit where the picture's edges do.  The edges decide."""
    picture = _scene()
    ref = _grids(picture)
    mass, edges = _grids(_closer(picture, 1.4, top=1.0, left=0.0))
    which = int(best_reframing(-mass, edges, *ref)[0])
    assert which == int(best_reframing(mass, edges, *ref)[0]) != 0


def test_crops_cut_each_axis_on_its_own_and_the_whole_frame_comes_first() -> None:
    cuts = len(CROP_ZOOMS) - 1
    assert CROPS[0] == WHOLE and WHOLE.region() == (0.0, 0.0, 1.0, 1.0)
    assert len(CROPS) == 1 + 2 * cuts * 3 + cuts * cuts * 9  # one axis cut (3 places), both (9)
    assert len(set(CROPS)) == len(CROPS)
    sides = [crop.region()[2] - crop.region()[0] for crop in CROPS if crop.zoom_y == 1.0]
    assert min(sides) == pytest.approx(1 / max(CROP_ZOOMS), abs=1e-3)


def test_a_crop_of_two_sides_is_found_where_it_was_cut() -> None:
    """A third of the width cut away at the left, a tenth of the height at the top: the
    crop found shows the same part of the picture, and the layouts agree in it as they do
    not as framed."""
    picture = _scene()
    reference = frame_looks(np.stack([picture, picture[::-1]]))
    query = frame_looks(np.stack([_closer(p, 1.5, top=1.0, left=1.0, zoom_y=1.1)
                                  for p in (picture, picture[::-1])]))
    which, agreement = best_crop(query, reference)
    left, top, right, bottom = CROPS[which].region()
    assert (right, bottom) == (1.0, 1.0)
    assert left == pytest.approx(1 - 1 / 1.5, abs=0.05)
    assert top == pytest.approx(1 - 1 / 1.1, abs=0.05)
    whole, as_framed = best_crop(query, reference, clearly_better=np.inf)
    assert whole == 0
    assert agreement.shape == as_framed.shape == (2,)
    assert agreement.min() > 0.8 > as_framed.max() + 0.2


def test_a_stretch_compared_with_itself_is_not_cropped() -> None:
    looks = frame_looks(np.stack([_scene(), _scene()[:, ::-1]]))
    which, agreement = best_crop(looks, looks)
    assert which == 0
    np.testing.assert_allclose(agreement, 1.0, atol=1e-4)
