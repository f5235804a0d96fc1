"""Open a file with FFmpeg and say what it holds, turning FFmpeg's failures into typed errors."""

from __future__ import annotations

import contextlib
import functools
import stat
import struct
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import av
import av.container

from homage.errors import DecodeError, HomageError, UnsupportedMedia
from homage.types import MediaInfo


@contextlib.contextmanager
def open_container(path: str | Path) -> Iterator[av.container.InputContainer]:
    """Open ``path`` for reading, mapping every way that can fail to a one-line ``HomageError``."""
    path = Path(path)
    _quiet_ffmpeg()
    if not path.exists():
        raise HomageError("no such file", path=path)
    if path.is_dir():
        raise HomageError("is a folder, not a media file", path=path)
    if not stat.S_ISREG(path.stat().st_mode):
        raise UnsupportedMedia("not a regular file (a pipe, socket or device)", path=path)
    if path.stat().st_size == 0:
        raise DecodeError("empty file (zero bytes)", path=path)
    try:
        container = av.open(str(path), mode="r", metadata_errors="ignore")
    except PermissionError as exc:
        raise HomageError("permission denied", path=path) from exc
    except av.error.InvalidDataError as exc:
        raise UnsupportedMedia(
            "not readable as media (not a media file, or one damaged beyond reading, "
            "e.g. a cut MP4 that lost its index)", path=path) from exc
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise DecodeError(f"cannot open ({_reason(exc)})", path=path) from exc
    try:
        yield container
    finally:
        container.close()


@functools.cache
def _quiet_ffmpeg() -> None:
    """Silence FFmpeg's own logging, which otherwise writes to stderr directly: a damaged
    stream can print a line per packet (hundreds of thousands), and every failure that matters
    already reaches the caller as an exception turned into a one-line ``HomageError``."""
    av.logging.set_level(av.logging.PANIC)


def probe(path: str | Path) -> MediaInfo:
    """Describe a media file from its headers, without decoding it.

    Raises
    ------
    HomageError
        Missing file; ``UnsupportedMedia`` for non-media or a file with neither audio nor video;
        ``DecodeError`` for an empty or unreadable file.
    """
    with open_container(path) as container:
        audio = first_decodable(container.streams.audio)
        pictures = [s for s in container.streams.video
                    if not s.disposition & av.stream.Disposition.attached_pic]
        video = first_decodable(pictures)
        if audio is None and video is None:
            undecodable = container.streams.audio or pictures
            raise UnsupportedMedia("no audio or video stream FFmpeg can decode" if undecodable
                                   else "no audio or video stream", path=path)
        return MediaInfo(
            path=str(path),
            duration=container_duration(container),
            has_audio=audio is not None,
            has_video=video is not None,
            container=container.format.name,
            audio_codec=audio.codec_context.name if audio is not None else None,
            video_codec=video.codec_context.name if video is not None else None,
            sample_rate=audio.codec_context.sample_rate if audio is not None else None,
            channels=audio.codec_context.channels if audio is not None else None,
        )


def first_decodable(streams: Sequence[av.stream.Stream]) -> Any:
    """The first of ``streams`` that FFmpeg has a decoder for (PyAV gives the others no codec
    context), or None."""
    return next((s for s in streams if s.codec_context is not None), None)


def container_duration(container: av.container.InputContainer) -> float:
    """Declared duration in seconds (0.0 when the container does not say).

    For WAV, FFmpeg derives the duration from the file size, which hides truncation; the size
    the RIFF ``data`` chunk declares is what the file claims to hold.
    """
    if container.format.name == "wav":
        declared = _riff_declared_seconds(container.name)
        if declared is not None:
            return declared
    if container.duration is not None and container.duration > 0:
        return float(container.duration / av.time_base)
    for stream in container.streams:
        if stream.duration and stream.time_base:
            return float(stream.duration * stream.time_base)
    return 0.0


def _reason(exc: BaseException) -> str:
    """FFmpeg's message without the errno noise, for one-line errors."""
    text = getattr(exc, "strerror", None) or str(exc)
    return text.splitlines()[0] if text else type(exc).__name__


def _riff_declared_seconds(path: str) -> float | None:
    """Seconds a WAV header declares (``data`` size / byte rate), None when it cannot say."""
    try:
        with open(path, "rb") as handle:
            header = handle.read(12)
            if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
                return None
            byte_rate = 0
            for _ in range(64):  # a WAV file has a handful of chunks before its data
                chunk = handle.read(8)
                if len(chunk) < 8:
                    return None
                size = struct.unpack("<I", chunk[4:])[0]
                if chunk[:4] == b"fmt ":
                    fmt = handle.read(size + (size & 1))
                    byte_rate = struct.unpack("<I", fmt[8:12])[0] if len(fmt) >= 12 else 0
                elif chunk[:4] == b"data":
                    streaming = size in (0, 0xFFFFFFFF)
                    return None if streaming or byte_rate <= 0 else size / byte_rate
                else:
                    handle.seek(size + (size & 1), 1)
    except OSError:
        return None
    return None
