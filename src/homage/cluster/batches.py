"""How a run's files are cut into the batches handed to workers (pure)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

#: Batches per worker a run aims for: enough that a worker finishing early takes more work
#: (load balancing, and little lost when a worker dies), few enough that task overhead stays
#: negligible beside decoding.
BATCHES_PER_WORKER = 4
#: Most files in one batch, however small they are.
MAX_BATCH_FILES = 16


def plan_batches(files: Sequence[Path], sizes: Sequence[int], *, workers: int,
                 per_worker: int = BATCHES_PER_WORKER,
                 max_files: int = MAX_BATCH_FILES) -> list[list[Path]]:
    """Cut ``files`` (in order) into contiguous batches of roughly equal bytes.

    Parameters
    ----------
    files:
        The files to index, in the order a one-process run would take them.
    sizes:
        Their sizes in bytes (0 where unknown), a cheap proxy for decoding time.
    workers:
        Worker count; the plan aims at ``workers * per_worker`` batches so that a slow or
        lost batch never leaves the other workers idle for long.
    max_files:
        Cap on files per batch, so a folder of tiny files is still spread out.

    Returns
    -------
    list of list of Path
        Every file exactly once, order kept within and across batches (so merging the
        batches' reports in plan order gives the one-process order).
    """
    if len(files) != len(sizes):
        raise ValueError("files and sizes differ in length")
    if workers < 1 or per_worker < 1 or max_files < 1:
        raise ValueError("workers, per_worker and max_files must be at least 1")
    if len(files) <= workers * per_worker:
        return [[path] for path in files]
    target = max(1, math.ceil(sum(max(0, s) for s in sizes) / (workers * per_worker)))
    batches: list[list[Path]] = [[]]
    weight = 0
    for path, size in zip(files, sizes, strict=True):
        if batches[-1] and (weight >= target or len(batches[-1]) >= max_files):
            batches.append([])
            weight = 0
        batches[-1].append(path)
        weight += max(0, size)
    return batches
