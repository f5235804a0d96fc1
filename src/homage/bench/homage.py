"""``homage bench homage``: re-staged shots found, placed and labelled, beside two baselines.

The corpus (``homage.bench.homage_corpus``) cuts query "music videos" from distractor shots,
re-renderings of reference shots in other looks (cel shading, paint, sketch, grading with
re-framing, mirroring) and plain copies, split into a *training* and a disjoint *test* split.
homage indexes the references once and describes every query once; then

- **homage** is the product: the copy matcher with its copy-or-re-rendering label, then the
  shot-level homage matcher, with the weights shipped in ``homage.match.homage_model``;
- **copy-descriptor** is the copy matcher alone (the learned copy descriptor and its
  alignment), every stretch it finds taken as a homage: what a copy detector sees of them;
- **per-frame-pdq** ranks reference windows for each query window by their best per-frame
  perceptual-hash (PDQ, a pHash) agreement.

All are scored on the test split only: shot-level HR@1 and mAP, segment AP of the homages,
false positives on negative queries, per-style figures, and the confusion between the
``visual_copy`` and ``visual_homage`` labels.  ``--fit`` learns the homage score and the
re-rendering label on the *training* split, reports the test split with those weights too,
prints the weights for ``homage.match.homage_model`` and writes the score's trees beside the
result (``--fit`` needs the ``fit`` extra: scikit-learn grows the trees).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import resource
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np

from homage.bench.harness import fmt, peer_threshold, stats_at_rest, write_result
from homage.bench.homage_corpus import HomageQuery, HomageShot, build_homage_corpus
from homage.bench.metrics import (
    SegmentPair,
    false_positive_rate,
    segment_ap,
    shot_ranking,
)
from homage.bench.video import fit_logistic
from homage.config import Settings
from homage.copies import (
    QueryFrames,
    aligned_looks,
    copy_segments,
    describe_video,
    segment_match,
)
from homage.homages import homage_candidates, reference_windows, repeats_copy
from homage.library import Library, load_vector_index
from homage.match.boosted_trees import BoostedTrees
from homage.match.homage_match import (
    FEATURES,
    LAYOUT_EVIDENCE,
    HomageCandidate,
    HomageModel,
    ReferenceWindows,
)
from homage.match.homage_model import MODEL, RESTYLE
from homage.match.restyle import FEATURES as RESTYLE_FEATURES
from homage.match.restyle import RestyleModel, restyle_features
from homage.match.video_align import VideoSegmentMatch
from homage.pipeline import index_paths, stored_frames
from homage.types import Match
from homage.visual import descriptor_for
from homage.visual.pdq import hamming
from homage.visual.prints import VisualPrint, VisualSettings

logger = logging.getLogger(__name__)

#: A prediction and a true shot agree when they overlap by this share of the shorter on
#: both timelines (as the copy calibration counts them).
_AGREE = 0.5
#: Candidates per query window the fit learns from: the model must rank all it may see.
_FIT_CANDIDATES = 16

_Model = TypeVar("_Model", HomageModel, RestyleModel)


@dataclass
class _Observed:
    """What the bench keeps of one described query: enough to re-score it with any weights."""

    query: HomageQuery
    frames: QueryFrames
    segments: list[VideoSegmentMatch]
    restyle: list[np.ndarray | None]
    seconds: float
    #: what the shipped model finds, timed with the scan (test queries only: they alone are
    #: reported with the shipped weights)
    shipped: list[HomageCandidate]


@dataclass
class _Run:
    """One system's predictions on a split: every scored stretch, with its label."""

    predictions: list[SegmentPair] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)


