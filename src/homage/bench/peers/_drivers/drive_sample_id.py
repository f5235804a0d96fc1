"""Run sample-id (SIFT keypoints on a constant-Q spectrogram + Annoy + Hough clustering).

Runs under Python 3.8 (sample-id 0.1.27 requires < 3.9): annotations stay unevaluated
(``from __future__ import annotations``) and nothing newer than 3.8 runs.

Indexing uses the settings of ``sample_id.main.train_keypoints`` (the package's own training
entry point: 22.05 kHz, hop 256, 36 bins per octave, 7 octaves from 50 Hz, vlfeat SIFT,
near-duplicate keypoints removed, 40 Annoy trees); querying uses ``Matcher.find_samples`` with
its defaults (1 neighbour, absolute distance threshold 0.25, orientation check, 20 s cluster
distance, clusters of at least 2 matches).  Every returned ``Sample`` already carries query
(``derivative``) and reference (``source``) start/end times and a confidence in [0, 1], so
they are passed through unchanged.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile

from sample_id.ann import annoy
from sample_id.fingerprint import fingerprint

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common

SETTINGS = {"hop_length": 256, "octave_bins": 36, "n_octaves": 7, "fmin": 50}
SAMPLE_RATE = 22050


def _fingerprint(path: str, ident: str) -> fingerprint.Fingerprint:
    return fingerprint.from_file(path, ident, SAMPLE_RATE, **SETTINGS)


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    request = _common.load_request()
    references: list[str] = request["references"]
    queries: list[str] = request["queries"]
    work_dir: str = request["work_dir"]

    cpu0, wall0 = _common.cpu_seconds(), _common.wall_seconds()
    fingerprints = [_fingerprint(path, str(i)) for i, path in enumerate(references)]
    usable = [fp for fp in fingerprints if fp.size > 0]
    if not usable:
        raise SystemExit("sample-id found no keypoints in any reference")
    matcher = annoy.AnnoyMatcher.from_fingerprints(usable)
    matcher.build()
    fd, model_path = tempfile.mkstemp(suffix=".tar.gz", dir=work_dir)
    os.close(fd)
    matcher.save(model_path)
    index_cpu = _common.cpu_seconds() - cpu0
    index_wall = _common.wall_seconds() - wall0
    index_bytes = _common.tree_bytes(model_path)
    os.unlink(model_path)

    predictions: list[dict[str, object]] = []
    query_wall: list[float] = []
    query_cpu: list[float] = []
    for query in queries:
        cpu0, wall0 = _common.cpu_seconds(), _common.wall_seconds()
        fp = _fingerprint(query, query)
        if fp.size > 0:
            result = matcher.find_samples(fp)
            for source_id, samples in result.sources.items():
                reference = references[int(source_id)]
                for sample in samples:
                    q_start = sample.derivative_start.total_seconds()
                    r_start = sample.source_start.total_seconds()
                    q_end = max(sample.derivative_end.total_seconds(), q_start)
                    r_end = max(sample.source_end.total_seconds(), r_start)
                    predictions.append(
                        _common.prediction(
                            query,
                            reference,
                            q_start,
                            q_end,
                            r_start,
                            r_end,
                            sample.confidence,
                            sample.confidence,
                        )
                    )
        query_cpu.append(_common.cpu_seconds() - cpu0)
        query_wall.append(_common.wall_seconds() - wall0)

    _common.write_run(
        predictions, (index_cpu, index_wall, query_cpu, query_wall), index_bytes,
        sum(_common.wav_seconds(p) for p in references),
        (
            "sample-id train_keypoints settings (hop 256, 36 bins/octave, 7 octaves from "
            "50 Hz, vlfeat SIFT, dedupe, 40 Annoy trees); Matcher.find_samples defaults; "
            "segments and confidence are sample-id's own Sample fields; index bytes = its "
            "saved model (tar.gz of Annoy index + keypoint metadata)"
        ),
    )

if __name__ == "__main__":
    main()
