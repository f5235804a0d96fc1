"""The ``homage`` command line, through click's runner and as a real console script."""

from __future__ import annotations

import csv
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from conftest import REF_FILES, Corpus
from homage.cli.main import cli
from homage.errors import HomageError
from homage.library.schema import DATABASE_NAME
from homage.report.tabular import CSV_COLUMNS

MATCH_KEYS = {"kind", "reference", "query_start", "query_end", "reference_start",
              "reference_end", "score", "transform"}


@pytest.fixture
def library_dir(tmp_path: Path) -> Path:
    return tmp_path / "library"


@pytest.fixture
def homage(library_dir: Path):
    """Run ``homage --library LIBRARY ARGS...`` in-process."""
    runner = CliRunner()

    def invoke(*args: str | Path, library: bool = True, env: dict[str, str] | None = None
               ) -> Result:
        argv = (["--library", str(library_dir)] if library else []) + [str(a) for a in args]
        return runner.invoke(cli, argv, env=env, catch_exceptions=False)

    return invoke


@pytest.fixture
def indexed(homage, corpus: Corpus, library_dir: Path) -> Path:
    """The library holding the three corpus references."""
    result = homage("index", corpus.root / "refs")
    assert result.exit_code == 0, result.output
    return library_dir


def assert_result_json(data: dict, query: Path) -> None:
    assert set(data) == {"query", "duration", "matches"}
    assert data["query"] == str(query)
    assert isinstance(data["duration"], float) and data["duration"] > 0
    assert isinstance(data["matches"], list)
    for match in data["matches"]:
        assert set(match) == MATCH_KEYS
        assert match["kind"] == "audio_sample"
        assert isinstance(match["reference"], str) and Path(match["reference"]).is_absolute()
        for key in ("query_start", "query_end", "reference_start", "reference_end"):
            assert isinstance(match[key], float) and match[key] >= 0
        assert match["query_start"] <= match["query_end"]
        assert isinstance(match["score"], float) and 0.0 <= match["score"] <= 1.0
        assert set(match["transform"]) == {"speed", "pitch_semitones", "tempo", "mirrored"}
        assert isinstance(match["transform"]["mirrored"], bool)
        for key in ("speed", "pitch_semitones", "tempo"):
            assert isinstance(match["transform"][key], float)


def best_match(data: dict) -> dict:
    return max(data["matches"], key=lambda m: m["score"])


# ---------------------------------------------------------------------------------- index


def test_index_then_reindex(homage, corpus: Corpus) -> None:
    first = homage("index", corpus.root / "refs")
    assert first.exit_code == 0, first.output
    assert "indexed 3 new, 0 unchanged, 0 moved, 0 duplicates, 0 failed" in first.stdout
    assert first.stderr == ""
    again = homage("index", corpus.root / "refs")
    assert again.exit_code == 0
    assert "indexed 0 new, 3 unchanged" in again.stdout


def test_index_reports_moves_and_duplicates(homage, corpus: Corpus, tmp_path: Path) -> None:
    music = tmp_path / "music"
    music.mkdir()
    shutil.copy2(corpus.refs["c"], music / "c.wav")
    assert homage("index", music).exit_code == 0
    (music / "c.wav").rename(music / "renamed.wav")
    shutil.copy2(music / "renamed.wav", music / "zz copy.wav")
    result = homage("index", music)
    assert result.exit_code == 0, result.output
    assert f"moved: {(music / 'c.wav').resolve()} -> {(music / 'renamed.wav').resolve()}" \
        in result.stdout
    assert f"skipped duplicate: {(music / 'zz copy.wav').resolve()}" in result.stdout
    assert "1 moved, 1 duplicates" in result.stdout


