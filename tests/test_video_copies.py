"""Visual copies end to end: edited copies of generated footage are found where they are."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from homage.config import Settings
from homage.copies import describe_video
from homage.library import Library
from homage.media.video import resize_rgb, video_frames
from homage.pipeline import compare_files, index_paths, scan_paths
from homage.types import Match
from homage.visual import descriptor_for
from synth_video import FPS, SIZE, Footage, excerpt, read_all, shot_frame, shots, write_video


def _settings(tmp_path: Path) -> Settings:
    return Settings(library=tmp_path / "lib", kinds=("copy",))


def _near(match: Match, q: tuple[float, float], r: tuple[float, float], *,
          tolerance: float = 0.6) -> bool:
    return (abs(match.query_start - q[0]) <= tolerance
            and abs(match.query_end - q[1]) <= tolerance
            and abs(match.reference_start - r[0]) <= 2 * tolerance
            and abs(match.reference_end - r[1]) <= 2 * tolerance)


@pytest.fixture(scope="module")
def scanned(footage: Footage, tmp_path_factory: pytest.TempPathFactory):
    settings = _settings(tmp_path_factory.mktemp("library"))
    with Library.open(settings.library, visual=settings.visual) as library:
        report = index_paths(library, [footage.ref, footage.other, footage.unrelated],
                             settings=settings)
        results, failures = scan_paths(library, [footage.query, footage.fresh],
                                       settings=settings)
        stats = library.stats()
    assert report.failed == [] and failures == []
    return results, stats


def test_edited_copies_are_found_at_the_right_place(scanned, footage: Footage) -> None:
    [query, _], _ = scanned
    found = {(m.reference, round(m.query_start)): m for m in query.matches}
    assert all(m.kind == "visual_copy" for m in query.matches)
    mirrored = [m for m in query.matches if m.reference == str(footage.ref.resolve())
                and _near(m, (2.0, 10.0), (5.0, 13.0))]
    assert mirrored, found
    assert mirrored[0].transform.mirrored
    shown = mirrored[0].transform.reference_region  # a tenth cut from every side
    assert shown is not None, mirrored[0].transform
    assert shown == pytest.approx((0.1, 0.1, 0.9, 0.9), abs=0.06)
    fast = [m for m in query.matches if m.reference == str(footage.ref.resolve())
            and _near(m, (12.0, 16.0), (14.0, 22.0))]
    assert fast, found
    assert fast[0].transform.speed == pytest.approx(2.0, rel=0.08)
    assert not fast[0].transform.mirrored
    assert fast[0].transform.reference_region is None
    boxed = [m for m in query.matches if m.reference == str(footage.other.resolve())
             and _near(m, (16.0, 22.0), (2.0, 8.0))]
    assert boxed, found
    region = boxed[0].transform.region
    assert region is not None and region[1] == pytest.approx(0.125, abs=0.03)
    assert region[3] == pytest.approx(0.875, abs=0.03)
    assert boxed[0].transform.reference_region is None  # bars, no crop


def test_nothing_else_is_reported(scanned, footage: Footage) -> None:
    [query, fresh], _ = scanned
    assert fresh.matches == ()
    unrelated = str(footage.unrelated.resolve())
    assert all(m.reference != unrelated for m in query.matches)
    assert len(query.matches) == 3, query.matches
    assert all(0.5 <= m.score <= 1.0 for m in query.matches)


def test_index_stores_frames_of_every_video(scanned) -> None:
    _, stats = scanned
    assert stats.works == 3
    assert stats.frames == pytest.approx(2 * (24 + 16 + 15), abs=12)
    assert stats.index_bytes > 0


def test_compare_finds_the_copy_without_a_library(footage: Footage) -> None:
    result = compare_files(footage.query, footage.ref, settings=Settings(kinds=("copy",)))
    spans = sorted((round(m.query_start), round(m.query_end)) for m in result.matches)
    assert spans == [(2, 10), (12, 16)]
    assert result.duration == pytest.approx(22.0, abs=0.1)


def test_kinds_without_copy_look_at_no_frames(footage: Footage) -> None:
    result = compare_files(footage.query, footage.ref,
                           settings=Settings(kinds=("copy",), threshold=1.0))
    assert result.matches == ()
    assert np.isfinite(result.duration)


def test_black_between_shots_is_no_evidence_of_a_copy(tmp_path: Path) -> None:
    # a film that opens on black, a video with black between two shots of its own: every
    # black frame looks like every other, so what they share is no copy
    black = [np.zeros((*SIZE, 3), np.uint8)] * (2 * FPS)
    film = write_video(tmp_path / "film.mp4", [*black, *shots([3, 4], 4.0)])
    video = write_video(tmp_path / "video.mp4", [*shots([10], 3.0), *black, *shots([11], 3.0)])
    result = compare_files(video, film, settings=Settings(kinds=("copy",)))
    assert result.matches == ()


def _reaction_video(footage: Footage, path: Path, *, shrink: int = 2,
                    at: tuple[int, int] = (80, 150)) -> tuple[Path, tuple[float, ...]]:
    """A reaction video: its own footage fills the frame, the reference's 6-12 s play from
    2 s on in a box ``shrink`` times smaller, its top left corner ``at`` (row, column); and
    where the box is, as (left, top, right, bottom) fractions of the frame."""
    film = excerpt(read_all(footage.ref), 6.0, 12.0)
    h, w = SIZE
    top, left = at
    bottom, right = top + -(-h // shrink), left + -(-w // shrink)
    frames = []
    for i, picture in enumerate(film):
        frame = shot_frame(18, i / FPS)
        frame[top:bottom, left:right] = picture[::shrink, ::shrink]
        frames.append(frame)
    video = write_video(path, [*shots([19], 2.0), *frames])
    return video, (left / w, top / h, right / w, bottom / h)


def test_a_film_shown_small_inside_other_footage_is_found_in_its_inset(
        footage: Footage, tmp_path: Path) -> None:
    video, box = _reaction_video(footage, tmp_path / "reaction.mp4")
    result = compare_files(video, footage.ref, settings=Settings(kinds=("copy",)))
    assert [(round(m.query_start), round(m.query_end)) for m in result.matches] == [(2, 8)]
    [match] = result.matches
    assert _near(match, (2.0, 8.0), (6.0, 12.0))
    assert match.transform.region == pytest.approx(box, abs=0.03)


def test_a_film_shown_at_a_third_of_the_frame_is_recognised_by_its_layout(
        footage: Footage, tmp_path: Path) -> None:
    """Too small for PDQ to recognise most of its pictures, and for the whole frame's layout
    to say which way round it is: the inset's own layout says both (before it did, this copy
    was reported mirrored, at 0.79)."""
    video, box = _reaction_video(footage, tmp_path / "reaction.mp4", shrink=3, at=(100, 180))
    result = compare_files(video, footage.ref, settings=Settings(kinds=("copy",)))
    [match] = result.matches
    assert _near(match, (2.0, 8.0), (6.0, 12.0))
    assert match.transform.region == pytest.approx(box, abs=0.03)
    assert not match.transform.mirrored
    assert match.score >= 0.85


def test_a_film_shown_small_is_a_copy_not_a_homage(footage: Footage, tmp_path: Path) -> None:
    """Asked for homages too, a stretch found in an inset is not judged for re-rendering:
    shown small and scaled back up, the film's pictures lost the fine detail the label reads
    (whole, the frames are the reaction video's own footage)."""
    video, _ = _reaction_video(footage, tmp_path / "reaction.mp4")
    result = compare_files(video, footage.ref, settings=Settings(kinds=("copy", "homage")))
    found = [m for m in result.matches if _near(m, (2.0, 8.0), (6.0, 12.0))]
    assert [m.kind for m in found] == ["visual_copy"]


def test_an_inset_is_described_without_the_border_around_it(footage: Footage,
                                                            tmp_path: Path) -> None:
    """The box an inset is found in lies on the edges around its picture (here a white frame
    drawn round it): described inside them, the inset is closer to the film it shows."""
    film = excerpt(read_all(footage.ref), 6.0, 12.0)
    top, left, bottom, right, border = 80, 150, 170, 310, 4
    frames = []
    for i, picture in enumerate(film):
        frame = shot_frame(18, i / FPS)
        frame[top - border:bottom + border, left - border:right + border] = 255
        frame[top:bottom, left:right] = picture[::2, ::2]
        frames.append(frame)
    video = write_video(tmp_path / "reaction.mp4", [*shots([19], 2.0), *frames])
    visual = Settings().visual
    descriptor = descriptor_for(visual.descriptor)
    query = describe_video(video, visual, query=True)
    rows = np.nonzero(~np.isnan(query.inset_boxes[:, 0, 0]) & (query.print.times > 2.1))[0]
    assert len(rows) >= 8
    shown = [film[min(len(film) - 1, round((query.print.times[r] - 2.0) * FPS))] for r in rows]
    truth = descriptor.describe(np.stack([resize_rgb(p, descriptor.input_size) for p in shown]))
    decoded = {round(float(t), 3): f for batch in video_frames(
        video, fps=visual.fps, size=descriptor.input_size) for t, f in zip(
        batch.times, batch.frames, strict=True)}
    h, w = descriptor.input_size
    boxed = []
    for r in rows:
        x0, y0, x1, y1 = query.inset_boxes[r, 0]
        frame = decoded[round(float(query.print.times[r]), 3)]
        boxed.append(resize_rgb(frame[round(y0 * h):round(y1 * h), round(x0 * w):round(x1 * w)],
                                descriptor.input_size))
    as_boxed = np.einsum("ij,ij->i", descriptor.describe(np.stack(boxed)), truth)
    described = np.einsum("ij,ij->i", query.insets[rows, 0], truth)
    assert np.median(described) > np.median(as_boxed) + 0.02


def test_a_copy_cut_by_a_third_on_one_side_is_reported_with_the_part_it_shows(
        footage: Footage, tmp_path: Path) -> None:
    """PDQ recognises none of its frames (every cell of the grid moves); the layouts read in
    the crop do, and say which part of the reference it shows."""
    w = SIZE[1]
    keep = round(w * 0.7)

    def cut_left(picture: np.ndarray) -> np.ndarray:
        return picture[:, w - keep:][:, np.linspace(0, keep - 1, w).astype(int)]

    copied = [cut_left(p) for p in excerpt(read_all(footage.ref), 4.5, 10.5)]
    video = write_video(tmp_path / "cropped.mp4", [*shots([19], 2.0), *copied])
    result = compare_files(video, footage.ref, settings=Settings(kinds=("copy",)))
    [match] = result.matches
    assert _near(match, (2.0, 8.0), (4.5, 10.5))
    assert match.transform.reference_region == pytest.approx((0.3, 0.0, 1.0, 1.0), abs=0.08)
    # its pairs count as the same picture, as an uncropped copy's would (0.84 when they did
    # not: the score then leaned on the descriptor alone)
    assert match.score >= 0.9
