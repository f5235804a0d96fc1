"""Benchmarks read a library's size once it is closed and at rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from homage.bench.harness import stats_at_rest
from homage.errors import LibraryError
from homage.library import Library


def test_stats_at_rest_reopen_the_closed_library(tmp_path: Path) -> None:
    with Library.open(tmp_path / "lib") as library:
        during = library.stats()
    after = stats_at_rest(tmp_path / "lib")
    assert after.works == during.works == 0
    assert 0 < after.database_bytes <= during.database_bytes
    assert not (tmp_path / "lib" / "homage.sqlite-wal").exists() or \
        (tmp_path / "lib" / "homage.sqlite-wal").stat().st_size == 0


def test_stats_at_rest_never_create_a_library(tmp_path: Path) -> None:
    with pytest.raises(LibraryError):
        stats_at_rest(tmp_path / "nothing here")
    assert not (tmp_path / "nothing here").exists()
