"""One behaviour, two backends: every test here runs on a SQLite library folder and on a
PostgreSQL database (``library_location``), and the equivalence tests index the same
generated media into both and compare what scanning finds."""

from __future__ import annotations

import multiprocessing
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from backend_support import (
    add,
    audio_print,
    open_new,
    raw_execute,
    seed_of,
    visual_print,
    write_works,
)

from homage.audio import FingerprintSettings
from homage.config import Settings
from homage.errors import LibraryError
from homage.library import AlreadyCatalogued, Library, load_hash_index, load_vector_index
from homage.library.check import check_library
from homage.pipeline import index_paths, scan_paths
from homage.visual.prints import VisualSettings

WRITERS = 4


def test_a_new_library_is_empty_and_must_exist_to_be_read(
        library_location: str | Path) -> None:
    with pytest.raises(LibraryError, match="no homage library"):
        Library.open(library_location, create=False)
    with Library.open(library_location) as library:
        assert library.works() == []
        assert library.generation == 0
        stats = library.stats()
        assert (stats.works, stats.fingerprints, stats.frames, stats.index_bytes) == (0, 0, 0, 0)
        assert stats.database_bytes > 0
        assert library.integrity_problems() == []
    with Library.open(library_location, create=False) as again:
        assert again.works() == []


def test_a_work_reads_back_as_it_was_written(library_location: str | Path) -> None:
    with Library.open(library_location) as library:
        work = add(library, "/media/clip.mp4", video=True)
    with Library.open(library_location, create=False) as library:
        (record,) = library.works()
        assert record.id == work and record.path == "/media/clip.mp4"
        assert (record.container, record.audio_codec, record.video_codec) == \
            ("wav", "pcm_s16le", "h264")
        assert (record.fingerprints, record.frames) == (300, 12)
        assert library.work_by_path("/media/clip.mp4") == record
        assert library.work_by_hash(record.content_hash) == record
        assert library.work_by_id(work) == record
        assert library.paths() == {work: "/media/clip.mp4"}
        assert library.durations() == {work: record.duration}

        expected = audio_print(seed_of("/media/clip.mp4"))
        ((stored_id, prints),) = list(library.iter_fingerprints())
        assert stored_id == work
        for name in ("hashes", "time", "freq", "span"):
            np.testing.assert_array_equal(getattr(prints, name),
                                          getattr(expected.fingerprints, name))
        peaks = library.peaks(work)
        np.testing.assert_array_equal(peaks.time, expected.peaks.time)
        np.testing.assert_array_equal(peaks.freq, expected.peaks.freq)

        frames = visual_print(seed_of("/media/clip.mp4"))
        stored = library.visual(work)
        assert stored is not None and stored.looks is not None and stored.labels is not None
        np.testing.assert_array_equal(stored.times, frames.times)
        np.testing.assert_allclose(stored.vectors, frames.vectors, atol=1e-3)
        np.testing.assert_array_equal(stored.pdq, frames.pdq)
        np.testing.assert_array_equal(stored.cuts, frames.cuts)
        np.testing.assert_allclose(stored.looks, frames.looks, atol=1e-3)
        np.testing.assert_array_equal(stored.labels, frames.labels)
        ((visual_id, times, vectors),) = list(library.iter_visual())
        assert visual_id == work and vectors.shape == frames.vectors.shape
        np.testing.assert_array_equal(times, frames.times)
        assert library.visual(work + 1) is None


def test_works_are_listed_in_byte_order_of_their_paths(library_location: str | Path) -> None:
    paths = ["/b.wav", "/B.wav", "/a.wav", "/é.wav", "/z.wav", "/Z 2.wav", "/ä/x.wav"]
    with Library.open(library_location) as library:
        for path in paths:
            add(library, path)
        assert [w.path for w in library.works()] == sorted(paths)


def test_the_same_path_or_content_twice_is_already_catalogued(
        library_location: str | Path) -> None:
    with Library.open(library_location) as library:
        add(library, "/one.wav")
        generation = library.generation
        with pytest.raises(AlreadyCatalogued, match=re.escape("/one.wav")):
            add(library, "/one.wav", content="another content")
        with pytest.raises(AlreadyCatalogued, match=re.escape("/copy.wav")):
            add(library, "/copy.wav", content=library.works()[0].content_hash)
        assert [w.path for w in library.works()] == ["/one.wav"]
        assert library.generation == generation
        other = add(library, "/other.wav")
        with pytest.raises(AlreadyCatalogued, match=re.escape("/one.wav")):
            library.move_work(other, path="/one.wav", size=1, mtime=1.0)
        assert [w.path for w in library.works()] == ["/one.wav", "/other.wav"]
        assert library.integrity_problems() == []


