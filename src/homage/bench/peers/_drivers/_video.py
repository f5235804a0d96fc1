"""Helpers shared by the video peer drivers: pure Python 3.8+, no third-party imports.

The drivers run under the peers' own interpreters, and homage's tests import this module
directly, so it must not depend on anything either side lacks.

Segments from frame matches
---------------------------
vPDQ hashes one frame a second and its matcher only says what percentage of each video's
frames found a match in the other (a bag of hashes, with no times).  :func:`frame_segments`
turns the matched frame pairs of one query–reference pair into segments by one rule:

1. Each matched pair is a point ``(query time, reference time)`` with offset
   ``reference time - query time``.
2. Points are taken one query time at a time and *chained*: a point may join an open
   chain whose last point is earlier on the query axis by at most ``gap_seconds`` and
   whose last offset differs from the point's by at most ``offset_tolerance``.  The points
   of one query time are matched to chains longest chain first (then smallest offset
   change), so an established run is continued rather than split by a stray match; each
   chain takes at most one point per query time, and points left over start new chains.
   Comparing with the *last* point, not the first, lets the offset drift a little at every
   step, so a copy played at another speed (×0.5–×2) still forms one chain.
3. A chain becomes a segment: query ``[first, last + hop]`` and reference
   ``[min, max + hop]`` (``hop`` = seconds between hashed frames: a hash stands for the
   second it starts), clipped to the durations.
4. Its score is ``density × n / (n + 2)``: ``n`` is the number of query frames in the
   chain, ``density`` is ``n`` over the number of hashed query frames (those that pass the
   quality filter) inside the segment.  Long, unbroken chains score near 1, a lone matched
   frame 1/3.  ``raw_score`` is ``n``.
5. Non-maximum suppression per pair: taking segments by frame count (then score), a
   segment whose query interval is covered to ``suppress_overlap`` or more of its length by
   segments already kept is dropped (static shots and near-duplicate neighbouring frames
   match several reference frames, which leaves short parallel chains beside the main one).
"""

import bisect

#: Defaults of the chaining rule (see the module docstring).
GAP_SECONDS = 3.0
OFFSET_TOLERANCE = 2.0
SUPPRESS_OVERLAP = 0.5


def chain_points(points, gap_seconds=GAP_SECONDS, offset_tolerance=OFFSET_TOLERANCE):
    """Group ``(query_time, reference_time)`` points into chains (lists of points).

    Points are taken one query time at a time; the points of that time are matched to the
    open chains longest chain first (then smallest offset change), each chain and each
    point used once, and the points left over start new chains.  Chains are returned in the
    order they were started; the points of each chain are in increasing query time.
    """
    by_time = {}
    for q, r in points:
        by_time.setdefault(float(q), []).append(float(r))
    chains = []  # each: [points, last_query_time, last_offset]
    open_ids = []
    eps = 1e-9
    for q in sorted(by_time):
        refs = sorted(set(by_time[q]))
        open_ids = [c for c in open_ids if q - chains[c][1] <= gap_seconds + eps]
        candidates = []
        for cid in open_ids:
            pts, _last_q, last_off = chains[cid]
            for k, r in enumerate(refs):
                drift = abs((r - q) - last_off)
                if drift <= offset_tolerance + eps:
                    candidates.append((-len(pts), drift, cid, k))
        candidates.sort()
        used_chains, used_points = set(), set()
        for _length, _drift, cid, k in candidates:
            if cid in used_chains or k in used_points:
                continue
            used_chains.add(cid)
            used_points.add(k)
            chain = chains[cid]
            chain[0].append((q, refs[k]))
            chain[1] = q
            chain[2] = refs[k] - q
        for k, r in enumerate(refs):
            if k not in used_points:
                chains.append([[(q, r)], q, r - q])
                open_ids.append(len(chains) - 1)
    return [c[0] for c in chains]


def _clip(value, limit):
    return min(value, limit) if limit and limit > 0 else value


def _covered(start, end, intervals):
    """Length of ``[start, end]`` covered by the union of ``intervals``."""
    clipped = sorted((max(start, a), min(end, b)) for a, b in intervals if a < end and b > start)
    total, reach = 0.0, start
    for a, b in clipped:
        if b > reach:
            total += b - max(a, reach)
            reach = b
    return total


def frame_segments(
    points,
    query_times,
    hop,
    query_duration=0.0,
    reference_duration=0.0,
    gap_seconds=GAP_SECONDS,
    offset_tolerance=OFFSET_TOLERANCE,
    suppress_overlap=SUPPRESS_OVERLAP,
):
    """Segments of one query–reference pair from its matched frame pairs.

    ``points`` are ``(query_time, reference_time)`` of matched frames, ``query_times`` the
    times of all hashed query frames that could have matched (after the quality filter),
    ``hop`` the seconds between hashed frames.  Returns dicts with ``query_start``,
    ``query_end``, ``reference_start``, ``reference_end``, ``score`` and ``raw_score``
    (frames in the chain), most frames first.
    """
    times = sorted(float(t) for t in query_times)
    segments = []
    for chain in chain_points(points, gap_seconds, offset_tolerance):
        qs = [q for q, _ in chain]
        rs = [r for _, r in chain]
        n = len(qs)
        inside = bisect.bisect_right(times, qs[-1] + 1e-6) - bisect.bisect_left(times, qs[0] - 1e-6)
        density = min(1.0, n / float(max(inside, n)))
        q0 = _clip(qs[0], query_duration)
        r0 = _clip(min(rs), reference_duration)
        segments.append(
            {
                "query_start": q0,
                "query_end": max(q0, _clip(qs[-1] + hop, query_duration)),
                "reference_start": r0,
                "reference_end": max(r0, _clip(max(rs) + hop, reference_duration)),
                "score": density * n / (n + 2.0),
                "raw_score": float(n),
            }
        )
    segments.sort(key=lambda s: (-s["raw_score"], -s["score"]))
    kept = []
    for seg in segments:
        a, b = seg["query_start"], seg["query_end"]
        covered = _covered(a, b, [(k["query_start"], k["query_end"]) for k in kept])
        if b > a and covered >= suppress_overlap * (b - a):
            continue
        kept.append(seg)
    return kept