def run_homage_bench(
    cache_dir: Path, *, quick: bool, seed: int, peers: Sequence[str] = (),
    out: Path | None, fit: bool = False, log: Callable[[str], None] = logger.info,
) -> dict[str, object]:
    """Build (or reuse) the corpus, index, describe, score every system, write JSON."""
    if peers:
        log(f"homage bench has no PyPI peers; ignoring {', '.join(peers)}")
    size = "quick" if quick else "full"
    log(f"building homage corpus ({size}, seed {seed}) in {cache_dir}")
    corpus = build_homage_corpus(cache_dir, size=size, seed=seed)
    settings = Settings()
    visual = settings.visual
    library_dir = cache_dir / f"bench-library-homage-{size}-seed{seed}"
    shutil.rmtree(library_dir, ignore_errors=True)
    with Library.open(library_dir, visual=visual) as library:
        log(f"indexing {len(corpus.references)} references")
        cpu0, wall0 = time.process_time(), time.perf_counter()
        report = index_paths(library, corpus.references, settings=Settings(library=library_dir))
        if report.failed:
            raise RuntimeError(f"failed to index: {report.failed[0]}")
        index_cpu, index_wall = time.process_time() - cpu0, time.perf_counter() - wall0
        prints_of = _cached(stored_frames(library))
        durations, names = library.durations(), library.paths()
        spelled = {str(Path(p).resolve()): str(p) for p in corpus.references}
        names = {w: spelled.get(n, n) for w, n in names.items()}
        index = load_vector_index(library, dim=visual_dim(visual))
        refs = reference_windows((w, prints_of(w), durations[w]) for w in names)
        if refs is None:
            raise RuntimeError("the references gave no windows to match")
        # The training split only feeds the fit: without one, describing it is wasted time.
        wanted = [q for q in corpus.queries if fit or q.split == "test"]
        log(f"describing {len(wanted)} queries")
        observed = [_observe(q, index, durations, refs, prints_of, visual) for q in wanted]

        models = {"shipped": (MODEL, RESTYLE)}
        fitted: dict[str, object] = {}
        if fit:
            train = [o for o in observed if o.query.split == "train"]
            model, restyle, fitted = _fit(train, refs, prints_of, names, log)
            models["fitted"] = (model, restyle)
            assert model.trees is not None
            trees_file = (out.with_suffix(".trees.npz") if out is not None
                          else cache_dir / f"homage-trees-{size}-seed{seed}.npz")
            model.trees.save(trees_file)
            fitted["homage"]["trees_file"] = str(trees_file)
            log(f"the fitted score's trees are in {trees_file} (ship them as "
                "src/homage/match/homage_trees.npz, with the printed weights)")
        test = [o for o in observed if o.query.split == "test"]
        runs: dict[str, _Run] = {}
        for label, (model, restyle) in models.items():
            name = "homage" if label == "shipped" else "homage (fitted this run)"
            runs[name] = _homage_run(test, refs, prints_of, names, model, restyle,
                                     settings.threshold)
        runs["copy-descriptor"] = _copy_descriptor_run(test, names)
        runs["per-frame-pdq"] = _pdq_run(test, refs, prints_of, names)
    stats = stats_at_rest(library_dir, visual=visual)

    truth = [s for o in test for s in o.query.shots]
    negatives = [str(o.query.path) for o in test if o.query.negative]
    costs = {
        "index_x_realtime_per_cpu": round(stats.total_duration / max(index_cpu, 1e-9), 1),
        "index_x_realtime_wall": round(stats.total_duration / max(index_wall, 1e-9), 1),
        "query_seconds_mean": round(float(np.mean([o.seconds for o in test])), 3)
        if test else None,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3, 1),
        "index_mb_per_hour": round((stats.database_bytes + stats.index_bytes) / 1e6
                                   / max(stats.total_duration / 3600, 1e-9), 2),
    }
    systems = {
        name: _score(run, truth, negatives,
                     threshold=settings.threshold if name.startswith("homage") else None)
        for name, run in runs.items()
    }
    systems["homage"].update(costs)
    result: dict[str, object] = {
        "benchmark": "homage",
        "variant": size,
        "seed": seed,
        "corpus": {
            "manifest": str(corpus.manifest),
            "references": len(corpus.references),
            "reference_minutes": round(stats.total_duration / 60, 2),
            "queries": {split: len(corpus.split(split)) for split in ("train", "test")},
            "test_homages": sum(s.kind == "visual_homage" for s in truth),
            "test_copies": sum(s.kind == "visual_copy" for s in truth),
            "test_negative_queries": len(negatives),
        },
        "threshold": settings.threshold,
        "weights": {"homage": _weights_json(MODEL), "restyle": _weights_json(RESTYLE)},
        "fitted": fitted,
        "systems": systems,
        "predictions": {name: [[*dataclasses.astuple(p), kind]
                               for p, kind in zip(run.predictions, run.kinds, strict=True)]
                        for name, run in runs.items()},
        "machine": {"cpus": os.cpu_count()},
    }
    write_result(result, out, markdown_table)
    return result


def visual_dim(visual: VisualSettings) -> int:
    return descriptor_for(visual.descriptor).dim


def _cached(prints_of: Callable[[int], VisualPrint]) -> Callable[[int], VisualPrint]:
    kept: dict[int, VisualPrint] = {}

    def cached(work: int) -> VisualPrint:
        if work not in kept:
            kept[work] = prints_of(work)
        return kept[work]
    return cached


