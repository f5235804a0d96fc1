"""Finding media files in folders and naming their content, without decoding anything."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path

from homage.errors import HomageError, UnsupportedMedia

#: Extensions a folder walk picks up.  Files named explicitly are tried whatever their name.
MEDIA_EXTENSIONS = frozenset(
    {
        ".mp3", ".ogg", ".oga", ".opus", ".flac", ".wav", ".m4a", ".aac", ".aif", ".aiff",
        ".wma", ".mka", ".mp4", ".m4v", ".mkv", ".webm", ".mov", ".avi", ".mpg", ".mpeg",
        ".ts", ".ogv", ".wmv", ".3gp",
    }
)


def iter_media_files(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Yield the media files named by ``paths``: files as given, folders walked recursively.

    Folders are walked in sorted order so that runs are repeatable and an interrupted run
    resumes in the same order.  Raises ``HomageError`` for a path that does not exist or a
    folder that holds no media, because silently doing nothing would look like success.
    """
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = False
            for root, dirs, files in os.walk(path):
                dirs.sort()
                for name in sorted(files):
                    if Path(name).suffix.lower() in MEDIA_EXTENSIONS:
                        found = True
                        yield Path(root) / name
            if not found:
                raise HomageError("no media files in this folder", path=path)
        elif path.exists():
            yield path
        else:
            raise HomageError("no such file or folder", path=path)


def content_hash(path: str | Path) -> str:
    """BLAKE2b-160 of the file's bytes: recognises a moved or copied file without decoding it."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO would block, /dev/zero never end
            raise UnsupportedMedia("not a regular file (a pipe, socket or device)", path=path)
        with open(path, "rb") as handle:
            digest = hashlib.file_digest(handle, lambda: hashlib.blake2b(digest_size=20))
    except OSError as exc:
        raise HomageError(f"cannot read file ({exc.strerror})", path=path) from exc
    return digest.hexdigest()
