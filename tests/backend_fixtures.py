"""Fixtures of the backend conformance tests (a pytest plugin, see ``tests/conftest.py``): a
library location for each backend, and a PostgreSQL server with a fresh database per test.

The PostgreSQL side uses the server named by ``$HOMAGE_TEST_POSTGRES_URL`` (an admin URL) or
starts a throwaway cluster for the session; it skips when neither can be had, except under
``CI=true``, where a missing PostgreSQL is a failure: CI must run these tests.
"""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from postgres_server import SERVER_ENV, NoPostgres, Server, throwaway_cluster

BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Server]:
    with contextlib.ExitStack() as stack:
        try:
            importlib.import_module("psycopg")  # the postgres extra
            server = Server(os.environ[SERVER_ENV]) if os.environ.get(SERVER_ENV) \
                else stack.enter_context(throwaway_cluster())
        except (NoPostgres, ImportError) as exc:
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail(f"CI must run the PostgreSQL tests: {exc}")
            pytest.skip(f"no PostgreSQL server: {exc}")
        yield server


@pytest.fixture
def postgres_url(postgres_server: Server, tmp_path: Path,
                 monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh, empty database; its derived indexes go to this test's own folder."""
    monkeypatch.setenv("HOMAGE_INDEX_CACHE", str(tmp_path / "index-cache"))
    with postgres_server.database() as url:
        yield url


@pytest.fixture(params=BACKENDS)
def library_location(request: pytest.FixtureRequest, tmp_path: Path) -> str | Path:
    """Where a new library goes: a SQLite folder, or an empty PostgreSQL database's URL."""
    if request.param == "postgresql":
        url: str = request.getfixturevalue("postgres_url")
        return url
    return tmp_path / "library"
