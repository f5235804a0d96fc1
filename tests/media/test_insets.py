"""Picture-in-picture insets are found by the edges that stay put while the pictures move."""

from __future__ import annotations

import numpy as np
import pytest

from homage.media.insets import InsetFinder, find_rectangles
from synth_video import shot_frame

SIZE = (224, 224)
BOX = (0.5, 0.45, 0.9, 0.85)  # left, top, right, bottom


def _with_inset(t: float, box: tuple[float, float, float, float] = BOX) -> np.ndarray:
    """Shot 3 with shot 8 shown small inside it, both moving."""
    frame = shot_frame(3, t, SIZE)
    h, w = SIZE
    left, top, right, bottom = (round(v * s) for v, s in zip(box, (w, h, w, h), strict=True))
    frame[top:bottom, left:right] = shot_frame(8, t, (bottom - top, right - left))
    return frame


def _frames(make, seconds: float, fps: float = 2.0) -> np.ndarray:
    return np.stack([make(i / fps) for i in range(round(seconds * fps))])


def _shot(seed: int, seconds: float) -> np.ndarray:
    return _frames(lambda t: shot_frame(seed, t, SIZE), seconds)


def _one_shot(frames: np.ndarray) -> np.ndarray:
    return np.zeros(len(frames), dtype=np.int64)


def test_an_inset_over_moving_footage_is_found_where_it_is() -> None:
    frames = _frames(_with_inset, 4.0)
    boxes = InsetFinder().boxes(frames, _one_shot(frames))[:, 0]
    assert not np.isnan(boxes[:, 0]).any()
    assert np.abs(boxes - np.array(BOX)).max() <= 0.03


def test_plain_footage_holds_no_inset() -> None:
    frames = np.concatenate([_shot(seed, 3.0) for seed in (3, 5, 11)])
    assert np.isnan(InsetFinder().boxes(frames, _one_shot(frames))).all()


def test_a_short_shot_with_an_inset_is_looked_at_on_its_own() -> None:
    # a second and a half of inset after a cut: counted with the shot before, its edges
    # would not stay put for long enough
    plain, inset = _shot(5, 3.0), _frames(_with_inset, 1.5)
    frames = np.concatenate([plain, inset])
    shots = np.repeat([0, 1], [len(plain), len(inset)])
    boxes = InsetFinder().boxes(frames, shots)
    before = boxes[:len(plain)].reshape(-1, 4)
    assert not (np.abs(before - np.array(BOX)).max(axis=1) <= 0.03).any()  # NaN compares False
    assert np.abs(boxes[len(plain):, 0] - np.array(BOX)).max() <= 0.03


def test_an_inset_over_a_still_background_with_many_level_edges_is_found() -> None:
    # shelves, a blind, the rows of a brick wall behind a presenter: level edges that stay put
    # as the inset's sides do, and run longer
    h, w = SIZE
    shelves = np.full((h, w, 3), 30, dtype=np.uint8)
    for row in range(8, h, 36):
        shelves[row:row + 10] = 70
    left, top, right, bottom = (round(v * s) for v, s in zip(BOX, (w, h, w, h), strict=True))

    def make(t: float) -> np.ndarray:
        frame = shelves.copy()
        frame[top:bottom, left:right] = shot_frame(8, t, (bottom - top, right - left))
        return frame

    frames = _frames(make, 4.0)
    boxes = InsetFinder().boxes(frames, _one_shot(frames))[:, 0]
    assert np.abs(boxes - np.array(BOX)).max() <= 0.03


def test_an_inset_is_followed_across_batches() -> None:
    frames = _frames(_with_inset, 6.0)
    finder = InsetFinder()
    shots = _one_shot(frames)
    boxes = np.concatenate([finder.boxes(frames[i:i + 4], shots[i:i + 4])
                            for i in range(0, len(frames), 4)])
    whole = InsetFinder().boxes(frames, shots)
    # a frame near a batch's end sees fewer frames ahead: the same insets, found alike
    np.testing.assert_array_equal(np.isnan(boxes[:, 0, 0]), np.isnan(whole[:, 0, 0]))
    assert not np.isnan(boxes[2:, 0, 0]).any()
    np.testing.assert_allclose(boxes[2:, 0], whole[2:, 0], atol=0.03)


def test_one_still_frame_is_not_enough_to_call_a_rectangle_an_inset() -> None:
    # a door or a window is as straight as an inset: it takes frames that move around it
    frames = _frames(_with_inset, 0.5)
    assert len(frames) == 1
    assert np.isnan(InsetFinder().boxes(frames, _one_shot(frames))).all()


@pytest.mark.parametrize("area", [0.01, 0.81])
def test_rectangles_too_small_or_too_large_are_no_insets(area: float) -> None:
    side = round(112 * area ** 0.5)
    rows = np.zeros((112, 112), dtype=bool)
    cols = np.zeros((112, 112), dtype=bool)
    rows[[5, 5 + side], 5:5 + side] = True
    cols[5:5 + side, [5, 5 + side]] = True
    assert find_rectangles(rows, cols) == []


def test_two_insets_are_both_kept() -> None:
    # a static box (a logo, a timecode) draws a rectangle of its own: the inset must not
    # lose to it
    logo = (0.05, 0.05, 0.3, 0.25)

    def with_logo(t: float) -> np.ndarray:
        frame = _with_inset(t)
        h, w = SIZE
        left, top, right, bottom = (round(v * s) for v, s in zip(logo, (w, h, w, h),
                                                                   strict=True))
        frame[top:bottom, left:right] = 40
        frame[top + 8:top + 16, left + 6:right - 6] = 220
        return frame

    frames = _frames(with_logo, 4.0)
    boxes = InsetFinder().boxes(frames, _one_shot(frames))

    def seen(target: tuple[float, ...]) -> np.ndarray:
        return (np.abs(boxes - np.array(target)).max(axis=2) <= 0.03).any(axis=1)

    assert seen(BOX).all()
    assert seen(logo).mean() >= 0.5  # where the photo pans slowly, it may draw more lines
