"""``homage library check``: do the catalogue, its fingerprints, the derived indexes and the
files on disk agree?"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from homage.errors import HomageError
from homage.library.base import Library
from homage.library.hash_files import load_hash_index
from homage.library.vector_files import load_vector_index
from homage.media import content_hash


@dataclass
class CheckReport:
    """``problems`` make the library untrustworthy; ``gone`` and ``changed`` are files that
    moved on since they were indexed (kept in the library; re-run ``index``)."""

    problems: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)


def check_library(library: Library, *, visual_dim: int) -> CheckReport:
    """Check the catalogue's own invariants, then that the hash index holds exactly the
    catalogue's postings and the vector index exactly its frames (same works, same counts),
    then the content hash of every catalogued file still on disk."""
    report = CheckReport(problems=library.integrity_problems())
    if report.problems:  # a damaged catalogue cannot make an index: report, do not crash
        report.problems.append("fix with `homage library check --repair` (drops damaged works)")
        return report
    stats = library.stats()
    index, _, _ = load_hash_index(library)
    if len(index) != stats.fingerprints:
        report.problems.append(
            f"hash index holds {len(index)} postings, catalogue {stats.fingerprints}")
    vectors = load_vector_index(library, dim=visual_dim)
    frames = {w.id: w.frames for w in library.works() if w.frames}
    indexed = dict(zip(*np.unique(vectors.work, return_counts=True), strict=True))
    if {int(k): int(v) for k, v in indexed.items()} != frames:
        report.problems.append(
            f"vector index holds {len(vectors)} frames of {len(indexed)} works, catalogue "
            f"{sum(frames.values())} frames of {len(frames)} works")
    for work in library.works():
        if not Path(work.path).exists():
            report.gone.append(work.path)
            continue
        try:
            if content_hash(work.path) != work.content_hash:
                report.changed.append(work.path)
        except HomageError:
            report.changed.append(work.path)
    return report
