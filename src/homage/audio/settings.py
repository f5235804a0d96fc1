"""The extraction settings of the audio fingerprint: stored with a library, compared on open.

Changing any field changes the hashes, so a library records the settings it was built with
and refuses to mix in fingerprints made with others (see ``homage.library``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class FingerprintSettings:
    """Parameters of the log-frequency peak-triplet fingerprint.

    Frequencies live on a log axis (``bins_per_octave`` bins from ``fmin_hz``), so a pitch or
    speed change is a *translation* of the peaks along that axis; hashes built from frequency
    differences and from ratios of time gaps are therefore unchanged by speed, pitch and tempo.
    """

    sample_rate: int = 8000
    n_fft: int = 2048
    hop: int = 128
    fmin_hz: float = 150.0
    fmax_hz: float = 3800.0
    bins_per_octave: int = 36
    peak_time_radius: int = 6
    peak_freq_radius: int = 4
    #: strongest peaks kept per second, for references and for queries (denser, see docs).
    #: 17 rather than 14 for references: a sample mixed under a host keeps fewer of its peaks
    #: in the query, and the more of the reference's it can meet the likelier a triplet
    #: survives (segment AP +0.04 / +0.03 on the full benchmark's two seeds, docs/benchmarks.md)
    reference_peaks_per_second: int = 17
    query_peaks_per_second: int = 24
    #: triplet fan-out: for each anchor, how many second peaks, and third peaks per second one
    reference_fanout: tuple[int, int] = (3, 2)
    query_fanout: tuple[int, int] = (5, 3)
    min_gap_frames: int = 6
    max_span_frames: int = 60
    max_freq_delta_bins: int = 30
    #: frequency differences are hashed in steps of this many log bins (pitch shifters smear
    #: peaks by about half a bin, so one-bin steps lose half the triplets)
    freq_step_bins: float = 2.0
    ratio_levels: int = 8
    #: the transform range searched: queries probe every band a reference could be in
    max_pitch_semitones: float = 7.0
    max_time_stretch: float = 1.45
    #: width of the coarse anchor-frequency bands (log bins) and span bands (natural log)
    freq_band_bins: int = 24
    span_band_log: float = 0.3

    @property
    def frame_seconds(self) -> float:
        return self.hop / self.sample_rate

    @property
    def n_log_bins(self) -> int:
        import math

        return math.floor(self.bins_per_octave * math.log2(self.fmax_hz / self.fmin_hz)) + 1

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data["reference_fanout"] = list(self.reference_fanout)
        data["query_fanout"] = list(self.query_fanout)
        return data

    @classmethod
    def from_json(cls, data: dict[str, object]) -> FingerprintSettings:
        values = dict(data)
        for key in ("reference_fanout", "query_fanout"):
            if key in values:
                values[key] = tuple(values[key])  # type: ignore[arg-type]
        return cls(**values)  # type: ignore[arg-type]
