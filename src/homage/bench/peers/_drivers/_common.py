# ruff: noqa: UP010, UP020, UP031, UP032
"""Helpers shared by the peer drivers; must stay valid Python 2.7 *and* 3.x.

The drivers run under the peers' own interpreters (pydejavu only runs on 2.7), so this file
avoids f-strings, annotations and anything else a 2.7 parser rejects.
"""

from __future__ import absolute_import, division, print_function

import contextlib
import io
import json
import os
import resource
import sys
import time


def load_request():
    """Read the request JSON named by ``argv[1]``; ``argv[2]`` is where the result goes."""
    if len(sys.argv) != 3:
        sys.stderr.write("usage: %s REQUEST.json RESULT.json\n" % sys.argv[0])
        sys.exit(2)
    with io.open(sys.argv[1], "r", encoding="utf-8") as handle:
        return json.load(handle)


def write_result(result):
    """Write the result JSON atomically, so a crashed driver never leaves half a file."""
    path = sys.argv[2]
    tmp = path + ".tmp"
    with open(tmp, "w") as handle:
        json.dump(result, handle)
    os.rename(tmp, path)


def write_run(predictions, timings, index_bytes, reference_seconds, notes):
    """Write a driver's result: every driver reports the same fields, built here once.

    ``timings`` is ``(index_cpu, index_wall, query_cpu_list, query_wall_list)`` in seconds.
    """
    index_cpu, index_wall, query_cpu, query_wall = timings
    write_result(
        {
            "predictions": predictions,
            "index_cpu_seconds": index_cpu,
            "index_wall_seconds": index_wall,
            "query_wall_seconds": query_wall,
            "query_cpu_seconds": query_cpu,
            "peak_rss_bytes": peak_rss_bytes(),
            "index_bytes": index_bytes,
            "reference_seconds": reference_seconds,
            "notes": notes,
        }
    )


def write_video_run(predictions, timings, index_bytes, request, notes, failed):
    """``write_run`` for the video drivers: reference seconds from the request's
    ``durations``, and the queries that could not be hashed named in the notes."""
    if failed:
        notes += "; {} queries could not be hashed (first: {})".format(len(failed), failed[0])
    durations = request.get("durations") or {}
    seconds = sum(float(durations.get(p, 0.0)) for p in request["references"])
    write_run(predictions, timings, index_bytes, seconds, notes)


def cpu_seconds():
    """CPU seconds (user + system) of this process, its threads and its waited-for children.

    Children are included because some peers decode through an ``ffmpeg`` subprocess.
    """
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def wall_seconds():
    """A monotonic-enough wall clock on both 2.7 and 3.x."""
    return time.monotonic() if hasattr(time, "monotonic") else time.time()


def peak_rss_bytes():
    """Peak resident memory of this process (or of its largest child), in bytes (Linux: KiB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return int(max(own, kids)) * 1024


def wav_seconds(path):
    """Duration of a PCM wav file (the runner converts every input to one)."""
    import wave

    with contextlib.closing(wave.open(path, "rb")) as handle:
        return handle.getnframes() / float(handle.getframerate())


def tree_bytes(path):
    """Total size of a file, or of all files under a directory."""
    if os.path.isfile(path):
        return os.path.getsize(path)
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            total += os.path.getsize(os.path.join(root, name))
    return total


def prediction(query, reference, q_start, q_end, r_start, r_end, score, raw):
    """One predicted segment pair, in the runner's JSON format (times in seconds)."""
    return {
        "query": query,
        "reference": reference,
        "query_start": float(q_start),
        "query_end": float(q_end),
        "reference_start": float(r_start),
        "reference_end": float(r_end),
        "score": float(score),
        "raw_score": float(raw),
    }


def count_score(count, half=10.0):
    """Map a raw match count to [0, 1) monotonically (``count / (count + half)``).

    Ranking metrics only need the order within one peer; this just keeps scores in the same
    range as homage's without pretending to be a calibrated probability.
    """
    count = float(count)
    return count / (count + half) if count > 0 else 0.0
