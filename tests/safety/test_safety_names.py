"""Hostile file names: indexed, listed by ``library list`` one work per line, kept exactly in
``scan --json`` (queries *and* references), guarded in ``--csv`` (formula injection), and
escaped in every one-line message (``homage.report.words.printable``).

``tests/cli`` already covers query names in CSV/JSON and a newline in a failing file's name;
this adds names as *references*, control characters and terminal escapes, ``..`` tricks, the
list and remove commands, and the move/duplicate notices.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import pytest
from safety_support import assert_no_crash, invoke, write_works

from homage.report.words import printable

#: every name is a different piece of music, so none is a duplicate of another
HOSTILE_NAMES = [
    "with  two  spaces .wav",
    " leading space.wav",
    "new\nline.wav",
    "carriage\rreturn.wav",
    "tab\there.wav",
    "\x1b[31mred terminal\x1b[0m.wav",
    "bell\x07.wav",
    "Ünïcødé 日本語 🎵.wav",
    "rtl\u202eevil.wav",
    "<script>alert(1)</script>.wav",
    '<img src=x onerror="alert(1)">.wav',
    '=HYPERLINK("http://evil.example","click").wav',
    "=1+2.wav",
    "+SUM(1;2).wav",
    "-2+3.wav",
    "@SUM(1).wav",
    "\tcell starting with a tab.wav",
    "%s%n%x.wav",
    "$(touch pwned) `id`.wav",
    "back\\slash 'quotes\" ;,|&.wav",
    "..wav",
    "...wav",
]
#: names under awkward folders: a folder called "..." and one called "-- -rf"
IN_FOLDERS = {"...": "inside dots.wav", "-- -rf": "=inside dashes.wav"}
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path], Path]:
    root = tmp_path_factory.mktemp("names")
    folder = root / "hostile"
    names = [*HOSTILE_NAMES, *(f"{d}/{n}" for d, n in IN_FOLDERS.items())]
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
    paths = write_works(folder, len(names), seconds=3.0, seed=1100, names=names)
    library = root / "library"
    result = invoke(library, "index", folder)
    assert_no_crash(result)
    assert result.exit_code == 0, result.output
    assert f"indexed {len(paths)} new" in result.stdout
    return folder, paths, library


def test_library_list_shows_one_line_per_work_escaped(hostile) -> None:
    _, paths, library = hostile
    result = invoke(library, "library", "list")
    assert result.exit_code == 0
    lines = result.stdout.split("\n")[:-1]
    assert len(lines) == len(paths)
    shown = {line.split("\t")[0] for line in lines}
    assert shown == {printable(str(p.resolve())) for p in paths}
    for line in lines:
        assert line.count("\t") == 2 and line.replace("\t", " ").isprintable(), repr(line)


def test_scan_json_keeps_every_name_exactly(hostile, tmp_path: Path) -> None:
    folder, paths, library = hostile
    out = tmp_path / "scan.json"
    result = invoke(library, "scan", folder, "--json", out)
    assert_no_crash(result)
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text("utf-8"))
    assert sorted(d["query"] for d in data) == sorted(str(p) for p in paths)
    for item in data:
        best = max(item["matches"], key=lambda m: m["score"])
        assert best["reference"] == str(Path(item["query"]).resolve())
    # and the printed summary keeps one line per query (plus one per match)
    shown = [line for line in result.stdout.split("\n") if line and not line.startswith("  ")]
    assert len(shown) == len(paths)
    assert all("\x1b" not in line and "\r" not in line for line in result.stdout.split("\n"))


def test_scan_csv_guards_formulas_and_round_trips_the_rest(hostile, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    """Queries named relative to the working folder, so that cells start with the name."""
    folder, paths, library = hostile
    monkeypatch.chdir(folder)
    relative = [str(p.relative_to(folder)) for p in paths]
    out = tmp_path / "scan.csv"
    result = invoke(library, "scan", "--csv", out, "--json", tmp_path / "scan.json", "--",
                    *relative)
    assert_no_crash(result)
    assert result.exit_code == 0, result.output
    with open(out, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    best = {}
    for row in rows:
        if float(row["score"]) > float(best.get(row["query"], {"score": -1})["score"]):
            best[row["query"]] = row
    assert sorted(best) == sorted(guarded(name) for name in relative)
    assert any(cell.startswith("'") for cell in best)  # the guard was needed and used
    for name, path in zip(relative, paths, strict=True):
        assert best[guarded(name)]["reference"] == str(path.resolve())
    data = json.loads((tmp_path / "scan.json").read_text("utf-8"))
    assert [d["query"] for d in data] == relative  # JSON keeps them unguarded, exactly


def guarded(text: str) -> str:
    return "'" + text if text.startswith(FORMULA_START) else text


def test_errors_for_hostile_names_are_one_line_each(tmp_path: Path) -> None:
    folder = tmp_path / "music"
    folder.mkdir()
    bad_names = ["new\nline.flac", "\x1b[2Jclear.wav", "carriage\rreturn.mp3",
                 "=1+2 broken.ogg", "rtl\u202e.wav"]
    for name in bad_names:
        (folder / name).write_bytes(b"not audio at all " * 20)
    write_works(folder, 1, seconds=3.0, seed=1160)
    result = invoke(tmp_path / "library", "index", folder)
    assert_no_crash(result)
    assert result.exit_code == 1
    lines = result.stderr.split("\n")
    assert lines.pop() == ""
    assert all(line.isprintable() for line in lines), lines
    # each failure is named as it happens ("homage: skipped ...") and in the closing summary
    summary = [line for line in lines if not line.startswith("homage: skipped ")]
    assert summary[0] == f"homage: {len(bad_names)} file(s) failed:"
    assert len(summary) == 1 + len(bad_names)
    for name in bad_names:
        named = [x for x in lines if printable(str(folder / name)) in x]
        assert len(named) == 2
        for line in named:
            assert len(line.split(printable(str(folder / name)), 1)[1]) > 4  # says why


def test_dot_dot_paths_are_catalogued_resolved_and_removable(tmp_path: Path) -> None:
    folder = tmp_path / "music"
    [work] = write_works(folder / "sub", 1, seconds=3.0, seed=1170)
    (folder / "other").mkdir()
    library = tmp_path / "library"
    tricky = folder / "other" / ".." / "sub" / ".." / "sub" / work.name
    result = invoke(library, "index", tricky)
    assert result.exit_code == 0, result.output
    listed = invoke(library, "library", "list").stdout.splitlines()
    assert [line.split("\t")[0] for line in listed] == [str(work.resolve())]
    again = invoke(library, "index", folder / "other" / ".." / "sub")
    assert "indexed 0 new, 1 unchanged" in again.stdout  # the same work, not a second one
    removed = invoke(library, "library", "remove", tricky)
    assert removed.exit_code == 0, removed.output
    assert invoke(library, "library", "list").stdout == ""


def test_moved_and_duplicate_notices_escape_names(tmp_path: Path) -> None:
    folder = tmp_path / "music"
    [work] = write_works(folder, 1, seconds=3.0, seed=1180)
    library = tmp_path / "library"
    assert invoke(library, "index", folder).exit_code == 0
    shutil.copy(work, folder / "copy\nindexed 99 new.wav")
    work.rename(folder / "moved\x1b[2J.wav")
    result = invoke(library, "index", folder)
    assert result.exit_code == 0, result.output
    lines = result.stdout.split("\n")[:-1]
    # one "moved" notice, one "skipped duplicate" notice and the summary, each on one line
    assert len(lines) == 3, lines
    assert all(line.isprintable() for line in lines), lines
    assert lines[-1].startswith("indexed 0 new")
    for name in ("copy\nindexed 99 new.wav", "moved\x1b[2J.wav"):
        assert printable(name) in result.stdout


def test_a_name_that_is_not_utf8_fails_alone(tmp_path: Path) -> None:
    folder = tmp_path / "music"
    good = write_works(folder, 2, seconds=3.0, seed=1190)
    latin1 = os.fsdecode(os.fsencode(folder) + b"/caf\xe9.wav")
    shutil.copy(good[0], latin1)
    os.utime(latin1, (1, 1))
    with open(latin1, "ab") as handle:  # other content than good[0]: not a duplicate
        handle.write(b"\0" * 64)
    result = invoke(tmp_path / "library", "index", folder)
    assert_no_crash(result)
    assert result.exit_code in (0, 1)
    listed = invoke(tmp_path / "library", "library", "list").stdout
    assert all(str(p.resolve()) in listed for p in good)
    if result.exit_code == 1:
        lines = [x for x in result.stderr.splitlines() if "caf" in x]
        assert lines and all(line.isprintable() for line in lines)
