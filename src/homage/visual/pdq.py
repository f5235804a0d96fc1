"""PDQ (Meta's perceptual hash): a frame descriptor of its own, and the cheap layout check.

As a descriptor, a 256-bit hash becomes a ±1/16 vector, so the inner product of two
descriptors is ``1 - 2 * hamming / 256``: the same index and alignment code serve PDQ and
learned vectors, which is what makes the per-frame-PDQ ablation of ``homage bench video`` a
fair one.  Beside a learned descriptor, packed hashes (32 bytes a frame) are stored for every
frame: PDQ sees the layout of the picture, so it tells a mirrored copy from a straight one and
the very picture from a look-alike, which semantic features cannot.
"""

from __future__ import annotations

import numpy as np
import pdqhash

from homage.visual.base import FrameDescriptor

BITS = 256
#: Hamming distance under which two PDQ hashes are the same picture (Meta's own guidance
#: puts matches at ≤ 31 of 256; edited copies spread up to ~90, unrelated pictures sit ~128).
SAME_PICTURE = 90

_BYTE_BITS = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1).sum(1)


def pdq_bits(frames: np.ndarray) -> np.ndarray:
    """(n, h, w, 3) uint8 RGB → (n, 32) uint8 packed PDQ hashes."""
    if len(frames) == 0:
        return np.zeros((0, BITS // 8), dtype=np.uint8)
    bits = np.stack([pdqhash.compute(np.ascontiguousarray(f))[0] for f in frames])
    return np.packbits(bits.astype(np.uint8), axis=1)


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamming distances between packed hashes ``a`` and ``b``, (..., 32) each, broadcast
    against each other: row by row for two (n, 32), every pair for (n, 1, 32) and
    (1, m, 32)."""
    return _BYTE_BITS[np.bitwise_xor(a, b)].sum(axis=-1)


class PdqDescriptor(FrameDescriptor):
    """Per-frame PDQ hash; strong on re-encodes and colour edits, weak on crops."""

    name = "pdq"
    dim = BITS
    input_size = (128, 128)

    def describe(self, frames: np.ndarray, *, threads: int | None = None) -> np.ndarray:
        bits = np.unpackbits(pdq_bits(frames), axis=1).astype(np.float32)
        return (2.0 * bits - 1.0) / np.sqrt(BITS)
