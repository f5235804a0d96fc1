"""``homage.match``: the speed/offset Hough alignment of frame look-ups into segments, duplicate
suppression, and the FAISS vector index (exact and compressed)."""

from __future__ import annotations

import dataclasses

import faiss
import numpy as np
import pytest

import homage.match.vector_index as vector_index
from homage.match.vector_index import COMPRESSED_DIM, Neighbours, VectorIndex
from homage.match.video_align import (
    VideoAlignSettings,
    VideoSegmentMatch,
    align_frames,
    distinctiveness,
    suppress_duplicates,
    within_shot,
)

STEP = 0.5  # seconds between query frames (2 frames per second)
SETTINGS = VideoAlignSettings()


def neighbours(work, time, similarity) -> Neighbours:
    return Neighbours(np.asarray(work, np.int32), np.asarray(time, np.float32),
                      np.asarray(similarity, np.float32))


def nothing(n: int, k: int = 1) -> Neighbours:
    """No neighbour for any of ``n`` query frames."""
    return neighbours(np.full((n, k), -1), np.zeros((n, k)), np.full((n, k), -1.0))


def line(query: np.ndarray, speed: float, offset: float, *, work: int = 1,
         similarity: float = 0.9) -> Neighbours:
    """Each query frame's one neighbour lies on ``t_ref = speed * t_query + offset``."""
    n = len(query)
    return neighbours(np.full((n, 1), work), (speed * query + offset)[:, None],
                      np.full((n, 1), similarity))


def stack(*parts: Neighbours) -> Neighbours:
    """Several look-ups side by side (more neighbours per query frame)."""
    return neighbours(np.hstack([p.work for p in parts]), np.hstack([p.time for p in parts]),
                      np.hstack([p.similarity for p in parts]))


def align(query: np.ndarray, straight: Neighbours, mirrored: Neighbours | None = None, *,
          durations: dict[int, float] | None = None, **settings: float
          ) -> list[VideoSegmentMatch]:
    found = align_frames(
        query, {False: straight, True: mirrored or nothing(len(query))},
        reference_durations=durations or {1: 120.0, 2: 120.0},
        query_duration=float(query[-1] + STEP) if len(query) else 0.0, frame_step=STEP,
        settings=dataclasses.replace(SETTINGS, **settings),
    )
    return sorted(found, key=lambda s: (s.work, s.query_start))


QUERY = np.arange(0.0, 10.0, STEP)  # 20 frames


# ----------------------------------------------------------------------------- alignment


def test_a_copy_at_normal_speed_is_one_segment() -> None:
    [segment] = align(QUERY, line(QUERY, 1.0, 20.0))
    assert segment.work == 1
    assert segment.speed == pytest.approx(1.0, abs=1e-3)
    # half a frame step beyond the first and last inlier frame
    assert (segment.query_start, segment.query_end) == pytest.approx((0.0, 9.75))
    assert (segment.reference_start, segment.reference_end) == pytest.approx((20.0, 29.75),
                                                                             abs=0.01)
    assert segment.frames == 20 and segment.coverage == pytest.approx(1.0)
    assert segment.similarity == pytest.approx(0.9)
    assert segment.mirrored == 0.0
    np.testing.assert_array_equal(segment.query_rows, np.arange(20))
    np.testing.assert_allclose(segment.reference_times, QUERY + 20.0)


@pytest.mark.parametrize("speed", [0.5, 0.8, 1.25, 2.0])
def test_a_copy_at_another_speed_is_found_with_that_speed(speed: float) -> None:
    [segment] = align(QUERY, line(QUERY, speed, 5.0))
    assert segment.speed == pytest.approx(speed, rel=1e-3)
    assert segment.reference_start == pytest.approx(5.0, abs=0.01)
    assert segment.reference_end == pytest.approx(5.0 + speed * 9.75, abs=0.02)
    assert segment.frames == 20


