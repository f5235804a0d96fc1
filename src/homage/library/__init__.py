"""Persistent store of reference works: SQLite catalogue plus derived look-up indexes."""

from homage.library.hash_files import load_hash_index
from homage.library.store import Library, LibraryStats, WorkRecord

__all__ = ["Library", "LibraryStats", "WorkRecord", "load_hash_index"]
