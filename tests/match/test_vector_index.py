"""A search split into shards of whole works answers what one index over them answers."""

from __future__ import annotations

import numpy as np
import pytest

from homage.match.vector_index import Neighbours, VectorIndex, merge_neighbours


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def _works(count: int, dim: int, rng: np.random.Generator):
    """Works of 5–40 frames each, as (work id, times, vectors)."""
    works = []
    for work in range(count):
        n = int(rng.integers(5, 40))
        works.append((work, np.arange(n) * 0.5, _unit(rng.normal(size=(n, dim)))))
    return works


@pytest.mark.parametrize("shards", [1, 2, 3, 7])
def test_shards_of_whole_works_answer_as_one_exact_index(shards: int) -> None:
    rng = np.random.default_rng(shards)
    works = _works(20, 32, rng)
    whole = VectorIndex.build(works, dim=32)
    parts = [VectorIndex.build([w for w in works if w[0] % shards == number], dim=32)
             for number in range(shards)]
    queries = _unit(np.vstack([works[3][2][:4] + 0.05 * rng.normal(size=(4, 32)),
                               rng.normal(size=(6, 32))]))
    for k in (1, 5, 12):
        expected = whole.search(queries, k=k)
        merged = merge_neighbours([p.search(queries, k=k) for p in parts], k=k)
        np.testing.assert_array_equal(merged.work, expected.work)
        np.testing.assert_array_equal(merged.time, expected.time)
        np.testing.assert_allclose(merged.similarity, expected.similarity, atol=1e-6)
    assert (whole.search(queries[:4], k=1).work == 3).all()


def test_merging_keeps_the_best_of_each_row_and_tolerates_short_or_empty_parts() -> None:
    a = Neighbours(work=np.array([[1, 1], [1, 1]], np.int32),
                   time=np.array([[0.0, 1.0], [2.0, 3.0]], np.float32),
                   similarity=np.array([[0.9, 0.5], [0.4, 0.3]], np.float32))
    b = Neighbours(work=np.array([[2], [2]], np.int32),       # a shard with one frame
                   time=np.array([[7.0], [8.0]], np.float32),
                   similarity=np.array([[0.6], [0.8]], np.float32))
    empty = Neighbours(*(np.zeros((2, 0), t) for t in (np.int32, np.float32, np.float32)))
    merged = merge_neighbours([a, empty, b], k=2)
    np.testing.assert_array_equal(merged.work, [[1, 2], [2, 1]])
    np.testing.assert_array_equal(merged.time, [[0.0, 7.0], [8.0, 2.0]])
    np.testing.assert_allclose(merged.similarity, [[0.9, 0.6], [0.8, 0.4]])
    assert merge_neighbours([empty, empty], k=3).work.shape == (2, 0)
    with pytest.raises(ValueError):
        merge_neighbours([], k=1)


@pytest.mark.parametrize("count", [12, 3_000])
def test_a_streamed_build_is_the_index_a_whole_build_makes(
        count: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Exact below ``EXACT_LIMIT`` and compressed above it; the compressed case is made
    cheap by lowering the limits instead of indexing 100 000 real-size vectors."""
    from homage.match import vector_index

    monkeypatch.setattr(vector_index, "EXACT_LIMIT", 1_000)
    monkeypatch.setattr(vector_index, "COMPRESSED_DIM", 8)
    monkeypatch.setattr(vector_index, "_TRAIN_SAMPLE", 2_000)
    rng = np.random.default_rng(7)
    works = []
    left = count
    while left:
        n = min(left, int(rng.integers(5, 60)))
        works.append((len(works), np.arange(n) * 0.5, _unit(rng.normal(size=(n, 16)))))
        left -= n
    whole = VectorIndex.build(works, dim=16, seed=3)
    passes = []

    def stream():
        passes.append(1)
        yield from works

    streamed = VectorIndex.build_streamed(stream, count=count, dim=16, seed=3)
    assert len(passes) == (2 if count > 1_000 else 1)  # a training pass for a compressed one
    assert type(whole.index) is type(streamed.index)
    np.testing.assert_array_equal(streamed.work, whole.work)
    np.testing.assert_array_equal(streamed.time, whole.time)
    queries = works[0][2][:5]
    a, b = whole.search(queries, k=4), streamed.search(queries, k=4)
    np.testing.assert_array_equal(a.work, b.work)
    np.testing.assert_allclose(a.similarity, b.similarity, atol=1e-6)
    with pytest.raises(ValueError, match="announced"):
        VectorIndex.build_streamed(lambda: iter(works), count=count + 1, dim=16)
