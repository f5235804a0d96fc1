"""The pictures of a report, computed from arrays: aligned times, boxes drawn on frames,
log-frequency spectrograms and their warping onto the query's time and pitch.

Pure: samples and frames in, arrays out.  ``homage.report.evidence`` feeds it decoded media.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from homage.types import Match

#: Colours of the kinds of match, shared by the pictures and the HTML.
KIND_COLOURS = {
    "visual_copy": "#c0392b",
    "visual_homage": "#d68910",
    "audio_sample": "#1f78b4",
}


@dataclass(frozen=True)
class SpectrogramSettings:
    """A log-frequency magnitude spectrogram: ``bins_per_octave`` rows per octave from
    ``fmin`` to ``fmax`` Hz, resampled to ``columns`` columns across the excerpt."""

    sample_rate: int = 11025
    n_fft: int = 2048
    hop: int = 128
    fmin: float = 65.0
    fmax: float = 5000.0
    bins_per_octave: int = 24
    columns: int = 640
    dynamic_range_db: float = 70.0

    @property
    def bins(self) -> int:
        return int(self.bins_per_octave * math.log2(self.fmax / self.fmin))


def frame_count(duration: float) -> int:
    """How many frame pairs show a visual match of ``duration`` seconds: 3 to 5."""
    return int(min(5, max(3, 2 + duration // 4)))


def aligned_times(match: Match, n: int | None = None) -> list[tuple[float, float]]:
    """``n`` (query time, reference time) pairs spread across ``match``, away from its edges
    (where an alignment is least sure): query ``t`` ↔ reference ``reference_start + (t -
    query_start) × speed``, clamped to the reference range."""
    length = max(0.0, match.query_end - match.query_start)
    n = frame_count(length) if n is None else n
    speed = match.transform.speed if match.transform.speed > 0 else 1.0
    pairs = []
    for i in range(n):
        tq = match.query_start + length * (i + 0.5) / n
        tr = match.reference_start + (tq - match.query_start) * speed
        tr = min(max(tr, match.reference_start), max(match.reference_end, match.reference_start))
        pairs.append((tq, tr))
    return pairs


def draw_box(rgb: np.ndarray, region: tuple[float, float, float, float], *,
             colour: tuple[int, int, int] = (255, 214, 0), thickness: int = 2) -> np.ndarray:
    """A copy of ``rgb`` (h, w, 3) uint8 with ``region`` (left, top, right, bottom fractions)
    outlined, inside the frame so that a box along an edge stays visible."""
    out = rgb.copy()
    h, w = out.shape[:2]
    left, top, right, bottom = region
    x0 = int(np.clip(round(left * w), 0, w - 1))
    x1 = int(np.clip(round(right * w) - 1, x0, w - 1))
    y0 = int(np.clip(round(top * h), 0, h - 1))
    y1 = int(np.clip(round(bottom * h) - 1, y0, h - 1))
    t = max(1, thickness)
    out[y0:min(y0 + t, y1 + 1), x0:x1 + 1] = colour
    out[max(y1 - t + 1, y0):y1 + 1, x0:x1 + 1] = colour
    out[y0:y1 + 1, x0:min(x0 + t, x1 + 1)] = colour
    out[y0:y1 + 1, max(x1 - t + 1, x0):x1 + 1] = colour
    return out


def log_spectrogram(samples: np.ndarray, settings: SpectrogramSettings) -> np.ndarray:
    """Magnitude in dB of ``samples`` (n,) at ``settings.sample_rate``, on log-spaced bands.

    Returns
    -------
    numpy.ndarray
        (bins, frames) float32, row 0 the lowest band; each band holds the strongest linear
        bin inside it (or the nearest one, where bands are narrower than a bin).
    """
    s = settings
    x = np.asarray(samples, dtype=np.float32).reshape(-1)
    if x.size < s.n_fft:
        x = np.pad(x, (0, s.n_fft - x.size))
    windows = np.lib.stride_tricks.sliding_window_view(x, s.n_fft)[:: s.hop]
    spectrum = np.abs(np.fft.rfft(windows * np.hanning(s.n_fft).astype(np.float32), axis=1))
    magnitude = spectrum.T  # (n_fft // 2 + 1, frames)
    edges = s.fmin * 2.0 ** (np.arange(s.bins + 1) / s.bins_per_octave - 0.5 / s.bins_per_octave)
    starts = np.minimum(np.ceil(edges * s.n_fft / s.sample_rate).astype(int),
                        magnitude.shape[0] - 1)
    bands = np.maximum.reduceat(magnitude, starts, axis=0)[:-1]
    return (20.0 * np.log10(bands + 1e-6)).astype(np.float32)


def warp_spectrogram(spec: np.ndarray, *, pitch_semitones: float, columns: int,
                     bins_per_octave: int) -> np.ndarray:
    """Move ``spec`` (bins, frames) up by ``pitch_semitones`` and stretch it to ``columns``
    frames: the reference as it sounds in the query.

    The reference excerpt is cut to span the query excerpt's time at the found tempo, so
    stretching it to the query's column count lines both up in time; on log-spaced bands a
    pitch change is a shift of rows.
    """
    bins, frames = spec.shape
    if frames == 0 or bins == 0:
        return np.full((bins, columns), float(spec.min()) if spec.size else -120.0, np.float32)
    at = np.linspace(0, frames - 1, columns)
    stretched = np.stack([np.interp(at, np.arange(frames), row) for row in spec])
    shift = pitch_semitones * bins_per_octave / 12.0
    source = np.arange(bins) - shift
    floor = float(stretched.min())
    shifted = np.stack([
        np.interp(source, np.arange(bins), stretched[:, c], left=floor, right=floor)
        for c in range(columns)
    ], axis=1)
    return shifted.astype(np.float32)


def to_columns(spec: np.ndarray, columns: int) -> np.ndarray:
    """``spec`` (bins, frames) resampled to ``columns`` frames (linear interpolation)."""
    return warp_spectrogram(spec, pitch_semitones=0.0, columns=columns, bins_per_octave=12)


_MAGMA = np.array([(0, 0, 4), (40, 11, 84), (101, 21, 110), (159, 42, 99), (212, 72, 66),
                   (245, 125, 21), (250, 193, 39), (252, 255, 164)], dtype=np.float32)


def spectrogram_image(spec: np.ndarray, *, dynamic_range_db: float = 70.0) -> np.ndarray:
    """``spec`` (bins, frames) dB as an (bins, frames, 3) uint8 picture, low frequencies at
    the bottom, the loudest ``dynamic_range_db`` dB mapped through a magma-like colour map."""
    if spec.size == 0:
        return np.zeros((max(1, spec.shape[0]), max(1, spec.shape[1] if spec.ndim > 1 else 1),
                         3), np.uint8)
    top = float(np.percentile(spec, 99.5))
    level = np.clip((spec - (top - dynamic_range_db)) / dynamic_range_db, 0.0, 1.0)[::-1]
    position = level * (len(_MAGMA) - 1)
    low = np.floor(position).astype(int)
    high = np.minimum(low + 1, len(_MAGMA) - 1)
    frac = (position - low)[..., None]
    rgb = _MAGMA[low] * (1.0 - frac) + _MAGMA[high] * frac
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
