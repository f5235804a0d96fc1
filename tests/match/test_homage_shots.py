"""Shot windows and the homage matcher's parts, on prints built from generated frames."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from homage.homages import repeats_copy
from homage.match.homage_match import (
    FEATURES,
    HomageCandidate,
    HomageModel,
    ReferenceWindows,
    align_in_shot,
    first_pass,
    join_continuations,
    pair_features,
)
from homage.match.homage_model import RESTYLE
from homage.match.restyle import FEATURES as RESTYLE_FEATURES
from homage.match.restyle import restyle_features
from homage.match.shot_windows import (
    WindowSettings,
    describe_windows,
    shot_bounds,
    windows_of,
)
from homage.types import Match, Transform
from homage.visual.base import l2_normalise
from homage.visual.looks import LOOK_DIM, PARTS, frame_looks
from homage.visual.prints import VisualPrint

FPS = 2.0


def scene(seed: int, side: int = 400) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = gaussian_filter(rng.random((side, side, 3)), (8, 8, 0))
    return np.clip((noise - noise.mean()) / noise.std() * 60 + 128, 0, 255).astype(np.uint8)


def panning_shot(seed: int, seconds: float) -> np.ndarray:
    """Frames at ``FPS`` of a camera panning right over scene ``seed``."""
    picture = scene(seed)
    n = round(seconds * FPS)
    return np.stack([picture[40:264, 10 + 8 * i:234 + 8 * i] for i in range(n)])


def make_print(shots: list[np.ndarray], vectors_of: dict[int, np.ndarray] | None = None,
               seeds: list[int] | None = None) -> tuple[VisualPrint, float]:
    """A print of consecutive shots; each shot's frames get its seed's descriptor (plus a
    little noise), as a learned descriptor gives alike vectors to one shot's frames."""
    frames = np.concatenate(shots)
    times = np.arange(len(frames), dtype=np.float32) / FPS
    cuts, t = [], 0.0
    for shot in shots[:-1]:
        t += len(shot) / FPS
        cuts.append(t)
    rng = np.random.default_rng(0)
    vectors = []
    for shot, seed in zip(shots, seeds or range(len(shots)), strict=True):
        base = (vectors_of or {}).get(seed, np.random.default_rng(100 + seed).normal(size=32))
        vectors += [base + 0.1 * rng.normal(size=32) for _ in shot]
    return VisualPrint(
        times=times, vectors=l2_normalise(np.array(vectors)),
        boxes=np.tile(np.array([0, 0, 1, 1], np.float32), (len(frames), 1)),
        cuts=np.array(cuts, np.float32), pdq=np.zeros((len(frames), 32), np.uint8),
        looks=frame_looks(frames)), len(frames) / FPS


def test_shots_run_between_cuts_and_long_ones_are_windowed() -> None:
    frames, duration = make_print([panning_shot(1, 3.0), panning_shot(2, 9.0)])
    assert shot_bounds(frames, duration) == [(0.0, 3.0), (3.0, 12.0)]
    settings = WindowSettings(max_seconds=4.0, reference_step=2.0)
    queries = windows_of(shot_bounds(frames, duration), settings, reference=False)
    assert [(round(a, 2), round(b, 2)) for a, b, _, _ in queries] == [
        (0.0, 3.0), (3.0, 6.0), (6.0, 9.0), (9.0, 12.0)]
    refs = windows_of(shot_bounds(frames, duration), settings, reference=True)
    assert [(a, b) for a, b, _, _ in refs] == [
        (0.0, 3.0), (3.0, 7.0), (5.0, 9.0), (7.0, 11.0), (8.0, 12.0)]
    assert all(s == 3.0 and e == 12.0 for _, _, s, e in refs[1:])


def test_windows_pool_their_frames_and_mirror_consistently() -> None:
    frames, duration = make_print([panning_shot(1, 3.0), panning_shot(2, 4.0)])
    windows = describe_windows(frames, duration, WindowSettings(), reference=False)
    assert len(windows) == 2
    np.testing.assert_array_equal(windows.rows, [[0, 6], [6, 14]])
    np.testing.assert_allclose(np.linalg.norm(windows.semantic, axis=1), 1.0, atol=1e-5)
    assert windows.camera[0, 0] < 0  # panning right: the content moves left
    flipped = describe_windows(frames, duration, WindowSettings(), reference=False,
                               mirrored=True)
    assert flipped.camera[0, 0] == pytest.approx(-windows.camera[0, 0])
    np.testing.assert_allclose(flipped.mass.reshape(2, 8, 8), windows.mass.reshape(2, 8, 8)[
        :, :, ::-1], atol=1e-5)


