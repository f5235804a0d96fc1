"""Derived index folders, one per catalogue generation, published atomically.

The hash index and the vector index are both *derived* from SQLite: each generation is written
into a scratch folder and renamed into place, so readers never see half an index, and a reader
that has mapped an older generation keeps a valid view until it lets go.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

_COMPLETE = "complete"


def is_complete(target: Path) -> bool:
    return (target / _COMPLETE).exists()


def publish(target: Path, write: Callable[[Path], None]) -> None:
    """Run ``write(scratch_folder)`` and rename the folder to ``target``.

    Another process may finish the same generation first: theirs is as good as ours.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = target.parent / f".{target.name}.{os.getpid()}.tmp"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    write(scratch)
    (scratch / _COMPLETE).write_text("ok\n")
    try:
        scratch.rename(target)
    except OSError:
        shutil.rmtree(scratch, ignore_errors=True)


def remove_stale(folder: Path, *, current: int) -> None:
    """Remove older generations (never newer ones another process may have just built)."""
    for entry in folder.glob("gen-*"):
        suffix = entry.name.removeprefix("gen-")
        if suffix.isdigit() and int(suffix) < current:
            shutil.rmtree(entry, ignore_errors=True)
