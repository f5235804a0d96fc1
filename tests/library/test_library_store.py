"""``homage.library``: the SQLite catalogue, re-indexing, moves, duplicates, crashes, refusals."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

import homage.pipeline as pipeline
from homage.audio import FingerprintSettings
from homage.config import Settings
from homage.errors import DecodeError, LibraryError
from homage.library import Library, load_hash_index
from homage.library.schema import DATABASE_NAME
from homage.pipeline import index_paths, scan_paths
from synth_music import make_score, render, write_audio

SECONDS = 6.0


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three short works (different music) and a fourth for changing one's content."""
    root = tmp_path_factory.mktemp("library-sources")
    return {
        name: write_audio(root / f"{name}.wav", render(make_score(seed, SECONDS)))
        for name, seed in (("one", 71), ("two", 72), ("three", 73), ("other", 74))
    }


@pytest.fixture
def music(tmp_path: Path, sources: dict[str, Path]) -> Path:
    """A folder holding one.wav, two.wav and three.wav (fresh copies for each test)."""
    folder = tmp_path / "music"
    folder.mkdir()
    for name in ("one", "two", "three"):
        shutil.copy2(sources[name], folder / f"{name}.wav")
    return folder


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(library=tmp_path / "library")


@pytest.fixture
def library(settings: Settings):
    with Library.open(settings.library, settings=settings.audio) as lib:
        yield lib


def reopen(settings: Settings) -> Library:
    """A second, independent connection: sees only what was committed."""
    return Library.open(settings.library, settings=settings.audio, create=False)


def resolved(path: Path) -> str:
    return str(path.resolve())


# ------------------------------------------------------------------------------- indexing


def test_index_adds_every_work_with_its_fingerprints(library: Library, music: Path,
                                                     settings: Settings) -> None:
    report = index_paths(library, [music], settings=settings)
    assert sorted(report.added) == sorted(resolved(p) for p in music.iterdir())
    assert report.failed == report.unchanged == report.moved == report.duplicates == []
    assert report.seconds == pytest.approx(3 * SECONDS, abs=0.1)
    works = library.works()
    assert [w.path for w in works] == sorted(w.path for w in works)
    assert all(w.fingerprints > 50 for w in works)
    assert all(w.duration == pytest.approx(SECONDS, abs=0.05) for w in works)
    assert {w.container for w in works} == {"wav"}
    assert len({w.content_hash for w in works}) == 3
    stats = library.stats()
    assert stats.works == 3
    assert stats.total_duration == pytest.approx(3 * SECONDS, abs=0.1)
    assert stats.fingerprints == sum(w.fingerprints for w in works)
    assert stats.database_bytes > 0
    assert library.integrity_problems() == []


def test_reindexing_unchanged_files_is_a_no_op(library: Library, music: Path,
                                               settings: Settings) -> None:
    index_paths(library, [music], settings=settings)
    generation, works = library.generation, library.works()
    report = index_paths(library, [music], settings=settings)
    assert report.added == [] and report.failed == []
    assert sorted(report.unchanged) == sorted(resolved(p) for p in music.iterdir())
    assert library.generation == generation
    assert library.works() == works


def test_touched_file_with_same_content_stays_unchanged(library: Library, music: Path,
                                                        settings: Settings) -> None:
    index_paths(library, [music], settings=settings)
    generation = library.generation
    one = music / "one.wav"
    os.utime(one, (1_000_000_000, 1_000_000_000))
    report = index_paths(library, [music], settings=settings)
    assert resolved(one) in report.unchanged and report.added == []
    assert library.generation == generation
    record = library.work_by_path(resolved(one))
    assert record is not None and record.mtime == one.stat().st_mtime


def test_changed_content_at_the_same_path_is_reindexed(library: Library, music: Path,
                                                       sources: dict[str, Path],
                                                       settings: Settings) -> None:
    index_paths(library, [music], settings=settings)
    one = music / "one.wav"
    old = library.work_by_path(resolved(one))
    shutil.copyfile(sources["other"], one)
    os.utime(one, (2_000_000_000, 2_000_000_000))
    report = index_paths(library, [music], settings=settings)
    assert report.added == [resolved(one)]
    new = library.work_by_path(resolved(one))
    assert old is not None and new is not None
    assert new.content_hash != old.content_hash
    assert library.work_by_hash(old.content_hash) is None
    assert library.stats().works == 3
    assert library.integrity_problems() == []


