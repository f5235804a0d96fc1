"""The library's derived vector index: a FAISS file per catalogue generation.

Like the hash index (``hash_files``), it is rebuilt from the catalogue whenever the generation
moves on (``homage.library.generations``), and deleting it loses nothing.
"""

from __future__ import annotations

import logging
from pathlib import Path

import faiss
import numpy as np

from homage.library.base import Library
from homage.library.generations import is_complete, publish, remove_stale
from homage.match.vector_index import VectorIndex

logger = logging.getLogger(__name__)


def vector_folder(library: Library) -> Path:
    return library.index_dir / "vectorindex"


def load_vector_index(library: Library, *, dim: int) -> VectorIndex:
    """The vector index of the library's current generation, building it if needed."""
    with library.snapshot():
        generation = library.generation
        target = vector_folder(library) / f"gen-{generation}"
        if not is_complete(target):
            _build(library, target, dim=dim)
    index = VectorIndex(
        index=faiss.read_index(str(target / "vectors.faiss")),
        work=np.load(target / "work.npy"),
        time=np.load(target / "time.npy"),
    )
    remove_stale(vector_folder(library), current=generation)
    return index


def _build(library: Library, target: Path, *, dim: int) -> None:
    logger.info("building vector index %s", target.name)
    index = VectorIndex.build(list(library.iter_visual()), dim=dim)

    def write(folder: Path) -> None:
        faiss.write_index(index.index, str(folder / "vectors.faiss"))
        np.save(folder / "work.npy", index.work)
        np.save(folder / "time.npy", index.time)

    publish(target, write)
