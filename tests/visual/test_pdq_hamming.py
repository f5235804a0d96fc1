"""PDQ distances between packed hashes, row by row and every pair by broadcasting."""

from __future__ import annotations

import numpy as np

from homage.visual.pdq import hamming


def test_distances_count_the_differing_bits_row_by_row_and_across_every_pair() -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, size=(3, 32), dtype=np.uint8)
    b = rng.integers(0, 256, size=(4, 32), dtype=np.uint8)

    def bits(x: np.ndarray, y: np.ndarray) -> int:
        return int(np.unpackbits(np.bitwise_xor(x, y)).sum())

    np.testing.assert_array_equal(hamming(a, b[:3]), [bits(a[i], b[i]) for i in range(3)])
    # every query hash against every reference hash, as the homage benchmark's PDQ baseline
    # asks: one distance per pair, never a sum over the references
    pairs = hamming(a[:, None, :], b[None, :, :])
    assert pairs.shape == (3, 4)
    assert pairs.tolist() == [[bits(x, y) for y in b] for x in a]
    assert hamming(a, a).tolist() == [0, 0, 0] and pairs.max() <= 256