def test_a_print_without_looks_cannot_be_windowed() -> None:
    frames, duration = make_print([panning_shot(1, 2.0)])
    old = VisualPrint(frames.times, frames.vectors, frames.boxes, frames.cuts, frames.pdq)
    with pytest.raises(ValueError, match="before looks"):
        describe_windows(old, duration, WindowSettings(), reference=True)


def test_the_restaged_shot_is_drawn_scored_and_placed() -> None:
    # reference: three shots; the query re-stages the middle of the second one, re-rendered
    # (posterised and darkened), between two unrelated shots
    ref_shots = [panning_shot(1, 4.0), panning_shot(2, 10.0), panning_shot(3, 4.0)]
    reference, ref_duration = make_print(ref_shots, seeds=[1, 2, 3])
    restaged = (ref_shots[1][8:14] // 64 * 64 + 20).astype(np.uint8)  # 4.0-7.0 s into it
    shared = {2: np.random.default_rng(102).normal(size=32)}
    query, query_duration = make_print([panning_shot(7, 3.0), restaged, panning_shot(8, 3.0)],
                                       vectors_of=shared, seeds=[7, 2, 8])
    refs = ReferenceWindows.join([(0, describe_windows(reference, ref_duration,
                                                       WindowSettings(), reference=True))])
    windows = describe_windows(query, query_duration, WindowSettings(), reference=False)
    q, r = first_pass(windows, refs.windows, k=2)
    assert len(q) == len(r) and len(set(zip(q, r, strict=True))) == len(q)
    assert set(q) == set(range(len(windows)))

    def ref_vectors(i: int) -> np.ndarray:
        first, last = refs.windows.rows[r[i]]
        return reference.vectors[first:last]

    def aligned(qi: int, ri: int):
        a, b = windows.rows[qi]
        lo, hi = np.searchsorted(reference.times, [refs.windows.shot_starts[ri],
                                                   refs.windows.shot_ends[ri]])
        return align_in_shot(query.times[a:b], query.vectors[a:b], query.looks[a:b],
                             reference.times[lo:hi], reference.vectors[lo:hi],
                             reference.looks[lo:hi], window_start=windows.starts[qi],
                             window_end=windows.ends[qi],
                             shot_start=refs.windows.shot_starts[ri],
                             shot_end=refs.windows.shot_ends[ri])

    alignments = [aligned(int(qi), int(ri)) for qi, ri in zip(q, r, strict=True)]
    features = pair_features(windows, q, refs.windows, r, query_vectors=query.vectors,
                             ref_vectors=ref_vectors, alignments=alignments)
    assert features.shape == (len(q), len(FEATURES)) and np.isfinite(features).all()
    model = HomageModel(bias=-9.0, weights=(2.0, 2.0, 1.0, 1.0, 0, 0, 0, 0, 0, 0,
                                            2.0, 2.0, 2.0, 0.0, 0.0, 0.0))
    scores = model.probability(features)
    best = int(np.argmax(scores))
    assert q[best] == 1  # the re-staged window, 3-6 s of the query
    assert scores[best] > 0.5 > max(s for s, qi in zip(scores, q, strict=True) if qi != 1)
    # the second shot starts at 4 s; the window shows 4.0-7.0 s of it at the same pace
    assert alignments[best].start == pytest.approx(4.0 + 4.0, abs=0.5)
    assert alignments[best].speed == 1.0
    assert alignments[best].layout > 0.5


def test_where_the_pictures_cannot_tell_moments_apart_the_motion_places_the_window() -> None:
    # A fixed camera: two moments of one reference shot look exactly as alike to the query
    # window frame by frame (the first differs only in parts the query does not show), but
    # only the second changes from frame to frame as the query does.
    mass, edges, lines = PARTS["mass"], PARTS["edges"], PARTS["lines"]
    frames = 6
    query_looks = np.zeros((frames, LOOK_DIM), np.float32)
    query_looks[:, mass.start:mass.start + 32] = 0.5
    query_looks[:, mass.start] += 0.1 * np.arange(frames)  # something moving across the frame
    query_looks[:, edges.start:edges.start + 32] = 0.5
    query_looks[:, lines] = 1.0
    ref_looks = np.zeros((40, LOOK_DIM), np.float32)
    ref_looks[:, mass.start + 48:mass.stop] = 1.0  # the rest of the shot: other pictures
    flicker = np.zeros((frames, LOOK_DIM), np.float32)
    flicker[1::2, mass.start + 40] = 1.0  # alternate frames change where the query shows nothing
    ref_looks[8:14] = query_looks + flicker      # 4.0-6.5 s: the same pictures, other changes
    ref_looks[24:30] = query_looks               # 12.0-14.5 s: the same pictures and changes
    vector = l2_normalise(np.ones((1, 8), np.float32))
    ref_vectors = np.repeat(l2_normalise(np.eye(8, dtype=np.float32)[1:2]), 40, axis=0)
    ref_vectors[8:14] = ref_vectors[24:30] = vector
    alignment = align_in_shot(
        np.arange(frames, dtype=np.float32) / FPS, np.repeat(vector, frames, axis=0),
        query_looks, np.arange(40, dtype=np.float32) / FPS, ref_vectors, ref_looks,
        window_start=0.0, window_end=frames / FPS, shot_start=0.0, shot_end=20.0)
    assert alignment.start == pytest.approx(12.0, abs=0.3)
    assert alignment.speed == 1.0
    assert alignment.motion == pytest.approx(1.0)


def test_a_pair_that_moves_alike_along_its_alignment_shares_its_motion() -> None:
    still = np.zeros(len(FEATURES))
    moving = still.copy()
    moving[FEATURES.index("aligned_motion")] = 0.5
    assert "motion" not in HomageCandidate(1, 0, 2, 10, 12, 0, 1.0, False, still, 0.9).aspects
    assert "motion" in HomageCandidate(1, 0, 2, 10, 12, 0, 1.0, False, moving, 0.9).aspects


def candidate(q0: float, q1: float, r0: float, r1: float, score: float, work: int = 1,
              mirrored: bool = False, shot: float = 0.0) -> HomageCandidate:
    return HomageCandidate(work, q0, q1, r0, r1, 0.0, 1.0, mirrored, np.zeros(len(FEATURES)),
                           score, query_shot_start=shot)


def test_consecutive_windows_continuing_one_stretch_are_joined() -> None:
    joined = join_continuations([
        candidate(0, 3, 10, 13, 0.7), candidate(3, 6, 13.2, 16.2, 0.9),
        candidate(6, 9, 40, 43, 0.8),                   # jumps elsewhere: kept apart
        candidate(3, 6, 13, 16, 0.6, mirrored=True),    # other orientation: kept apart
    ])
    assert [(c.query_start, c.query_end, c.reference_start, c.reference_end, c.score)
            for c in joined if not c.mirrored] == [(0, 6, 10, 16.2, 0.9), (6, 9, 40, 43, 0.8)]
    assert len(joined) == 3


def test_a_stretch_is_continued_past_the_other_candidates_of_its_window() -> None:
    # every window resembles several reference moments: the one a window continues is not
    # the last candidate of the window before it
    joined = join_continuations([
        candidate(0, 2, 230.7, 232.7, 0.95), candidate(0, 2, 160.8, 162.8, 0.2),
        candidate(0, 2, 27.0, 29.0, 0.1),
        candidate(2, 4.8, 232.7, 235.5, 0.9), candidate(2, 4.8, 173.5, 176.3, 0.3),
        candidate(2, 4.8, 232.9, 235.7, 0.5),           # fits too, but the stretch is taken
    ])
    stretches = {(c.query_start, c.query_end, c.reference_start, c.reference_end)
                 for c in joined}
    assert (0, 4.8, 230.7, 235.5) in stretches
    assert (2, 4.8, 232.9, 235.7) in stretches
    assert len(joined) == 5


def test_across_a_cut_only_a_credible_window_continues_a_stretch() -> None:
    # the window after a cut lines up with the stretch by chance, and the model doubts it
    doubted = join_continuations([
        candidate(7.5, 10.5, 17.25, 20.25, 0.97), candidate(10.5, 12.5, 20.3, 22.0, 0.03,
                                                            shot=10.5)])
    assert sorted((c.query_start, c.query_end) for c in doubted) == [(7.5, 10.5), (10.5, 12.5)]
    # a re-staged passage that holds a cut of its own: both pieces stand on their own
    believed = join_continuations([
        candidate(7.5, 10.5, 17.25, 20.25, 0.97), candidate(10.5, 12.5, 20.3, 22.0, 0.8,
                                                            shot=10.5)])
    assert [(c.query_start, c.query_end, c.score) for c in believed] == [(7.5, 12.5, 0.97)]
    # past the cut, the stretch's own shot is the second one: its next window continues it
    # as any window of one shot does
    onwards = join_continuations([
        candidate(7.5, 10.5, 17.25, 20.25, 0.97), candidate(10.5, 12.5, 20.3, 22.0, 0.8,
                                                            shot=10.5),
        candidate(12.5, 14.5, 22.4, 24.4, 0.2, shot=10.5)])
    assert [(c.query_start, c.query_end) for c in onwards] == [(7.5, 14.5)]


def test_a_greyscale_copy_is_judged_on_how_its_luma_is_drawn() -> None:
    # all of its colour gone, it moved the colour statistics further than any re-rendering
    # the label was fitted on; a greyscale picture redrawn (posterised) still moves the rest
    frames = panning_shot(4, 3.0)
    looks = frame_looks(frames)
    grey = np.repeat((frames @ np.array([0.299, 0.587, 0.114]))[..., None], 3, axis=3)
    copied = restyle_features(frame_looks(grey.astype(np.uint8)), looks)
    redrawn = restyle_features(frame_looks((grey // 96 * 96).astype(np.uint8)), looks)
    colour = [RESTYLE_FEATURES.index(f) for f in ("saturation", "entropy")]
    assert (copied[colour] == 0).all() and (redrawn[colour] == 0).all()
    assert RESTYLE.probability(copied[None])[0] < 0.1
    assert RESTYLE.probability(redrawn[None])[0] > 0.9


def test_a_candidate_continuing_a_reported_copy_is_that_copy() -> None:
    # a copy of ref [11, 12.2] at query [60.6, 61.8], at speed 1: the copy matcher ended it
    # early, and the window after it shows the same borrowing continued
    copy = Match(kind="visual_copy", reference="ref.mp4", query_start=60.6, query_end=61.8,
                 reference_start=11.0, reference_end=12.2, score=0.8,
                 transform=Transform(speed=1.0))
    continued = candidate(61.4, 62.5, 11.9, 13.0, 0.98)
    elsewhere = candidate(61.4, 62.5, 40.0, 41.1, 0.98)    # another moment: a homage
    inside = candidate(60.6, 61.7, 90.0, 91.1, 0.9)         # mostly inside: that copy
    after = candidate(61.8, 63.0, 12.2, 13.4, 0.9)          # on the line but no overlap
    assert repeats_copy(continued, "ref.mp4", [copy])
    assert repeats_copy(inside, "ref.mp4", [copy])
    assert not repeats_copy(elsewhere, "ref.mp4", [copy])
    assert not repeats_copy(after, "ref.mp4", [copy])
    assert not repeats_copy(continued, "other.mp4", [copy])
    slowed = Match(kind="visual_copy", reference="ref.mp4", query_start=0.0, query_end=2.0,
                   reference_start=10.0, reference_end=11.0, score=0.8,
                   transform=Transform(speed=0.5))
    assert repeats_copy(candidate(1.5, 3.5, 10.75, 11.75, 0.9), "ref.mp4", [slowed])
    assert not repeats_copy(candidate(1.5, 3.5, 11.9, 12.9, 0.9), "ref.mp4", [slowed])


def test_restyle_evidence_sees_a_re_rendering_but_not_a_re_encode() -> None:
    frames = panning_shot(4, 3.0)
    looks = frame_looks(frames)
    reencoded = frame_looks(np.clip(frames.astype(int) + 3, 0, 255).astype(np.uint8))
    posterised = frame_looks((frames // 96 * 96).astype(np.uint8))
    same = dict(zip(RESTYLE_FEATURES, restyle_features(reencoded, looks), strict=True))
    other = dict(zip(RESTYLE_FEATURES, restyle_features(posterised, looks), strict=True))
    assert same["entropy"] < 0.2 < other["entropy"]
    assert same["mass"] > 0.95 and other["mass"] > 0.5
    # a statistic moved either way is the same evidence: the sizes of the changes
    texture = len(RESTYLE_FEATURES) - 2
    np.testing.assert_allclose(restyle_features(looks, posterised)[:texture],
                               restyle_features(posterised, looks)[:texture], atol=1e-6)
    assert (restyle_features(looks, posterised)[:texture] >= 0).all()