def test_a_copy_too_short_to_pin_its_speed_is_reported_at_normal_speed() -> None:
    # three frames sit on a line of every speed searched: the likeliest, x1, wins the tie
    short = np.array([4.0, 4.5, 5.0])
    [segment] = align(short, line(short, 1.0, 30.0))
    assert segment.speed == pytest.approx(1.0, rel=0.03)
    assert (segment.reference_start, segment.reference_end) == pytest.approx((33.75, 35.25),
                                                                             abs=0.1)


@pytest.mark.parametrize(("prior", "speed"), [(0.0, 0.5), (0.25, 1.0)])
def test_the_speed_prior_sides_with_x1_against_a_barely_stronger_slow_line(
        prior: float, speed: float) -> None:
    # a still shot: every query frame finds a ×0.5 neighbour, all but two a ×1 one too
    at_x1 = line(QUERY, 1.0, 20.0)
    at_x1.work[-2:] = -1
    found = align(QUERY, stack(at_x1, line(QUERY, 0.5, 20.0)), speed_prior=prior)
    assert max(found, key=lambda s: s.frames).speed == pytest.approx(speed, rel=0.03)


def test_the_speed_prior_believes_a_slow_line_that_x1_does_not_hold() -> None:
    [segment] = align(QUERY, line(QUERY, 0.5, 5.0), speed_prior=0.25)
    assert segment.speed == pytest.approx(0.5, rel=1e-3)


def test_two_shots_of_one_reference_out_of_order_are_two_segments() -> None:
    times = np.where(QUERY < 5.0, QUERY + 30.0, QUERY + 5.0)  # [30, 35) then [10, 15)
    first, second = align(QUERY, neighbours(np.ones((20, 1)), times[:, None],
                                            np.full((20, 1), 0.9)))
    assert (first.query_start, first.query_end) == pytest.approx((0.0, 4.75))
    assert first.reference_start == pytest.approx(30.0, abs=0.01)
    assert (second.query_start, second.query_end) == pytest.approx((4.75, 9.75))
    assert second.reference_start == pytest.approx(9.75, abs=0.01)
    assert first.frames == second.frames == 10


def test_a_mirrored_copy_is_found_through_the_mirrored_look_up() -> None:
    [segment] = align(QUERY, nothing(20), line(QUERY, 1.0, 20.0))
    assert segment.mirrored == pytest.approx(1.0)
    assert segment.reference_start == pytest.approx(20.0, abs=0.01)


def test_both_look_ups_agreeing_count_each_query_frame_once() -> None:
    [segment] = align(QUERY, line(QUERY, 1.0, 20.0), line(QUERY, 1.0, 20.0, similarity=0.8))
    assert segment.frames == 20
    assert segment.mirrored == 0.0  # the more similar look-up speaks for the frame


def test_copies_of_two_works_are_a_segment_each() -> None:
    found = align(QUERY, stack(line(QUERY, 1.0, 20.0, work=1),
                               line(QUERY, 1.0, 40.0, work=2, similarity=0.8)))
    assert [(s.work, round(s.reference_start)) for s in found] == [(1, 20), (2, 40)]


def test_a_gap_in_the_query_splits_the_copy() -> None:
    hole = (QUERY >= 3.0) & (QUERY < 7.0)  # 4 s with no neighbour: beyond max_gap_s
    work = np.where(hole, -1, 1)[:, None]
    first, second = align(QUERY, neighbours(work, (QUERY + 20.0)[:, None],
                                            np.where(hole, -1.0, 0.9)[:, None]))
    assert (first.query_start, first.query_end) == pytest.approx((0.0, 2.75))
    assert (second.query_start, second.query_end) == pytest.approx((6.75, 9.75))
    assert second.reference_start == pytest.approx(26.75, abs=0.01)


def test_a_short_gap_does_not_split_the_copy() -> None:
    hole = (QUERY >= 3.0) & (QUERY < 4.0)  # 1 s: under max_gap_s
    work = np.where(hole, -1, 1)[:, None]
    [segment] = align(QUERY, neighbours(work, (QUERY + 20.0)[:, None],
                                        np.where(hole, -1.0, 0.9)[:, None]))
    assert segment.frames == 18
    assert segment.coverage == pytest.approx(18 / 20)


