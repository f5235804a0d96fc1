"""PDQ (Meta's perceptual hash) as a frame descriptor: the cheap one.

A 256-bit hash becomes a ±1/16 vector, so the inner product of two descriptors is
``1 - 2 * hamming / 256``: the same index and alignment code serve PDQ and learned vectors,
which is what makes the per-frame-PDQ ablation of ``homage bench video`` a fair one.
"""

from __future__ import annotations

import numpy as np
import pdqhash

from homage.visual.base import FrameDescriptor

_BITS = 256


class PdqDescriptor(FrameDescriptor):
    """Per-frame PDQ hash; strong on re-encodes and colour edits, weak on crops."""

    name = "pdq"
    dim = _BITS
    input_size = (128, 128)

    def describe(self, frames: np.ndarray) -> np.ndarray:
        bits = np.stack([pdqhash.compute(np.ascontiguousarray(f))[0] for f in frames]) \
            if len(frames) else np.zeros((0, _BITS))
        return ((2.0 * bits - 1.0) / np.sqrt(_BITS)).astype(np.float32)
