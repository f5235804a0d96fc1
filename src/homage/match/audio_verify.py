"""Peak-level verification: does the fitted transform explain the query's peaks beyond the
triplets that proposed it?

A candidate from the hash stage says: reference peaks, moved by ``t -> a*t + b`` and shifted
by the pitch, should land on query peaks.  Under a sample mixed quietly under other music only
a fifth of the peaks survive, too few for whole triplets but plenty for single peaks.  We map
every reference peak around the candidate onto the query, mark which land on a query peak,
and

* **localise** the sample as the stretch that maximises the log-likelihood ratio of "sample
  here" (a peak lands with probability ``p1``) against "chance" (with the local density
  ``p0``): a maximum-sum subarray, which extends a candidate to where its evidence really ends;
* **score** it with the binomial tail of the landings, counting only peaks that did *not*
  vote in the hash stage, so the two tests are independent under chance and their
  probabilities multiply.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
from scipy import special

from homage.audio import FingerprintSettings, Peaks
from homage.match.audio_align import AudioSegmentMatch, significance_score


@dataclass(frozen=True)
class VerifySettings:
    """Tolerances of peak verification."""

    time_tolerance_frames: float = 1.5
    freq_tolerance_bins: float = 0.8
    #: how far beyond its hash evidence a candidate may be extended, in seconds
    margin_s: float = 6.0
    #: least share of reference peaks expected to land in a real (possibly quiet) sample
    sample_landing_rate: float = 0.25
    #: shortest stretch reported: below a second, a few coinciding notes look like a sample
    min_duration_s: float = 1.0
    #: time shifts of the decoy alignments that measure the chance landing rate
    decoy_offsets_s: tuple[float, ...] = (-2.3, -1.55, -0.85, 0.85, 1.55, 2.3)


def verify_candidate(
    candidate: AudioSegmentMatch,
    query_peaks: Peaks,
    reference_peaks: Peaks,
    settings: FingerprintSettings,
    *,
    query_duration: float,
    reference_duration: float,
    verify: VerifySettings | None = None,
) -> AudioSegmentMatch | None:
    """Localise and re-score one candidate; None when its peaks do not bear it out."""
    verify = verify or VerifySettings()
    fs = settings.frame_seconds
    a, b = candidate.time_ratio, candidate.offset
    shift = candidate.pitch_semitones * settings.bins_per_octave / 12.0
    q_lo = max(0.0, candidate.query_start - verify.margin_s)
    q_hi = min(query_duration, candidate.query_end + verify.margin_s)
    r_lo = max(0.0, (q_lo - b) / a)
    r_hi = min(reference_duration, (q_hi - b) / a)
    if r_hi <= r_lo:
        return None
    ref_t = reference_peaks.time * fs
    lo, hi = np.searchsorted(ref_t, [r_lo, r_hi])
    mapped_t = (a * ref_t[lo:hi] + b) / fs  # in query frames
    mapped_f = reference_peaks.freq[lo:hi] + shift
    inside = (mapped_f >= 0) & (mapped_f <= settings.n_log_bins - 1)
    ref_idx = np.arange(lo, hi)[inside]
    mapped_t, mapped_f = mapped_t[inside], mapped_f[inside]
    if ref_idx.size < 4:
        return None
    landed, landed_on = _landings(mapped_t, mapped_f, query_peaks, verify)
    p0 = _chance_landing_rate(mapped_t, mapped_f, query_peaks, verify, fs)
    # The landing rate where the hash stage found the sample sets what "sample here" looks
    # like: a loud sample lands most peaks, so a stretch landing few is not its continuation
    # (this stops a loop's segment from spilling into the repeat next to it).
    in_core = (ref_t[ref_idx] >= candidate.reference_start) & \
        (ref_t[ref_idx] <= candidate.reference_end)
    core_rate = float(landed[in_core].mean()) if in_core.any() else 0.0
    p1 = float(np.clip(max(verify.sample_landing_rate, 0.6 * core_rate, 2 * p0), 0.0, 0.9))
    gain = np.where(landed, math.log(p1 / p0), math.log((1 - p1) / (1 - p0)))
    start, stop = _best_stretch(gain)
    if stop - start < 2:
        return None
    stretch = slice(start, stop)
    voted = np.isin(landed_on[stretch], candidate.voters) & landed[stretch]
    fresh_trials = int(stop - start - voted.sum())
    fresh_hits = int(landed[stretch].sum() - voted.sum())
    p_peaks = float(special.bdtrc(fresh_hits - 1, max(fresh_trials, 1), p0)) \
        if fresh_hits > 0 else 1.0
    false_alarms = candidate.false_alarms * p_peaks * ref_idx.size
    landed_times = ref_t[ref_idx[stretch][landed[stretch]]]
    if a * (landed_times[-1] - landed_times[0]) < verify.min_duration_s:
        return None
    r_start, r_end = _sample_bounds(landed_times, within=(r_lo, r_hi))
    return dataclasses.replace(
        candidate,
        query_start=a * r_start + b,
        query_end=a * r_end + b,
        reference_start=r_start,
        reference_end=r_end,
        false_alarms=false_alarms,
        score=significance_score(false_alarms),
    )


def _sample_bounds(landed_times: np.ndarray, *, within: tuple[float, float]
                   ) -> tuple[float, float]:
    """Where the sample starts and ends, from the reference times of the peaks that landed.

    The first and last landings lie inside the sample, so the span between them falls short
    of it at both ends, by about one gap between landings each: the unbiased estimate of the
    ends of a range from ``n`` points spread over it widens their span by ``span / (n - 1)``
    on each side.  A quiet sample, landing few peaks, is widened more than a loud one.  The
    ends stay ``within`` the stretch of reference that was examined.
    """
    first, last = float(landed_times[0]), float(landed_times[-1])
    margin = (last - first) / max(landed_times.size - 1, 1)
    return max(first - margin, within[0]), min(last + margin, within[1])


def _chance_landing_rate(
    mapped_t: np.ndarray, mapped_f: np.ndarray, query_peaks: Peaks, verify: VerifySettings,
    frame_seconds: float,
) -> float:
    """How often the same reference peaks land by chance: measured, not modelled.

    Music is not uniform noise: two pieces in one key share harmonics, both have beats, and a
    dense passage catches anything.  So the same mapped peaks are moved by a few decoy time
    offsets (same pitch shift, same local material) and their landing rate is the chance rate,
    with add-one smoothing so a clean decoy never claims certainty.
    """
    landed = 0
    for shift_s in verify.decoy_offsets_s:
        hits, _ = _landings(mapped_t + shift_s / frame_seconds, mapped_f, query_peaks, verify)
        landed += int(hits.sum())
    trials = mapped_t.size * len(verify.decoy_offsets_s)
    return float(np.clip((landed + 1) / (trials + 2), 1e-3, 0.5))


def _landings(
    mapped_t: np.ndarray, mapped_f: np.ndarray, query_peaks: Peaks, verify: VerifySettings
) -> tuple[np.ndarray, np.ndarray]:
    """For each mapped reference peak: did it land on a query peak, and on which one (-1)."""
    qt, qf = query_peaks.time, query_peaks.freq
    lo = np.searchsorted(qt, mapped_t - verify.time_tolerance_frames, side="left")
    hi = np.searchsorted(qt, mapped_t + verify.time_tolerance_frames, side="right")
    width = int((hi - lo).max(initial=0))
    landed_on = np.full(mapped_t.size, -1, dtype=np.int64)
    if width == 0:
        return np.zeros(mapped_t.size, dtype=bool), landed_on
    cand = lo[:, None] + np.arange(width)[None, :]
    valid = cand < hi[:, None]
    cand = np.minimum(cand, qt.size - 1)
    distance = np.abs(qf[cand] - mapped_f[:, None])
    distance[~valid] = np.inf
    best = np.argmin(distance, axis=1)
    landed = distance[np.arange(mapped_t.size), best] <= verify.freq_tolerance_bins
    landed_on[landed] = cand[np.arange(mapped_t.size), best][landed]
    return landed, landed_on


def _best_stretch(gain: np.ndarray) -> tuple[int, int]:
    """``[start, stop)`` of the contiguous run with the largest sum (Kadane)."""
    best, best_span = 0.0, (0, 0)
    running, run_start = 0.0, 0
    for i, g in enumerate(gain):
        if running <= 0:
            running, run_start = g, i
        else:
            running += g
        if running > best:
            best, best_span = running, (run_start, i + 1)
    return best_span