def test_index_folder_with_a_bad_file(homage, corpus: Corpus, tmp_path: Path) -> None:
    music = tmp_path / "music"
    music.mkdir()
    for name in ("a", "c"):
        shutil.copy2(corpus.refs[name], music / corpus.refs[name].name)
    bad = music / "b_broken.mp3"
    bad.write_bytes(os.urandom(3000))
    result = homage("index", music)
    assert result.exit_code == 1
    assert "indexed 2 new" in result.stdout and "1 failed" in result.stdout
    # named on stderr, each time in a whole line that says why (the run's "skipped" notice
    # and the closing summary)
    lines = [line for line in result.stderr.splitlines() if str(bad) in line]
    assert lines
    assert all(f"{bad}: not readable as media (not a media file" in line for line in lines)
    assert "homage: 1 file(s) failed:" in result.stderr
    listed = homage("library", "list")
    assert listed.exit_code == 0
    assert sorted(line.split("\t")[0] for line in listed.stdout.splitlines()) == sorted(
        str((music / corpus.refs[n].name).resolve()) for n in ("a", "c"))
    check = homage("library", "check")
    assert check.exit_code == 0 and "library ok" in check.stdout


def test_index_missing_path_fails_but_indexes_the_rest(homage, corpus: Corpus,
                                                       tmp_path: Path) -> None:
    missing = tmp_path / "nope.flac"
    result = homage("index", missing, corpus.refs["c"])
    assert result.exit_code == 1
    assert f"{missing}: no such file or folder" in result.stderr
    assert "indexed 1 new" in result.stdout


def test_index_file_name_with_a_newline_fails_in_one_line(homage, tmp_path: Path) -> None:
    music = tmp_path / "music"
    music.mkdir()
    (music / "evil\nname.wav").write_bytes(b"not audio at all")
    result = homage("index", music)
    assert result.exit_code == 1
    failure = [line for line in result.stderr.splitlines() if "evil" in line]
    assert failure
    assert all("name.wav: not readable as media" in line for line in failure)


def test_quiet_index_prints_nothing(homage, corpus: Corpus) -> None:
    result = homage("-q", "index", corpus.refs["c"])
    assert result.exit_code == 0
    assert result.stdout == "" and result.stderr == ""


# ------------------------------------------------------------------------------------ scan


def test_scan_one_file_writes_the_match_json(homage, indexed: Path, corpus: Corpus,
                                             tmp_path: Path) -> None:
    query = corpus.queries["speed_1.25"]
    out = tmp_path / "out" / "match.json"
    result = homage("scan", query, "--json", out)
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text("utf-8"))
    assert_result_json(data, query)
    best = best_match(data)
    assert best["reference"] == str(corpus.refs["a"].resolve())
    assert best["transform"]["speed"] == pytest.approx(1.25, rel=0.03)
    assert best["score"] >= 0.5
    assert f"{query} (0:20.0):" in result.stdout
    assert "sped up ×1.25" in result.stdout
    assert str(corpus.refs["a"].resolve()) in result.stdout


def test_scan_several_files_writes_a_json_list_and_csv(homage, indexed: Path, corpus: Corpus,
                                                       tmp_path: Path) -> None:
    queries = [corpus.queries["pitch_-3"], corpus.queries["two_refs"], corpus.queries["noise"]]
    out, table = tmp_path / "m.json", tmp_path / "m.csv"
    result = homage("scan", *queries, "--json", out, "--csv", table)
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text("utf-8"))
    assert isinstance(data, list) and len(data) == 3
    for item, query in zip(data, queries, strict=True):
        assert_result_json(item, query)
    assert data[2]["matches"] == []
    assert best_match(data[0])["transform"]["pitch_semitones"] == pytest.approx(-3, abs=0.5)
    assert {str(corpus.refs[r].resolve()) for r in ("a", "b")} <= {
        m["reference"] for m in data[1]["matches"]}
    with open(table, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) - 1 == sum(len(item["matches"]) for item in data)
    assert "pitched -3.0 semitones" in result.stdout.replace("−", "-")


def test_scan_a_folder_writes_a_json_list(homage, indexed: Path, corpus: Corpus,
                                          tmp_path: Path) -> None:
    folder = tmp_path / "queries"
    folder.mkdir()
    shutil.copy2(corpus.queries["plain"], folder / "only.wav")
    result = homage("scan", folder, "--json", tmp_path / "m.json")
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "m.json").read_text("utf-8"))
    assert isinstance(data, list) and len(data) == 1
    assert_result_json(data[0], folder / "only.wav")


