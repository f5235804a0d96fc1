"""Audio decoding: any FFmpeg-readable file to mono float32 at the rate the caller wants.

Decoding is streamed in chunks so that a three-hour file never sits whole in memory; the
fingerprinter consumes the chunks as they come.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

from homage.errors import DecodeError, UnsupportedMedia
from homage.media.probe import _reason, container_duration, first_decodable, open_container

DEFAULT_CHUNK_SECONDS = 30.0

#: A file that declares this much more than it decodes is reported as truncated.
_TRUNCATION_TOLERANCE_S = 2.0

#: Audio sampled slower than this holds nothing the fingerprint can use (its band starts at
#: 150 Hz and reaches 3.8 kHz); refusing it up front also stops tiny files that would decode
#: to hours (a 20 kB WAV at 1 Hz "holds" 2.8 hours).
MIN_SAMPLE_RATE = 4000


def audio_chunks(
    path: str | Path,
    *,
    sample_rate: int,
    chunk_seconds: float = DEFAULT_CHUNK_SECONDS,
    max_seconds: float | None = None,
) -> Iterator[np.ndarray]:
    """Decode the first audio stream of ``path`` as mono float32 chunks at ``sample_rate``.

    Parameters
    ----------
    path:
        Any file FFmpeg reads: audio files and the audio of video files.
    sample_rate:
        Output rate in Hz; FFmpeg's resampler does the conversion and the down-mix.
    chunk_seconds:
        Length of each yielded chunk (the last one may be shorter).
    max_seconds:
        Refuse files that decode to more than this: a guard against decompression bombs.

    Yields
    ------
    numpy.ndarray
        Shape ``(n,)``, float32.  Levels are FFmpeg's down-mix of the channels, which may
        exceed [-1, 1] (a stereo file at full scale mixes to about +3 dB); the fingerprint is
        level-invariant, so nothing is clipped.

    Raises
    ------
    UnsupportedMedia
        No audio stream.
    DecodeError
        Corrupt data, a truncated file, or no samples at all (zero-length or silent-less).
    """
    chunk_len = max(1, round(chunk_seconds * sample_rate))
    with open_container(path) as container:
        stream = first_decodable(container.streams.audio)
        if stream is None:
            raise UnsupportedMedia("no audio stream" if not container.streams.audio
                                   else "no audio stream FFmpeg can decode", path=path)
        rate = stream.codec_context.sample_rate or 0
        if rate < MIN_SAMPLE_RATE:
            raise UnsupportedMedia(f"audio sampled at {rate} Hz, too slow to hold anything to "
                                   f"fingerprint (needs {MIN_SAMPLE_RATE} Hz or more)", path=path)
        declared = container_duration(container)
        if max_seconds is not None and declared > max_seconds:
            raise DecodeError(f"declares {declared:,.0f} s of audio, more than the "
                              f"{max_seconds:,.0f} s limit", path=path)
        resampler, fed = None, None
        pending: list[np.ndarray] = []
        pending_len = 0
        total = 0
        try:
            for frame in _decoded_frames(container, stream):
                shape = (frame.format.name, frame.layout.name, frame.sample_rate)
                if shape != fed:  # the first frame, or a stream that changes format midway
                    flushed = resampler.resample(None) if resampler is not None else []
                    resampler, fed = av.AudioResampler(format="flt", layout="mono",
                                                       rate=sample_rate), shape
                else:
                    flushed = []
                frame.pts = None  # a new resampler must not wait for earlier timestamps
                for out in [*flushed, *resampler.resample(frame)]:
                    samples = out.to_ndarray().reshape(-1)
                    pending.append(samples)
                    pending_len += samples.size
                    total += samples.size
                    if max_seconds is not None and total > max_seconds * sample_rate:
                        raise DecodeError(
                            f"decodes to more than {max_seconds:.0f} s of audio (limit)",
                            path=path,
                        )
                    while pending_len >= chunk_len:
                        chunk, pending, pending_len = _take(pending, chunk_len)
                        yield chunk
            for out in resampler.resample(None) if resampler is not None else []:
                samples = out.to_ndarray().reshape(-1)
                pending.append(samples)
                pending_len += samples.size
                total += samples.size
        except av.FFmpegError as exc:
            at = total / sample_rate
            raise DecodeError(f"corrupt audio at {at:.1f} s ({_reason(exc)})", path=path) from exc
        if total == 0:
            raise DecodeError("no audio samples (zero-length audio)", path=path)
        decoded = total / sample_rate
        if declared > 0 and declared - decoded > max(_TRUNCATION_TOLERANCE_S, 0.1 * declared):
            raise DecodeError(
                f"truncated: decodes {decoded:.1f} s of the {declared:.1f} s it declares",
                path=path,
            )
        while pending_len > 0:
            chunk, pending, pending_len = _take(pending, min(chunk_len, pending_len))
            yield chunk


def read_audio(
    path: str | Path, *, sample_rate: int, max_seconds: float | None = None
) -> np.ndarray:
    """Decode the whole audio of ``path``; for queries and tests, where the length is bounded."""
    chunks = list(audio_chunks(path, sample_rate=sample_rate, max_seconds=max_seconds))
    return np.concatenate(chunks).astype(np.float32, copy=False)


def _decoded_frames(container, stream) -> Iterator[av.AudioFrame]:
    """Frames of one stream; packets of other streams are skipped without being decoded."""
    for packet in container.demux(stream):
        yield from packet.decode()


def _take(pending: list[np.ndarray], n: int) -> tuple[np.ndarray, list[np.ndarray], int]:
    """Split ``n`` samples off the front of the pending list."""
    joined = np.concatenate(pending)
    rest = joined[n:]
    return joined[:n].astype(np.float32, copy=False), ([rest] if rest.size else []), rest.size
