"""What only the PostgreSQL backend has: versioned migrations under an advisory lock, telling
a homage database from a stranger's, connection errors that never show the password, index
files in a per-library cache, and the command line over a ``postgresql://`` URL."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from backend_support import add, raw_execute
from click.testing import CliRunner

from homage.cli.main import cli
from homage.config import Settings, library_location, load_settings
from homage.errors import LibraryError
from homage.library import Library, backend_for, load_hash_index, redacted
from homage.library.postgres_schema import MIGRATIONS
from homage.library.schema import SCHEMA_VERSION
from postgres_server import PASSWORD, Server

psycopg = pytest.importorskip("psycopg")  # the postgres extra; CI installs it


def applied(url: str) -> list[int]:
    with psycopg.connect(url) as db:
        return [v for (v,) in db.execute("SELECT version FROM schema_migrations ORDER BY 1")]


def columns(url: str, table: str) -> set[str]:
    with psycopg.connect(url) as db:
        return {c for (c,) in db.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s",
            (table,))}


# ------------------------------------------------------------------------- locations
@pytest.mark.parametrize(("location", "backend"), [
    ("postgresql://u:p@db.example/homage", "postgresql"),
    ("POSTGRES://db.example/homage", "postgresql"),
    ("postgresql:relative-folder", "sqlite"),
    ("/srv/homage/library", "sqlite"),
    (Path("postgresql://x"), "sqlite"),
])
def test_a_url_names_a_database_and_anything_else_a_folder(location: str | Path,
                                                           backend: str) -> None:
    assert backend_for(location) == backend


def test_a_url_stays_a_url_through_settings_and_config(tmp_path: Path) -> None:
    url = "postgresql://someone@db.example:5433/homage"
    assert library_location(url) == url
    assert library_location("~/lib") == Path.home() / "lib"
    config = tmp_path / "homage.toml"
    config.write_text(f'library = "{url}"\n')
    assert load_settings(config).library == url
    assert Settings().with_overrides(library=url).library == url


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql://me:s3cret@db:5432/lib", "postgresql://me@db:5432/lib"),
    ("postgresql://me@db/lib?password=s3cret&sslmode=require",
     "postgresql://me@db/lib?sslmode=require"),
    ("postgres://db/lib", "postgres://db/lib"),
    ("/a/folder", "/a/folder"),
])
def test_a_library_is_named_without_its_password(url: str, shown: str) -> None:
    assert redacted(url) == shown


def test_without_the_driver_a_url_names_the_missing_extra(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)
    monkeypatch.delitem(sys.modules, "homage.library.postgres", raising=False)
    with pytest.raises(LibraryError, match=re.escape("pip install 'homage[postgres]'")) as no:
        Library.open("postgresql://me:s3cret@db.example/lib")
    assert str(no.value).startswith("postgresql://me@db.example/lib: ")


# ------------------------------------------------------------------------- migrations
def test_a_new_database_gets_every_migration_once(postgres_url: str) -> None:
    assert max(MIGRATIONS) == SCHEMA_VERSION
    with Library.open(postgres_url):
        pass
    with Library.open(postgres_url, create=False):
        pass
    assert applied(postgres_url) == list(range(1, SCHEMA_VERSION + 1))


def test_an_older_schema_is_migrated_in_place(postgres_url: str) -> None:
    """A v2 library (no frame looks or labels) comes up to v3 and keeps its works; their
    frames read back without looks, as SQLite's v2 → v3 migration leaves them."""
    with Library.open(postgres_url) as library:
        work = add(library, "/old.mp4", video=True)
    raw_execute(postgres_url, "ALTER TABLE visual_features DROP COLUMN looks, "
                              "DROP COLUMN labels")
    raw_execute(postgres_url, "DELETE FROM schema_migrations WHERE version = 3")
    assert applied(postgres_url) == [1, 2]
    with Library.open(postgres_url, create=False) as library:
        stored = library.visual(work)
        assert stored is not None and stored.looks is None and stored.labels is None
        assert library.integrity_problems() == []
    assert applied(postgres_url) == [1, 2, 3]
    assert {"looks", "labels"} <= columns(postgres_url, "visual_features")


def test_a_newer_schema_is_refused(postgres_url: str) -> None:
    with Library.open(postgres_url):
        pass
    raw_execute(postgres_url, "INSERT INTO schema_migrations(version, homage_version) "
                              f"VALUES ({SCHEMA_VERSION + 1}, 'future')")
    with pytest.raises(LibraryError, match=f"schema v{SCHEMA_VERSION + 1} is newer"):
        Library.open(postgres_url)