def test_scan_with_a_bad_file_still_reports_the_good_ones(homage, indexed: Path,
                                                         corpus: Corpus, media_files,
                                                         tmp_path: Path) -> None:
    video = media_files.bad["video_only"]
    out = tmp_path / "m.json"
    result = homage("--kinds", "audio", "scan", corpus.queries["plain"], video, "--json", out)
    assert result.exit_code == 1
    lines = [x for x in result.stderr.splitlines() if str(video) in x]
    assert lines and all(
        x.endswith(f"{video}: no audio stream for the kinds asked for (audio)") for x in lines)
    data = json.loads(out.read_text("utf-8"))
    assert [d["query"] for d in data] == [str(corpus.queries["plain"])]


def test_scan_without_a_library_fails_clearly(homage, corpus: Corpus, library_dir: Path
                                              ) -> None:
    result = homage("scan", corpus.queries["plain"])
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"homage: error: {library_dir}: no homage library here (run `homage index` first)")
    assert not library_dir.exists()


def test_threshold_and_kinds_options(homage, indexed: Path, corpus: Corpus,
                                     tmp_path: Path) -> None:
    query = corpus.queries["plain"]
    result = homage("--threshold", "1", "scan", query, "--json", tmp_path / "m.json")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "m.json").read_text("utf-8"))["matches"] == []
    assert "0 matches" in result.stdout
    result = homage("--kinds", "copy,homage", "scan", query)
    assert result.exit_code == 1
    assert result.stderr.strip().endswith(
        f"{query}: no video stream for the kinds asked for (copy,homage)")
    # after the verb too, as the issue's own example writes it; there they win
    result = homage("--kinds", "audio", "scan", query, "--kinds", "copy")
    assert result.exit_code == 1
    assert result.stderr.strip().endswith(
        f"{query}: no video stream for the kinds asked for (copy)")
    result = homage("scan", query, "--threshold", "1", "--kinds", "audio")
    assert result.exit_code == 0 and "0 matches" in result.stdout
    result = homage("compare", query, query, "--threshold", "2")
    assert result.exit_code == 2
    assert result.stderr.strip() == "homage: usage error: threshold must be between 0 and 1"


def test_hostile_file_names_are_escaped_in_csv(homage, indexed: Path, corpus: Corpus,
                                               tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "hostile"
    folder.mkdir()
    names = ["=HYPERLINK(\"evil.example\",\"click\").wav", "=1+2.wav", "+cmd.wav",
             "-2+3.wav", "@SUM(1).wav", "<script>alert(1)<\\script>.wav",
             "<img src=x onerror=alert(1)>.wav", "my sample, take 2.wav", "Ünïcødé 日本語.wav"]
    for name in names:
        shutil.copy2(corpus.queries["plain"], folder / name)
    monkeypatch.chdir(folder)
    result = homage("scan", "--csv", tmp_path / "m.csv", "--json", tmp_path / "m.json", "--",
                    *names)
    assert result.exit_code == 0, result.output
    with open(tmp_path / "m.csv", newline="", encoding="utf-8") as handle:
        rows = [dict(zip(CSV_COLUMNS, row, strict=True)) for row in list(csv.reader(handle))[1:]]
    cells = {row["query"] for row in rows}
    expected = {("'" + n if n[0] in "=+-@" else n) for n in names}
    assert cells == expected
    assert all(row["reference"] == str(corpus.refs["a"].resolve()) for row in rows
               if float(row["score"]) > 0.9)
    data = json.loads((tmp_path / "m.json").read_text("utf-8"))
    assert [d["query"] for d in data] == names  # JSON keeps names exactly


# --------------------------------------------------------------------------------- compare


def test_compare_prints_and_writes_json(homage, corpus: Corpus, tmp_path: Path) -> None:
    query, reference = corpus.queries["tempo_1.2"], corpus.refs["a"]
    out = tmp_path / "c.json"
    result = homage("compare", query, reference, "--json", out, library=False)
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text("utf-8"))
    assert_result_json(data, query)
    best = best_match(data)
    assert best["reference"] == str(reference)
    assert best["transform"]["tempo"] == pytest.approx(1.2, rel=0.03)
    assert best["transform"]["speed"] == 1.0
    assert "tempo ×1.20 (faster)" in result.stdout