def test_moved_file_is_recognised_and_its_path_updated(library: Library, music: Path,
                                                       settings: Settings) -> None:
    index_paths(library, [music], settings=settings)
    old = library.work_by_path(resolved(music / "two.wav"))
    generation = library.generation
    (music / "sub").mkdir()
    moved = music / "sub" / "renamed.wav"
    (music / "two.wav").rename(moved)
    report = index_paths(library, [music], settings=settings)
    assert report.moved == [(resolved(music / "two.wav"), resolved(moved))]
    assert report.added == []
    assert library.work_by_path(resolved(music / "two.wav")) is None
    new = library.work_by_path(resolved(moved))
    assert old is not None and new is not None
    assert (new.id, new.content_hash, new.fingerprints) == (old.id, old.content_hash,
                                                            old.fingerprints)
    assert library.generation == generation  # fingerprints untouched: no index rebuild
    _, _, names = load_hash_index(library)
    assert names[new.id] == resolved(moved)


def test_duplicate_content_at_another_path_is_reported(library: Library, music: Path,
                                                       settings: Settings) -> None:
    index_paths(library, [music], settings=settings)
    copy = music / "copy of one.wav"
    shutil.copy2(music / "one.wav", copy)
    report = index_paths(library, [music], settings=settings)
    assert report.duplicates == [(resolved(copy), resolved(music / "one.wav"))]
    assert report.added == []
    assert library.stats().works == 3
    assert library.work_by_path(resolved(copy)) is None


def test_remove_work(library: Library, music: Path, settings: Settings) -> None:
    index_paths(library, [music], settings=settings)
    generation = library.generation
    work = library.work_by_path(resolved(music / "one.wav"))
    assert work is not None
    library.remove_work(work.id)
    assert library.work_by_id(work.id) is None
    assert library.stats().works == 2
    assert library.generation > generation
    assert library.integrity_problems() == []
    index, _, names = load_hash_index(library)
    assert work.id not in names and work.id not in set(np.asarray(index.work).tolist())
    assert len(index) == library.stats().fingerprints
    # and indexing again brings it back
    assert index_paths(library, [music], settings=settings).added == [resolved(
        music / "one.wav")]


def test_failed_file_does_not_stop_the_others(library: Library, music: Path,
                                              settings: Settings) -> None:
    (music / "broken.mp3").write_bytes(b"ID3 but nothing else of an mp3")
    (music / "empty.flac").write_bytes(b"")
    report = index_paths(library, [music], settings=settings)
    assert len(report.added) == 3
    assert sorted(e.path for e in report.failed) == sorted(
        str(music / n) for n in ("broken.mp3", "empty.flac"))
    assert all("\n" not in str(e) for e in report.failed)
    assert library.stats().works == 3
    assert library.integrity_problems() == []


def test_media_longer_than_the_limit_is_refused(library: Library, music: Path,
                                                settings: Settings) -> None:
    strict = Settings(library=settings.library, max_media_seconds=2.0)
    report = index_paths(library, [music / "one.wav"], settings=strict)
    assert report.added == []
    [error] = report.failed
    assert isinstance(error, DecodeError) and error.path is not None
    assert library.stats().works == 0


def test_silent_file_is_catalogued_without_crashing(library: Library, tmp_path: Path,
                                                    settings: Settings) -> None:
    silent = write_audio(tmp_path / "silence.wav", np.zeros(3 * 22050, np.float32))
    report = index_paths(library, [silent], settings=settings)
    assert report.added == [resolved(silent)]
    assert library.integrity_problems() == []
    results, failures = scan_paths(library, [silent], settings=settings)
    assert failures == [] and results[0].matches == ()


# --------------------------------------------------------------------- crashes and resuming


