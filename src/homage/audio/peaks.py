"""Spectral peaks: local maxima of the log-frequency spectrogram, streamed block by block.

Peaks, not the spectrogram, are what the fingerprint keeps, so memory stays bounded by the
block length however long the file is.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from homage.audio.settings import FingerprintSettings
from homage.audio.spectrum import log_spectrogram

#: Frames of spectrogram context on each side of a block, so block edges find the same peaks.
_CONTEXT_FRAMES = 40
#: Frames per density block ("one second") and blocks per processing window.
_BLOCKS_PER_WINDOW = 16
#: Peaks quieter than the loudest in their window by more than this are noise.
_DYNAMIC_RANGE_DB = 70.0
_SILENCE_DB = -90.0


@dataclass(frozen=True)
class Peaks:
    """Spectral peaks sorted by time.

    ``time`` is in frames (float, parabolic sub-frame estimate), ``freq`` in log bins (float),
    ``level`` the peak's power in dB.  Each has shape ``(n,)``.
    """

    time: np.ndarray
    freq: np.ndarray
    level: np.ndarray

    def __len__(self) -> int:
        return int(self.time.size)


def block_frames(settings: FingerprintSettings) -> int:
    """Frames in one density block: about one second."""
    return max(1, round(settings.sample_rate / settings.hop))


def stream_peaks(
    chunks: Iterable[np.ndarray], settings: FingerprintSettings, *, per_second: int
) -> Peaks:
    """Find peaks in a stream of audio chunks with bounded memory.

    The stream is padded with ``n_fft // 2`` zeros at both ends so that frame ``k`` is centred
    on sample ``k * hop``.  It is cut into windows of whole density blocks plus context; only
    peaks inside a window's core are kept, so the result does not depend on chunk sizes.
    """
    hop, half = settings.hop, settings.n_fft // 2
    core = block_frames(settings) * _BLOCKS_PER_WINDOW
    ctx = _CONTEXT_FRAMES
    buffer = np.zeros(half, dtype=np.float32)
    buffer_start = 0  # frame index of the buffer's first sample (buffer starts at a hop multiple)
    next_core = 0
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def frames_in(buf: np.ndarray) -> int:
        return 0 if buf.size < settings.n_fft else 1 + (buf.size - settings.n_fft) // hop

    def process(final: bool) -> None:
        nonlocal buffer, buffer_start, next_core
        while True:
            available = buffer_start + frames_in(buffer)
            if not final and available < next_core + core + ctx:
                return
            if next_core >= available:
                return
            first = max(0, next_core - ctx)
            last = min(available, next_core + core + ctx)
            lo = (first - buffer_start) * hop
            hi = (last - buffer_start - 1) * hop + settings.n_fft
            spec = log_spectrogram(buffer[lo:hi], settings)
            found.append(
                _window_peaks(spec, first, next_core, next_core + core, settings, per_second)
            )
            next_core += core
            drop = max(0, next_core - ctx - buffer_start)
            buffer = buffer[drop * hop :]
            buffer_start += drop

    for chunk in chunks:
        buffer = np.concatenate([buffer, np.asarray(chunk, dtype=np.float32)])
        process(final=False)
    buffer = np.concatenate([buffer, np.zeros(half, dtype=np.float32)])
    process(final=True)
    if not found:
        empty = np.zeros(0, dtype=np.float32)
        return Peaks(empty, empty.copy(), empty.copy())
    time, freq, level = (np.concatenate(parts) for parts in zip(*found, strict=True))
    return Peaks(time, freq, level)


def _window_peaks(
    spec: np.ndarray,
    first_frame: int,
    core_start: int,
    core_end: int,
    settings: FingerprintSettings,
    per_second: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Peaks of one window whose frame lies in ``[core_start, core_end)``, densest-first capped."""
    rt, rf = settings.peak_time_radius, settings.peak_freq_radius
    maxima = ndimage.maximum_filter(spec, size=(2 * rt + 1, 2 * rf + 1), mode="nearest")
    floor = max(_SILENCE_DB, float(spec.max(initial=_SILENCE_DB)) - _DYNAMIC_RANGE_DB)
    is_peak = (spec == maxima) & (spec > floor)
    # Interior only: parabolic refinement needs both neighbours on each axis.
    is_peak[[0, -1], :] = False
    is_peak[:, [0, -1]] = False
    rows, cols = np.nonzero(is_peak)
    frames = rows + first_frame
    keep = (frames >= core_start) & (frames < core_end)
    rows, cols, frames = rows[keep], cols[keep], frames[keep]
    background = ndimage.uniform_filter(spec, size=(63, 13), mode="nearest")
    prominence = spec[rows, cols] - background[rows, cols]
    # Keep the most prominent peaks of each one-second block: an even density makes the index
    # size predictable and keeps quiet passages (and quiet mixed-in samples) represented.
    block = frames // block_frames(settings)
    order = np.lexsort((-prominence, block))
    rows, cols, frames, block = rows[order], cols[order], frames[order], block[order]
    starts = np.searchsorted(block, block, side="left")
    rank = np.arange(block.size) - starts
    keep = rank < per_second
    rows, cols, frames = rows[keep], cols[keep], frames[keep]
    dt = _parabolic_offset(spec[rows - 1, cols], spec[rows, cols], spec[rows + 1, cols])
    df = _parabolic_offset(spec[rows, cols - 1], spec[rows, cols], spec[rows, cols + 1])
    time = (frames + dt).astype(np.float32)
    order = np.argsort(time, kind="stable")
    return time[order], (cols + df).astype(np.float32)[order], spec[rows, cols][order]


def _parabolic_offset(left: np.ndarray, centre: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Sub-bin position of a maximum from its two neighbours, in [-0.5, 0.5]."""
    denom = left - 2.0 * centre + right
    with np.errstate(divide="ignore", invalid="ignore"):
        offset = np.where(denom < 0, 0.5 * (left - right) / denom, 0.0)
    return np.clip(offset, -0.5, 0.5)
