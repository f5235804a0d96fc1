"""Log-frequency power spectrogram: the plane on which pitch and speed changes are shifts."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import scipy.fft
import scipy.sparse

from homage.audio.settings import FingerprintSettings

_FLOOR_DB = -120.0


@lru_cache(maxsize=8)
def log_filterbank(settings: FingerprintSettings) -> scipy.sparse.csr_matrix:
    """Triangular filters, one log bin wide each side, mapping FFT bins to log bins.

    Returns
    -------
    scipy.sparse.csr_matrix
        Shape ``(n_fft // 2 + 1, n_log_bins)``, float32; each column sums to 1 so every log
        bin reads as an average power density, comparable across the frequency axis.  Sparse
        (each FFT bin feeds at most a few log bins): the product costs 1% of a dense one.
    """
    fft_freqs = np.fft.rfftfreq(settings.n_fft, 1.0 / settings.sample_rate)
    with np.errstate(divide="ignore"):
        octaves = np.log2(np.maximum(fft_freqs, 1e-6) / settings.fmin_hz)
    position = octaves * settings.bins_per_octave
    centres = np.arange(settings.n_log_bins, dtype=np.float64)
    weights = np.maximum(0.0, 1.0 - np.abs(position[:, None] - centres[None, :]))
    weights /= np.maximum(weights.sum(axis=0, keepdims=True), 1e-12)
    return scipy.sparse.csr_matrix(weights.astype(np.float32))


def log_spectrogram(samples: np.ndarray, settings: FingerprintSettings) -> np.ndarray:
    """Power in dB on the log-frequency axis, one row per hop.

    Parameters
    ----------
    samples:
        Shape ``(n,)`` mono float32; row ``k`` of the result is the frame that starts at sample
        ``k * hop`` (callers pad so that this frame is centred where they want it).

    Returns
    -------
    numpy.ndarray
        Shape ``(n_frames, n_log_bins)``, float32 dB, with ``n_frames = 1 + (n - n_fft) // hop``
        (0 rows when ``n < n_fft``).
    """
    n_fft, hop = settings.n_fft, settings.hop
    if samples.size < n_fft:
        return np.zeros((0, settings.n_log_bins), dtype=np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(samples, n_fft)[::hop]
    window = _hann(n_fft)
    spectrum = scipy.fft.rfft(frames * window, axis=1)
    power = (spectrum.real**2 + spectrum.imag**2).astype(np.float32)
    log_power = np.asarray((log_filterbank(settings).T @ power.T).T)
    return np.maximum(10.0 * np.log10(np.maximum(log_power, 1e-12)), _FLOOR_DB).astype(np.float32)


@lru_cache(maxsize=4)
def _hann(n: int) -> np.ndarray:
    return np.hanning(n).astype(np.float32)
