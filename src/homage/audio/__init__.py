"""Audio fingerprints that survive speed, pitch and tempo changes (pure: samples in, hashes out)."""

from collections.abc import Iterable

import numpy as np

from homage.audio.peaks import Peaks, stream_peaks
from homage.audio.settings import FingerprintSettings
from homage.audio.triplets import Fingerprints, hash_space, triplet_fingerprints


def fingerprint(
    chunks: Iterable[np.ndarray], settings: FingerprintSettings, *, query: bool
) -> Fingerprints:
    """Fingerprint a stream of mono chunks at ``settings.sample_rate``."""
    per_second = settings.query_peaks_per_second if query else settings.reference_peaks_per_second
    peaks = stream_peaks(chunks, settings, per_second=per_second)
    return triplet_fingerprints(peaks, settings, query=query)


__all__ = [
    "FingerprintSettings",
    "Fingerprints",
    "Peaks",
    "fingerprint",
    "hash_space",
    "stream_peaks",
    "triplet_fingerprints",
]