def _observe(query: HomageQuery, index: object, durations: dict[int, float],
             refs: ReferenceWindows, prints_of: Callable[[int], VisualPrint],
             visual: VisualSettings) -> _Observed:
    t0 = time.perf_counter()
    frames = describe_video(query.path, visual, query=True)
    segments = copy_segments(frames, index, durations, query.duration,  # type: ignore[arg-type]
                             prints_of=prints_of, settings=visual)
    restyle = []
    for s in segments:
        pair = aligned_looks(s, frames, prints_of(s.work))
        restyle.append(None if pair is None else restyle_features(*pair))
    # Only the test split is reported with the shipped weights; a training query feeds the
    # fit, which draws its own candidates (``_fit``).
    shipped = homage_candidates(frames, query.duration, refs, prints_of=prints_of) \
        if query.split == "test" else []
    return _Observed(query, frames, segments, restyle, time.perf_counter() - t0, shipped)


# ------------------------------------------------------------------------------ the systems


def _homage_run(observed: Sequence[_Observed], refs: ReferenceWindows,
                prints_of: Callable[[int], VisualPrint], names: Mapping[int, str],
                model: HomageModel, restyle: RestyleModel, threshold: float) -> _Run:
    """The product's logic (``homage.pipeline``): copies labelled by ``restyle``, then
    homages not already reported, every stretch kept with its score for ranking."""
    run = _Run()
    for o in observed:
        query = str(o.query.path)
        reported: list[Match] = []
        for segment, features in zip(o.segments, o.restyle, strict=True):
            homage = features is not None and restyle.probability(features[None])[0] >= 0.5
            pair = _pair(query, names[segment.work], segment)
            run.predictions.append(pair)
            run.kinds.append("visual_homage" if homage else "visual_copy")
            if segment.score >= threshold:
                reported.append(segment_match(segment, pair.reference, o.frames.print))
        found = o.shipped if model is MODEL else homage_candidates(
            o.frames, o.query.duration, refs, prints_of=prints_of, model=model)
        for c in found:
            if repeats_copy(c, names[c.work], reported):
                continue  # the copy matcher reports it
            run.predictions.append(_pair(query, names[c.work], c))
            run.kinds.append("visual_homage")
    return run


def _copy_descriptor_run(observed: Sequence[_Observed], names: Mapping[int, str]) -> _Run:
    run = _Run()
    for o in observed:
        for segment in o.segments:
            run.predictions.append(_pair(str(o.query.path), names[segment.work], segment))
            run.kinds.append("visual_homage")
    return run


def _pdq_run(observed: Sequence[_Observed], refs: ReferenceWindows,
             prints_of: Callable[[int], VisualPrint], names: Mapping[int, str],
             per_window: int = 3) -> _Run:
    """Per query window, the reference windows whose frames share the most PDQ bits with
    one of its frames (either way round)."""
    from homage.homages import WINDOWS
    from homage.match.shot_windows import describe_windows

    ref_hashes = [prints_of(int(w)).pdq[a:b] for w, (a, b) in zip(refs.works, refs.windows.rows,
                                                                  strict=True)]
    run = _Run()
    for o in observed:
        frames = o.frames.print
        if frames.looks is None or not len(frames):
            continue
        windows = describe_windows(frames, o.query.duration, WINDOWS, reference=False)
        for q in range(len(windows)):
            first, last = windows.rows[q]
            hashes = np.vstack([frames.pdq[first:last], o.frames.mirrored_pdq[first:last]])
            best = np.array([1.0 - hamming(hashes[:, None, :], h[None, :, :]).min() / 256.0
                             for h in ref_hashes])
            for r in np.argsort(-best)[:per_window]:
                run.predictions.append(SegmentPair(
                    str(o.query.path), names[int(refs.works[r])], float(windows.starts[q]),
                    float(windows.ends[q]), float(refs.windows.starts[r]),
                    float(refs.windows.starts[r] + windows.ends[q] - windows.starts[q]),
                    float(best[r])))
                run.kinds.append("visual_homage")
    return run


def _pair(query: str, reference: str, found: VideoSegmentMatch | HomageCandidate
          ) -> SegmentPair:
    return SegmentPair(query, reference, found.query_start, found.query_end,
                       found.reference_start, found.reference_end, found.score)


# ------------------------------------------------------------------------------ scoring


@dataclass(frozen=True)
class _Labelled:
    """A true shot with its breakdown cells (``harness.LabelledTruth``)."""

    segment: SegmentPair
    labels: tuple[str, ...]


