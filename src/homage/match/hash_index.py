"""Hash look-up over reference fingerprints: sorted arrays searched with ``searchsorted``.

The same class serves an in-memory index (``homage compare``) and the library's memory-mapped
index files, so matching code never knows where the postings live.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from homage.audio import Fingerprints


@dataclass(frozen=True)
class Hits:
    """Query fingerprints joined with the reference postings that share their hash.

    All arrays have shape ``(n_hits,)``: ``query_row`` indexes the query fingerprints,
    ``work`` is the reference work id; the rest are the reference posting's anchor time
    (frames), anchor frequency (log bins) and span (frames).
    """

    query_row: np.ndarray
    work: np.ndarray
    time: np.ndarray
    freq: np.ndarray
    span: np.ndarray

    def __len__(self) -> int:
        return int(self.query_row.size)


@dataclass(frozen=True)
class HashIndex:
    """Postings sorted by hash.

    ``hashes`` is sorted uint32 of shape ``(n,)``; ``work`` (int), ``time``, ``freq``,
    ``span`` (float32) are aligned with it.  Arrays may be ``numpy.memmap``.
    """

    hashes: np.ndarray
    work: np.ndarray
    time: np.ndarray
    freq: np.ndarray
    span: np.ndarray

    def __len__(self) -> int:
        return int(self.hashes.size)

    @classmethod
    def build(cls, works: Sequence[tuple[int, Fingerprints]]) -> HashIndex:
        """Sort the fingerprints of several works into one index."""
        if not works:
            empty = np.zeros(0, dtype=np.float32)
            return cls(np.zeros(0, dtype=np.uint32), np.zeros(0, dtype=np.int64), empty,
                       empty.copy(), empty.copy())
        hashes = np.concatenate([fp.hashes for _, fp in works])
        order = np.argsort(hashes, kind="stable")
        work = np.concatenate([np.full(len(fp), wid, dtype=np.int64) for wid, fp in works])
        return cls(
            hashes=hashes[order],
            work=work[order],
            time=np.concatenate([fp.time for _, fp in works])[order],
            freq=np.concatenate([fp.freq for _, fp in works])[order],
            span=np.concatenate([fp.span for _, fp in works])[order],
        )

    def lookup(self, hashes: np.ndarray, *, max_postings_per_hash: int) -> Hits:
        """All postings sharing a hash with ``hashes``.

        Hashes with more than ``max_postings_per_hash`` postings are skipped: they are the
        "stop words" of music (a common interval at a common rhythm) and carry no evidence.
        """
        # A query repeats its hashes (multi-probing, every transform band): each distinct one
        # is searched once, in sorted order, which also keeps the binary searches in cache.
        distinct, of_distinct = np.unique(hashes, return_inverse=True)
        left = np.searchsorted(self.hashes, distinct, side="left")
        counts = np.searchsorted(self.hashes, distinct, side="right") - left
        counts[counts > max_postings_per_hash] = 0
        left, counts = left[of_distinct], counts[of_distinct]
        # Row of each hit: its hash's first posting plus its rank among that hash's hits.
        first_hit = np.cumsum(counts) - counts
        # 32-bit rows where they fit: alignment gathers by them millions of times.
        row_type = np.int32 if hashes.size < 1 << 31 else np.int64
        query_row = np.repeat(np.arange(hashes.size, dtype=row_type), counts)
        rows = np.arange(int(counts.sum())) + np.repeat(left - first_hit, counts)
        return Hits(
            query_row=query_row,
            work=np.asarray(self.work[rows], dtype=np.int64),
            time=np.asarray(self.time[rows], dtype=np.float32),
            freq=np.asarray(self.freq[rows], dtype=np.float32),
            span=np.asarray(self.span[rows], dtype=np.float32),
        )