def test_a_line_on_an_offset_bin_edge_keeps_all_its_votes() -> None:
    edge = 20.0 + SETTINGS.offset_bin_s / 2 - 1e-6
    [segment] = align(QUERY, line(QUERY, 1.0, edge))
    assert segment.frames == 20


def test_pairs_below_min_similarity_are_no_evidence() -> None:
    assert align(QUERY, line(QUERY, 1.0, 20.0, similarity=SETTINGS.min_similarity - 0.01)) == []


def test_too_short_a_copy_is_not_a_segment() -> None:
    query = QUERY[:1]
    assert align(query, line(query, 1.0, 20.0)) == []


def test_no_query_frames_and_no_neighbours_give_nothing() -> None:
    empty = neighbours(np.zeros((0, 4)), np.zeros((0, 4)), np.zeros((0, 4)))
    assert align(np.zeros(0), empty, empty) == []
    none = neighbours(np.zeros((20, 0)), np.zeros((20, 0)), np.zeros((20, 0)))
    assert align(QUERY, none, none) == []


def _scatter(seed: int, k: int) -> tuple[Neighbours, Neighbours]:
    rng = np.random.default_rng(seed)

    def one() -> Neighbours:
        return neighbours(rng.integers(1, 4, (20, k)), rng.uniform(0, 600, (20, k)),
                          rng.uniform(SETTINGS.min_similarity, 0.9, (20, k)))
    return one(), one()


@pytest.mark.parametrize("seed", range(5))
def test_random_scatter_gives_no_copy_worth_the_name(seed: int) -> None:
    """Chance neighbours line up in twos and threes, sometimes a few more with holes between
    (``min_frames=2``: scoring, not alignment, rejects those); never densely along a stretch
    of the query as a copy does."""
    straight, mirrored = _scatter(seed, k=SETTINGS.neighbours)
    found = align(QUERY, straight, mirrored, durations={1: 600.0, 2: 600.0, 3: 600.0})
    summary = [(s.frames, round(s.coverage, 2)) for s in found]
    assert all(s.frames <= 8 for s in found), summary
    assert all(s.frames <= 3 or s.coverage < 0.8 for s in found), summary


def test_sparse_random_scatter_gives_no_segment() -> None:
    straight, _ = _scatter(0, k=1)
    assert align(QUERY, straight, nothing(20),
                 durations={1: 600.0, 2: 600.0, 3: 600.0}) == []


def test_a_copy_stands_out_of_scatter() -> None:
    rng = np.random.default_rng(7)
    k = 8
    work = rng.integers(1, 3, (20, k))
    time = rng.uniform(0, 300, (20, k))
    sim = rng.uniform(0.55, 0.8, (20, k))
    work[:, 0], time[:, 0], sim[:, 0] = 1, QUERY + 100.0, 0.85
    found = align(QUERY, neighbours(work, time, sim), durations={1: 300.0, 2: 300.0})
    best = max(found, key=lambda s: s.frames)
    assert best.work == 1 and best.frames == 20
    assert best.reference_start == pytest.approx(100.0, abs=0.01)
    assert all(s.frames <= 5 for s in found if s is not best)


def test_reference_times_stay_inside_the_reference() -> None:
    [segment] = align(QUERY, line(QUERY, 1.0, 0.2), durations={1: 8.0})
    assert segment.reference_start >= 0.0 and segment.reference_end <= 8.0


def _found_at(rows: np.ndarray, speed: float = 1.0) -> VideoSegmentMatch:
    """What alignment reports for inliers at ``QUERY[rows]``, 10 s on in the reference."""
    start, end = QUERY[rows[0]] - STEP / 2, QUERY[rows[-1]] + STEP / 2
    return VideoSegmentMatch(
        work=1, query_start=start, query_end=end, reference_start=10.0,
        reference_end=10.0 + speed * (end - start), speed=speed, mirrored=0.0,
        frames=len(rows), similarity=0.9, coverage=1.0, query_rows=rows,
        reference_times=10.0 + speed * (QUERY[rows] - start),
        pair_similarities=np.full(len(rows), 0.9))


