"""``homage.library`` for video: frame vectors stored beside (or instead of) audio prints, their
integrity checks, the derived vector index, the v1 → v2 migration, and refusing a library built
with another visual descriptor."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest

import homage.library.vector_files as vector_files
from homage.audio import AudioPrint, Fingerprints, FingerprintSettings, Peaks
from homage.errors import LibraryError
from homage.library import Library, load_vector_index
from homage.library.schema import APPLICATION_ID, DATABASE_NAME, SCHEMA, SCHEMA_VERSION
from homage.types import MediaInfo
from homage.visual.looks import LOOK_DIM
from homage.visual.prints import LABELS_KEPT, VisualPrint, VisualSettings

DIM = 24


def visual_print(n: int, seed: int) -> VisualPrint:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return VisualPrint(
        times=np.arange(n, dtype=np.float32) * 0.5,
        vectors=vectors,
        boxes=np.tile(np.array([0.0, 0.125, 1.0, 0.875], np.float32), (n, 1)),
        cuts=np.array([1.5, 3.0], np.float32),
        pdq=rng.integers(0, 256, (n, 32), dtype=np.uint8),
    )


def audio_print(n: int, seed: int) -> AudioPrint:
    rng = np.random.default_rng(seed)
    peaks = Peaks(np.sort(rng.uniform(0, 100, 2 * n)).astype(np.float32),
                  rng.uniform(0, 80, 2 * n).astype(np.float32), np.zeros(2 * n, np.float32))
    prints = Fingerprints(rng.integers(0, 2**32, n, dtype=np.uint32),
                          np.sort(rng.uniform(0, 100, n)).astype(np.float32),
                          rng.uniform(0, 80, n).astype(np.float32),
                          rng.uniform(1, 20, n).astype(np.float32))
    return AudioPrint(peaks, prints)


VIDEO = MediaInfo(path="x", duration=5.0, has_audio=False, has_video=True, container="mp4",
                  video_codec="h264")
BOTH = MediaInfo(path="x", duration=5.0, has_audio=True, has_video=True, container="mp4",
                 audio_codec="aac", video_codec="h264", sample_rate=44100, channels=2)


def add(library: Library, name: str, *, visual: VisualPrint | None = None,
        audio: AudioPrint | None = None) -> int:
    return library.add_work(path=f"/films/{name}", content_hash=name, size=100, mtime=0.0,
                            info=BOTH if audio is not None else VIDEO, duration=5.0,
                            audio=audio, visual=visual)


def raw(library: Library) -> sqlite3.Connection:
    """A second connection to the same database, for damage the library would never do."""
    return sqlite3.connect(library.directory / DATABASE_NAME, isolation_level=None)


@pytest.fixture
def library(tmp_path: Path):
    with Library.open(tmp_path / "library", visual=VisualSettings(descriptor="pdq")) as lib:
        yield lib


# -------------------------------------------------------------------------------- storing


def test_a_video_only_work_round_trips(library: Library) -> None:
    first, second = visual_print(10, 1), visual_print(4, 2)
    a = add(library, "a.mp4", visual=first)
    b = add(library, "b.mp4", visual=second)
    stored = library.visual(a)
    assert stored is not None and len(stored) == 10
    np.testing.assert_array_equal(stored.times, first.times)
    np.testing.assert_allclose(stored.vectors, first.vectors, atol=1e-3)  # float16 on disk
    assert stored.vectors.dtype == np.float32 and stored.vectors.shape == (10, DIM)
    np.testing.assert_array_equal(stored.boxes, first.boxes)
    np.testing.assert_array_equal(stored.cuts, first.cuts)
    np.testing.assert_array_equal(stored.pdq, first.pdq)
    assert stored.pdq.dtype == np.uint8
    listed = list(library.iter_visual())
    assert [w for w, _, _ in listed] == [a, b]
    np.testing.assert_array_equal(listed[1][1], second.times)
    np.testing.assert_allclose(listed[1][2], second.vectors, atol=1e-3)
    stats = library.stats()
    assert (stats.works, stats.frames, stats.fingerprints) == (2, 14, 0)
    works = {w.id: w for w in library.works()}
    assert (works[a].frames, works[b].frames) == (10, 4)
    assert works[a].fingerprints == 0 and works[a].video_codec == "h264"
    assert works[a].audio_codec is None
    assert library.integrity_problems() == []


def test_a_work_with_audio_and_frames_keeps_both(library: Library) -> None:
    work = add(library, "both.mp4", visual=visual_print(6, 3), audio=audio_print(50, 3))
    [record] = library.works()
    assert (record.fingerprints, record.frames) == (50, 6)
    assert library.peaks(work).time.size == 100
    audio_only = add(library, "song.mp4", audio=audio_print(20, 4))
    assert library.visual(audio_only) is None
    assert [w for w, _, _ in library.iter_visual()] == [work]


def test_an_empty_visual_print_is_stored_as_zero_frames(library: Library) -> None:
    work = add(library, "dark.mp4", visual=visual_print(0, 5))
    stored = library.visual(work)
    assert stored is not None and len(stored) == 0
    assert stored.vectors.shape == (0, DIM) and stored.pdq.shape == (0, 32)
    assert library.integrity_problems() == []


def test_a_work_needs_audio_or_frames(library: Library) -> None:
    with pytest.raises(ValueError):
        add(library, "nothing.mp4")
    assert library.works() == []


def test_removing_a_work_removes_its_frames(library: Library) -> None:
    keep = add(library, "keep.mp4", visual=visual_print(3, 6))
    gone = add(library, "gone.mp4", visual=visual_print(5, 7))
    generation = library.generation
    library.remove_work(gone)
    assert library.generation > generation
    assert library.visual(gone) is None
    assert [w for w, _, _ in library.iter_visual()] == [keep]
    assert library.stats().frames == 3


# ------------------------------------------------------------------------------ integrity


@pytest.mark.parametrize("damage", [
    "UPDATE visual_features SET count = count + 1",
    "UPDATE visual_features SET vectors = substr(vectors, 1, length(vectors) - 2)",
    "UPDATE visual_features SET pdq = substr(pdq, 1, 31)",
    "UPDATE visual_features SET boxes = zeroblob(12)",
    "UPDATE visual_features SET cuts = zeroblob(6)",
    "UPDATE visual_features SET times = zeroblob(0)",
])
def test_frame_arrays_that_disagree_with_their_count_are_found_and_dropped(
        library: Library, damage: str) -> None:
    broken = add(library, "broken.mp4", visual=visual_print(8, 8))
    db = raw(library)
    db.execute(damage + " WHERE work_id = ?", (broken,))
    db.close()
    healthy = add(library, "healthy.mp4", visual=visual_print(4, 9))
    assert library.integrity_problems() == [f"work {broken}: stored arrays disagree with "
                                            "their count"]
    generation = library.generation
    assert library.repair() == 2  # the frames, then the work left with nothing to match
    assert library.generation > generation
    assert library.integrity_problems() == []
    assert [w.id for w in library.works()] == [healthy]


def test_repair_keeps_the_audio_of_a_work_whose_frames_are_broken(library: Library) -> None:
    work = add(library, "both.mp4", visual=visual_print(8, 10), audio=audio_print(30, 10))
    db = raw(library)
    db.execute("UPDATE visual_features SET count = 3")
    db.close()
    assert library.repair() == 1
    [record] = library.works()
    assert (record.id, record.fingerprints, record.frames) == (work, 30, 0)
    assert library.integrity_problems() == []


def test_a_work_with_neither_audio_nor_frames_is_flagged(library: Library) -> None:
    add(library, "fine.mp4", visual=visual_print(3, 11))
    db = raw(library)
    db.execute("INSERT INTO works(path, content_hash, size, mtime, duration, indexed_at) "
               "VALUES ('/films/ghost.mp4', 'ghost', 1, 0, 1, 'now')")
    db.close()
    problems = library.integrity_problems()
    assert problems == ["/films/ghost.mp4: catalogued without fingerprints or frames"]
    assert library.repair() == 1
    assert [w.path for w in library.works()] == ["/films/fine.mp4"]


def test_frames_of_no_work_are_flagged(library: Library) -> None:
    work = add(library, "orphaned.mp4", visual=visual_print(3, 12))
    db = raw(library)
    db.execute("PRAGMA foreign_keys = OFF")
    db.execute("DELETE FROM works WHERE id = ?", (work,))
    db.close()
    assert library.integrity_problems() == ["1 frame sets belong to no work"]
    assert library.repair() == 1
    assert library.integrity_problems() == []
    assert library.stats().frames == 0


def test_reading_damaged_frames_is_a_library_error(library: Library) -> None:
    work = add(library, "broken.mp4", visual=visual_print(8, 13))
    db = raw(library)
    db.execute("UPDATE visual_features SET count = count + 1")
    db.close()
    with pytest.raises(LibraryError, match="check"):
        library.visual(work)
    with pytest.raises(LibraryError, match="check"):
        load_vector_index(library, dim=DIM)


# ----------------------------------------------------------------------- derived vector index


def test_vector_index_is_built_per_generation_reused_and_stale_ones_removed(
        library: Library, monkeypatch: pytest.MonkeyPatch) -> None:
    first = visual_print(10, 14)
    a = add(library, "a.mp4", visual=first)
    index = load_vector_index(library, dim=DIM)
    folder = library.directory / "vectorindex"
    assert sorted(p.name for p in folder.iterdir()) == [f"gen-{library.generation}"]
    assert (folder / f"gen-{library.generation}" / "complete").exists()
    assert len(index) == 10
    found = index.search(first.vectors[3:4], k=1)
    assert (found.work[0, 0], found.time[0, 0]) == (a, 1.5)
    assert library.stats().index_bytes > 0

    built: list[Path] = []
    real_build = vector_files._build

    def counting(library: Library, target: Path, *, dim: int,
                 shard: tuple[int, int] | None) -> None:
        built.append(target)
        real_build(library, target, dim=dim, shard=shard)

    monkeypatch.setattr(vector_files, "_build", counting)
    again = load_vector_index(library, dim=DIM)
    assert built == [] and len(again) == 10  # the same generation is read, not rebuilt

    b = add(library, "b.mp4", visual=visual_print(5, 15))
    bigger = load_vector_index(library, dim=DIM)
    assert [p.name for p in built] == [f"gen-{library.generation}"]
    assert len(bigger) == 15 and set(bigger.work.tolist()) == {a, b}
    assert sorted(p.name for p in folder.iterdir()) == [f"gen-{library.generation}"]


def test_vector_index_never_removes_a_newer_generation(library: Library) -> None:
    add(library, "a.mp4", visual=visual_print(4, 16))
    newer = library.directory / "vectorindex" / f"gen-{library.generation + 5}"
    newer.mkdir(parents=True)
    load_vector_index(library, dim=DIM)
    assert newer.exists()


def test_vector_index_is_derived_and_rebuilt_when_deleted(library: Library) -> None:
    add(library, "a.mp4", visual=visual_print(6, 17))
    load_vector_index(library, dim=DIM)
    folder = library.directory / "vectorindex"
    for path in sorted(folder.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    assert len(load_vector_index(library, dim=DIM)) == 6


def test_vector_index_of_a_library_without_frames_is_empty(library: Library) -> None:
    add(library, "song.mp4", audio=audio_print(10, 18))
    index = load_vector_index(library, dim=DIM)
    assert len(index) == 0
    assert index.search(np.ones((2, DIM), np.float32), k=4).work.shape == (2, 0)


# ------------------------------------------------------------------------ versions, settings


def make_v1_library(folder: Path) -> None:
    """A library as homage wrote it before frames were stored (schema v1): no
    ``visual_features`` table and no ``visual_settings``, one audio work."""
    folder.mkdir(parents=True)
    v1_schema = SCHEMA[: SCHEMA.index("CREATE TABLE IF NOT EXISTS visual_features")]
    db = sqlite3.connect(folder / DATABASE_NAME)
    db.executescript(v1_schema)
    db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    meta = {
        "schema_version": "1",
        "audio_settings": json.dumps(FingerprintSettings().to_json(), sort_keys=True),
        "generation": "7",
        "created_by": "homage 0.0.1",
    }
    db.executemany("INSERT INTO meta(key, value) VALUES (?, ?)", meta.items())
    db.execute("INSERT INTO works(path, content_hash, size, mtime, duration, container, "
               "audio_codec, sample_rate, channels, indexed_at) VALUES "
               "('/music/old.wav', 'old', 10, 0, 6.0, 'wav', 'pcm_s16le', 8000, 1, 'then')")
    n, p = 5, 3
    db.execute(
        "INSERT INTO audio_fingerprints VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?)",
        (n, np.arange(n, dtype="<u4").tobytes(), np.arange(n, dtype="<f4").tobytes(),
         np.zeros(n, "<f4").tobytes(), np.ones(n, "<f4").tobytes(), p,
         np.arange(p, dtype="<f4").tobytes(), np.zeros(p, "<f4").tobytes()),
    )
    db.commit()
    db.close()


def test_a_v1_library_is_migrated_in_place_keeping_its_works(tmp_path: Path) -> None:
    folder = tmp_path / "old"
    make_v1_library(folder)
    with Library.open(folder, visual=VisualSettings(descriptor="pdq"), create=False) as lib:
        [work] = lib.works()
        assert (work.path, work.fingerprints, work.frames) == ("/music/old.wav", 5, 0)
        [(work_id, prints)] = list(lib.iter_fingerprints())
        np.testing.assert_array_equal(prints.hashes, np.arange(5))
        assert lib.generation == 7
        assert lib.integrity_problems() == []
        video = add(lib, "new.mp4", visual=visual_print(4, 19))  # the new table works
        assert lib.stats().frames == 4 and video != work_id
    db = sqlite3.connect(folder / DATABASE_NAME)
    meta = dict(db.execute("SELECT key, value FROM meta"))
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    db.close()
    assert meta["schema_version"] == str(SCHEMA_VERSION) == "3"
    assert json.loads(meta["visual_settings"]) == VisualSettings(descriptor="pdq").to_json()
    assert meta["created_by"] == "homage 0.0.1"
    assert "visual_features" in tables
    # migrated once: it opens as v3 now, and refuses other visual settings like any library
    with Library.open(folder, visual=VisualSettings(descriptor="pdq")) as again:
        assert again.stats().works == 2
    with pytest.raises(LibraryError, match="visual descriptor"):
        Library.open(folder)


def looked_print(n: int, seed: int) -> VisualPrint:
    rng = np.random.default_rng(seed)
    return dataclasses.replace(
        visual_print(n, seed),
        looks=rng.normal(size=(n, LOOK_DIM)).astype(np.float32),
        labels=rng.integers(0, 1000, (n, LABELS_KEPT)),
        label_scores=rng.uniform(0, 1, (n, LABELS_KEPT)).astype(np.float32))


def test_looks_and_labels_round_trip_at_half_precision(tmp_path: Path) -> None:
    stored = looked_print(6, 5)
    with Library.open(tmp_path / "lib", visual=VisualSettings(descriptor="pdq")) as lib:
        work = add(lib, "a.mp4", visual=stored)
        plain = add(lib, "b.mp4", visual=visual_print(2, 6))
        back = lib.visual(work)
        assert back is not None and back.looks is not None and back.labels is not None
        np.testing.assert_allclose(back.looks, stored.looks, atol=2e-3, rtol=1e-3)
        np.testing.assert_array_equal(back.labels, stored.labels)
        np.testing.assert_allclose(back.label_scores, stored.label_scores, atol=1e-3)
        without = lib.visual(plain)
        assert without is not None and without.looks is None and without.labels is None
        assert lib.integrity_problems() == []


def test_a_v2_library_gains_empty_looks_and_keeps_its_frames(tmp_path: Path) -> None:
    folder = tmp_path / "v2"
    with Library.open(folder, visual=VisualSettings(descriptor="pdq")) as lib:
        old = add(lib, "old.mp4", visual=visual_print(3, 7))
    db = sqlite3.connect(folder / DATABASE_NAME)  # what a v2 homage left behind
    db.execute("ALTER TABLE visual_features DROP COLUMN looks")
    db.execute("ALTER TABLE visual_features DROP COLUMN labels")
    db.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    with Library.open(folder, visual=VisualSettings(descriptor="pdq")) as lib:
        before = lib.visual(old)
        assert before is not None and len(before) == 3 and before.looks is None
        new = add(lib, "new.mp4", visual=looked_print(4, 8))
        after = lib.visual(new)
        assert after is not None and after.looks is not None
        assert lib.integrity_problems() == []
    db = sqlite3.connect(folder / DATABASE_NAME)
    assert dict(db.execute("SELECT key, value FROM meta"))["schema_version"] == "3"
    db.close()


def test_looks_that_disagree_with_their_count_are_reported_and_repaired(
        tmp_path: Path) -> None:
    with Library.open(tmp_path / "lib", visual=VisualSettings(descriptor="pdq")) as lib:
        work = add(lib, "a.mp4", visual=looked_print(3, 9))
        lib._db.execute("UPDATE visual_features SET looks = x'0000' WHERE work_id = ?", (work,))
        lib._db.commit()
        assert lib.integrity_problems() == [f"work {work}: stored arrays disagree with their count"]
        with pytest.raises(LibraryError, match="disagree with their count"):
            lib.visual(work)
        assert lib.repair() == 2  # the frames and the work left with nothing


def test_a_library_built_with_another_descriptor_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "pdq-library"
    with Library.open(folder, visual=VisualSettings(descriptor="pdq")) as lib:
        add(lib, "a.mp4", visual=visual_print(3, 20))
    before = (folder / DATABASE_NAME).stat().st_mtime_ns
    time.sleep(0.01)
    with pytest.raises(LibraryError) as info:
        Library.open(folder)  # the default descriptor
    message = str(info.value)
    assert "\n" not in message and str(folder) in message
    assert "other visual descriptor settings" in message
    assert "use the settings it was built with" in message
    assert "re-index into a new library folder" in message
    assert (folder / DATABASE_NAME).stat().st_mtime_ns == before  # nothing written
    for other in (VisualSettings(descriptor="pdq", fps=4.0),
                  VisualSettings(descriptor="pdq", remove_borders=False)):
        with pytest.raises(LibraryError, match="visual descriptor"):
            Library.open(folder, visual=other)
    with Library.open(folder, visual=VisualSettings(descriptor="pdq")) as same:
        assert same.stats().frames == 3
