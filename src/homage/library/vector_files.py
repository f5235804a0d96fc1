"""The library's derived vector index: a FAISS file per catalogue generation.

Like the hash index (``hash_files``), it is rebuilt from the catalogue whenever the generation
moves on (``homage.library.generations``), and deleting it loses nothing.  A library too big
for one machine's memory is searched in shards (``homage.cluster.shards``): shard ``i`` of
``n`` holds the works whose id is ``i`` modulo ``n``, built and kept by whichever machine
serves it, in a folder of its own.
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


def load_vector_index(library: Library, *, dim: int,
                      shard: tuple[int, int] | None = None) -> VectorIndex:
    """The vector index of the library's current generation, building it if needed; with
    ``shard`` ``(number, count)``, the index of that part of the library only."""
    if shard is not None and not 0 <= shard[0] < shard[1]:
        raise ValueError(f"no shard {shard[0]} of {shard[1]}")
    folder = vector_folder(library)
    if shard is not None:
        folder = folder / f"shard-{shard[0]}-of-{shard[1]}"
    with library.snapshot():
        generation = library.generation
        target = folder / f"gen-{generation}"
        if not is_complete(target):
            _build(library, target, dim=dim, shard=shard)
    index = VectorIndex(
        index=faiss.read_index(str(target / "vectors.faiss")),
        work=np.load(target / "work.npy"),
        time=np.load(target / "time.npy"),
    )
    remove_stale(folder, current=generation)
    return index


def _build(library: Library, target: Path, *, dim: int,
           shard: tuple[int, int] | None) -> None:
    logger.info("building vector index %s", target.relative_to(vector_folder(library)))
    index = VectorIndex.build_streamed(lambda: library.iter_visual(shard),
                                       count=library.frame_count(shard), dim=dim)

    def write(folder: Path) -> None:
        faiss.write_index(index.index, str(folder / "vectors.faiss"))
        np.save(folder / "work.npy", index.work)
        np.save(folder / "time.npy", index.time)

    publish(target, write)
