"""The one small interface every frame descriptor implements.

Descriptors are pure: RGB frames in, one L2-normalised vector per frame out.  The media layer
decodes frames straight to ``input_size`` so no descriptor ever resizes a full-size picture.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np


class FrameDescriptor(ABC):
    """Maps frames to vectors whose inner product measures how alike two frames are.

    Subclasses set ``name`` (the registry key, stored with a library's settings), ``dim``
    (vector length), ``input_size`` (``(height, width)`` of the frames they expect) and
    ``mirror_invariant`` (a frame and its mirror image get nearly the same vector, so a query
    needs no second, mirrored look-up).
    """

    name: str
    dim: int
    input_size: tuple[int, int]
    mirror_invariant: bool = False

    @abstractmethod
    def describe(self, frames: np.ndarray, *, threads: int | None = None) -> np.ndarray:
        """``frames`` (n, height, width, 3) uint8 RGB → (n, dim) float32, rows of unit norm.

        ``threads`` asks a model for that many inference threads (the caller knows what else
        runs beside it); None keeps the descriptor's own choice, and cheap descriptors ignore
        it.
        """

    def describe_labelled(
        self, frames: np.ndarray, k: int, *, threads: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Vectors plus each frame's ``k`` likeliest class indices (n, k) and probabilities
        (n, k), from the same pass; descriptors that are not classifiers give None for both.
        """
        return self.describe(frames, threads=threads), None, None


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length; all-zero rows stay zero (a blank frame matches nothing)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
