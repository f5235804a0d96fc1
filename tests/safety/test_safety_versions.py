"""Version safety: a library written by another schema version or with other extraction
settings is refused, by every command, with one line that says what to do, and is left
exactly as it was (never mixed).

``tests/library`` already covers ``Library.open`` refusing schema v99 and other settings passed
in by the caller; here the stored meta data itself is edited (as another homage would have
written it), and the refusal is checked through the CLI.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from safety_support import assert_no_crash, invoke, write_works

from homage.library.schema import DATABASE_NAME, SCHEMA_VERSION

WHAT_TO_DO = "re-index into a new library folder"

COMMANDS = (
    ("index", "{music}"),
    ("scan", "{query}"),
    ("library", "list"),
    ("library", "stats"),
    ("library", "check"),
    ("library", "check", "--repair"),
    ("library", "remove", "{query}"),
)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A library of two works, a third work (to try to add) and a query."""
    root = tmp_path_factory.mktemp("versions")
    works = write_works(root / "indexed", 2, seconds=3.0, seed=800)
    write_works(root / "music", 1, seconds=3.0, seed=810)
    library = root / "library"
    assert invoke(library, "index", root / "indexed").exit_code == 0
    return library, root / "music", works[0]


def edited_copy(built: tuple[Path, Path, Path], where: Path, *statements: str) -> Path:
    library = where / "library"
    shutil.copytree(built[0], library)
    db = sqlite3.connect(library / DATABASE_NAME)
    for statement in statements:
        db.execute(statement)
    db.commit()
    db.close()
    return library


def dump(library: Path) -> str:
    db = sqlite3.connect(library / DATABASE_NAME)
    try:
        return "\n".join(db.iterdump())
    finally:
        db.close()


def settings_edit(change: dict) -> str:
    from homage.audio import FingerprintSettings

    stored = FingerprintSettings().to_json()
    stored.update(change)
    for key in [k for k, v in change.items() if v is None]:
        del stored[key]
    text = json.dumps(stored, sort_keys=True).replace("'", "''")
    return f"UPDATE meta SET value = '{text}' WHERE key = 'audio_settings'"


REFUSALS = {
    "newer schema": (
        [f"UPDATE meta SET value = '{SCHEMA_VERSION + 1}' WHERE key = 'schema_version'"],
        f"schema v{SCHEMA_VERSION + 1}"),
    "older schema": (["UPDATE meta SET value = '0' WHERE key = 'schema_version'"],
                     "schema v0"),
    "schema version missing": (["DELETE FROM meta WHERE key = 'schema_version'"], "schema v"),
    "other hop": ([settings_edit({"hop": 256})], "other audio fingerprint settings"),
    "other sample rate": ([settings_edit({"sample_rate": 16000})],
                          "other audio fingerprint settings"),
    "setting from a newer homage": ([settings_edit({"onset_weighting": 0.5})],
                                    "other audio fingerprint settings"),
    "setting missing": ([settings_edit({"ratio_levels": None})],
                        "other audio fingerprint settings"),
    "settings missing": (["DELETE FROM meta WHERE key = 'audio_settings'"],
                         "other audio fingerprint settings"),
    "settings a JSON list": (["UPDATE meta SET value = '[1, 2]' WHERE key = 'audio_settings'"],
                             "other audio fingerprint settings"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_other_versions_and_settings_are_refused_by_every_command(
    built: tuple[Path, Path, Path], tmp_path: Path, case: str
) -> None:
    statements, reason = REFUSALS[case]
    library = edited_copy(built, tmp_path, *statements)
    before = dump(library)
    music, query = built[1], built[2]
    for command in COMMANDS:
        args = [a.format(music=music, query=query) for a in command]
        result = invoke(library, *args)
        assert_no_crash(result)
        assert result.exit_code == 1, (args, result.output)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, (args, lines)
        assert lines[0].startswith(f"homage: error: {library / DATABASE_NAME}: "), lines
        assert reason in lines[0]
        if "settings" in reason:
            assert "use the settings it was built with" in lines[0]
        assert WHAT_TO_DO in lines[0]
        assert result.stdout == ""
    assert dump(library) == before  # nothing mixed in, nothing repaired away


def test_a_library_of_another_program_is_refused(built: tuple[Path, Path, Path],
                                                 tmp_path: Path) -> None:
    library = edited_copy(built, tmp_path, "PRAGMA application_id = 1234")
    before = dump(library)
    result = invoke(library, "index", built[1])
    assert_no_crash(result)
    assert result.exit_code == 1
    assert result.stderr.strip() == (f"homage: error: {library / DATABASE_NAME}: this SQLite "
                                     "file is not a homage library")
    assert dump(library) == before


def test_the_same_settings_open_after_a_refusal(built: tuple[Path, Path, Path],
                                                tmp_path: Path) -> None:
    """Undoing the edit makes the library usable again: the refusal changed nothing."""
    newer = f"UPDATE meta SET value = '{SCHEMA_VERSION + 1}' WHERE key = 'schema_version'"
    library = edited_copy(built, tmp_path, newer)
    assert invoke(library, "index", built[1]).exit_code == 1
    db = sqlite3.connect(library / DATABASE_NAME)
    db.execute(f"UPDATE meta SET value = '{SCHEMA_VERSION}' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    result = invoke(library, "index", built[1])
    assert result.exit_code == 0, result.output
    assert "indexed 1 new" in result.stdout
    assert invoke(library, "library", "check").exit_code == 0


DAMAGED_META = {
    "settings not JSON": "UPDATE meta SET value = '{not json' WHERE key = 'audio_settings'",
    "schema version not a number": "UPDATE meta SET value = 'abc' WHERE key = "
                                   "'schema_version'",
    "generation not a number": "UPDATE meta SET value = 'x' WHERE key = 'generation'",
}


@pytest.mark.parametrize("case", sorted(DAMAGED_META))
def test_damaged_meta_is_refused_in_one_line(built: tuple[Path, Path, Path], tmp_path: Path,
                                             case: str) -> None:
    library = edited_copy(built, tmp_path, DAMAGED_META[case])
    for args in (["index", built[1]], ["scan", built[2]], ["library", "check"]):
        result = invoke(library, *args)
        assert_no_crash(result)
        assert result.exit_code == 1
        [line] = result.stderr.strip().splitlines()
        assert str(library) in line
