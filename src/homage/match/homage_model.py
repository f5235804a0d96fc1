"""The learnt weights of the visual-homage score and of the copy-or-re-rendering label.

Fitted by ``homage bench homage --fit`` on the *training* split of the full homage corpus
(seed 0: 84 training queries, disjoint reference blocks from the 36 test queries the benchmark
reports on), so the default threshold is tested on shots the weights never saw.  Refit and
paste the printed weights here whenever ``FEATURES`` or the looks change.
"""

from __future__ import annotations

from homage.match.homage_match import HomageModel
from homage.match.restyle import RestyleModel

MODEL = HomageModel(
    bias=-9.2236,
    # the 15 standardised FEATURES, then their products in ``term_names(True)`` order
    weights=(
        0.6056, 0.6344, 0.1128, 0.2745, 0.31, 0.2656, -0.7074, 0.1158, 0.4981, -0.011, 0.2974,
        -0.1063, 0.2742, 0.5827, 0.3573, -0.2633, 0.0587, 0.1049, -0.0965, 0.26, -0.1166,
        0.1199, -0.1236, 0.0674, 0.0165, 0.0134, -0.1863, -0.206, 0.0737, 0.079, -0.254, 0.128,
        -0.0003, 0.0864, -0.0597, -0.4121, -0.2843, -0.0031, 0.0318, 0.0167, 0.0725, 0.054,
        -0.2868, 0.075, -0.0094, -0.0578, -0.1868, -0.1285, 0.0484, -0.0633, -0.2279, -0.0977,
        0.2317, 0.08, -0.3576, -0.1269, 0.0398, -0.0112, -0.0465, 0.071, -0.0514, -0.0336,
        -0.0158, 0.3001, -0.0768, 0.077, 0.1473, -0.1589, -0.0142, 0.1269, 0.0094, -0.1081,
        -0.1671, 0.0672, -0.0299, -0.0819, 0.1425, 0.0878, -0.0113, 0.1001, 0.2727, -0.1607,
        -0.1768, -0.1567, -0.1596, -0.0453, -0.0111, -0.0931, -0.0509, 0.1406, 0.2507, -0.2474,
        0.0745, -0.5363, 0.1584, 0.0604, -0.0494, 0.059, 0.0182, 0.043, -0.0474, -0.0386,
        0.3914, 0.1776, -0.0387, -0.267, 0.181, -0.2743, -0.0037, 0.2505, -0.1769, 0.241,
        -0.0573, 0.1582, 0.0774, -0.2066, -0.0641, -0.3023, 0.0527, -0.0278, 0.2558, 0.0289,
        -0.1325, 0.0429, -0.0513, 0.0991, 0.1971, -0.0914, -0.0331, -0.2359, 0.1922, 0.0328,
        0.1374, -0.0109, 0.1791
    ),
    centre=(
        0.4945, 0.4882, 0.153, 0.3069, 0.7561, 0.2281, 0.1414, -0.1088, 0.1217, 0.0067, 0.4383,
        0.2079, 0.49, -0.0118, -0.2611
    ),
    scale=(
        0.1385, 0.1321, 0.314, 0.1547, 0.1012, 0.3879, 0.0785, 0.1232, 0.348, 0.0312, 0.1268,
        0.1443, 0.091, 0.1709, 0.2779
    ),
    interactions=True,
    # 54 264 candidate pairs, 375 right, 2026-11-25
    fitted_on="homage corpus full seed 0, training split",
)

RESTYLE = RestyleModel(
    bias=0.491,
    # sizes of the changes of edge_density, detail, spread, saturation, contrast, white,
    # entropy, flat; then the mass and edges layout correlations
    weights=(2.871, 2.216, -4.722, 6.376, -1.806, 15.586, 1.411, 12.834, -1.758, -1.697),
    # 178 frame-aligned stretches, 79 of them re-renderings, 2026-11-25
    fitted_on="homage corpus full seed 0, training split",
)
