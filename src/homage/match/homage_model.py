"""The learnt weights of the visual-homage score and of the copy-or-re-rendering label.

Fitted by ``homage bench homage --fit`` on the *training* split of the full homage corpus
(seed 0, disjoint reference blocks from the 36 test queries the benchmark reports on), so the
default threshold is tested on shots the weights never saw: the homage score on all 84
training queries, the re-rendering label on the first 24.  Refit whenever ``FEATURES`` or the
looks change: paste the printed weights here and copy the trees file the fit writes to
``homage_trees.npz`` beside this module.
"""

from __future__ import annotations

from importlib.resources import files

from homage.match.boosted_trees import BoostedTrees
from homage.match.homage_match import HomageModel
from homage.match.restyle import RestyleModel


def _shipped_trees() -> BoostedTrees:
    with files("homage.match").joinpath("homage_trees.npz").open("rb") as stream:
        return BoostedTrees.load(stream)


MODEL = HomageModel(
    bias=-12.539,
    # semantic, semantic_best, mass, edges, lines, colour_pattern, colour_distance,
    # camera, change, labels, aligned_semantic, aligned_layout, aligned_outline, contrast,
    # margin, aligned_motion
    weights=(-10.412, 4.23, -0.63, 0.55, 2.957, 0.273, -16.472, -4.431, 1.142, -4.62, 15.319,
             -0.873, 3.322, 0.833, 3.941, 8.42),
    trees=_shipped_trees(),
    # 108 614 candidate pairs of the 84 training queries, 1 879 right, 2026-11-25 (motion)
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