def test_interrupted_indexing_keeps_whole_works_and_resumes(
    library: Library, music: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash while fingerprinting the 2nd file leaves exactly the 1st work; re-running
    completes the rest without duplicating anything."""
    real_chunks = pipeline.audio_chunks
    started: list[str] = []

    def crashing_chunks(path, **kwargs):
        started.append(Path(path).name)
        for n, chunk in enumerate(real_chunks(path, **kwargs)):
            if len(started) == 2 and n == 0:
                raise RuntimeError("simulated crash while fingerprinting")
            yield chunk

    monkeypatch.setattr(pipeline, "audio_chunks", crashing_chunks)
    with pytest.raises(RuntimeError, match="simulated crash"):
        index_paths(library, [music], settings=settings)
    monkeypatch.undo()
    assert started == ["one.wav", "three.wav"]  # sorted walk: one, three, two

    with reopen(settings) as fresh:
        assert [w.path for w in fresh.works()] == [resolved(music / "one.wav")]
        assert fresh.integrity_problems() == []
        report = index_paths(fresh, [music], settings=settings)
        assert report.unchanged == [resolved(music / "one.wav")]
        assert sorted(report.added) == [resolved(music / "three.wav"),
                                        resolved(music / "two.wav")]
        works = fresh.works()
        assert len(works) == 3
        assert len({w.content_hash for w in works}) == 3
        assert fresh.integrity_problems() == []


def test_failure_inside_the_write_transaction_rolls_back(
    library: Library, music: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    generation = library.generation

    def fail(self: Library) -> None:
        raise KeyboardInterrupt  # Ctrl-C at the last statement of the transaction

    monkeypatch.setattr(Library, "_bump_generation", fail)
    with pytest.raises(KeyboardInterrupt):
        index_paths(library, [music / "one.wav"], settings=settings)
    monkeypatch.undo()
    with reopen(settings) as fresh:
        assert fresh.works() == []
        assert fresh.generation == generation
        db = sqlite3.connect(settings.library / DATABASE_NAME)
        try:
            assert db.execute("SELECT COUNT(*) FROM audio_fingerprints").fetchone() == (0,)
        finally:
            db.close()
        assert index_paths(fresh, [music / "one.wav"], settings=settings).added


# ----------------------------------------------------------------- bugs in re-indexing


def test_file_moved_over_another_catalogued_file(library: Library, music: Path,
                                                 settings: Settings) -> None:
    index_paths(library, [music], settings=settings)
    one = library.work_by_path(resolved(music / "one.wav"))
    os.replace(music / "one.wav", music / "two.wav")
    report = index_paths(library, [music], settings=settings)
    assert report.failed == []
    record = library.work_by_path(resolved(music / "two.wav"))
    assert one is not None and record is not None
    assert record.content_hash == one.content_hash
    assert library.stats().works == 2


def test_path_overwritten_with_duplicate_content_drops_its_stale_record(
    library: Library, music: Path, settings: Settings
) -> None:
    index_paths(library, [music], settings=settings)
    old = library.work_by_path(resolved(music / "one.wav"))
    shutil.copyfile(music / "two.wav", music / "one.wav")
    report = index_paths(library, [music], settings=settings)
    assert report.duplicates == [(resolved(music / "one.wav"), resolved(music / "two.wav"))]
    assert old is not None and library.work_by_hash(old.content_hash) is None


# ------------------------------------------------------------------- opening and refusing


def test_open_creates_and_reopens(tmp_path: Path) -> None:
    folder = tmp_path / "deep" / "library"
    with Library.open(folder) as lib:
        assert lib.works() == [] and lib.generation == 0
        assert lib.integrity_problems() == []
    assert (folder / DATABASE_NAME).is_file()
    with Library.open(folder, create=False) as lib:
        assert lib.stats().works == 0


def test_open_without_create_needs_a_library(tmp_path: Path) -> None:
    with pytest.raises(LibraryError, match="no homage library") as info:
        Library.open(tmp_path / "missing", create=False)
    assert info.value.path == str(tmp_path / "missing")
    assert not (tmp_path / "missing").exists()


def test_open_refuses_a_file(tmp_path: Path) -> None:
    target = tmp_path / "library"
    target.write_text("not a folder")
    with pytest.raises(LibraryError, match="not a folder"):
        Library.open(target)


def test_open_refuses_a_non_empty_folder_that_is_no_library(tmp_path: Path) -> None:
    (tmp_path / "thesis.tex").write_text("precious")
    with pytest.raises(LibraryError, match="not empty") as info:
        Library.open(tmp_path)
    assert str(tmp_path) in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thesis.tex"]  # nothing written


def test_open_refuses_a_foreign_sqlite_file(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / DATABASE_NAME)
    db.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
    db.execute("INSERT INTO invoices VALUES (1, 9.5)")
    db.commit()
    db.close()
    with pytest.raises(LibraryError, match="not a homage library") as info:
        Library.open(tmp_path)
    assert "\n" not in str(info.value)
    db = sqlite3.connect(tmp_path / DATABASE_NAME)
    assert db.execute("SELECT total FROM invoices").fetchall() == [(9.5,)]  # untouched
    db.close()


def test_open_refuses_a_database_that_is_not_sqlite(tmp_path: Path) -> None:
    (tmp_path / DATABASE_NAME).write_bytes(b"garbage " * 1000)
    with pytest.raises(LibraryError) as info:
        Library.open(tmp_path)
    assert "\n" not in str(info.value)
    assert DATABASE_NAME in str(info.value)


def test_open_refuses_other_fingerprint_settings(library: Library, music: Path,
                                                 settings: Settings) -> None:
    index_paths(library, [music / "one.wav"], settings=settings)
    other = FingerprintSettings(bins_per_octave=24)
    with pytest.raises(LibraryError, match="other audio fingerprint settings"):
        Library.open(settings.library, settings=other)
    with Library.open(settings.library, settings=FingerprintSettings()) as same:
        assert same.stats().works == 1


def test_open_refuses_another_schema_version(library: Library, settings: Settings) -> None:
    db = sqlite3.connect(settings.library / DATABASE_NAME)
    db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    with pytest.raises(LibraryError, match="schema v99") as info:
        reopen(settings)
    assert "re-index into a new library folder" in str(info.value)


# ------------------------------------------------------------------------------ integrity


def test_integrity_problems_find_damage_and_repair_drops_it(library: Library, music: Path,
                                                            settings: Settings) -> None:
    index_paths(library, [music], settings=settings)
    assert library.integrity_problems() == []
    db = sqlite3.connect(settings.library / DATABASE_NAME)
    db.execute("INSERT INTO works(path, content_hash, size, mtime, duration, indexed_at) "
               "VALUES ('/ghost.wav', 'feed', 1, 0, 1, 'now')")
    db.execute("UPDATE audio_fingerprints SET count = count + 1 WHERE work_id = "
               "(SELECT MIN(work_id) FROM audio_fingerprints)")
    db.commit()
    db.close()
    problems = library.integrity_problems()
    assert any("/ghost.wav" in p and "without fingerprints" in p for p in problems)
    assert any("disagree" in p for p in problems)
    generation = library.generation
    assert library.repair() == 3  # the broken fingerprints, its work, and the ghost
    assert library.integrity_problems() == []
    assert library.stats().works == 2
    assert library.generation > generation


# ----------------------------------------------------------------------- derived hash index


def test_hash_index_is_derived_per_generation(library: Library, music: Path,
                                              settings: Settings) -> None:
    index_paths(library, [music / "one.wav"], settings=settings)
    first, durations, names = load_hash_index(library)
    folder = settings.library / "hashindex"
    assert (folder / f"gen-{library.generation}" / "complete").exists()
    assert len(first) == library.stats().fingerprints
    assert set(durations) == set(names) == {w.id for w in library.works()}
    index_paths(library, [music / "two.wav"], settings=settings)
    second, _, names = load_hash_index(library)
    assert len(second) == library.stats().fingerprints > len(first)
    assert sorted(p.name for p in folder.iterdir()) == [f"gen-{library.generation}"]
    assert np.all(np.diff(np.asarray(second.hashes, dtype=np.int64)) >= 0)
    # deleting the derived files loses nothing
    shutil.rmtree(folder)
    again, _, _ = load_hash_index(library)
    np.testing.assert_array_equal(again.hashes, second.hashes)
    np.testing.assert_array_equal(again.work, second.work)


def test_a_second_connection_sees_new_works(library: Library, music: Path,
                                            settings: Settings) -> None:
    with reopen(settings) as reader:
        index_paths(library, [music / "one.wav"], settings=settings)
        _, _, names = load_hash_index(reader)
        assert list(names.values()) == [resolved(music / "one.wav")]
        index_paths(library, [music / "two.wav"], settings=settings)
        _, _, names = load_hash_index(reader)
        assert sorted(names.values()) == [resolved(music / "one.wav"),
                                          resolved(music / "two.wav")]


def test_a_schema_table_holding_bytes_is_a_damaged_library(tmp_path: Path) -> None:
    """Found by the atheris harness: a table name stored as a blob (the schema table itself
    damaged) is reported as an unreadable library, not a crash."""
    folder = tmp_path / "lib"
    folder.mkdir()
    db = sqlite3.connect(folder / "homage.sqlite")
    db.execute("CREATE TABLE works (id INTEGER PRIMARY KEY)")
    db.execute("PRAGMA writable_schema = ON")
    db.execute("UPDATE sqlite_master SET name = CAST(name AS BLOB)")
    db.commit()
    db.close()
    with pytest.raises(LibraryError, match="not a readable homage library"):
        Library.open(folder, create=False)


def test_a_stream_left_unfinished_after_close_is_collected_quietly(tmp_path: Path) -> None:
    """A caller that stops reading a library's rows early and closes the library must not
    make the garbage collector raise (the cursor of a closed database cannot be closed)."""
    import gc
    import sys

    settings = Settings(library=tmp_path / "lib")
    music = tmp_path / "music"
    music.mkdir()
    for i in range(2):
        write_audio(music / f"{i}.wav", render(make_score(900 + i, 4.0)))
    with Library.open(settings.library) as lib:
        index_paths(lib, [music], settings=settings)
        rows = lib.iter_fingerprints()
        next(rows)
    unraisable: list[object] = []
    hook, sys.unraisablehook = sys.unraisablehook, unraisable.append
    try:
        del rows
        gc.collect()
    finally:
        sys.unraisablehook = hook
    assert unraisable == []
