"""Run audfprint2 (Dan Ellis's Shazam-style landmark fingerprinter) inside its own venv.

Request options
---------------
``speeds``: list of floats; each reference is stored once per speed, resampled so that it
plays ``speed`` times faster (pitch and tempo together), and match times on a copy are mapped
back to the original timeline (``t_original = t_copy * speed``).  ``[1.0]`` is audfprint2 as
shipped; ``0.90 .. 1.10`` in 0.01 steps is the classic workaround for speed changes.
``max_matches``: how many aligned matches to report per query (the CLI's ``-x``).

The settings otherwise follow the ``audfprint2`` CLI defaults for ``new`` and ``match``
(density 20, 20-bit hashes, buckets of 100, 1 shift when storing and 4 when matching,
match window 2, at least 5 aligned hashes, time quantile 0.05, ``--find-time-range``).
Only ``maxtime`` is raised above the default 16384 frames (6.3 min) when a reference is
longer, since audfprint wraps longer times and would report garbage offsets.
"""

from __future__ import annotations

import os
import sys
import tempfile

import numpy as np
import scipy.signal
from audfprint2.core import analyzer as af_analyzer
from audfprint2.core import hash_table as af_hash_table
from audfprint2.core import matcher as af_matcher
from audfprint2.utils import audio as af_audio

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common

SAMPLE_RATE = 11025
DENSITY = 20.0
HASHBITS = 20
DEPTH = 100
DEFAULT_MAXTIME = 16384


def _analyzer(shifts: int) -> af_analyzer.Analyzer:
    an = af_analyzer.Analyzer(density=DENSITY)
    an.target_sr = SAMPLE_RATE
    an.shifts = shifts
    return an


def _signal_hashes(an: af_analyzer.Analyzer, signal: np.ndarray) -> np.ndarray:
    """What ``Analyzer.wavfile2hashes`` does, starting from samples instead of a file."""
    peaks = an.find_peaks(signal, SAMPLE_RATE)
    if not peaks:
        return np.zeros((0, 2), dtype=np.int32)
    hashes = af_analyzer.landmarks2hashes(an.peaks2landmarks(peaks))
    packed = (hashes[:, 0].astype(np.uint64) << np.uint64(32)) + hashes[:, 1].astype(np.uint64)
    packed = np.unique(packed)
    return np.stack(
        [(packed >> np.uint64(32)), (packed & np.uint64((1 << 32) - 1))], axis=1
    ).astype(np.int32)


def _speed_copy(signal: np.ndarray, speed: float) -> np.ndarray:
    """The signal played ``speed`` times faster at the same sample rate (resampling)."""
    down = round(100 * speed)
    if down == 100:
        return signal
    return scipy.signal.resample_poly(signal, 100, down).astype(np.float32)


def _maxtime(longest_seconds: float) -> int:
    frames = int(longest_seconds * SAMPLE_RATE / af_analyzer.N_HOP) + 64
    maxtime = DEFAULT_MAXTIME
    while maxtime < frames:
        maxtime *= 2
    return maxtime


def _dedupe(preds: list[dict]) -> list[dict]:
    """Keep the best of predictions for the same pair that overlap on the query timeline.

    Neighbouring speed copies of one reference match the same stretch of a query; they are
    one finding, reported at the speed with the most aligned hashes.
    """
    kept: list[dict] = []
    for pred in sorted(preds, key=lambda p: -p["raw_score"]):
        clash = any(
            k["reference"] == pred["reference"]
            and min(k["query_end"], pred["query_end"]) > max(k["query_start"], pred["query_start"])
            for k in kept
        )
        if not clash:
            kept.append(pred)
    return kept


