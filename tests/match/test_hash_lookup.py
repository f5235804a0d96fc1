"""``HashIndex.lookup`` and the stop-word cap: common hashes are skipped, at any library size."""

from __future__ import annotations

import numpy as np

from homage.audio import Fingerprints
from homage.match.audio_align import AlignSettings, postings_cap
from homage.match.hash_index import HashIndex

ALIGN = AlignSettings()


def prints(hashes: list[int], start: float = 0.0) -> Fingerprints:
    n = len(hashes)
    times = np.arange(n, dtype=np.float32) + start
    return Fingerprints(np.asarray(hashes, dtype=np.uint32), times,
                        np.full(n, 40.0, np.float32), np.full(n, 20.0, np.float32))


def test_lookup_joins_every_posting_of_a_hash_with_its_query_row() -> None:
    index = HashIndex.build([(1, prints([5, 7, 9])), (2, prints([7, 11], start=100.0))])
    hits = index.lookup(np.array([7, 3, 9], dtype=np.uint32), max_postings_per_hash=10)
    joined = zip(hits.query_row.tolist(), hits.work.tolist(), hits.time.tolist(), strict=True)
    assert sorted(joined) == [(0, 1, 1.0), (0, 2, 100.0), (2, 1, 2.0)]


def test_a_hash_with_more_postings_than_the_cap_is_not_looked_up() -> None:
    common = [(work, prints([7, 100 + work])) for work in range(1, 6)]  # hash 7 in five works
    index = HashIndex.build(common)
    hits = index.lookup(np.array([7, 101], dtype=np.uint32), max_postings_per_hash=4)
    assert hits.query_row.tolist() == [1] and hits.work.tolist() == [1]
    assert len(index.lookup(np.array([7], dtype=np.uint32), max_postings_per_hash=5)) == 5


def test_the_cap_never_falls_below_its_floor_in_a_small_library() -> None:
    space = 1_000_000
    assert postings_cap(0, space, ALIGN) == ALIGN.min_stop_hash_postings
    assert postings_cap(space // 10, space, ALIGN) == ALIGN.min_stop_hash_postings


def test_the_cap_grows_with_the_library_so_the_same_share_of_hashes_is_skipped() -> None:
    space = 1_000_000
    ten_hours, hundred_hours = postings_cap(2 * space, space, ALIGN), postings_cap(
        20 * space, space, ALIGN)
    assert ten_hours == round(2 * ALIGN.stop_hash_factor)
    assert hundred_hours == 10 * ten_hours
