"""The learnt weights of the visual-homage score and of the copy-or-re-rendering label.

Fitted by ``homage bench homage --fit`` on the *training* split of the full homage corpus
(seed 0: 24 training queries, disjoint reference blocks from the 36 test queries the benchmark
reports on), so the default threshold is tested on shots the weights never saw.  Refit and
paste the printed weights here whenever ``FEATURES`` or the looks change.
"""

from __future__ import annotations

from homage.match.homage_match import HomageModel
from homage.match.restyle import RestyleModel

MODEL = HomageModel(
    bias=-9.98,
    # semantic, semantic_best, mass, edges, lines, colour_pattern, colour_distance,
    # camera, change, labels, aligned_semantic, aligned_layout, aligned_outline, contrast,
    # margin
    weights=(3.127, 2.162, -1.363, -0.954, -2.29, 0.351, -10.035, -2.184, 1.301, 2.332,
             2.335, -0.982, 7.014, 2.205, 3.306),
    # 14 491 candidate pairs, 135 right, 2026-11-24
    fitted_on="homage corpus full seed 0, training split",
)

RESTYLE = RestyleModel(
    bias=0.623,
    # sizes of the changes of edge_density, detail, spread, saturation, contrast, white,
    # entropy, flat; then the mass and edges layout correlations
    weights=(9.297, 0.177, -6.763, 11.981, 2.739, 7.461, -0.794, 7.751, -4.659, 0.033),
    # 55 frame-aligned stretches, 24 of them re-renderings, 2026-11-24 (fifth session)
    fitted_on="homage corpus full seed 0, training split",
)
