"""Frame-vector search over a library bigger than one machine's memory: the index is cut into
shards, each held in memory by one Ray actor, and every search asks them all.

Shard ``i`` of ``n`` holds the works whose id is ``i`` modulo ``n``
(``homage.library.load_vector_index(shard=...)``), so each shard is the library index of a
smaller library: same code, same files, built by the machine that serves it and kept in that
machine's index cache for the next run.  A work's frames stay together in one shard, and the
best ``k`` neighbours over the library are among the shards' best ``k`` each
(``homage.match.vector_index.merge_neighbours``), so a sharded search of exact indexes
answers what one index would.

Shard actors hold memory, not a CPU: they work only while a scanning worker waits on their
answer, so they are placed by Ray's ``SPREAD`` strategy (one per machine where it can) and
take no CPU from the workers.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from homage.cluster.pool import check_machines
from homage.config import Settings
from homage.errors import HomageError
from homage.library import Library, load_vector_index
from homage.match.vector_index import Neighbours, VectorIndex, merge_neighbours
from homage.visual import descriptor_for


class VectorShard:
    """One shard of the library's vector index, loaded (or built) at start and held in
    memory (a Ray actor body).

    A failure to open the library or build the shard is kept and returned by
    :meth:`size`, where the caller raises it as itself.
    """

    def __init__(self, settings: Settings, number: int, count: int) -> None:
        self._index: VectorIndex | None = None
        self._error: HomageError | None = None
        try:
            with Library.open(settings.library, settings=settings.audio,
                              visual=settings.visual, create=False) as library:
                self._index = load_vector_index(
                    library, dim=descriptor_for(settings.visual.descriptor).dim,
                    shard=(number, count))
        except HomageError as exc:
            self._error = exc

    def identity(self) -> tuple[str, int]:
        """``(host name, process id)``: where this shard is held."""
        return socket.gethostname(), os.getpid()

    def size(self) -> int | HomageError:
        """Frames in the shard, or what stopped it from loading."""
        return self._error if self._index is None else len(self._index)

    def search(self, queries: np.ndarray, k: int) -> Neighbours:
        """``VectorIndex.search`` on this shard."""
        assert self._index is not None
        return self._index.search(queries, k=k)


class ShardedVectorIndex:
    """A ``NeighbourSearch`` whose vectors live in shard actors (see the module notes).

    Parameters
    ----------
    names:
        The shards' Ray actor names, in shard order (names, not handles, so that a worker
        holding this can be restarted by Ray); handles are looked up at the first search.
    size:
        Frames over all shards.
    """

    def __init__(self, names: Sequence[str], size: int) -> None:
        self.names = tuple(names)
        self._size = size
        self._shards: list[Any] | None = None

    def __len__(self) -> int:
        return self._size

    def __getstate__(self) -> dict[str, object]:
        return {"names": self.names, "_size": self._size, "_shards": None}

    def search(self, queries: np.ndarray, *, k: int) -> Neighbours:
        """The ``k`` most similar frames of the library to each row of ``queries``."""
        import ray

        if self._shards is None:
            self._shards = [ray.get_actor(name) for name in self.names]
        sent = ray.put(np.ascontiguousarray(queries, dtype=np.float32))
        parts = ray.get([shard.search.remote(sent, k) for shard in self._shards])
        return merge_neighbours(parts, k=k)


@contextmanager
def vector_shards(ray: Any, settings: Settings, count: int) -> Iterator[ShardedVectorIndex]:
    """Start ``count`` shard actors over the library ``settings.library`` (each loading or
    building its shard), yield the index they make together, and stop them on the way out.

    Raises
    ------
    HomageError
        A shard could not start, or open the library, or build its index (the first such
        error); or shards on several machines would share a library folder (SQLite).
    """
    if count < 1:
        raise ValueError("at least one shard")
    run = uuid.uuid4().hex[:12]
    names = [f"homage-shard-{run}-{number}" for number in range(count)]
    actor = ray.remote(num_cpus=0, scheduling_strategy="SPREAD")(VectorShard)
    shards = [actor.options(name=name).remote(settings, number, count)
              for number, name in enumerate(names)]
    try:
        check_machines(ray, shards, settings.library)
        sizes = ray.get([shard.size.remote() for shard in shards])
        for size in sizes:
            if isinstance(size, HomageError):
                raise size
        yield ShardedVectorIndex(names, sum(sizes))
    finally:
        for shard in shards:
            ray.kill(shard)
