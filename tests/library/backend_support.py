"""Synthetic works and raw database access for the backend tests.

Works are made of seeded random arrays rather than decoded media, so that the tests of the
store itself (and the concurrent writers, which run in other processes) take milliseconds;
``test_backends_conformance`` also checks real indexing and scanning on generated media.
"""

from __future__ import annotations

import sqlite3
import zlib
from multiprocessing.synchronize import Barrier
from pathlib import Path

import numpy as np

from homage.audio import AudioPrint, Fingerprints, Peaks
from homage.library import AlreadyCatalogued, Library
from homage.library.schema import DATABASE_NAME
from homage.types import MediaInfo
from homage.visual.looks import LOOK_DIM
from homage.visual.prints import LABELS_KEPT, VisualPrint

DIM = 8


def seed_of(path: str) -> int:
    return zlib.crc32(path.encode())


def audio_print(seed: int, n: int = 300) -> AudioPrint:
    """Fingerprints and peaks as the library stores them (uint32 hashes, float32 fields)."""
    rng = np.random.default_rng(seed)
    prints = Fingerprints(
        hashes=rng.integers(0, 2**32, n, dtype=np.uint32),
        time=np.sort(rng.uniform(0, 1000, n)).astype(np.float32),
        freq=rng.uniform(0, 200, n).astype(np.float32),
        span=rng.uniform(1, 30, n).astype(np.float32),
    )
    peaks = Peaks(time=np.sort(rng.uniform(0, 1000, 2 * n)).astype(np.float32),
                  freq=rng.uniform(0, 200, 2 * n).astype(np.float32),
                  level=np.zeros(2 * n, dtype=np.float32))
    return AudioPrint(peaks, prints)


def visual_print(seed: int, n: int = 12, *, looks: bool = True) -> VisualPrint:
    """Frame descriptors with every optional part (looks, labels) unless told otherwise."""
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return VisualPrint(
        times=np.arange(n, dtype=np.float32) / 2,
        vectors=vectors,
        boxes=rng.uniform(0, 1, (n, 4)).astype(np.float32),
        cuts=np.array([0.0, n / 4], dtype=np.float32),
        pdq=rng.integers(0, 256, (n, 32), dtype=np.uint8),
        looks=rng.uniform(0, 1, (n, LOOK_DIM)).astype(np.float32) if looks else None,
        labels=rng.integers(0, 1000, (n, LABELS_KEPT)) if looks else None,
        label_scores=rng.uniform(0, 1, (n, LABELS_KEPT)).astype(np.float32) if looks else None,
    )


def add(library: Library, path: str, *, audio: bool = True, video: bool = False,
        content: str | None = None) -> int:
    """Catalogue a synthetic work at ``path`` whose arrays (and content hash, unless given)
    follow from the path."""
    seed = seed_of(path)
    info = MediaInfo(path=path, duration=30.0, has_audio=audio, has_video=video,
                     container="wav", audio_codec="pcm_s16le" if audio else None,
                     video_codec="h264" if video else None, sample_rate=44100, channels=2)
    return library.add_work(
        path=path, content_hash=content or f"{seed:08x}" * 8, size=1000 + seed % 1000,
        mtime=1.7e9 + seed % 1000, info=info, duration=30.0 + seed % 7,
        audio=audio_print(seed) if audio else None,
        visual=visual_print(seed) if video else None)


def raw_execute(location: str | Path, sql: str) -> None:
    """Run ``sql`` on the library's database behind homage's back (to damage it)."""
    if isinstance(location, str):
        import psycopg

        with psycopg.connect(location, autocommit=True) as db:
            db.execute(sql)
        return
    db = sqlite3.connect(Path(location) / DATABASE_NAME, isolation_level=None)
    try:
        db.execute(sql)
    finally:
        db.close()


def write_works(location: str | Path, paths: list[str], start: Barrier) -> tuple[int, int]:
    """A writer process: add each of ``paths`` once all writers are ready; returns (added,
    refused as already catalogued)."""
    added = refused = 0
    with Library.open(location, create=False) as library:
        start.wait()
        for path in paths:
            try:
                add(library, path)
                added += 1
            except AlreadyCatalogued:
                refused += 1
    return added, refused


def open_new(location: str | Path, start: Barrier) -> str:
    """A process opening (and so creating) the library at the same moment as others;
    returns its id as the process saw it."""
    start.wait()
    with Library.open(location) as library:
        return str(library.index_dir)