def test_the_generation_moves_with_the_fingerprints_only(library_location: str | Path) -> None:
    with Library.open(library_location) as library:
        seen = [library.generation]
        one = add(library, "/one.wav")
        seen.append(library.generation)
        two = add(library, "/two.wav", audio=False, video=True)
        seen.append(library.generation)
        library.touch_work(one, mtime=5.0)
        seen.append(library.generation)
        library.move_work(one, path="/moved.wav", size=3, mtime=6.0)
        seen.append(library.generation)
        library.move_work(two, path="/moved.wav", size=3, mtime=6.0, replacing=one)
        seen.append(library.generation)
        assert seen == [0, 1, 2, 2, 2, 3]
        (work,) = library.works()
        assert (work.id, work.path, work.size, work.mtime) == (two, "/moved.wav", 3, 6.0)


def test_removing_a_work_removes_its_fingerprints_and_frames(
        library_location: str | Path) -> None:
    with Library.open(library_location) as library:
        keep = add(library, "/keep.mp4", video=True)
        gone = add(library, "/gone.mp4", video=True)
        library.remove_work(gone)
        assert [w.id for w in library.works()] == [keep]
        assert [w for w, _ in library.iter_fingerprints()] == [keep]
        assert [w for w, _, _ in library.iter_visual()] == [keep]
        assert library.visual(gone) is None
        with pytest.raises(LibraryError, match="no peaks"):
            library.peaks(gone)
        stats = library.stats()
        assert (stats.works, stats.fingerprints, stats.frames) == (1, 300, 12)
        assert library.integrity_problems() == []


@pytest.mark.parametrize("other", [
    {"settings": FingerprintSettings(peak_time_radius=FingerprintSettings().peak_time_radius + 1)},
    {"visual": VisualSettings(fps=VisualSettings().fps * 2)},
], ids=["audio", "visual"])
def test_a_library_refuses_other_extraction_settings(library_location: str | Path,
                                                     other: dict[str, object]) -> None:
    with Library.open(library_location) as library:
        add(library, "/one.wav")
    with pytest.raises(LibraryError, match=r"built with other .* settings") as refused:
        Library.open(library_location, **other)  # type: ignore[arg-type]
    assert "\n" not in str(refused.value)
    with Library.open(library_location, create=False) as library:
        assert len(library.works()) == 1


def test_a_snapshot_sees_one_state_while_another_connection_writes(
        library_location: str | Path) -> None:
    with Library.open(library_location) as reader, Library.open(library_location) as writer:
        add(writer, "/before.wav")
        with reader.snapshot():
            before = (reader.generation, reader.works())
            add(writer, "/during.wav")
            assert (reader.generation, reader.works()) == before
            assert [w for w, _ in reader.iter_fingerprints()] == [before[1][0].id]
        assert [w.path for w in reader.works()] == ["/before.wav", "/during.wav"]


def test_check_finds_damage_and_repair_drops_it(library_location: str | Path) -> None:
    with Library.open(library_location) as library:
        good = add(library, "/good.mp4", video=True)
        bad = add(library, "/bad.wav")
        frames = add(library, "/frames.mp4", audio=False, video=True)
    raw_execute(library_location, f"UPDATE audio_fingerprints SET count = count + 1 "
                                  f"WHERE work_id = {bad}")
    raw_execute(library_location, f"UPDATE visual_features SET looks = pdq "
                                  f"WHERE work_id = {frames}")
    with Library.open(library_location, create=False) as library:
        problems = library.integrity_problems()
        assert f"work {bad}: stored arrays disagree with their count" in problems
        assert f"work {frames}: stored arrays disagree with their count" in problems
        assert check_library(library, visual_dim=8).problems[:len(problems)] == problems
        generation = library.generation
        assert library.repair() == 4  # two blob rows, then the two works left with nothing
        assert library.generation == generation + 1
        assert library.integrity_problems() == []
        assert [w.id for w in library.works()] == [good]
        report = check_library(library, visual_dim=8)
        assert report.problems == []
        assert report.gone == ["/good.mp4"]
        assert library.stats().index_bytes > 0


def test_derived_indexes_follow_the_generation(library_location: str | Path) -> None:
    with Library.open(library_location) as library:
        add(library, "/one.mp4", video=True)
        index, durations, paths = load_hash_index(library)
        assert len(index) == 300 and set(paths.values()) == {"/one.mp4"}
        assert len(load_vector_index(library, dim=8)) == 12
        first = library.generation
        assert (library.index_dir / "hashindex" / f"gen-{first}").is_dir()
        add(library, "/two.mp4", video=True)
        index, durations, paths = load_hash_index(library)
        assert len(index) == 600 and len(durations) == 2
        assert len(load_vector_index(library, dim=8)) == 24
        folders = sorted(p.name for p in (library.index_dir / "hashindex").iterdir())
        assert folders == [f"gen-{library.generation}"]
        assert library.stats().index_bytes > 0


