"""Logistic models: the form of the learnt decisions of the video steps.

How likely an aligned stretch is a copy (``video_score.Calibration``, fitted by ``homage bench
video --calibrate`` on corpora of other seeds), how likely a pair of shots is a re-staging
(``homage_match.HomageModel``) and whether a frame-aligned stretch was re-rendered or copied
(``restyle.RestyleModel``, both fitted by ``homage bench homage --fit`` on the training split)
are all weights over evidence.  The homage score adds boosted trees to its weights
(``HomageModel``); the re-rendering label is linear: products of its evidence erred more on
the test split (``docs/benchmarks.md``, "A larger training split, and products of the
evidence: tried, not kept").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Logistic:
    """``bias`` and one weight per part of the evidence; ``fitted_on`` says where they came
    from."""

    bias: float
    weights: tuple[float, ...]
    fitted_on: str = ""

    def log_odds(self, features: np.ndarray) -> np.ndarray:
        """(n, len(weights)) evidence → (n,) log-odds."""
        return self.bias + np.asarray(features, np.float64) @ np.asarray(self.weights)

    def probability(self, features: np.ndarray) -> np.ndarray:
        """(n, len(weights)) evidence → (n,) probabilities."""
        return 1.0 / (1.0 + np.exp(-np.clip(self.log_odds(features), -50, 50)))
