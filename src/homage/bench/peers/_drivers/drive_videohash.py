# ruff: noqa: B905
"""Run videohash 3.0.1 inside its own venv.

Each video gets videohash's one 64-bit hash with its defaults (one frame a second through
the ``ffmpeg`` command, collage wavelet hash plus dominant colours); the index is the
references' hashes as hex text.  videohash compares whole videos, so every query–reference
pair becomes one query-level prediction spanning both whole durations, scored
``1 - distance / 64`` (videohash's own ``is_similar`` is ``distance <= 10``); every pair is
kept so that the benchmark can rank them.
"""

import os
import sys

from videohash import VideoHash

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common

BITS = 64


def _hash(path, storage):
    video = VideoHash(path=path, storage_path=storage)
    try:
        return video.hash_hex
    finally:
        video.delete_storage_path()


def _distance(a, b):
    return bin(int(a, 16) ^ int(b, 16)).count("1")


def main():
    request = _common.load_request()
    references = request["references"]
    queries = request["queries"]
    durations = request.get("durations") or {}
    # videohash takes a path as a folder only when it ends with a separator.
    storage = os.path.join(request["work_dir"], "videohash-storage") + os.sep
    os.makedirs(storage)
    index_path = os.path.join(request["work_dir"], "videohash-index.txt")

    cpu0, wall0 = _common.cpu_seconds(), _common.wall_seconds()
    hashes = [_hash(path, storage) for path in references]
    with open(index_path, "w", encoding="ascii") as handle:
        handle.write("".join(f"{h}\n" for h in hashes))
    index_cpu = _common.cpu_seconds() - cpu0
    index_wall = _common.wall_seconds() - wall0
    index_bytes = _common.tree_bytes(index_path)

    predictions, query_wall, query_cpu, failed = [], [], [], []
    for query in queries:
        cpu0, wall0 = _common.cpu_seconds(), _common.wall_seconds()
        try:
            query_hash = _hash(query, storage)
        except Exception as exc:  # a query videohash cannot read finds nothing
            failed.append(f"{os.path.basename(query)}: {exc}")
            query_hash = None
        if query_hash is not None:
            for reference, ref_hash in zip(references, hashes):
                distance = _distance(query_hash, ref_hash)
                predictions.append(
                    _common.prediction(
                        query,
                        reference,
                        0.0,
                        durations.get(query, 0.0),
                        0.0,
                        durations.get(reference, 0.0),
                        1.0 - distance / float(BITS),
                        distance,
                    )
                )
        query_cpu.append(_common.cpu_seconds() - cpu0)
        query_wall.append(_common.wall_seconds() - wall0)

    notes = (
        "videohash 3.0.1 defaults (1 frame/s via the ffmpeg command, collage wavelet hash + "
        "dominant colours, 64 bits; Pillow < 10); index = the references' hashes as hex "
        "text; whole-video comparison, so one query-level prediction per pair spanning both "
        "whole durations, all pairs kept; score = 1 - Hamming distance / 64 (raw_score = "
        "distance; videohash calls <= 10 similar); CPU includes the ffmpeg processes"
    )
    _common.write_video_run(
        predictions, (index_cpu, index_wall, query_cpu, query_wall), index_bytes, request,
        notes, failed,
    )


if __name__ == "__main__":
    main()