def test_check_reports_a_gap_in_the_migrations(postgres_url: str) -> None:
    with Library.open(postgres_url):
        pass
    raw_execute(postgres_url, "DELETE FROM schema_migrations WHERE version = 1")
    with Library.open(postgres_url) as library:
        assert library.integrity_problems() == [
            f"postgresql: applied schema migrations are [2, 3], not 1…{SCHEMA_VERSION}"]


# -------------------------------------------------------------- strangers and errors
@pytest.mark.parametrize("tables", [
    "CREATE TABLE invoices (id integer)",
    "CREATE TABLE works (id integer); CREATE TABLE meta (key text, value text)",
])
def test_a_database_holding_something_else_is_refused(postgres_url: str, tables: str) -> None:
    for statement in tables.split(";"):
        raw_execute(postgres_url, statement)
    with pytest.raises(LibraryError, match="holds other tables and no homage library"):
        Library.open(postgres_url)
    with psycopg.connect(postgres_url) as db:
        assert db.execute("SELECT to_regclass('audio_fingerprints')").fetchone() == (None,)


def _refused(url: str) -> str:
    with pytest.raises(LibraryError) as refused:
        Library.open(url, create=False)
    message = str(refused.value)
    assert "\n" not in message and PASSWORD not in message
    assert message.startswith(redacted(url) + ": ")
    return message


def test_wrong_password_unreachable_server_and_missing_database_are_one_line(
        postgres_server: Server, postgres_url: str) -> None:
    database = postgres_url.rsplit("/", 1)[1]
    assert "password authentication failed" in _refused(
        postgres_server.url_for(database, password=PASSWORD + "-wrong"))
    port = int(re.search(r":(\d+)/", postgres_url).group(1))  # type: ignore[union-attr]
    unreachable = postgres_url.replace(f":{port}/", ":1/")
    assert "cannot connect to the library database" in _refused(unreachable)
    assert "does not exist" in _refused(postgres_server.url_for("homage_nowhere"))


def test_the_derived_indexes_live_in_a_folder_of_their_own_library(
        postgres_server: Server, postgres_url: str, tmp_path: Path) -> None:
    """Keyed by the library's id, not its URL: a database made again at the same address
    must not find the old one's index files."""
    with Library.open(postgres_url) as library:
        add(library, "/one.wav")
        load_hash_index(library)
        first = library.index_dir
    assert first.parent == tmp_path / "index-cache"
    assert (first / "hashindex" / "gen-1").is_dir()
    raw_execute(postgres_url, "DROP TABLE audio_fingerprints, visual_features, works, meta, "
                              "schema_migrations")
    with Library.open(postgres_url) as library:
        assert library.index_dir != first
        add(library, "/two.wav")
        index, _, paths = load_hash_index(library)
        assert list(paths.values()) == ["/two.wav"] and len(index) == 300


# ----------------------------------------------------------------------- command line
def test_the_command_line_looks_after_a_postgresql_library(
        postgres_url: str, tmp_path: Path, media_files) -> None:
    """index, list, stats, check, remove over ``--library URL``, and over
    ``$HOMAGE_LIBRARY``; the password is never printed."""
    runner = CliRunner()
    clip = media_files.clips["wav"]

    def homage(*args: str) -> tuple[int, str]:
        result = runner.invoke(cli, ["--library", postgres_url, *args])
        assert PASSWORD not in result.output
        return result.exit_code, result.output

    assert homage("index", str(clip))[0] == 0
    code, listed = homage("library", "list")
    assert code == 0 and str(clip.resolve()) in listed
    code, stats = homage("library", "stats")
    assert code == 0 and f"library: {redacted(postgres_url)}" in stats and "works: 1" in stats
    code, checked = homage("library", "check")
    assert code == 0 and checked.strip().endswith("library ok")
    by_env = runner.invoke(cli, ["library", "list"], env={"HOMAGE_LIBRARY": postgres_url})
    assert by_env.exit_code == 0 and by_env.output == listed
    code, removed = homage("library", "remove", str(clip))
    assert code == 0 and "removed:" in removed
    assert homage("library", "list") == (0, "")


def test_the_command_line_names_an_unreachable_library_in_one_line(postgres_url: str) -> None:
    port = int(re.search(r":(\d+)/", postgres_url).group(1))  # type: ignore[union-attr]
    unreachable = postgres_url.replace(f":{port}/", ":1/")
    done = subprocess.run([sys.executable, "-m", "homage", "--library", unreachable,
                           "library", "list"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"homage: error: {redacted(unreachable)}: cannot connect")
    assert PASSWORD not in done.stderr