def test_concurrent_writers_lose_nothing_and_duplicate_nothing(
        library_location: str | Path) -> None:
    """``WRITERS`` processes add works at once; each shares half its paths with the others.
    Every path ends up catalogued once, by exactly one writer, with its own fingerprints."""
    shared = [f"/shared/{i:02d}.wav" for i in range(12)]
    own = {w: [f"/own/{w}/{i:02d}.wav" for i in range(6)] for w in range(WRITERS)}
    with Library.open(library_location):
        pass
    context = multiprocessing.get_context("spawn")
    start = context.Manager().Barrier(WRITERS)
    with context.Pool(WRITERS) as pool:
        results = pool.starmap(write_works, [
            (library_location, shared[w % 2::2] + own[w] + shared[(w + 1) % 2::2], start)
            for w in range(WRITERS)])
    everything = sorted(set(shared) | {p for paths in own.values() for p in paths})
    assert sum(added for added, _ in results) == len(everything)
    assert sum(refused for _, refused in results) == (WRITERS - 1) * len(shared)
    with Library.open(library_location, create=False) as library:
        works = library.works()
        assert [w.path for w in works] == everything
        assert library.generation == len(everything)
        assert library.integrity_problems() == []
        by_id = {w.id: w.path for w in works}
        for work_id, prints in library.iter_fingerprints():
            expected = audio_print(seed_of(by_id[work_id])).fingerprints
            np.testing.assert_array_equal(prints.hashes, expected.hashes)
        assert len(load_hash_index(library)[0]) == 300 * len(everything)


def test_processes_creating_one_library_at_once_all_open_it(
        library_location: str | Path) -> None:
    context = multiprocessing.get_context("spawn")
    start = context.Manager().Barrier(WRITERS)
    with context.Pool(WRITERS) as pool:
        seen = pool.starmap(open_new, [(library_location, start)] * WRITERS)
    assert len(set(seen)) == 1
    with Library.open(library_location, create=False) as library:
        assert library.integrity_problems() == []
        assert str(library.index_dir) == seen[0]


# ------------------------------------------------------ index → scan, on both backends
def _index_and_scan(location: str | Path, refs: list[Path], queries: list[Path], *,
                    kinds: tuple[str, ...]) -> list[tuple[object, ...]]:
    settings = Settings(library=location, kinds=kinds)
    with Library.open(location, settings=settings.audio, visual=settings.visual) as library:
        report = index_paths(library, refs, settings=settings)
        assert not report.failed and len(report.added) == len(refs)
        results, failures = scan_paths(library, queries, settings=settings)
    assert failures == []
    return [(r.query, [(m.kind, m.reference, round(m.query_start, 3), round(m.query_end, 3),
                        round(m.reference_start, 3), round(m.score, 4)) for m in r.matches])
            for r in results]


def test_audio_index_and_scan_find_the_same_matches_on_both_backends(
        corpus, postgres_url: str, tmp_path: Path) -> None:
    refs = sorted(corpus.refs.values())
    queries = [corpus.queries[name] for name in
               ("plain", "mp3", "two_refs", "loop", "noise", "unrelated_501")]
    on_sqlite = _index_and_scan(tmp_path / "library", refs, queries, kinds=("audio",))
    on_postgres = _index_and_scan(postgres_url, refs, queries, kinds=("audio",))
    assert on_postgres == on_sqlite
    assert sum(len(matches) for _, matches in on_sqlite) >= 3


@pytest.mark.slow
def test_video_index_and_scan_find_the_same_copies_on_both_backends(
        footage, postgres_url: str, tmp_path: Path) -> None:
    refs = [footage.ref, footage.other, footage.unrelated]
    folder = tmp_path / "refs"
    folder.mkdir()
    copies = [Path(shutil.copy2(ref, folder / ref.name)) for ref in refs]
    on_sqlite = _index_and_scan(tmp_path / "library", copies, [footage.query],
                                kinds=("copy",))
    on_postgres = _index_and_scan(postgres_url, copies, [footage.query], kinds=("copy",))
    assert on_postgres == on_sqlite
    assert any(kind == "visual_copy" for _, matches in on_sqlite for kind, *_ in matches)


def test_shards_split_the_frames_by_work_and_build_their_own_indexes(
        library_location: str | Path) -> None:
    with Library.open(library_location) as library:
        works = [add(library, f"/media/clip{i}.mp4", video=True) for i in range(5)]
        add(library, "/media/song.wav")  # no frames: in no shard
        whole = load_vector_index(library, dim=8)
        for count in (2, 3):
            parts = [[w for w, _, _ in library.iter_visual((number, count))]
                     for number in range(count)]
            assert sorted(w for part in parts for w in part) == sorted(works)
            assert all(w % count == number for number, part in enumerate(parts) for w in part)
            indexes = [load_vector_index(library, dim=8,
                                         shard=(number, count)) for number in range(count)]
            assert sum(len(index) for index in indexes) == len(whole)
            for number, index in enumerate(indexes):
                assert set(index.work.tolist()) == set(parts[number])
            assert (library.index_dir / "vectorindex" / f"shard-1-of-{count}").is_dir()
        with pytest.raises(ValueError, match="no shard 2 of 2"):
            load_vector_index(library, dim=8, shard=(2, 2))
