# ruff: noqa: B905
"""Run TMK+PDQF through tmkpy inside its own venv.

Each reference is hashed with ``tmkpy.hashVideo`` (TMK's defaults: PDQF frame features at
15 frames a second through the ``ffmpeg`` command) and written as a ``.tmk`` file, TMK's
index format.  Each query is hashed the same way and scored against every reference with
TMK's level 2 (best temporal-kernel score over time offsets; level 1, the cosine of mean
frame features, is only TMK's pre-filter).  TMK compares whole videos, so each pair
becomes one query-level prediction spanning the whole query and the whole reference.
Pairs are kept as TMK's "full" defaults keep them (level 2 >= 0, level 1 unfiltered), not
its strict 0.7 / 0.7 thresholds, so that the benchmark can rank them.
"""

import os
import sys

import tmkpy

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common


def _hash(path, ffmpeg):
    features = tmkpy.hashVideo(path, ffmpeg)
    if features.getFrameFeatureCount() <= 0:
        raise RuntimeError(f"TMK read no frames from {path}")
    return features


def main():
    request = _common.load_request()
    options = request.get("options") or {}
    ffmpeg = options.get("ffmpeg", "ffmpeg")
    references = request["references"]
    queries = request["queries"]
    durations = request.get("durations") or {}
    index_dir = os.path.join(request["work_dir"], "tmk-index")
    os.makedirs(index_dir)

    cpu0, wall0 = _common.cpu_seconds(), _common.wall_seconds()
    hashed = []
    for i, path in enumerate(references):
        features = _hash(path, ffmpeg)
        features.writeToOutputFile(os.path.join(index_dir, f"{i}.tmk"), "homage")
        hashed.append(features)
    index_cpu = _common.cpu_seconds() - cpu0
    index_wall = _common.wall_seconds() - wall0
    index_bytes = _common.tree_bytes(index_dir)

    level2 = tmkpy.TMKFeatureVectors.computeLevel2Score
    predictions, query_wall, query_cpu, failed = [], [], [], []
    for query in queries:
        cpu0, wall0 = _common.cpu_seconds(), _common.wall_seconds()
        try:
            features = _hash(query, ffmpeg)
        except Exception as exc:  # a query TMK cannot decode finds nothing
            failed.append(f"{os.path.basename(query)}: {exc}")
            features = None
        if features is not None:
            for reference, ref_features in zip(references, hashed):
                score2 = float(level2(features, ref_features))
                if score2 >= 0.0:
                    predictions.append(
                        _common.prediction(
                            query,
                            reference,
                            0.0,
                            durations.get(query, 0.0),
                            0.0,
                            durations.get(reference, 0.0),
                            min(1.0, score2),
                            score2,
                        )
                    )
        query_cpu.append(_common.cpu_seconds() - cpu0)
        query_wall.append(_common.wall_seconds() - wall0)

    notes = (
        "tmkpy 0.1.1 (TMK+PDQF): hashVideo defaults (PDQF at 15 fps via the ffmpeg command); "
        "index = TMK's .tmk files; whole-video comparison, so one query-level prediction per "
        "pair spanning both whole durations; kept at TMK's 'full' thresholds (level 1 >= -1, "
        "level 2 >= 0) rather than its strict 0.7/0.7; score = level-2 score clipped to "
        "[0, 1] (raw_score = level 2); CPU includes the ffmpeg decoder processes"
    )
    _common.write_video_run(
        predictions, (index_cpu, index_wall, query_cpu, query_wall), index_bytes, request,
        notes, failed,
    )


if __name__ == "__main__":
    main()
