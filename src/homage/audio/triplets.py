"""Peak triplets hashed on quantities that speed, pitch and tempo changes leave alone.

For three peaks ``(t1, f1), (t2, f2), (t3, f3)`` with ``t1 < t2 < t3`` on the log-frequency
axis, a pitch or speed change adds the same constant to every ``f`` and a tempo or speed
change multiplies every time gap by the same factor.  So the hash keeps
``f2 - f1``, ``f3 - f1`` (differences: shift-invariant), ``(t2 - t1) / (t3 - t1)`` (a ratio:
scale-invariant) and which of the three peaks is loudest.  What the hash forgets (``t1``,
``f1`` and the span ``t3 - t1``) is stored beside it, so that each hit also *measures* the
transform: time ratio from the spans, pitch shift from the ``f1`` difference.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from homage.audio.peaks import Peaks
from homage.audio.settings import FingerprintSettings

#: Values within this of a quantisation boundary are probed on both sides (query side only).
_PROBE_MARGIN = 0.2


@dataclass(frozen=True)
class Fingerprints:
    """Hashed triplets of one work, each with the anchor's time and frequency and the span.

    All arrays have shape ``(n,)``: ``hashes`` uint32; ``time`` (anchor frame), ``freq``
    (anchor log bin) and ``span`` (``t3 - t1`` in frames) float32.  ``members`` (queries only,
    shape ``(n, 3)``) are the indices of the triplet's peaks, so that verification can set
    aside the peaks that already voted and test the rest independently.
    """

    hashes: np.ndarray
    time: np.ndarray
    freq: np.ndarray
    span: np.ndarray
    members: np.ndarray | None = field(default=None, compare=False)

    def __len__(self) -> int:
        return int(self.hashes.size)

    @classmethod
    def empty(cls) -> Fingerprints:
        zeros = np.zeros(0, dtype=np.float32)
        return cls(np.zeros(0, dtype=np.uint32), zeros, zeros.copy(), zeros.copy())


def hash_space(settings: FingerprintSettings) -> int:
    """Number of distinct hash values: the size of the key space the index is built over."""
    width = _freq_width(settings)
    return width * width * settings.ratio_levels * 3 * n_transform_bands(settings)


def _freq_width(settings: FingerprintSettings) -> int:
    """Quantised values a frequency difference can take."""
    return 2 * int(np.ceil(settings.max_freq_delta_bins / settings.freq_step_bins)) + 1


def triplet_fingerprints(
    peaks: Peaks, settings: FingerprintSettings, *, query: bool
) -> Fingerprints:
    """Hash the triplets of ``peaks``.

    Parameters
    ----------
    peaks:
        Peaks sorted by time.
    query:
        Queries use a larger fan-out, a span widened by the largest tempo change, and emit
        extra hashes for values near a quantisation boundary (multi-probing).  References stay
        compact; the asymmetry buys robustness where it costs only look-ups.
    """
    n2, n3 = settings.query_fanout if query else settings.reference_fanout
    # A query may play the material up to this much faster or slower than the reference, so
    # its triplets must admit gaps and spans scaled by it either way.
    stretch = settings.max_time_stretch if query else 1.0
    max_span = settings.max_span_frames * stretch
    min_gap = settings.min_gap_frames / stretch
    first, second = _select_pairs(peaks, settings, n2, max_span, min_gap, anchor=None)
    if first.size == 0:
        return Fingerprints.empty()
    pair_anchor, third = _select_pairs(peaks, settings, n3, max_span, min_gap,
                                       anchor=(first, second))
    i, j, k = first[pair_anchor], second[pair_anchor], third
    t, f, lv = peaks.time, peaks.freq, peaks.level
    span = t[k] - t[i]
    ratio = (t[j] - t[i]) / span
    d1 = f[j] - f[i]
    d2 = f[k] - f[i]
    loudest = np.argmax(np.stack([lv[i], lv[j], lv[k]]), axis=0)
    half = _freq_width(settings) // 2
    step = settings.freq_step_bins
    fields = (d1 / step + half, d2 / step + half, ratio * settings.ratio_levels - 0.5)
    if query:
        rows, q1, q2, qr = _multiprobe(fields)
    else:
        rows = np.arange(span.size)
        q1, q2, qr = (np.rint(x).astype(np.int64) for x in fields)
    width = _freq_width(settings)
    q1 = np.clip(q1, 0, width - 1)
    q2 = np.clip(q2, 0, width - 1)
    qr = np.clip(qr, 0, settings.ratio_levels - 1)
    invariant = ((q1 * width + q2) * settings.ratio_levels + qr) * 3 + loudest[rows]
    probe, band = _transform_bands(f[i][rows], span[rows], settings, query=query)
    hashes = invariant[probe] * n_transform_bands(settings) + band
    src = rows[probe]
    return Fingerprints(
        hashes=hashes.astype(np.uint32),
        time=t[i][src].astype(np.float32),
        freq=f[i][src].astype(np.float32),
        span=span[src].astype(np.float32),
        members=np.stack([i, j, k], axis=1)[src].astype(np.int32) if query else None,
    )


def _band_counts(settings: FingerprintSettings) -> tuple[int, int]:
    """How many anchor-frequency bands and span bands the hash distinguishes."""
    n_freq = int(np.ceil(settings.n_log_bins / settings.freq_band_bins))
    n_span = int(np.ceil(np.log(settings.max_span_frames / settings.min_gap_frames)
                         / settings.span_band_log)) + 1
    return n_freq, n_span


def n_transform_bands(settings: FingerprintSettings) -> int:
    n_freq, n_span = _band_counts(settings)
    return n_freq * n_span


def _transform_bands(
    anchor_freq: np.ndarray, span: np.ndarray, settings: FingerprintSettings, *, query: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Coarse anchor frequency and span: not invariant, but bounded by the transform range.

    A reference triplet is hashed with the band its anchor frequency and its span fall in.  A
    query triplet cannot know the pitch shift or tempo, so it is hashed once for every band
    the reference could be in given the largest shift and stretch searched for.  Each band
    splits the postings several ways and costs the query only two or three probes, so chance
    hits drop severalfold for the same true hits.

    Returns the emitted row of each probe and its band code.
    """
    n_freq, n_span = _band_counts(settings)

    def freq_band(x: np.ndarray) -> np.ndarray:
        return np.clip(np.floor(x / settings.freq_band_bins), 0, n_freq - 1).astype(np.int64)

    def span_band(x: np.ndarray) -> np.ndarray:
        ratio = np.maximum(x, settings.min_gap_frames) / settings.min_gap_frames
        return np.clip(np.floor(np.log(ratio) / settings.span_band_log), 0, n_span - 1
                       ).astype(np.int64)

    if not query:
        return np.arange(span.size), freq_band(anchor_freq) * n_span + span_band(span)
    shift = settings.max_pitch_semitones * settings.bins_per_octave / 12.0
    f_lo, f_hi = freq_band(anchor_freq - shift), freq_band(anchor_freq + shift)
    s_lo = span_band(span / settings.max_time_stretch)
    s_hi = span_band(span * settings.max_time_stretch)
    n_f, n_s = f_hi - f_lo + 1, s_hi - s_lo + 1
    count = n_f * n_s
    probe = np.repeat(np.arange(span.size), count)
    within = np.arange(probe.size) - np.repeat(np.cumsum(count) - count, count)
    fb = f_lo[probe] + within // n_s[probe]
    sb = s_lo[probe] + within % n_s[probe]
    return probe, fb * n_span + sb