def main() -> None:
    request = _common.load_request()
    options = request.get("options", {})
    speeds = [float(s) for s in options.get("speeds", [1.0])]
    max_matches = int(options.get("max_matches", 20))
    references = request["references"]
    queries = request["queries"]
    work_dir = request["work_dir"]
    t_hop = af_analyzer.N_HOP / SAMPLE_RATE

    durations = [_common.wav_seconds(p) for p in references]
    longest = max(durations) / min(speeds) if durations else 0.0
    maxtime = _maxtime(longest)
    maxtimebits = af_hash_table._bitsfor(maxtime)
    n_items = len(references) * len(speeds)
    if n_items + 1 >= 1 << (32 - maxtimebits):
        raise SystemExit(f"too many items ({n_items}) for a {maxtimebits}-bit time field")

    cpu0, wall0 = _common.cpu_seconds(), _common.wall_seconds()
    store_an = _analyzer(shifts=1)
    table = af_hash_table.HashTable(hashbits=HASHBITS, depth=DEPTH, maxtime=maxtime)
    names: dict[str, tuple[int, float]] = {}
    for ref_index, path in enumerate(references):
        if speeds == [1.0]:
            copies = [(1.0, store_an.wavfile2hashes(path))]
        else:
            signal, _ = af_audio.audio_read(path, sr=SAMPLE_RATE, channels=1)
            copies = [(s, _signal_hashes(store_an, _speed_copy(signal, s))) for s in speeds]
        for speed, hashes in copies:
            name = f"{ref_index}@{speed:.4f}"
            names[name] = (ref_index, speed)
            table.store(name, [(int(t), int(h)) for t, h in hashes.tolist()])
    fd, db_path = tempfile.mkstemp(suffix=".hdf", dir=work_dir)
    os.close(fd)
    db_path = table.save(db_path)
    index_cpu = _common.cpu_seconds() - cpu0
    index_wall = _common.wall_seconds() - wall0
    index_bytes = _common.tree_bytes(db_path)
    os.unlink(db_path)

    match_an = _analyzer(shifts=4)
    matcher = af_matcher.Matcher()
    matcher.window = 2
    matcher.threshcount = 5
    matcher.max_returns = max_matches
    matcher.search_depth = 100
    matcher.find_time_range = True
    matcher.time_quantile = 0.05
    predictions: list[dict] = []
    query_wall: list[float] = []
    query_cpu: list[float] = []
    for query in queries:
        cpu0, wall0 = _common.cpu_seconds(), _common.wall_seconds()
        rows, _duration, _nhashes = matcher.match_file(match_an, table, query)
        found = []
        for item_id, count, mode, _raw, _rank, min_time, max_time in rows.tolist():
            ref_index, speed = names[str(table.names[item_id])]
            q_start, q_end = min_time * t_hop, (max_time + 1) * t_hop
            r_start = (min_time + mode) * t_hop * speed
            r_end = (max_time + 1 + mode) * t_hop * speed
            if r_end <= 0:
                continue
            found.append(
                _common.prediction(
                    query,
                    references[ref_index],
                    q_start,
                    q_end,
                    max(0.0, r_start),
                    r_end,
                    _common.count_score(count),
                    count,
                )
            )
        predictions.extend(_dedupe(found) if len(speeds) > 1 else found)
        query_cpu.append(_common.cpu_seconds() - cpu0)
        query_wall.append(_common.wall_seconds() - wall0)

    notes = (
        f"audfprint2 CLI defaults (density {DENSITY:g}, {HASHBITS}-bit hashes, depth {DEPTH}, "
        f"match shifts 4), maxtime {maxtime}, up to {max_matches} matches per query; "
        "segments span the 5%-95% quantiles of the aligned hashes' query times "
        "(--find-time-range), reference side = query side + aligned offset"
    )
    if len(speeds) > 1:
        notes += (
            f"; references stored at {len(speeds)} speeds {min(speeds):.2f}-{max(speeds):.2f}, "
            "reference times scaled back by the copy's speed, overlapping hits on one "
            "reference merged keeping the best count"
        )
    _common.write_run(
        predictions, (index_cpu, index_wall, query_cpu, query_wall), index_bytes,
        sum(durations),
        notes,
    )


if __name__ == "__main__":
    main()
