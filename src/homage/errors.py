"""One error tree for everything homage refuses, so the CLI can map each to one line.

Every error that concerns a file carries its path, because a user running homage over a
folder of thousands of files needs to know *which* file failed and why, in one line.
"""

from __future__ import annotations

from pathlib import Path


class HomageError(Exception):
    """Base of every error homage raises on purpose.

    Parameters
    ----------
    message:
        What is wrong, phrased for a user ("no audio stream", "truncated file").
    path:
        The file or directory concerned, when there is one.
    """

    def __init__(self, message: str, *, path: str | Path | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = None if path is None else str(path)

    def __str__(self) -> str:
        if self.path is None:
            return self.message
        return f"{self.path}: {self.message}"


class DecodeError(HomageError):
    """The file is media but could not be decoded (corrupt, truncated, zero-length)."""


class UnsupportedMedia(HomageError):
    """The file is not media homage can use (not media at all, or no stream of the kind asked)."""


class LibraryError(HomageError):
    """The library directory cannot be opened or written, or holds an incompatible library."""


class ParameterError(HomageError):
    """A setting or argument is out of range; the CLI maps it to a usage error (exit 2)."""