def _select_pairs(
    peaks: Peaks,
    settings: FingerprintSettings,
    fanout: int,
    max_span: float,
    min_gap: float,
    *,
    anchor: tuple[np.ndarray, np.ndarray] | None,
) -> tuple[np.ndarray, np.ndarray]:
    """For each start peak, the first ``fanout`` later peaks that satisfy the triplet geometry.

    With ``anchor=None`` the start peaks are all peaks and the partner must lie within
    ``max_span`` and ``max_freq_delta_bins`` of it.  With ``anchor=(first, second)`` the start
    peaks are the ``second`` peaks of those pairs, and the partner (the third peak) must also
    stay within the span and frequency window of ``first``.  Returns (row of start, partner).
    """
    t, f = peaks.time, peaks.freq
    n = t.size
    if anchor is None:
        origin = np.arange(n)
        start = origin
    else:
        origin, start = anchor
    gap = min_gap
    lookahead = int(np.ceil(max_span / max(gap, 1.0))) + 2
    lookahead = min(lookahead, max(1, n - 1), 4 * (fanout + 1) * 8)
    offsets = np.arange(1, lookahead + 1)
    cand = start[:, None] + offsets[None, :]
    inside = cand < n
    cand = np.where(inside, cand, n - 1)
    valid = (
        inside
        & (t[cand] - t[start][:, None] >= gap)
        & (t[cand] - t[origin][:, None] <= max_span)
        & (np.abs(f[cand] - f[origin][:, None]) <= settings.max_freq_delta_bins)
    )
    if anchor is not None:
        valid &= np.abs(f[cand] - f[start][:, None]) > 0.5
    taken = valid & (np.cumsum(valid, axis=1) <= fanout)
    rows, cols = np.nonzero(taken)
    return rows, cand[rows, cols]


def _multiprobe(
    fields: tuple[np.ndarray, ...],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Quantise each field, adding the neighbouring cell when a value sits near a boundary.

    Returns the source row of each emitted hash and the three quantised fields.
    """
    rows = np.arange(fields[0].size)
    quantised = [np.rint(x).astype(np.int64) for x in fields]
    for axis, values in enumerate(fields):
        residual = values[rows] - quantised[axis]
        near = np.abs(residual) > 0.5 - _PROBE_MARGIN
        extra = np.nonzero(near)[0]
        rows = np.concatenate([rows, rows[extra]])
        for other in range(len(quantised)):
            column = quantised[other]
            added = column[extra]
            if other == axis:
                added = added + np.sign(residual[extra]).astype(np.int64)
            quantised[other] = np.concatenate([column, added])
    return rows, quantised[0], quantised[1], quantised[2]