def _score(run: _Run, truth: Sequence[HomageShot], negatives: Sequence[str], *,
           threshold: float | None, max_fp_rate: float = 0.02) -> dict[str, object]:
    """Shot ranking, segment AP and FP of the homages; label confusion at the threshold."""
    homages = [s for s in truth if s.kind == "visual_homage"]
    copies = [s for s in truth if s.kind == "visual_copy"]
    said_homage = [p for p, k in zip(run.predictions, run.kinds, strict=True)
                   if k == "visual_homage"]
    operating = threshold if threshold is not None else peer_threshold(
        run.predictions, negatives, max_fp_rate=max_fp_rate)
    m_ap, hr1 = shot_ranking([s.segment for s in homages], run.predictions)
    styles = sorted({style for s in homages for style in (s.label, *s.styles)})
    per_style = {}
    for style in styles:
        shots = [s for s in homages if style in (s.label, *s.styles)]
        style_map, style_hr1 = shot_ranking([s.segment for s in shots], run.predictions)
        per_style[style] = {"count": len(shots), "hr1": round(style_hr1, 4),
                            "map": round(style_map, 4)}
    metrics: dict[str, object] = {
        "shot_hr1": round(hr1, 4),
        "shot_map": round(m_ap, 4),
        "segment_ap": round(segment_ap([s.segment for s in homages], said_homage), 4),
        "fp_rate": round(false_positive_rate(negatives, run.predictions,
                                             threshold=operating), 4),
        "fp_threshold": operating,
        "per_style": per_style,
    }
    if threshold is not None:  # the baselines label nothing: no confusion to measure
        metrics.update(_confusion(run, homages, copies, operating))
    return metrics


def _confusion(run: _Run, homages: Sequence[HomageShot], copies: Sequence[HomageShot],
               threshold: float) -> dict[str, object]:
    """Of the true shots found at ``threshold`` (by a prediction agreeing on both axes), the
    share given the other kind's label by the best such prediction."""
    def labelled(shots: Sequence[HomageShot]) -> tuple[int, int]:
        found = wrong = 0
        for shot in shots:
            best = max(((p.score, k) for p, k in zip(run.predictions, run.kinds, strict=True)
                        if p.score >= threshold and _agrees(p, shot.segment)), default=None)
            if best is not None:
                found += 1
                wrong += best[1] != shot.kind
        return found, wrong

    h_found, h_wrong = labelled(homages)
    c_found, c_wrong = labelled(copies)
    return {
        "homages_found": h_found, "homages_labelled_copy": h_wrong,
        "homage_as_copy_rate": round(h_wrong / h_found, 4) if h_found else None,
        "copies_found": c_found, "copies_labelled_homage": c_wrong,
        "copy_as_homage_rate": round(c_wrong / c_found, 4) if c_found else None,
    }


def _agrees(p: SegmentPair, t: SegmentPair) -> bool:
    if p.query != t.query or p.reference != t.reference:
        return False
    return (_overlap(p.query_start, p.query_end, t.query_start, t.query_end) >= _AGREE
            and _overlap(p.reference_start, p.reference_end, t.reference_start,
                         t.reference_end) >= _AGREE)


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    shorter = max(min(a1 - a0, b1 - b0), 1e-9)
    return max(0.0, min(a1, b1) - max(a0, b0)) / shorter


# ------------------------------------------------------------------------------ fitting


def _fit(train: Sequence[_Observed], refs: ReferenceWindows,
         prints_of: Callable[[int], VisualPrint], names: Mapping[int, str],
         log: Callable[[str], None]) -> tuple[HomageModel, RestyleModel, dict[str, object]]:
    """Learn both models on the training split.

    Re-rendering label: each copy-matcher stretch that agrees with a true shot is an example,
    a re-rendering when that shot is a homage.  Homage score: every candidate pair the first
    pass draws (``_FIT_CANDIDATES`` per window) is an example, right when it agrees with a
    true shot of either kind (a found copy is left to the copy matcher to label).
    """
    restyle_x, restyle_y = [], []
    for o in train:
        for segment, features in zip(o.segments, o.restyle, strict=True):
            shot = _agreeing(o.query, names[segment.work], segment)
            if features is not None and shot is not None:
                restyle_x.append(features)
                restyle_y.append(shot.kind == "visual_homage")
    wide = dataclasses.replace(MODEL, candidates=_FIT_CANDIDATES)
    homage_x, homage_y = [], []
    for o in train:
        for c in homage_candidates(o.frames, o.query.duration, refs, prints_of=prints_of,
                                   model=wide, joined=False):
            homage_x.append(c.features)
            homage_y.append(_agreeing(o.query, names[c.work], c) is not None)
    if not restyle_y or len(set(restyle_y)) < 2 or len(set(homage_y)) < 2:
        raise RuntimeError("the training split gave too few examples of each kind to fit")
    restyle = _fit_model(RESTYLE, np.array(restyle_x), restyle_y)
    model = dataclasses.replace(_fit_model(MODEL, np.array(homage_x), homage_y),
                                trees=fit_trees(np.array(homage_x), homage_y))
    summary = {
        "restyle": {**_weights_json(restyle), "examples": len(restyle_y),
                    "re_renderings": int(sum(restyle_y))},
        "homage": {**_weights_json(model), "examples": len(homage_y),
                   "right": int(sum(homage_y))},
    }
    log(f"fitted on the training split: {summary}")
    return model, restyle, summary