def test_a_segment_ends_at_the_cuts_just_outside_its_inliers() -> None:
    # inliers at 2.0-5.0 s; a frame is kept at the cut at 2.0, the copy ends at the cut at 5.2
    segment = within_shot(_found_at(np.arange(4, 11)), QUERY, np.array([2.0, 5.2, 9.0]),
                          reach=1.5, reference_duration=60.0)
    assert (segment.query_start, segment.query_end) == pytest.approx((2.0, 5.2))
    assert (segment.reference_start, segment.reference_end) == pytest.approx((10.25, 13.45))


def test_a_late_start_reaches_back_to_a_near_cut_and_no_further() -> None:
    rows = np.arange(4, 11)  # first inlier at 2.0 s
    near = within_shot(_found_at(rows, speed=0.5), QUERY, np.array([0.8]), reach=1.5,
                       reference_duration=60.0)
    assert near.query_start == pytest.approx(0.8)
    assert near.reference_start == pytest.approx(10.0 - 0.5 * 0.95)
    far = within_shot(_found_at(rows), QUERY, np.array([0.2, 7.0]), reach=1.5,
                      reference_duration=60.0)
    assert (far.query_start, far.query_end) == pytest.approx((1.75, 5.25))  # padding kept


def test_a_segment_reaching_to_a_cut_stays_inside_the_reference() -> None:
    segment = within_shot(_found_at(np.arange(4, 11), speed=20.0), QUERY, np.array([1.0]),
                          reach=1.5, reference_duration=60.0)
    assert segment.reference_start == 0.0


# ----------------------------------------------------------------------------- duplicates


def _segment(work: int, start: float, end: float, score: float) -> VideoSegmentMatch:
    return VideoSegmentMatch(
        work=work, query_start=start, query_end=end, reference_start=start,
        reference_end=end, speed=1.0, mirrored=0.0, frames=int(end - start) * 2,
        similarity=0.9, coverage=1.0, query_rows=np.zeros(0, np.int64),
        reference_times=np.zeros(0, np.float32), pair_similarities=np.zeros(0, np.float32),
        score=score)


def test_suppress_duplicates_keeps_the_best_of_overlapping_segments() -> None:
    best = _segment(1, 0.0, 10.0, 0.9)
    same = _segment(1, 2.0, 9.0, 0.7)        # overlaps all of itself
    half = _segment(1, 7.0, 13.0, 0.6)       # overlaps 3 of 6 s: exactly half, kept
    other_work = _segment(2, 0.0, 10.0, 0.5)  # another reference is another finding
    later = _segment(1, 20.0, 25.0, 0.8)
    kept = suppress_duplicates([same, half, other_work, later, best])
    assert kept == [best, later, half, other_work]  # best first


def test_suppress_duplicates_drops_a_mostly_overlapping_weaker_one() -> None:
    strong = _segment(1, 0.0, 4.0, 0.9)
    weak = _segment(1, 1.0, 6.0, 0.4)  # 3 s of its 5 s under the strong one
    assert suppress_duplicates([weak, strong]) == [strong]
    assert suppress_duplicates([]) == []


# --------------------------------------------------------------------------- vector index


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def _prints(vectors: np.ndarray, works: int = 3) -> list[tuple[int, np.ndarray, np.ndarray]]:
    parts = np.array_split(np.arange(len(vectors)), works)
    return [(10 + w, np.arange(len(rows), dtype=np.float32) * STEP, vectors[rows])
            for w, rows in enumerate(parts)]


def test_exact_index_finds_each_vector_and_maps_rows_to_work_and_time() -> None:
    vectors = _unit(np.random.default_rng(0).normal(size=(300, 64)))
    index = VectorIndex.build(_prints(vectors), dim=64)
    assert not isinstance(index.index, faiss.IndexPreTransform) and len(index) == 300
    found = index.search(vectors, k=5)
    assert found.work.shape == found.time.shape == found.similarity.shape == (300, 5)
    np.testing.assert_array_equal(found.work[:, 0], np.repeat([10, 11, 12], 100))
    np.testing.assert_allclose(found.time[:, 0], np.tile(np.arange(100) * STEP, 3))
    np.testing.assert_allclose(found.similarity[:, 0], 1.0, atol=1e-3)  # float16 storage
    assert np.all(np.diff(found.similarity, axis=1) <= 1e-6)  # most similar first
    exact = vectors @ vectors.T
    expected = np.sort(exact, axis=1)[:, ::-1][:, :5]
    np.testing.assert_allclose(found.similarity, expected, atol=1e-3)
    rows = np.argsort(-exact, axis=1)[:, :5]
    assert np.mean(found.time == np.tile(np.arange(100) * STEP, 3)[rows]) > 0.99


