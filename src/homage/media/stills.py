"""Single pictures and short sound excerpts for reports: the frame shown at a time, a few
seconds of audio from a time, and pictures encoded as JPEG or PNG.

A report shows a handful of frames per match from films that may last hours, so each frame is
reached by seeking to the keyframe before it and decoding forward, never by decoding from the
start.  Times are seconds from the first frame (video) or first sample (audio), as everywhere
else in homage.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from homage.errors import DecodeError, UnsupportedMedia
from homage.media.probe import _reason, open_container
from homage.media.video import _apply_rotation, _video_stream

#: JPEG quantiser (2 best … 31 worst): 4 keeps frame detail at a fifth of a PNG's size.
JPEG_QUALITY = 4
#: A time this far past the last frame is outside the video.
_PAST_THE_END_S = 0.5


def frames_at(path: str | Path, times: Sequence[float], *, width: int
              ) -> list[np.ndarray | None]:
    """The frames of ``path`` shown at each of ``times``, as RGB ``width`` pixels wide.

    Returns
    -------
    list
        One (h, width, 3) uint8 array per time (h keeps the display aspect, rotation applied),
        or None for a time outside the video.

    Raises
    ------
    HomageError
        The file is missing or unreadable; ``UnsupportedMedia`` when it has no video stream.
    """
    with open_container(path) as container:
        stream = _video_stream(container, path)
        # no frame threading here: with it, decoding after a seek can hang (PyAV 18, FFmpeg 8)
        try:
            start = _first_frame_time(container, stream)
            if start is None:
                return [None for _ in times]
            return [_frame_at(container, stream, start, t, width) for t in times]
        except av.FFmpegError as exc:
            raise DecodeError(f"corrupt video stream ({_reason(exc)})", path=path) from exc


def _first_frame_time(container: av.container.InputContainer, stream: av.VideoStream
                      ) -> float | None:
    for frame in container.decode(stream):
        if frame.time is not None:
            return float(frame.time)
    return None


def _frame_at(container: av.container.InputContainer, stream: av.VideoStream, start: float,
              t: float, width: int) -> np.ndarray | None:
    """The last frame whose time is at most ``t`` (the one on screen at ``t``)."""
    if t < 0:
        return None
    target = start + t
    container.seek(max(0, int(target / stream.time_base)), stream=stream, backward=True)
    best = None
    ended = True
    for frame in container.decode(stream):
        if frame.time is None:
            continue
        if frame.time > target + 1e-3:
            best = best or frame  # the seek overshot: the keyframe after is the nearest
            ended = False
            break
        best = frame
    if best is None or (ended and target - best.time > _PAST_THE_END_S):
        return None
    height = max(2, round(width * best.height / max(best.width, 1) / 2) * 2)
    rgb = best.to_ndarray(width=width, height=height, format="rgb24")
    return _apply_rotation(rgb, best.rotation)


def audio_excerpt(path: str | Path, start: float, end: float, *, sample_rate: int
                  ) -> np.ndarray:
    """Mono float32 samples of ``path`` from ``start`` to ``end`` seconds at ``sample_rate``,
    shape (n,); shorter when the file ends first.

    Raises
    ------
    HomageError
        Missing or unreadable file; ``UnsupportedMedia`` without an audio stream.
    """
    with open_container(path) as container:
        if not container.streams.audio:
            raise UnsupportedMedia("no audio stream", path=path)
        stream = container.streams.audio[0]
        origin = float(stream.start_time * stream.time_base) if stream.start_time else 0.0
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        if start > 1.0:
            container.seek(max(0, int((origin + start - 1.0) / stream.time_base)),
                           stream=stream, backward=True)
        want = max(0, round((end - start) * sample_rate))
        pieces: list[np.ndarray] = []
        have = 0
        at: float | None = None  # time of the next resampled sample
        try:
            for packet in container.demux(stream):
                for frame in packet.decode():
                    if at is None:
                        if frame.time is None:
                            continue
                        at = float(frame.time) - origin
                    for out in resampler.resample(frame):
                        samples = out.to_ndarray().reshape(-1)
                        skip = round((start - at) * sample_rate)
                        at += samples.size / sample_rate
                        if skip >= samples.size:
                            continue
                        piece = samples[max(0, skip):]
                        if skip < 0 and not pieces:  # the audio starts after ``start``
                            piece = np.concatenate([np.zeros(-skip, np.float32), piece])
                        pieces.append(piece)
                        have += piece.size
                if have >= want:
                    break
            else:  # the file ended: what the resampler still holds is the last of it
                for out in resampler.resample(None):
                    samples = out.to_ndarray().reshape(-1)
                    skip = max(0, round((start - (at or 0.0)) * sample_rate))
                    at = (at or 0.0) + samples.size / sample_rate
                    if skip < samples.size:
                        pieces.append(samples[skip:])
        except av.FFmpegError as exc:
            raise DecodeError(f"corrupt audio ({_reason(exc)})", path=path) from exc
    joined = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
    return joined[:want].astype(np.float32, copy=False)


def encode_jpeg(rgb: np.ndarray) -> bytes:
    """``rgb`` (h, w, 3) uint8 as a baseline JPEG file."""
    return _encode(rgb, "mjpeg", "yuvj420p", qmin=JPEG_QUALITY, qmax=JPEG_QUALITY)


def encode_png(rgb: np.ndarray) -> bytes:
    """``rgb`` (h, w, 3) uint8 as a PNG file (lossless: for spectrograms and drawings)."""
    return _encode(rgb, "png", "rgb24")


def _encode(rgb: np.ndarray, codec_name: str, pix_fmt: str, **options: int) -> bytes:
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError("expected an (h, w, 3) uint8 picture")
    codec = av.CodecContext.create(codec_name, "w")
    codec.width, codec.height = rgb.shape[1], rgb.shape[0]
    codec.pix_fmt = pix_fmt
    codec.time_base = Fraction(1, 1)
    for key, value in options.items():
        setattr(codec, key, value)
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
    if pix_fmt != "rgb24":
        frame = frame.reformat(format=pix_fmt)
    frame.pts = 0
    packets = [*codec.encode(frame), *codec.encode(None)]
    return b"".join(bytes(p) for p in packets)
