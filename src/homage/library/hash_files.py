"""The library's derived hash index: sorted, memory-mapped arrays beside the SQLite file.

Derived, not primary: it is rebuilt from SQLite whenever the catalogue's generation changes,
so it can never disagree with the catalogue for long, and deleting it loses nothing.  Each
generation is written to a fresh folder and renamed into place, so readers never see a
half-written index, and a reader that has mapped an older generation keeps a valid view.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from homage.library.generations import is_complete, publish, remove_stale
from homage.library.store import Library
from homage.match.hash_index import HashIndex

logger = logging.getLogger(__name__)

_FIELDS = ("hashes", "work", "time", "freq", "span")


def index_folder(library: Library) -> Path:
    return library.directory / "hashindex"


def load_hash_index(library: Library) -> tuple[HashIndex, dict[int, float], dict[int, str]]:
    """The hash index of the library's current generation, building it if needed.

    Returns the index with the durations and paths of the works it covers, all read from one
    snapshot so that they agree with each other.
    """
    with library.snapshot():
        generation = library.generation
        durations = library.durations()
        paths = library.paths()
        target = index_folder(library) / f"gen-{generation}"
        if not is_complete(target):
            _build(library, target)
    index = HashIndex(*(np.load(target / f"{name}.npy", mmap_mode="r") for name in _FIELDS))
    remove_stale(index_folder(library), current=generation)
    return index, durations, paths


def _build(library: Library, target: Path) -> None:
    logger.info("building hash index %s", target.name)
    index = HashIndex.build(list(library.iter_fingerprints()))

    def write(folder: Path) -> None:
        for name in _FIELDS:
            np.save(folder / f"{name}.npy", np.ascontiguousarray(getattr(index, name)))

    publish(target, write)
