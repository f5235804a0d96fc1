"""Persistent store of reference works: SQLite catalogue plus derived look-up indexes."""

from homage.library.hash_files import load_hash_index
from homage.library.store import AlreadyCatalogued, Library, LibraryStats, WorkRecord
from homage.library.vector_files import load_vector_index

__all__ = [
    "AlreadyCatalogued", "Library", "LibraryStats", "WorkRecord", "load_hash_index",
    "load_vector_index",
]