def _agreeing(query: HomageQuery, reference: str, found: VideoSegmentMatch | HomageCandidate
              ) -> HomageShot | None:
    pair = _pair(str(query.path), reference, found)
    return next((s for s in query.shots if _agrees(pair, s.segment)), None)


def _fit_model(shipped: _Model, evidence: np.ndarray, right: Sequence[bool]) -> _Model:
    """``shipped``'s kind (and candidates) with weights fitted on ``evidence``."""
    w = fit_logistic(evidence, np.array(right, np.float64))
    return dataclasses.replace(shipped, bias=float(w[0]), weights=tuple(float(x) for x in w[1:]),
                               fitted_on="training split")


#: How the homage score's trees are grown, chosen by a grouped four-fold cross-validation on
#: the training split (docs/benchmarks.md, "Boosted trees beside the weights").  Early
#: stopping is scikit-learn's default: on, for this many examples, on a tenth held out.
TREE_SETTINGS = {"max_iter": 200, "learning_rate": 0.05, "max_leaf_nodes": 15,
                 "min_samples_leaf": 40, "l2_regularization": 1.0}
TREE_BAG = 5
"""Forests grown (each holding out another tenth) and averaged.  One forest moved with
differences in the evidence as small as a re-described query's (test HR@1 0.85 or 0.82 from
the same training split); the mean of five does not."""


def fit_trees(evidence: np.ndarray, right: Sequence[bool]) -> BoostedTrees:
    """The homage score's trees (``HomageModel.trees``), rising with ``LAYOUT_EVIDENCE``."""
    try:
        from sklearn.ensemble import HistGradientBoostingClassifier
    except ImportError as error:
        raise RuntimeError("homage bench homage --fit needs scikit-learn: "
                           "pip install 'homage[fit]'") from error
    monotone = [1 if name in LAYOUT_EVIDENCE else 0 for name in FEATURES]
    labels = np.asarray(right, np.int64)
    return BoostedTrees.from_sklearn(*(
        HistGradientBoostingClassifier(monotonic_cst=monotone, random_state=seed,
                                       **TREE_SETTINGS).fit(evidence, labels)
        for seed in range(TREE_BAG)))


def _weights_json(model: HomageModel | RestyleModel) -> dict[str, object]:
    names = FEATURES if isinstance(model, HomageModel) else RESTYLE_FEATURES
    trees = getattr(model, "trees", None)
    return {"bias": round(model.bias, 3),
            **{n: round(w, 3) for n, w in zip(names, model.weights, strict=True)},
            **({"trees": trees.trees} if trees is not None else {}),
            "fitted_on": model.fitted_on}


# ------------------------------------------------------------------------------ tables


def markdown_table(result: Mapping[str, object]) -> str:
    """The test-split figures as docs/benchmarks.md quotes them: systems, then styles."""
    systems = result["systems"]
    assert isinstance(systems, dict)
    columns = (("shot HR@1", "shot_hr1"), ("shot mAP", "shot_map"),
               ("segment AP", "segment_ap"), ("FP rate", "fp_rate"),
               ("homage→copy", "homage_as_copy_rate"), ("copy→homage", "copy_as_homage_rate"))
    lines = ["| system | " + " | ".join(c for c, _ in columns) + " |",
             "|---|" + "---|" * len(columns)]
    for name, m in systems.items():
        lines.append(f"| {name} | " + " | ".join(fmt(m.get(k)) for _, k in columns) + " |")
    styles = sorted({s for m in systems.values() for s in m.get("per_style", {})})
    lines += ["", "Shot HR@1 / mAP per style (test split):", "",
              "| style | n | " + " | ".join(systems) + " |", "|---|---|" + "---|" * len(systems)]
    for style in styles:
        count = next(m["per_style"][style]["count"] for m in systems.values()
                     if style in m.get("per_style", {}))
        cells = [f"{fmt(m['per_style'][style]['hr1'])} / {fmt(m['per_style'][style]['map'])}"
                 if style in m.get("per_style", {}) else "–" for m in systems.values()]
        lines.append(f"| {style} | {count} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"

