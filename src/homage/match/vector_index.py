"""Nearest-neighbour search over reference frame vectors (FAISS), mapping rows to (work, time).

The same class serves ``homage compare`` (built in memory) and the library's persisted index.
The index kind follows the library's size: exact inner product (on float16 vectors) while it
fits comfortably in memory, and past ``EXACT_LIMIT`` vectors a PCA-reduced, scalar-quantised
inverted file that is trained on the library's own vectors, so memory and query time grow far
slower than the library (at 2 frames/s, 100 h is 720 000 vectors: 3.7 GB exact, ~190 MB compressed).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
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
        works = [np.full(len(t), w, dtype=np.int32) for w, t, _ in prints]
        times = [np.asarray(t, dtype=np.float32) for _, t, _ in prints]
        vectors = np.ascontiguousarray(
            np.concatenate([v for *_, v in prints]) if prints else np.zeros((0, dim)),
            dtype=np.float32,
        )
        index = _make_index(vectors, dim=dim, seed=seed)
        index.add(vectors)
        return cls(
            index=index,
            work=np.concatenate(works) if works else np.zeros(0, np.int32),
            time=np.concatenate(times) if times else np.zeros(0, np.float32),
        )

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


def _make_index(vectors: np.ndarray, *, dim: int, seed: int) -> faiss.Index:
    if len(vectors) <= EXACT_LIMIT or dim <= COMPRESSED_DIM:
        # float16 storage: half the bytes of float32, similarities within 1e-3.
        return faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_fp16,
                                          faiss.METRIC_INNER_PRODUCT)
    lists = int(min(65536, 2 ** round(math.log2(4 * math.sqrt(len(vectors))))))
    index = faiss.index_factory(dim, f"PCA{COMPRESSED_DIM},IVF{lists},SQ8",
                                faiss.METRIC_INNER_PRODUCT)
    rng = np.random.default_rng(seed)
    sample = vectors[np.sort(rng.choice(len(vectors), size=min(len(vectors), _TRAIN_SAMPLE),
                                        replace=False))]
    index.train(sample)
    faiss.extract_index_ivf(index).nprobe = N_PROBE
    return index
