"""Decoding only: the one place that opens media files (PyAV, i.e. FFmpeg's libraries)."""

from homage.media.audio import DEFAULT_CHUNK_SECONDS, audio_chunks, read_audio
from homage.media.files import MEDIA_EXTENSIONS, content_hash, iter_media_files
from homage.media.probe import probe

__all__ = [
    "DEFAULT_CHUNK_SECONDS",
    "MEDIA_EXTENSIONS",
    "audio_chunks",
    "content_hash",
    "iter_media_files",
    "probe",
    "read_audio",
]