def test_search_asks_for_no_more_neighbours_than_there_are() -> None:
    vectors = _unit(np.random.default_rng(1).normal(size=(3, 16)))
    index = VectorIndex.build([(1, np.arange(3.0), vectors)], dim=16)
    assert index.search(vectors, k=10).work.shape == (3, 3)


def test_an_empty_index_finds_nothing() -> None:
    index = VectorIndex.build([], dim=16)
    assert len(index) == 0
    found = index.search(_unit(np.ones((4, 16))), k=5)
    assert found.work.shape == (4, 0)
    assert index.search(np.zeros((0, 16), np.float32), k=5).work.shape == (0, 0)


@pytest.fixture
def one_thread():
    """FAISS's OpenMP threads fight on a 2-core machine: one is ~4x faster at this size."""
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(before)


def test_the_compressed_index_still_finds_most_exact_neighbours(
        monkeypatch: pytest.MonkeyPatch, one_thread: None) -> None:
    """Frame descriptors are far from isotropic (a PCA to ``COMPRESSED_DIM`` keeps nearly all
    their energy); so are these vectors: 128 directions that matter, and a little noise."""
    dim = 2 * COMPRESSED_DIM
    rng = np.random.default_rng(2)
    vectors = _unit(rng.normal(size=(3000, 128)) @ rng.normal(size=(128, dim))
                    + 0.5 * rng.normal(size=(3000, dim)))
    prints = _prints(vectors)
    exact = VectorIndex.build(prints, dim=dim)
    monkeypatch.setattr(vector_index, "EXACT_LIMIT", 1000)
    compressed = VectorIndex.build(prints, dim=dim)
    assert isinstance(compressed.index, faiss.IndexPreTransform)  # PCA, IVF, SQ8
    assert len(compressed) == 3000
    queries = _unit(vectors[::7] + rng.normal(scale=0.02, size=vectors[::7].shape))
    want, got = exact.search(queries, k=5), compressed.search(queries, k=5)
    same = (want.work[:, 0] == got.work[:, 0]) & (want.time[:, 0] == got.time[:, 0])
    assert same.mean() >= 0.9
    np.testing.assert_allclose(got.similarity[same, 0], want.similarity[same, 0], atol=0.03)
    assert np.all(got.work >= 0)


def test_the_index_stays_exact_for_few_dimensions_whatever_the_count(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vector_index, "EXACT_LIMIT", 10)
    vectors = _unit(np.random.default_rng(3).normal(size=(50, 32)))
    index = VectorIndex.build(_prints(vectors), dim=32)
    assert not isinstance(index.index, faiss.IndexPreTransform)


def test_distinctiveness_is_the_margin_over_the_best_look_alike_elsewhere() -> None:
    segment = dataclasses.replace(
        _segment(1, 0.0, 2.0, 0.0), query_rows=np.array([0, 1]),
        reference_times=np.array([10.0, 10.5], np.float32),
        pair_similarities=np.array([0.9, 0.8], np.float32))
    found = Neighbours(
        work=np.array([[1, 1, 2], [1, 1, 1]], np.int32),
        time=np.array([[10.0, 10.5, 3.0], [10.5, 11.0, 11.5]], np.float32),
        similarity=np.array([[0.9, 0.85, 0.6], [0.8, 0.78, 0.7]], np.float32))
    # row 0: the look-alike is in another work (0.6); row 1: none is elsewhere, so the
    # least similar neighbour (0.7) bounds it
    assert distinctiveness(segment, found) == pytest.approx(((0.9 - 0.6) + (0.8 - 0.7)) / 2)