def test_compare_missing_file_is_one_line_exit_1(homage, corpus: Corpus, tmp_path: Path
                                                 ) -> None:
    missing = tmp_path / "missing.mp3"
    result = homage("compare", missing, corpus.refs["a"], library=False)
    assert result.exit_code == 1
    assert result.stderr == f"homage: error: {missing}: no such file\n"


def test_error_for_a_name_with_a_newline_is_one_line(homage, corpus: Corpus,
                                                     tmp_path: Path) -> None:
    missing = tmp_path / "two\nlines.mp3"
    result = homage("compare", missing, corpus.refs["a"], library=False)
    assert result.exit_code == 1
    assert len(result.stderr.splitlines()) == 1


def test_debug_shows_the_exception(corpus: Corpus, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--debug", "compare", str(tmp_path / "missing.mp3"),
                                      str(corpus.refs["a"])])
    assert isinstance(result.exception, HomageError)
    assert result.exit_code != 0


# --------------------------------------------------------------------------------- library


def test_library_list_stats_remove(homage, indexed: Path, corpus: Corpus) -> None:
    listed = homage("library", "list")
    assert listed.exit_code == 0
    lines = listed.stdout.splitlines()
    assert len(lines) == 3
    path, duration, prints = lines[0].split("\t")
    assert path == min(str(p.resolve()) for p in corpus.refs.values())
    assert duration == "0:30.0"
    assert prints.endswith(" fingerprints") and int(prints.split()[0]) > 0

    stats = homage("library", "stats")
    assert stats.exit_code == 0
    assert f"library: {indexed}" in stats.stdout
    assert "works: 3" in stats.stdout
    assert "duration: 0.03 h" in stats.stdout

    target = corpus.refs["b"]
    removed = homage("library", "remove", target)
    assert removed.exit_code == 0
    assert removed.stdout == f"removed: {target.resolve()}\n"
    assert len(homage("library", "list").stdout.splitlines()) == 2
    again = homage("library", "remove", target)
    assert again.exit_code == 1
    assert f"{target}: not in the library" in again.stderr
    # the removed work is no longer found
    scan = homage("scan", corpus.queries["two_refs"], "--json", indexed.parent / "m.json")
    assert scan.exit_code == 0
    refs = {m["reference"] for m in json.loads(
        (indexed.parent / "m.json").read_text("utf-8"))["matches"]}
    assert str(target.resolve()) not in refs
    assert str(corpus.refs["a"].resolve()) in refs


def test_library_check_good_missing_file_damaged_and_repaired(homage, corpus: Corpus,
                                                              tmp_path: Path,
                                                              library_dir: Path) -> None:
    music = tmp_path / "music"
    music.mkdir()
    for name in REF_FILES.values():
        shutil.copy2(corpus.root / "refs" / name, music / name)
    assert homage("index", music).exit_code == 0
    ok = homage("library", "check")
    assert (ok.exit_code, ok.stdout) == (0, "library ok\n")

    (music / REF_FILES["c"]).unlink()
    gone = homage("library", "check")
    assert gone.exit_code == 0
    assert f"warning: {(music / REF_FILES['c']).resolve()}: file no longer on disk" \
        in gone.stdout

    db = sqlite3.connect(library_dir / DATABASE_NAME)
    db.execute("DELETE FROM audio_fingerprints WHERE work_id = (SELECT MIN(id) FROM works)")
    db.commit()
    db.close()
    damaged = homage("library", "check")
    assert damaged.exit_code == 1
    assert "problem:" in damaged.stdout and "catalogued without fingerprints" in damaged.stdout
    repaired = homage("library", "check", "--repair")
    assert repaired.exit_code == 0, repaired.output
    assert "repaired 1 entries" in repaired.stdout and "library ok" in repaired.stdout
    assert len(homage("library", "list").stdout.splitlines()) == 2


