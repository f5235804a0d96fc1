"""The library's derived hash index: sorted, memory-mapped arrays in ``Library.index_dir``
(beside the SQLite file, or in this machine's cache for a PostgreSQL library).

Derived, not primary: it is rebuilt from the catalogue whenever the catalogue's generation changes,
so it can never disagree with the catalogue for long, and deleting it loses nothing.  Each
generation is written to a fresh folder and renamed into place, so readers never see a
half-written index, and a reader that has mapped an older generation keeps a valid view.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from homage.errors import LibraryError
from homage.library.base import Library
from homage.library.generations import discard, is_complete, publish, remove_stale
from homage.match.hash_index import HashIndex

logger = logging.getLogger(__name__)

_FIELDS = ("hashes", "work", "time", "freq", "span")


def index_folder(library: Library) -> Path:
    return library.index_dir / "hashindex"


def load_hash_index(library: Library) -> tuple[HashIndex, dict[int, float], dict[int, str]]:
    """The hash index of the library's current generation, building it if needed.

    Returns the index with the durations and paths of the works it covers, all read from one
    snapshot so that they agree with each other.  Index files that cannot be read, or that do
    not hold the catalogue's postings, are rebuilt: they are derived, and losing them costs
    only the time to build them again.
    """
    with library.snapshot():
        generation = library.generation
        durations = library.durations()
        paths = library.paths()
        postings = library.stats().fingerprints
        target = index_folder(library) / f"gen-{generation}"
        index = _load(target, postings) if is_complete(target) else None
        if index is None:
            if target.exists():
                logger.warning("hash index %s is damaged; rebuilding it", target.name)
                discard(target)
            _build(library, target)
            index = _load(target, postings)
            if index is None:
                raise LibraryError(f"cannot build a readable hash index in {target}",
                                   path=library.location)
    remove_stale(index_folder(library), current=generation)
    return index, durations, paths


_DTYPES = {"hashes": np.uint32, "work": np.int64, "time": np.float32, "freq": np.float32,
           "span": np.float32}


def _load(target: Path, postings: int) -> HashIndex | None:
    """The index in ``target`` if its files are whole and hold ``postings`` postings."""
    arrays = []
    for name in _FIELDS:
        try:
            array = np.load(target / f"{name}.npy", mmap_mode="r", allow_pickle=False)
        except Exception:  # whatever numpy makes of a damaged file: the index is derived
            return None
        if array.ndim != 1 or array.shape[0] != postings or array.dtype != _DTYPES[name]:
            return None
        arrays.append(array)
    return HashIndex(*arrays)


def _build(library: Library, target: Path) -> None:
    logger.info("building hash index %s", target.name)
    index = HashIndex.build(list(library.iter_fingerprints()))

    def write(folder: Path) -> None:
        for name in _FIELDS:
            np.save(folder / f"{name}.npy", np.ascontiguousarray(getattr(index, name)))

    publish(target, write)
