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
