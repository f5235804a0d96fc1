"""The learnt weights of the visual-homage score and of the copy-or-re-rendering label.

Fitted by ``homage bench homage --fit`` on the *training* split of the homage corpus (never
its test split, on which the benchmark reports), so the default threshold is tested on shots
the weights never saw.  Until a fit is recorded here the weights are a prior: descriptors and
layouts count, the rest is left to the fit.
"""

from __future__ import annotations

from homage.match.homage_match import HomageModel
from homage.match.restyle import RestyleModel

MODEL = HomageModel(
    bias=-9.0,
    # semantic, semantic_best, mass, edges, lines, colour_pattern, colour_distance,
    # camera, change, labels
    weights=(6.0, 4.0, 2.0, 2.0, 0.0, 0.5, -2.0, 0.0, 0.5, 1.0),
    fitted_on="prior, not fitted",
)

RESTYLE = RestyleModel(
    bias=-20.0,
    # similarity, layout, edge_density, detail, spread, saturation, white, entropy, mass, edges
    weights=(0.0,) * 10,
    fitted_on="prior, not fitted: every frame-aligned stretch is a copy",
)
