"""Derived index folders, one per catalogue generation, published atomically.

The hash index and the vector index are both *derived* from the catalogue: each generation is
written into a scratch folder and renamed into place, so readers never see half an index, and a
reader that has mapped an older generation keeps a valid view until it lets go.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

_COMPLETE = "complete"


def is_complete(target: Path) -> bool:
    return (target / _COMPLETE).exists()


def discard(target: Path) -> None:
    """Move a damaged or incomplete generation out of the way (readers that mapped it keep
    their view) and delete it."""
    aside = target.parent / f".{target.name}.{os.getpid()}.discard"
    try:
        target.rename(aside)
    except OSError:
        return  # gone already: another process discarded or replaced it
    shutil.rmtree(aside, ignore_errors=True)


def publish(target: Path, write: Callable[[Path], None]) -> None:
    """Run ``write(scratch_folder)`` and rename the folder to ``target``.

    Another process may finish the same generation first: theirs is as good as ours.  An
    incomplete folder already at ``target`` is discarded first.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() and not is_complete(target):
        discard(target)
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
    """Remove older generations (never newer ones another process may have just built), and
    the scratch folders of processes that died while building one."""
    for entry in folder.glob("gen-*"):
        suffix = entry.name.removeprefix("gen-")
        if suffix.isdigit() and int(suffix) < current:
            shutil.rmtree(entry, ignore_errors=True)
    for entry in folder.glob(".gen-*.*.*"):
        generation, _, rest = entry.name.removeprefix(".gen-").partition(".")
        pid = rest.partition(".")[0]
        if not (generation.isdigit() and pid.isdigit()):
            continue
        if not _alive(int(pid)):  # a live process may still be writing an older generation
            shutil.rmtree(entry, ignore_errors=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
