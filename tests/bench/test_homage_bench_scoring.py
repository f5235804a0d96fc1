"""``homage bench homage`` scoring, worked by hand: shot ranking, per-style figures, false
positives and the confusion between the copy and homage labels."""

from __future__ import annotations

import pytest

from homage.bench.homage import _Run, _score
from homage.bench.homage_corpus import HomageShot
from homage.bench.metrics import SegmentPair


def shot(kind: str, q: tuple[float, float], r: tuple[float, float], *styles: str,
         query: str = "q1") -> HomageShot:
    label = f"{'homage' if kind == 'visual_homage' else 'copy'}:{'+'.join(styles) or 'none'}"
    return HomageShot(SegmentPair(query, "ref", *q, *r), kind, styles, label, 1.0, False)


def run(*predictions: tuple[SegmentPair, str]) -> _Run:
    return _Run([p for p, _ in predictions], [k for _, k in predictions])


def pair(q: tuple[float, float], r: tuple[float, float], score: float, *,
         reference: str = "ref", query: str = "q1") -> SegmentPair:
    return SegmentPair(query, reference, *q, *r, score)


TRUTH = [
    shot("visual_homage", (0, 4), (10, 14), "cel"),
    shot("visual_homage", (10, 13), (40, 43), "sketch", "mirror"),
    shot("visual_copy", (20, 24), (60, 64)),
]


def test_shot_figures_per_style_and_the_label_confusion() -> None:
    found = run(
        (pair((0, 4), (10.5, 14.5), 0.9), "visual_homage"),          # cel: right, first
        (pair((10, 13), (80, 83), 0.7, reference="other"), "visual_homage"),  # sketch: wrong
        (pair((10, 13), (40, 43), 0.6), "visual_copy"),              # sketch: right, 2nd, copy
        (pair((20, 24), (60, 64), 0.95), "visual_copy"),             # the copy, labelled right
        (pair((1, 3), (5, 7), 0.8, query="negative"), "visual_homage"),  # a false alarm
    )
    m = _score(found, TRUTH, ["negative", "clean"], threshold=0.5)
    assert m["shot_hr1"] == pytest.approx(0.5) and m["shot_map"] == pytest.approx(0.75)
    assert m["per_style"]["cel"] == {"count": 1, "hr1": 1.0, "map": 1.0}
    assert m["per_style"]["homage:sketch+mirror"]["hr1"] == 0.0
    assert m["per_style"]["mirror"]["map"] == pytest.approx(0.5)
    assert m["fp_rate"] == pytest.approx(0.5)
    # both homages are found at 0.5; the sketch's best agreeing prediction says "copy"
    assert (m["homages_found"], m["homages_labelled_copy"]) == (2, 1)
    assert m["homage_as_copy_rate"] == pytest.approx(0.5)
    assert (m["copies_found"], m["copies_labelled_homage"], m["copy_as_homage_rate"]) == (
        1, 0, 0.0)


def test_baselines_have_no_labels_and_meet_the_fp_rate_at_their_own_threshold() -> None:
    found = run((pair((0, 4), (10, 14), 0.4), "visual_homage"),
                (pair((1, 3), (5, 7), 0.8, query="negative"), "visual_homage"))
    m = _score(found, TRUTH, ["negative"], threshold=None)
    assert "homage_as_copy_rate" not in m
    assert m["fp_rate"] == 0.0 and m["fp_threshold"] > 0.8
    assert m["shot_hr1"] == 0.5  # the cel shot's only covering prediction is right
