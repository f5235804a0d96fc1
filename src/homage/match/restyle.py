"""Copy or re-rendering?  The label of a stretch the copy matcher lines up frame by frame.

A learned copy descriptor sees through a cel-shaded or painted re-rendering of a shot almost
as well as through a re-encode: the copy matcher then finds it, frame for frame.  What tells
the two apart is not *what* the frames show but *how* they are rendered: a posterised picture
has fewer colours, an inked one more edges and less fine detail, a sketch no saturation and a
white page; a re-encode, a crop or a mild colour change keep all of these.  The model here
compares the rendering statistics of aligned frame pairs (the ``texture`` part of each
frame's look) and how well their layouts agree, and says how likely the stretch is a
re-rendering; ``homage bench homage --fit`` learns its weights on the training split, where
both copies (with the copy benchmark's edits) and re-renderings occur.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from homage.match.logistic import Logistic
from homage.visual.looks import PARTS, layout_agreement, part_agreement

FEATURES = ("edge_density", "detail", "spread", "saturation", "contrast", "white", "entropy",
            "flat", "mass", "edges")
"""Evidence, in weight order: per aligned pair (median over pairs) how far each texture
statistic moved (the size of its log ratio; for white share, entropy and flat share, of the
difference), and the mean correlation of mass and edge layouts.  Sizes, not signed changes:
a re-rendering moves a statistic either way (a grade halves or doubles the saturation, a
re-framing's enlargement lowers the fine detail, ink raises the edge contrast), a copy
keeps it, and a signed weight learns only the direction the training split happened to show
most.  How alike the copy matcher found the frames is left out on purpose: a heavily edited
copy (cropped, recoloured) is less alike without being redrawn."""

_FLOOR = np.array([1e-2, 1e-3, 1e-2, 1e-2, 1e-1], np.float32)
_RATIOS = len(_FLOOR)  # the texture statistics compared as log ratios; the rest as differences
#: Where ``FEATURES`` has the statistics of colour, which a picture without colour cannot be
#: compared on (its first eight are the looks' texture statistics, in their order: saturation
#: is also the texture column read for greyscale).
_SATURATION = FEATURES.index("saturation")
_COLOUR = [_SATURATION, FEATURES.index("entropy")]
#: A stretch whose pictures' saturation (median) is under this has no colour: greyscale.
#: Greyscale copies on the video benchmark: median 0, 90 % under 0.03; frames in colour: 99 %
#: over 0.037.
GREYSCALE = 0.02


@dataclass(frozen=True)
class RestyleModel(Logistic):
    """How likely a frame-aligned stretch is a re-rendering, from ``FEATURES``."""


def restyle_features(query_looks: np.ndarray, reference_looks: np.ndarray) -> np.ndarray:
    """The evidence of one aligned stretch: (len(FEATURES),).

    Where the query's pictures have no colour (greyscale), their colour statistics are taken
    as unchanged: a greyscale copy has lost all of its colour, which no re-rendering seen in
    training changes as much, and the model called 24 of the video benchmark's 26 greyscale
    copies re-renderings (re-styled ones are told by how their luma is drawn: a sketch's
    white page and ink lines, a cel's flat fills).

    Parameters
    ----------
    query_looks, reference_looks : (k, LOOK_DIM)
        Looks of the aligned pairs, the query's already in the reference's orientation.
    """
    texture = PARTS["texture"]
    q, r = query_looks[:, texture], reference_looks[:, texture]
    ratios = np.log((q[:, :_RATIOS] + _FLOOR) / (r[:, :_RATIOS] + _FLOOR))
    differences = q[:, _RATIOS:] - r[:, _RATIOS:]
    changes = np.abs(np.median(np.hstack([ratios, differences]), axis=0))
    if np.median(q[:, _SATURATION]) < GREYSCALE:
        changes[_COLOUR] = 0.0
    layouts = [float(np.mean(part_agreement(query_looks, reference_looks, part)))
               for part in ("mass", "edges")]
    return np.array([*changes, *layouts], np.float64)


def aligned_aspects(query_looks: np.ndarray, reference_looks: np.ndarray) -> tuple[str, ...]:
    """What a frame-aligned re-rendering shares with its model: its motion (it follows the
    model frame by frame), and its composition and colours where their layouts agree."""
    layout = float(np.mean(layout_agreement(query_looks, reference_looks)))
    colour = np.abs(query_looks[:, PARTS["colour"]] - reference_looks[:, PARTS["colour"]]).mean()
    shared = ["composition"] if layout >= 0.4 else []
    if colour <= 0.06:
        shared.append("colour")
    return (*shared, "motion")
