"""Persistent store of reference works: a catalogue (SQLite in a folder, or a shared
PostgreSQL database) plus derived look-up indexes."""

from homage.library.base import (
    BACKENDS,
    AlreadyCatalogued,
    Library,
    LibraryStats,
    WorkRecord,
    backend_for,
    redacted,
)
from homage.library.hash_files import load_hash_index
from homage.library.vector_files import load_vector_index

__all__ = [
    "BACKENDS", "AlreadyCatalogued", "Library", "LibraryStats", "WorkRecord", "backend_for",
    "load_hash_index", "load_vector_index", "redacted",
]
