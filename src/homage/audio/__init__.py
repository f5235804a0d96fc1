"""Audio fingerprints that survive speed, pitch and tempo changes (pure: samples in, hashes out)."""

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from homage.audio.peaks import Peaks, stream_peaks
from homage.audio.settings import FingerprintSettings
from homage.audio.triplets import Fingerprints, hash_space, triplet_fingerprints


@dataclass(frozen=True)
class AudioPrint:
    """What analysis keeps of a work: its peaks (for verification) and their triplet hashes."""

    peaks: Peaks
    fingerprints: Fingerprints


def analyse(
    chunks: Iterable[np.ndarray], settings: FingerprintSettings, *, query: bool
) -> AudioPrint:
    """Peaks and fingerprints of a stream of mono chunks at ``settings.sample_rate``."""
    per_second = settings.query_peaks_per_second if query else settings.reference_peaks_per_second
    peaks = stream_peaks(chunks, settings, per_second=per_second)
    return AudioPrint(peaks, triplet_fingerprints(peaks, settings, query=query))


def fingerprint(
    chunks: Iterable[np.ndarray], settings: FingerprintSettings, *, query: bool
) -> Fingerprints:
    """Only the fingerprints of :func:`analyse`."""
    return analyse(chunks, settings, query=query).fingerprints


__all__ = [
    "AudioPrint",
    "FingerprintSettings",
    "Fingerprints",
    "Peaks",
    "analyse",
    "fingerprint",
    "hash_space",
    "stream_peaks",
    "triplet_fingerprints",
]
