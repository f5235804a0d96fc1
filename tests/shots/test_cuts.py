"""``homage.shots``: the streaming cut detector on the thumbnails the decoder hands it (hard
cuts, fades, dissolves, flashes) and ``shot_spans``."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

import av
import numpy as np
import pytest

from homage.media.video import THUMBNAIL_SIZE, thumbnail, video_frames
from homage.shots import CutDetector, shot_spans
from synth_video import FPS, shot_frame, write_video

SIZE = (90, 160)


@functools.cache
def frame(seed: int, index: int) -> np.ndarray:
    """Frame ``index`` of shot ``seed`` (``synth_video.shot_frame``), small; read-only."""
    picture = shot_frame(seed, index / FPS, SIZE)
    picture.flags.writeable = False
    return picture


def frames_of(seeds: Sequence[int], seconds: float) -> list[np.ndarray]:
    """Consecutive shots, ``seconds`` each."""
    return [frame(seed, i) for seed in seeds for i in range(round(seconds * FPS))]


def thumb(picture: np.ndarray) -> np.ndarray:
    """What the decoder hands the detector (``homage.media.video.thumbnail`` of a yuv420p
    frame: limited-range luma at ``THUMBNAIL_SIZE``), as 5x5 block means, cheaply."""
    luma = 16 + (picture @ np.array([0.299, 0.587, 0.114])) * 219 / 255
    height, width = THUMBNAIL_SIZE
    blocks = luma.reshape(height, SIZE[0] // height, width, SIZE[1] // width)
    return np.round(blocks.mean(axis=(1, 3))).astype(np.uint8)


def detect(frames: Sequence[np.ndarray], **options: float) -> tuple[list[float], list[float]]:
    """(cuts, times at which ``update`` said True)."""
    detector = CutDetector(**options)
    flagged = [i / FPS for i, f in enumerate(frames) if detector.update(thumb(f), i / FPS)]
    return detector.cuts, flagged


def faded(a: int, b: int, *, seconds: float = 2.0, transition: float = 1.0) -> list[np.ndarray]:
    """Shot ``a`` fades to black and shot ``b`` fades in from it, over ``transition``
    seconds starting at ``seconds``."""
    n, m = round(seconds * FPS), round(transition * FPS)
    out = [frame(a, i) for i in range(n)]
    for j in range(m):
        x = j / (m - 1)
        if x < 0.5:
            out.append((frame(a, n + j) * (1 - 2 * x)).astype(np.uint8))
        else:
            out.append((frame(b, j) * (2 * x - 1)).astype(np.uint8))
    return out + [frame(b, m + i) for i in range(n)]


def dissolved(a: int, b: int, *, seconds: float = 2.0, transition: float = 1.0
              ) -> list[np.ndarray]:
    """Shot ``a`` cross-dissolves into shot ``b`` over ``transition`` seconds from
    ``seconds``."""
    n, m = round(seconds * FPS), round(transition * FPS)
    out = [frame(a, i) for i in range(n)]
    for j in range(m):
        x = (j + 1) / (m + 1)
        out.append((frame(a, n + j) * (1 - x) + frame(b, j) * x).astype(np.uint8))
    return out + [frame(b, m + i) for i in range(n)]


def test_the_thumbnails_here_are_the_decoders() -> None:
    for seed in (0, 3, 11):
        picture = frame(seed, 0)
        decoded = thumbnail(av.VideoFrame.from_ndarray(np.ascontiguousarray(picture),
                                                       format="rgb24").reformat(format="yuv420p"))
        here = thumb(picture)
        assert here.shape == decoded.shape == THUMBNAIL_SIZE
        assert abs(float(here.mean()) - float(decoded.mean())) < 2
        assert np.abs(here.astype(int) - decoded.astype(int)).mean() < 12


# ------------------------------------------------------------------------------ hard cuts


@pytest.mark.parametrize("seeds", [[0, 1, 2, 3, 4, 5], [6, 7, 10, 11, 12, 13]])
def test_every_hard_cut_is_found_within_a_frame_and_nothing_inside_shots(
        seeds: list[int]) -> None:
    seconds = 1.6
    cuts, flagged = detect(frames_of(seeds, seconds))
    expected = [k * seconds for k in range(1, len(seeds))]
    assert len(cuts) == len(expected), cuts
    np.testing.assert_allclose(cuts, expected, atol=1 / FPS + 1e-9)
    assert flagged == cuts  # update says True at the first frame of each new shot


def test_cuts_closer_than_the_shortest_shot_are_ignored() -> None:
    cuts, _ = detect(frames_of([0, 1, 2, 3, 4, 5, 6, 7], 0.4), min_shot_seconds=0.6)
    assert cuts, "some cut is found"
    assert np.all(np.diff(cuts) >= 0.6 - 1e-9)
    assert cuts[0] >= 0.6 - 1e-9


def test_a_cut_before_min_shot_seconds_is_not_reported() -> None:
    cuts, _ = detect(frames_of([0, 1, 2], 0.4) + frames_of([3], 2.0), min_shot_seconds=1.0)
    assert all(c >= 1.0 for c in cuts)


def test_a_still_shot_with_sensor_noise_has_no_cut() -> None:
    rng = np.random.default_rng(1)
    still = frame(4, 0).astype(float)
    frames = [np.clip(still + rng.normal(0, 6, still.shape), 0, 255).astype(np.uint8)
              for _ in range(75)]
    assert detect(frames)[0] == []


def test_a_slow_change_of_light_is_not_a_cut() -> None:
    base = frame(2, 0).astype(float)
    frames = [np.clip(base * (0.6 + 0.4 * i / 100), 0, 255).astype(np.uint8)
              for i in range(100)]
    assert detect(frames)[0] == []


def test_moving_shots_without_cuts_have_none() -> None:
    for seed in (0, 5, 10, 20):
        assert detect(frames_of([seed], 4.0))[0] == [], seed


# ------------------------------------------------------------------------ flashes, strobes


@pytest.mark.parametrize("length", [1, 2, 5, 8, 10, 12])
def test_a_flash_shorter_than_a_shot_does_not_make_two_cuts(length: int) -> None:
    frames = frames_of([3], 4.0)
    start = round(2.0 * FPS)
    for i in range(start, start + length):  # length / FPS < min_shot_seconds
        frames[i] = np.full(frames[i].shape, 255, np.uint8)
    cuts, _ = detect(frames, min_shot_seconds=0.6)
    assert len(cuts) <= 1, cuts
    assert all(abs(c - 2.0) <= 1 / FPS for c in cuts)


def test_a_strobe_makes_at_most_one_cut_per_shortest_shot() -> None:
    frames = frames_of([6], 4.0)
    for i in range(round(1.0 * FPS), round(3.0 * FPS), 3):  # every third frame white
        frames[i] = np.full(frames[i].shape, 255, np.uint8)
    cuts, _ = detect(frames, min_shot_seconds=0.6)
    assert len(cuts) <= 2 / 0.6 + 1
    assert np.all(np.diff(cuts) >= 0.6 - 1e-9)


# ---------------------------------------------------------------------- gradual transitions

#: shot pairs whose thumbnails differ clearly (grass/gravel and similar dark pictures do not)
PAIRS = [(0, 1), (2, 3), (4, 5), (10, 11)]


@pytest.mark.parametrize(("a", "b"), PAIRS)
def test_a_fade_through_black_is_marked_between_the_shots(a: int, b: int) -> None:
    cuts, _ = detect(faded(a, b))
    assert cuts, "the fade is seen"
    assert all(1.75 <= c <= 3.25 for c in cuts), cuts  # nothing deep inside the shots


def test_a_fade_through_black_is_one_boundary_at_its_middle() -> None:
    found = {pair: detect(faded(*pair))[0] for pair in PAIRS}
    middle = 2.0 + 0.5 - 0.5 / FPS
    assert all(len(c) == 1 and abs(c[0] - middle) <= 0.3 for c in found.values()), found


@pytest.mark.xfail(strict=True, reason="a 1 s cross-dissolve changes by half its total within "
                   "gradual_seconds=0.5: missed when the shots differ by less than "
                   "2 x gradual_floor (mean luma 60), found twice otherwise")
def test_a_cross_dissolve_is_one_boundary_at_its_middle() -> None:
    found = {pair: detect(dissolved(*pair))[0] for pair in PAIRS}
    middle = 2.0 + 0.5
    assert all(len(c) == 1 and abs(c[0] - middle) <= 0.3 for c in found.values()), found


def test_a_cut_inside_the_gradual_window_is_not_counted_again() -> None:
    """A hard cut also makes the frame ``gradual_seconds`` back differ: one boundary only."""
    cuts, _ = detect(frames_of([0, 1], 2.0))
    assert cuts == [pytest.approx(2.0)]


# ------------------------------------------------------------------------------ decoding


def test_as_the_decoders_observer_it_finds_cuts_and_keeps_each_shots_first_frame(
        tmp_path: Path) -> None:
    path = write_video(tmp_path / "shots.mp4", frames_of([0, 1, 2], 1.6), codec="mpeg4")
    detector = CutDetector()
    times = np.concatenate([b.times for b in video_frames(
        path, fps=1.0, size=(16, 16), observer=detector.update, fast_decode=False)])
    np.testing.assert_allclose(detector.cuts, [1.6, 3.2], atol=1 / FPS + 1e-6)
    for cut in detector.cuts:
        assert np.any(np.isclose(times, cut))


# ---------------------------------------------------------------------------- shot spans


def test_shot_spans_cover_the_duration_between_cuts() -> None:
    spans = shot_spans([2.0, 5.0], 8.0)
    assert spans.dtype == np.float64 and spans.shape == (3, 2)
    np.testing.assert_array_equal(spans, [[0, 2], [2, 5], [5, 8]])


def test_shot_spans_sort_and_drop_cuts_outside_the_work() -> None:
    spans = shot_spans(np.array([5.0, 0.0, 2.0, 8.0, 9.5, -1.0]), 8.0)
    np.testing.assert_array_equal(spans, [[0, 2], [2, 5], [5, 8]])


def test_shot_spans_of_a_work_without_cuts_is_one_shot() -> None:
    np.testing.assert_array_equal(shot_spans([], 3.5), [[0, 3.5]])
    np.testing.assert_array_equal(shot_spans([], 0.0), [[0, 0]])
    np.testing.assert_array_equal(shot_spans([1.0], -2.0), [[0, 0]])