def test_library_commands_need_a_library(homage, library_dir: Path) -> None:
    for args in (["library", "list"], ["library", "stats"], ["library", "check"],
                 ["library", "remove", "x.wav"]):
        result = homage(*args)
        assert result.exit_code == 1, args
        assert "no homage library here" in result.stderr
    assert not library_dir.exists()


def test_library_in_a_foreign_folder_is_refused(homage, corpus: Corpus, library_dir: Path
                                                ) -> None:
    library_dir.mkdir()
    (library_dir / "holiday.jpg").write_bytes(b"\xff\xd8")
    result = homage("index", corpus.refs["c"])
    assert result.exit_code == 1
    assert "folder is not empty and holds no homage library" in result.stderr
    assert sorted(p.name for p in library_dir.iterdir()) == ["holiday.jpg"]


# ---------------------------------------------------------------- options and environment


def test_homage_library_environment_variable(corpus: Corpus, tmp_path: Path) -> None:
    runner = CliRunner()
    library = tmp_path / "from-env"
    env = {"HOMAGE_LIBRARY": str(library)}
    result = runner.invoke(cli, ["index", str(corpus.refs["c"])], env=env)
    assert result.exit_code == 0, result.output
    assert (library / DATABASE_NAME).is_file()
    stats = runner.invoke(cli, ["library", "stats"], env=env)
    assert f"library: {library}" in stats.stdout and "works: 1" in stats.stdout
    # --library wins over the variable
    other = tmp_path / "explicit"
    result = runner.invoke(cli, ["--library", str(other), "library", "stats"], env=env)
    assert result.exit_code == 1 and str(other) in result.stderr


def test_default_library_lives_under_xdg_data_home(corpus: Corpus) -> None:
    result = CliRunner().invoke(cli, ["index", str(corpus.refs["c"])])
    assert result.exit_code == 0, result.output
    library = Path(os.environ["XDG_DATA_HOME"]) / "homage" / "library"
    assert (library / DATABASE_NAME).is_file()


