"""Audio decoding: any FFmpeg-readable file to mono float32 at the rate the caller wants.

Decoding is streamed in chunks so that a three-hour file never sits whole in memory; the
fingerprinter consumes the chunks as they come.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import av.filter
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
        mixer: _MonoMixer | None = None
        total = 0
        try:
            for frame in _decoded_frames(container, stream):
                pieces: list[np.ndarray] = []
                if mixer is None or not mixer.takes(frame):
                    # the first frame, or a stream that changes format midway: a new graph
                    if mixer is not None:
                        pieces.extend(mixer.close())
                    mixer = _MonoMixer(frame, sample_rate, chunk_len)
                pieces.extend(mixer.push(frame))
                for piece in pieces:
                    total += piece.size
                    if max_seconds is not None and total > max_seconds * sample_rate:
                        raise DecodeError(
                            f"decodes to more than {max_seconds:.0f} s of audio (limit)",
                            path=path,
                        )
                    yield piece
            tail = list(mixer.close()) if mixer is not None else []
        except av.FFmpegError as exc:
            at = total / sample_rate
            raise DecodeError(f"corrupt audio at {at:.1f} s ({_reason(exc)})", path=path) from exc
        total += sum(piece.size for piece in tail)
        if total == 0:
            raise DecodeError("no audio samples (zero-length audio)", path=path)
        decoded = total / sample_rate
        if declared > 0 and declared - decoded > max(_TRUNCATION_TOLERANCE_S, 0.1 * declared):
            raise DecodeError(
                f"truncated: decodes {decoded:.1f} s of the {declared:.1f} s it declares",
                path=path,
            )
        yield from tail


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


class _MonoMixer:
    """An FFmpeg filter graph: decoded frames in, mono float32 at ``rate`` out, in pieces of
    ``chunk_len`` samples.

    Why a graph and not ``av.AudioResampler``: Opus and AAC decode to 20 ms frames, and
    resampling, converting and joining each one from Python cost more than decoding them
    (a 15-minute Opus file: 3.5 s of CPU, against 2.0 s with the graph doing all of it and
    Python seeing one frame per chunk).  One graph serves one sample format, layout and rate;
    ``takes`` says whether a frame fits it.
    """

    def __init__(self, frame: av.AudioFrame, rate: int, chunk_len: int) -> None:
        self._shape = _shape(frame)
        graph = av.filter.Graph()
        chain = [
            graph.add_abuffer(format=frame.format.name, sample_rate=frame.sample_rate,
                              layout=frame.layout.name,
                              time_base=Fraction(1, frame.sample_rate)),
            graph.add("aresample", str(rate)),
            graph.add("aformat", "sample_fmts=flt:channel_layouts=mono"),
            graph.add("asetnsamples", f"n={chunk_len}:p=0"),
        ]
        self._sink = graph.add("abuffersink")
        for upstream, downstream in zip(chain, [*chain[1:], self._sink], strict=True):
            upstream.link_to(downstream)
        graph.configure()
        self._graph = graph
        self._pushed = 0

    def takes(self, frame: av.AudioFrame) -> bool:
        return _shape(frame) == self._shape

    def push(self, frame: av.AudioFrame) -> Iterator[np.ndarray]:
        # Timestamps are the samples pushed so far: a damaged file's jumping timestamps
        # must not make the resampler pad or drop audio.
        frame.pts = self._pushed
        self._pushed += frame.samples
        self._graph.push(frame)
        return self._drain()

    def close(self) -> Iterator[np.ndarray]:
        self._graph.push(None)
        return self._drain()

    def _drain(self) -> Iterator[np.ndarray]:
        while True:
            try:
                out = self._sink.pull()
            except (av.BlockingIOError, av.EOFError):
                return
            yield out.to_ndarray().reshape(-1)


def _shape(frame: av.AudioFrame) -> tuple[str, str, int]:
    return frame.format.name, frame.layout.name, frame.sample_rate
