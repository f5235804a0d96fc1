"""Nearest-neighbour search over reference frame vectors (FAISS), mapping rows to (work, time).

The same class serves ``homage compare`` (built in memory) and the library's persisted index.
The index kind follows the library's size: exact inner product (on float16 vectors) while it
fits comfortably in memory, and past ``EXACT_LIMIT`` vectors a PCA-reduced, scalar-quantised
inverted file that is trained on the library's own vectors, so memory and query time grow far
slower than the library (at 2 frames/s, 100 h is 720 000 vectors: 3.7 GB exact, ~190 MB compressed).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import faiss
import numpy as np

#: Up to this many vectors the index is exact (float16 ``IndexScalarQuantizer``).
EXACT_LIMIT = 100_000
#: Dimensions kept by the PCA of a compressed index.
COMPRESSED_DIM = 256
#: Inverted lists visited per query in a compressed index.
N_PROBE = 24
#: Most vectors used to train a compressed index.
_TRAIN_SAMPLE = 60_000


@dataclass(frozen=True)
class Neighbours:
    """The ``k`` nearest reference frames of each query frame.

    All arrays have shape ``(n_query, k)``: ``work`` (-1 where there was no neighbour),
    ``time`` (seconds in that work) and ``similarity`` (inner product of unit vectors).
    """

    work: np.ndarray
    time: np.ndarray
    similarity: np.ndarray


class NeighbourSearch(Protocol):
    """What the copy matcher asks of a vector index: ``VectorIndex`` in this process, or
    ``homage.cluster.shards.ShardedVectorIndex`` over shards held by cluster workers."""

    def __len__(self) -> int: ...

    def search(self, queries: np.ndarray, *, k: int) -> Neighbours: ...


def merge_neighbours(parts: Sequence[Neighbours], *, k: int) -> Neighbours:
    """The ``k`` nearest of each query row over several indexes' answers (shards of one
    library hold disjoint works, so the best ``k`` of all is among each shard's best ``k``).

    Ties keep the earlier part's neighbour first, so a search split into shards gives what
    one exact index over the same vectors gives, up to equal similarities.
    """
    if not parts:
        raise ValueError("nothing to merge")
    similarity = np.concatenate([p.similarity for p in parts], axis=1)
    if similarity.shape[1] == 0:
        return parts[0]
    order = np.argsort(-similarity, axis=1, kind="stable")[:, :k]

    def pick(field: str) -> np.ndarray:
        return np.take_along_axis(
            np.concatenate([getattr(p, field) for p in parts], axis=1), order, axis=1)

    return Neighbours(work=pick("work"), time=pick("time"), similarity=pick("similarity"))


@dataclass(frozen=True)
class VectorIndex:
    """A FAISS index whose row ``i`` is frame ``time[i]`` of work ``work[i]``."""

    index: faiss.Index
    work: np.ndarray
    time: np.ndarray

    @classmethod
    def build(cls, prints: Sequence[tuple[int, np.ndarray, np.ndarray]], *, dim: int,
              seed: int = 0) -> VectorIndex:
        """Index ``(work_id, times (n,), vectors (n, dim))`` triples."""
        return cls.build_streamed(lambda: iter(prints), count=sum(len(t) for _, t, _ in prints),
                                  dim=dim, seed=seed)

    @classmethod
    def build_streamed(cls, prints: Callable[[], Iterator[tuple[int, np.ndarray, np.ndarray]]],
                       *, count: int, dim: int, seed: int = 0) -> VectorIndex:
        """Index the triples ``prints()`` yields, ``count`` frames in all, holding one work's
        vectors at a time.

        Why streamed: a library's float32 vectors take 5 kB a frame, 37 GB for 1 000 h,
        while its compressed index takes 0.3 kB.  A compressed index reads the works twice
        (``prints`` is called twice): once to draw its training sample, once to add them.
        The sample rows are those ``build`` always drew, so both give the same index.
        """
        sample_rows = _training_rows(count, dim=dim, seed=seed)
        index = _make_index(dim=dim, count=count)
        if sample_rows is not None:
            index.train(_rows_of(prints(), sample_rows, dim=dim))
            faiss.extract_index_ivf(index).nprobe = N_PROBE
        works = np.empty(count, np.int32)
        times = np.empty(count, np.float32)
        filled = 0
        for work, work_times, vectors in prints():
            n = len(work_times)
            if filled + n > count:
                raise ValueError(f"more than the {count} frames announced")
            index.add(np.ascontiguousarray(vectors, dtype=np.float32).reshape(n, dim))
            works[filled:filled + n] = work
            times[filled:filled + n] = work_times
            filled += n
        if filled != count:
            raise ValueError(f"{filled} frames where {count} were announced")
        return cls(index=index, work=works, time=times)

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def search(self, queries: np.ndarray, *, k: int) -> Neighbours:
        """The ``k`` most similar reference frames of each row of ``queries`` (m, dim)."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        k = max(1, min(k, len(self)))
        if len(self) == 0 or len(queries) == 0:
            empty = np.zeros((len(queries), 0))
            return Neighbours(empty.astype(np.int32), empty.astype(np.float32),
                              empty.astype(np.float32))
        similarity, rows = self.index.search(queries, k)
        valid = rows >= 0
        safe = np.where(valid, rows, 0)
        return Neighbours(
            work=np.where(valid, self.work[safe], -1).astype(np.int32),
            time=self.time[safe],
            similarity=np.where(valid, similarity, -1.0).astype(np.float32),
        )


def _make_index(*, dim: int, count: int) -> faiss.Index:
    if not _compressed(count, dim):
        # float16 storage: half the bytes of float32, similarities within 1e-3.
        return faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_fp16,
                                          faiss.METRIC_INNER_PRODUCT)
    lists = int(min(65536, 2 ** round(math.log2(4 * math.sqrt(count)))))
    return faiss.index_factory(dim, f"PCA{COMPRESSED_DIM},IVF{lists},SQ8",
                               faiss.METRIC_INNER_PRODUCT)


def _compressed(count: int, dim: int) -> bool:
    return count > EXACT_LIMIT and dim > COMPRESSED_DIM


def _training_rows(count: int, *, dim: int, seed: int) -> np.ndarray | None:
    """The sorted rows a compressed index trains on (None for an exact index)."""
    if not _compressed(count, dim):
        return None
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(count, size=min(count, _TRAIN_SAMPLE), replace=False))


def _rows_of(prints: Iterator[tuple[int, np.ndarray, np.ndarray]], rows: np.ndarray, *,
             dim: int) -> np.ndarray:
    """The vectors at global ``rows`` (sorted) of the frames ``prints`` yields."""
    out = np.empty((len(rows), dim), np.float32)
    taken = start = 0
    for _, times, vectors in prints:
        end = start + len(times)
        upto = int(np.searchsorted(rows, end))
        if upto > taken:
            out[taken:upto] = np.asarray(vectors, dtype=np.float32).reshape(-1, dim)[
                rows[taken:upto] - start]
            taken = upto
        start = end
    if taken != len(rows):
        raise ValueError("fewer frames than announced")
    return out