@pytest.mark.parametrize("args", [
    ["--kinds", "nonsense", "library", "list"],
    ["--kinds", "", "library", "list"],
    ["--threshold", "3", "library", "list"],
    ["--threshold", "-0.1", "library", "list"],
    ["--threshold", "nan", "library", "list"],
    ["--threshold", "high", "library", "list"],
    ["--no-such-option", "library", "list"],
    ["frobnicate"],
    ["scan"],
    ["compare", "only-one.wav"],
    ["scan", "--json"],
])
def test_usage_errors_exit_2(args: list[str], tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--library", str(tmp_path / "lib"), *args])
    assert result.exit_code == 2, result.output
    assert "Usage:" in result.stderr or "Error:" in result.stderr \
        or "usage error" in result.stderr
    assert result.stdout == ""


def test_config_file(corpus: Corpus, tmp_path: Path) -> None:
    library = tmp_path / "configured"
    config = tmp_path / "homage.toml"
    config.write_text(f'library = "{library}"\nthreshold = 0.99\nkinds = "audio"\n')
    runner = CliRunner()
    assert runner.invoke(cli, ["--config", str(config), "index",
                               str(corpus.refs["a"])]).exit_code == 0
    assert (library / DATABASE_NAME).is_file()
    result = runner.invoke(cli, ["--config", str(config), "--threshold", "0.5", "scan",
                                 str(corpus.queries["plain"])])
    assert result.exit_code == 0 and "1 match" in result.stdout
    config.write_text("threshold = 0.5\ncolour = 'blue'\n")
    bad = runner.invoke(cli, ["--config", str(config), "library", "list"])
    assert bad.exit_code == 2 and "unknown settings" in bad.stderr
    config.write_text("threshold = [")
    assert runner.invoke(cli, ["--config", str(config), "library", "list"]).exit_code == 2


def test_version_and_help() -> None:
    runner = CliRunner()
    version = runner.invoke(cli, ["--version"])
    assert version.exit_code == 0 and version.stdout.startswith("homage, version ")
    helped = runner.invoke(cli, ["--help"])
    assert helped.exit_code == 0
    for command in ("index", "scan", "compare", "library"):
        assert command in helped.stdout


# ---------------------------------------------------------------------- the real program


def homage_script() -> str:
    beside = Path(sys.executable).parent / "homage"
    found = str(beside) if beside.exists() else shutil.which("homage")
    if found is None:
        pytest.skip("the homage console script is not installed")
    return found


@pytest.mark.slow  # four interpreter start-ups
def test_console_script_end_to_end(corpus: Corpus, tmp_path: Path) -> None:
    script = homage_script()
    env = {**os.environ, "HOMAGE_LIBRARY": str(tmp_path / "lib")}

    def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([script, *map(str, args)], capture_output=True, text=True,
                              env=env, timeout=120, check=False)

    index = run("index", corpus.refs["a"], corpus.refs["b"])
    assert index.returncode == 0, index.stderr
    assert "indexed 2 new" in index.stdout
    out = tmp_path / "m.json"
    scan = run("scan", corpus.queries["mix_+6dB"], "--json", out)
    assert scan.returncode == 0, scan.stderr
    data = json.loads(out.read_text("utf-8"))
    assert_result_json(data, corpus.queries["mix_+6dB"])
    assert best_match(data)["reference"] == str(corpus.refs["a"].resolve())
    assert run("--kinds", "nonsense", "library", "list").returncode == 2
    failed = run("scan", tmp_path / "missing.ogg")
    assert failed.returncode == 1
    assert f"{tmp_path / 'missing.ogg'}: no such file or folder" in failed.stderr
    assert "Traceback" not in failed.stderr


def test_python_dash_m_homage(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "homage", "--version"], capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0 and "homage, version" in result.stdout


def test_index_and_scan_videos_report_visual_copies(homage, footage, tmp_path: Path) -> None:
    refs = tmp_path / "films"
    refs.mkdir()
    for source in (footage.ref, footage.other):
        shutil.copy2(source, refs / source.name)
    indexed = homage("index", refs)
    assert indexed.exit_code == 0, indexed.output
    stats = homage("library", "stats")
    assert "video frames: " in stats.stdout
    out_json, out_csv = tmp_path / "m.json", tmp_path / "m.csv"
    result = homage("--kinds", "copy", "scan", footage.query, "--json", out_json,
                    "--csv", out_csv)
    assert result.exit_code == 0, result.output
    data = json.loads(out_json.read_text("utf-8"))
    assert {m["kind"] for m in data["matches"]} == {"visual_copy"}
    assert all(set(m) == MATCH_KEYS for m in data["matches"])
    by_start = {round(m["query_start"]): m for m in data["matches"]}
    assert by_start[2]["transform"]["mirrored"] is True
    assert by_start[12]["transform"]["speed"] == pytest.approx(2.0, rel=0.08)
    assert by_start[16]["transform"]["region"][1] == pytest.approx(0.125, abs=0.03)
    assert "mirrored" in result.stdout and "sped up ×2" in result.stdout
    rows = list(csv.DictReader(out_csv.open(encoding="utf-8")))
    assert len(rows) == len(data["matches"])
    assert any(r["region"] for r in rows) and any(r["mirrored"] == "True" for r in rows)


def test_check_compares_the_vector_index_and_the_files_on_disk(homage, footage,
                                                               library_dir: Path,
                                                               tmp_path: Path) -> None:
    import numpy as np

    video = tmp_path / "film.mp4"
    shutil.copy2(footage.other, video)
    assert homage("--kinds", "copy", "index", video).exit_code == 0
    result = homage("library", "check")
    assert result.exit_code == 0 and "library ok" in result.stdout
    [generation] = (library_dir / "vectorindex").glob("gen-*")
    works = np.load(generation / "work.npy")
    np.save(generation / "work.npy", works[: len(works) // 2])
    with video.open("ab") as handle:
        handle.write(b"\0")
    result = homage("library", "check")
    assert result.exit_code == 1
    assert "problem: vector index holds" in result.stdout
    assert f"warning: {video.resolve()}: file changed since it was indexed" in result.stdout
