# ruff: noqa: B905
"""Run vPDQ (Meta's video PDQ, PyPI ``vpdq``) inside its own venv.

Hashing is ``vpdq.computeHash`` as shipped: one PDQ hash per second of video
(``seconds_per_hash``), frames at their own size, vPDQ's own FFmpeg decoding and thread
pool.  The index is vPDQ's text hash format (``frame,quality,hex,timestamp`` per line), one
file per reference, as its tools write and read it.

Matching follows vPDQ's ``matchTwoHashBrute``: frames below quality 50 are left out on both
sides, and two frames match when their PDQ Hamming distance is *below* 31 (vPDQ compares
with ``<``).  vPDQ itself stops there, with the percentage of each video's frames that
matched; here every matched frame pair is kept, brute force over all reference frames as
vPDQ does, and turned into segments by the rule in ``_video.py`` (chains of matched
frames whose offset stays within 2 s from one step to the next, gaps up to 3 s).
"""

import os
import sys
from importlib.metadata import version as _version

import numpy as np
import vpdq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common
import _video

_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def _hash(path, options):
    return vpdq.computeHash(
        path,
        seconds_per_hash=float(options["seconds_per_hash"]),
        thread_count=int(options["thread_count"]),
    )


def _usable(features, quality):
    """(hash bytes [n, 32], times [n]) of the features at or above ``quality``."""
    kept = [f for f in features if f.quality >= quality]
    bits = np.zeros((len(kept), 32), dtype=np.uint8)
    for i, f in enumerate(kept):
        bits[i] = np.frombuffer(bytes.fromhex(f.hex), dtype=np.uint8)
    return bits, np.array([f.timestamp for f in kept], dtype=np.float64)


def _write_index(path, features):
    with open(path, "w", encoding="ascii") as handle:
        for f in features:
            handle.write(f"{f.frame_number},{f.quality},{f.hex},{f.timestamp:.3f}\n")


def _distances(query_bits, ref_bits, chunk=256):
    """Hamming distances [n_query, n_ref] between two sets of 256-bit hashes."""
    out = np.empty((len(query_bits), len(ref_bits)), dtype=np.uint16)
    for i in range(0, len(query_bits), chunk):
        x = query_bits[i : i + chunk, None, :] ^ ref_bits[None, :, :]
        out[i : i + chunk] = _POPCOUNT[x].sum(axis=2, dtype=np.uint16)
    return out


def main():
    request = _common.load_request()
    options = {
        "seconds_per_hash": 1.0,
        "thread_count": 0,
        "distance_tolerance": 31,
        "quality_tolerance": 50,
        "gap_seconds": _video.GAP_SECONDS,
        "offset_tolerance": _video.OFFSET_TOLERANCE,
        "suppress_overlap": _video.SUPPRESS_OVERLAP,
    }
    options.update(request.get("options") or {})
    references = request["references"]
    queries = request["queries"]
    durations = request.get("durations") or {}
    quality = int(options["quality_tolerance"])
    tolerance = int(options["distance_tolerance"])
    hop = float(options["seconds_per_hash"]) or 1.0
    gap = float(options["gap_seconds"])
    drift = float(options["offset_tolerance"])
    suppress = float(options["suppress_overlap"])

    index_dir = os.path.join(request["work_dir"], "vpdq-index")
    os.makedirs(index_dir)
    cpu0, wall0 = _common.cpu_seconds(), _common.wall_seconds()
    ref_bits, ref_times, ref_owner = [], [], []
    for i, path in enumerate(references):
        features = _hash(path, options)
        _write_index(os.path.join(index_dir, f"{i}.txt"), features)
        bits, times = _usable(features, quality)
        ref_bits.append(bits)
        ref_times.append(times)
        ref_owner.append(np.full(len(times), i, dtype=np.int64))
    all_bits = np.concatenate(ref_bits)
    all_times = np.concatenate(ref_times)
    owner = np.concatenate(ref_owner)
    index_cpu = _common.cpu_seconds() - cpu0
    index_wall = _common.wall_seconds() - wall0
    index_bytes = _common.tree_bytes(index_dir)

    predictions = []
    query_wall, query_cpu = [], []
    failed = []
    for query in queries:
        cpu0, wall0 = _common.cpu_seconds(), _common.wall_seconds()
        try:
            features = _hash(query, options)
        except Exception as exc:  # a query vPDQ cannot decode finds nothing
            failed.append(f"{os.path.basename(query)}: {exc}")
            features = []
        q_bits, q_times = _usable(features, quality)
        if len(q_bits) and len(all_bits):
            qi, rj = np.nonzero(_distances(q_bits, all_bits) < tolerance)
            for ref_index in np.unique(owner[rj]):
                mine = owner[rj] == ref_index
                reference = references[int(ref_index)]
                points = list(zip(q_times[qi[mine]].tolist(), all_times[rj[mine]].tolist()))
                for seg in _video.frame_segments(
                    points,
                    q_times.tolist(),
                    hop,
                    query_duration=float(durations.get(query, 0.0)),
                    reference_duration=float(durations.get(reference, 0.0)),
                    gap_seconds=gap,
                    offset_tolerance=drift,
                    suppress_overlap=suppress,
                ):
                    predictions.append(
                        _common.prediction(
                            query,
                            reference,
                            seg["query_start"],
                            seg["query_end"],
                            seg["reference_start"],
                            seg["reference_end"],
                            seg["score"],
                            seg["raw_score"],
                        )
                    )
        query_cpu.append(_common.cpu_seconds() - cpu0)
        query_wall.append(_common.wall_seconds() - wall0)

    notes = (
        f"vpdq {_version('vpdq')} computeHash: 1 PDQ hash per {hop:g} s of video, native frame "
        f"size, vPDQ's own FFmpeg decoding and threads (thread_count="
        f"{int(options['thread_count'])}: 0 = its automatic choice); index = vPDQ's text hash "
        f"files. Matching as vPDQ's matchTwoHashBrute: quality >= {quality} on both sides, "
        f"PDQ Hamming distance < {tolerance}, brute force. vPDQ reports only match "
        "percentages, so segments are derived here: matched frame pairs (query time, "
        f"reference time) are chained in query order while the query gap is <= {gap:g} s and "
        f"the offset (reference - query) moves <= {drift:g} s from the chain's previous point "
        "(one point per query time, longest chain served first); a chain spans "
        f"[first, last + {hop:g} s] on each axis; score = (chain frames / hashed query frames "
        "in its span) * n/(n+2), n = chain frames (raw_score = n); taking segments by n, one "
        f"whose query span is >= {suppress:g} covered by those kept is dropped"
    )
    _common.write_video_run(
        predictions, (index_cpu, index_wall, query_cpu, query_wall), index_bytes, request,
        notes, failed,
    )


if __name__ == "__main__":
    main()
