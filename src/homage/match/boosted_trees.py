"""Gradient-boosted trees, evaluated with NumPy: the learnt part of the homage score that
ranks by combinations of the evidence.

The trees are fitted by scikit-learn's ``HistGradientBoostingClassifier`` (``homage bench
homage --fit``, which needs the ``fit`` extra) and shipped as plain arrays in a ``.npz`` file.
Evaluating them is a few lines of array indexing, so matching does not depend on
scikit-learn (tens of megabytes, and its pickles are tied to its version): the arrays are
the whole model, readable by any later NumPy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

_FIELDS = ("feature", "threshold", "left", "right", "value", "leaf", "starts")


@dataclass(frozen=True, eq=False)
class BoostedTrees:
    """Trees laid end to end: node ``i`` of the whole forest splits on ``feature[i]`` at
    ``threshold[i]`` (at or below goes ``left``, above ``right``; both are node numbers
    within its tree) or, where ``leaf[i]``, adds ``value[i]``.  Tree ``t``'s nodes start at
    ``starts[t]``; ``baseline`` is the log-odds before any tree."""

    baseline: float
    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray
    leaf: np.ndarray
    starts: np.ndarray

    @property
    def trees(self) -> int:
        return len(self.starts)

    def log_odds(self, features: np.ndarray) -> np.ndarray:
        """(n, features) evidence → (n,) log-odds: every tree walked for all rows at once."""
        x = np.asarray(features, np.float64)
        rows = np.arange(len(x))
        node = np.repeat(self.starts[None, :], len(x), axis=0)  # (n, trees), absolute
        while True:
            inner = ~self.leaf[node]
            if not inner.any():
                break
            r, t = np.nonzero(inner)
            at = node[r, t]
            goes_left = x[rows[r], self.feature[at]] <= self.threshold[at]
            node[r, t] = self.starts[t] + np.where(goes_left, self.left[at], self.right[at])
        return self.baseline + self.value[node].sum(axis=1)

    def save(self, path: Path) -> None:
        np.savez_compressed(path, baseline=np.float64(self.baseline),
                            **{name: getattr(self, name) for name in _FIELDS})

    @classmethod
    def load(cls, path: Path | Any) -> BoostedTrees:
        """From a ``.npz`` written by :meth:`save` (a path or an open binary file)."""
        with np.load(path, allow_pickle=False) as data:
            return cls(baseline=float(data["baseline"]),
                       **{name: data[name] for name in _FIELDS})

    @classmethod
    def from_sklearn(cls, *models: Any) -> BoostedTrees:
        """From fitted binary ``HistGradientBoostingClassifier``s on numeric features with no
        missing values (the homage evidence is always finite): one forest whose log-odds are
        the mean of theirs (each leaf's value and the baseline divided by their number)."""
        trees = [predictors[0].nodes for model in models for predictors in model._predictors]
        if not trees:
            raise ValueError("no fitted trees")
        if any(t["is_categorical"].any() for t in trees):
            raise ValueError("categorical splits are not supported")
        nodes = np.concatenate(trees)
        sizes = np.array([len(t) for t in trees])
        baseline = np.mean([np.ravel(model._baseline_prediction)[0] for model in models])
        return cls(baseline=float(baseline),
                   feature=nodes["feature_idx"].astype(np.int32),
                   threshold=nodes["num_threshold"].astype(np.float64),
                   left=nodes["left"].astype(np.int32), right=nodes["right"].astype(np.int32),
                   value=nodes["value"].astype(np.float64) / len(models),
                   leaf=nodes["is_leaf"].astype(bool),
                   starts=np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64))
