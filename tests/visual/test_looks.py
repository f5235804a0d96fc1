"""``homage.visual.looks``: coarse composition, colour and motion per frame."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from homage.media.video import resize_rgb
from homage.visual.looks import (
    LOOK_DIM,
    PARTS,
    frame_looks,
    layout_agreement,
    layout_looks,
    mirror_looks,
)


def scene(seed: int, side: int = 300) -> np.ndarray:
    """A smooth random RGB picture with strong masses and edges."""
    rng = np.random.default_rng(seed)
    noise = gaussian_filter(rng.random((side, side, 3)), (6, 6, 0))
    stretched = (noise - noise.mean()) / noise.std() * 60 + 128
    return np.clip(stretched, 0, 255).astype(np.uint8)


def test_parts_tile_the_look_without_gaps() -> None:
    spans = sorted((s.start, s.stop) for s in PARTS.values())
    assert spans[0][0] == 0 and spans[-1][1] == LOOK_DIM
    assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))


def test_a_panning_camera_is_measured_with_its_direction() -> None:
    picture = scene(1)
    frames = np.stack([picture[40:264, 40:264], picture[40:264, 52:276],
                       picture[48:272, 52:276]])  # the view moves right, then down
    motion = frame_looks(frames)[:, PARTS["motion"]]
    np.testing.assert_allclose(motion[0, :2], 0.0)  # nothing before the first frame
    # 12 px of 224 is 3 px of the 56-px work map: the content moves left
    np.testing.assert_allclose(motion[1, :2], [-3 / 56, 0.0])
    np.testing.assert_allclose(motion[2, :2], [0.0, -2 / 56])
    assert motion[1, 2:].sum() == pytest.approx(1.0)


def test_layout_looks_are_the_full_looks_layouts_and_nothing_else() -> None:
    frames = np.stack([scene(6)[:224, :224], scene(7)[30:254, 10:234]])
    full, layouts = frame_looks(frames), layout_looks(frames)
    for part, cells in PARTS.items():
        expected = full[:, cells] if part in ("mass", "edges") else 0.0
        np.testing.assert_array_equal(layouts[:, cells], expected)
    np.testing.assert_allclose(layout_agreement(layouts, full), 1.0, atol=1e-6)


def test_motion_continues_across_batches_given_the_previous_frame() -> None:
    picture = scene(2)
    frames = np.stack([picture[40:264, 40:264], picture[40:264, 52:276]])
    whole = frame_looks(frames)
    split = frame_looks(frames[1:], previous=frames[0])
    np.testing.assert_allclose(split[0], whole[1], atol=1e-6)


def test_the_mirror_of_a_look_is_the_look_of_the_mirrored_frames() -> None:
    picture = scene(3)
    frames = np.stack([picture[20:244, 20:244], picture[20:244, 28:252]])
    flipped = np.ascontiguousarray(frames[:, :, ::-1])
    np.testing.assert_allclose(mirror_looks(frame_looks(frames)), frame_looks(flipped),
                               atol=1e-4)


def test_a_cropped_recoloured_frame_keeps_its_layout_and_its_mirror_image_does_not() -> None:
    # what tells which way round a copy is when PDQ no longer recognises it
    rng = np.random.default_rng(5)
    noise = gaussian_filter(rng.random((280, 280, 3)), (16, 16, 0))  # a shot's big masses
    picture = np.clip((noise - noise.mean()) / noise.std() * 60 + 128, 0, 255).astype(np.uint8)
    original = picture[28:252, 28:252]
    cropped = np.ascontiguousarray(picture[50:230, 50:230])  # a fifth of the width cut away
    edited = np.clip(resize_rgb(cropped, (224, 224)).astype(np.int16) * [1.2, 0.9, 0.7] + 20,
                     0, 255).astype(np.uint8)
    base, copy = frame_looks(np.stack([original, edited]))
    as_is = layout_agreement(copy[None], base[None])[0]
    turned = layout_agreement(mirror_looks(copy[None]), base[None])[0]
    assert as_is > 0.5 > turned
    assert layout_agreement(base[None], base[None])[0] == pytest.approx(1.0, abs=1e-4)


def test_layouts_ignore_exposure_but_colours_do_not() -> None:
    frame = scene(4)[:224, :224]
    brighter = np.clip(frame.astype(np.float32) * 0.6 + 60, 0, 255).astype(np.uint8)
    tinted = np.clip(frame.astype(np.int16) + np.array([60, 0, -40]), 0, 255).astype(np.uint8)
    base, bright, tint = frame_looks(np.stack([frame, brighter, tinted]))
    for part in ("mass", "edges"):
        assert np.corrcoef(base[PARTS[part]], bright[PARTS[part]])[0, 1] > 0.99
    colour = PARTS["colour"]
    assert np.abs(tint[colour] - base[colour]).mean() > 0.1


def test_horizontal_stripes_are_horizontal_lines() -> None:
    frame = np.zeros((224, 224, 3), np.uint8)
    frame[::28] = 255  # bright horizontal lines
    frame = gaussian_filter(frame.astype(float), (2, 0, 0)).astype(np.uint8)
    lines = frame_looks(frame[None])[0, PARTS["lines"]].reshape(16, 4).sum(axis=0)
    assert lines.argmax() == 0 and lines[0] > 0.9 * lines.sum()


def test_blank_and_tiny_frames_give_finite_looks() -> None:
    blank = np.zeros((2, 224, 224, 3), np.uint8)
    tiny = np.full((1, 4, 4, 3), 100, np.uint8)
    for frames in (blank, tiny):
        looks = frame_looks(frames)
        assert looks.shape == (len(frames), LOOK_DIM) and np.isfinite(looks).all()
    assert frame_looks(np.zeros((0, 224, 224, 3), np.uint8)).shape == (0, LOOK_DIM)
    with pytest.raises(ValueError, match="frames"):
        frame_looks(np.zeros((224, 224, 3), np.uint8))
