"""What the visual side stores per work: sampled frame times, their vectors, shots."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class VisualSettings:
    """How frames are sampled and described; stored with a library and never mixed.

    ``fps`` frames per second are kept (plus the first frame of every shot), ``descriptor``
    names an entry of ``AVAILABLE_DESCRIPTORS``.
    """

    descriptor: str = "effnet-lite0"
    fps: float = 2.0
    remove_borders: bool = True

    def to_json(self) -> dict[str, object]:
        return dataclasses.asdict(self)


LABELS_KEPT = 3
"""ImageNet classes kept per frame: enough to name what a shot shows in a report."""


@dataclass(frozen=True)
class VisualPrint:
    """The visual description of one work.

    Attributes
    ----------
    times:
        (n,) float32 seconds of each kept frame.
    vectors:
        (n, dim) float32, unit rows, from the library's descriptor.
    boxes:
        (n, 4) float32 picture region kept inside black bars (left, top, right, bottom).
    cuts:
        (c,) float32 shot boundaries in seconds.
    pdq:
        (n, 32) uint8, each frame's 256-bit PDQ hash: the cheap layout check that settles
        what a learned descriptor cannot (was the copy mirrored? is it the very picture?).
    looks:
        (n, LOOK_DIM) float32 coarse composition, colour and motion of each frame
        (:mod:`homage.visual.looks`), what visual homages are matched on; None for works
        indexed before looks were kept.
    labels, label_scores:
        (n, LABELS_KEPT) ImageNet class indices (int) and probabilities (float32) of each
        frame, likeliest first, where the descriptor is a classifier; None otherwise.
    """

    times: np.ndarray
    vectors: np.ndarray
    boxes: np.ndarray
    cuts: np.ndarray
    pdq: np.ndarray
    looks: np.ndarray | None = None
    labels: np.ndarray | None = None
    label_scores: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.times)
