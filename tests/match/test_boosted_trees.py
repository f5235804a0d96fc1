"""The homage score's boosted trees: evaluated as scikit-learn grew them, shipped as arrays,
rising with the layout evidence, and outvoted where the pair is unlike what they saw."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.ensemble import HistGradientBoostingClassifier

from homage.bench.homage import fit_trees
from homage.config import Settings
from homage.match.boosted_trees import BoostedTrees
from homage.match.homage_match import FEATURES, LAYOUT_EVIDENCE, HomageModel
from homage.match.homage_model import MODEL


def _grown(seed: int = 0) -> tuple[HistGradientBoostingClassifier, np.ndarray]:
    rng = np.random.default_rng(3)
    x = rng.random((4000, 4))
    y = (x[:, 0] * x[:, 1] + 0.3 * rng.random(4000) > 0.45).astype(int)
    grown = HistGradientBoostingClassifier(max_iter=30, early_stopping=True,
                                           random_state=seed).fit(x, y)
    return grown, rng.random((500, 4))


def test_the_trees_give_what_scikit_learn_gives() -> None:
    grown, x = _grown()
    trees = BoostedTrees.from_sklearn(grown)
    assert trees.trees == grown.n_iter_
    np.testing.assert_allclose(trees.log_odds(x), grown.decision_function(x), atol=1e-12)


def test_a_bag_of_forests_gives_the_mean_of_their_log_odds() -> None:
    (one, x), (other, _) = _grown(0), _grown(1)
    assert one.n_iter_ != other.n_iter_ or not np.allclose(one.decision_function(x),
                                                            other.decision_function(x))
    bag = BoostedTrees.from_sklearn(one, other)
    assert bag.trees == one.n_iter_ + other.n_iter_
    expected = (one.decision_function(x) + other.decision_function(x)) / 2
    np.testing.assert_allclose(bag.log_odds(x), expected, atol=1e-12)


def test_the_arrays_are_the_whole_model(tmp_path) -> None:
    grown, x = _grown()
    trees = BoostedTrees.from_sklearn(grown)
    path = tmp_path / "trees.npz"
    trees.save(path)
    np.testing.assert_array_equal(BoostedTrees.load(path).log_odds(x), trees.log_odds(x))
    stream = io.BytesIO(path.read_bytes())
    np.testing.assert_array_equal(BoostedTrees.load(stream).log_odds(x), trees.log_odds(x))


def test_a_stump_goes_left_at_or_below_its_threshold() -> None:
    stump = BoostedTrees(baseline=0.5, feature=np.array([1, 0, 0]),
                         threshold=np.array([0.3, 0.0, 0.0]), left=np.array([1, 0, 0]),
                         right=np.array([2, 0, 0]), value=np.array([0.0, -1.0, 2.0]),
                         leaf=np.array([False, True, True]), starts=np.array([0]))
    x = np.array([[9.0, 0.3], [9.0, 0.31], [-9.0, -5.0]])
    np.testing.assert_allclose(stump.log_odds(x), [-0.5, 2.5, -0.5])
    assert stump.log_odds(np.zeros((0, 2))).shape == (0,)


def test_grown_trees_only_rise_with_the_layout_evidence() -> None:
    rng = np.random.default_rng(5)
    x = rng.random((3000, len(FEATURES)))
    layout = FEATURES.index("aligned_layout")
    # a label that falls with the layout in part of the range: the trees must not learn that
    y = ((x[:, layout] - 0.5) ** 2 + 0.2 * rng.random(3000) > 0.12).tolist()
    trees = fit_trees(x, y)
    probe = rng.random((200, len(FEATURES)))
    lower, higher = probe.copy(), probe.copy()
    lower[:, layout], higher[:, layout] = 0.2, 0.8
    assert (trees.log_odds(higher) >= trees.log_odds(lower) - 1e-12).all()


evidence = st.lists(st.floats(-1.0, 1.0), min_size=len(FEATURES), max_size=len(FEATURES))


@settings(max_examples=200, deadline=None)
@given(evidence, st.sampled_from(LAYOUT_EVIDENCE), st.floats(0.0, 1.0))
def test_the_shipped_trees_never_fall_as_layouts_agree_more(values: list[float], name: str,
                                                           more: float) -> None:
    assert MODEL.trees is not None
    x = np.array([values])
    raised = x.copy()
    raised[0, FEATURES.index(name)] += more
    assert MODEL.trees.log_odds(raised)[0] >= MODEL.trees.log_odds(x)[0] - 1e-12


def test_the_score_is_the_mean_of_the_two_experts_log_odds() -> None:
    x = np.random.default_rng(0).random((20, len(FEATURES)))
    linear = dataclasses.replace(MODEL, trees=None)
    assert MODEL.trees is not None
    expected = (linear.log_odds(x) + MODEL.trees.log_odds(x)) / 2
    np.testing.assert_allclose(MODEL.log_odds(x), expected)
    np.testing.assert_allclose(MODEL.probability(x), 1 / (1 + np.exp(-expected)))
    plain = HomageModel(bias=-1.0, weights=(1.0,) * len(FEATURES))
    np.testing.assert_allclose(plain.log_odds(x), -1.0 + x.sum(axis=1))


def test_a_look_alike_whose_layouts_disagree_is_not_a_homage() -> None:
    """Another moment of a reference's own film, in cross-validation on the training split:
    alike in meaning (0.72), laid out otherwise, standing out from nothing.  Trees fitted
    without its query scored it 0.86, and the first shipped trees, which saw it, 0.41: trees
    alone are not to be trusted with it.  Each expert and the score they give together must
    keep it well under the reporting threshold.  It was seen before motion was measured: it
    is given the motion agreement that 99 % of the wrong pairs of 30 training queries stay
    under (0.22; the median of the right ones is 0.28)."""
    seen = dict(semantic=0.716, semantic_best=0.715, mass=-0.023, edges=0.102, lines=0.696,
                colour_pattern=0.097, colour_distance=0.038, camera=-0.12, change=-0.293,
                labels=0.019, aligned_semantic=0.703, aligned_layout=0.039,
                aligned_outline=0.396, contrast=-0.097, margin=-0.296, aligned_motion=0.22)
    x = np.array([[seen[name] for name in FEATURES]])
    assert MODEL.trees is not None
    trees_alone = 1 / (1 + np.exp(-MODEL.trees.log_odds(x)[0]))
    linear_alone = dataclasses.replace(MODEL, trees=None).probability(x)[0]
    for probability in (trees_alone, linear_alone, MODEL.probability(x)[0]):
        assert probability < Settings().threshold / 2
