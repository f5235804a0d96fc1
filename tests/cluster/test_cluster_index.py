"""Indexing with Ray workers leaves exactly the library one process leaves, also when a
worker is lost mid-batch, and reports progress and errors as the one-process run does."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from library_dump import library_content, library_features

from homage.cli.main import cli
from homage.cluster import index_on_ray
from homage.cluster.worker import BatchResult, IndexWorker
from homage.config import Settings
from homage.errors import HomageError, LibraryError
from homage.library import Library
from homage.pipeline import IndexReport, ProgressEvent, collect_media, index_paths

ray = pytest.importorskip("ray", reason="the cluster tests need homage[cluster]")
# the test workers below live in this module, which Ray's worker processes cannot import
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


def _index(directory: Path | str, paths: Sequence[Path], *, workers: int | None = None,
           events: list[ProgressEvent] | None = None, **options: object) -> IndexReport:
    """Index ``paths`` into a new library at ``directory``: in this process when
    ``workers`` is None, else with that many Ray workers."""
    settings = Settings(library=directory)
    files, missing = collect_media(paths)
    with Library.open(directory, settings=settings.audio, visual=settings.visual) as library:
        progress = events.append if events is not None else (lambda event: None)
        if workers is None:
            report = index_paths(library, files, settings=settings, progress=progress)
        else:
            report = index_on_ray(library, files, settings=settings, workers=workers,
                                  progress=progress, **options)  # type: ignore[arg-type]
    report.failed[:0] = missing
    return report


def _outcome(report: IndexReport) -> dict[str, object]:
    return {"added": sorted(report.added), "unchanged": sorted(report.unchanged),
            "moved": sorted(report.moved), "duplicates": sorted(report.duplicates),
            "failed": sorted(str(e) for e in report.failed),
            "seconds": round(report.seconds, 6)}


@pytest.fixture(scope="module")
def mixed(music: Path, footage, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Music, two videos and a file that is not media, in one folder."""
    root = tmp_path_factory.mktemp("mixed")
    shutil.copytree(music, root / "music")
    for video in (footage.ref, footage.other):
        shutil.copy(video, root / video.name)
    (root / "broken.mp3").write_text("not an mp3\n" * 50)
    return root


@pytest.mark.slow
def test_two_workers_build_the_library_one_process_builds(ray_cluster, mixed: Path,
                                                          tmp_path: Path) -> None:
    serial = _index(tmp_path / "serial", [mixed])
    events: list[ProgressEvent] = []
    parallel = _index(tmp_path / "parallel", [mixed], workers=2, events=events)

    assert _outcome(parallel) == _outcome(serial)
    assert len(serial.added) == 10 and len(serial.failed) == 1
    one, two = library_content(tmp_path / "serial"), library_content(tmp_path / "parallel")
    assert one == two
    assert sum(1 for entry in two.values() if entry["visual"]) == 2
    finished = [e.path for e in events if e.stage in ("done", "failed")]
    assert sorted(finished) == sorted([*serial.added, str(mixed / "broken.mp3")])
    assert sum(e.seconds for e in events if e.stage == "advance") > 0


def test_two_workers_index_a_music_folder_like_one_process(ray_cluster, music: Path,
                                                           tmp_path: Path) -> None:
    serial = _index(tmp_path / "serial", [music])
    events: list[ProgressEvent] = []
    parallel = _index(tmp_path / "parallel", [music], workers=2, events=events)

    assert _outcome(parallel) == _outcome(serial)
    assert len(parallel.added) == 8
    assert library_content(tmp_path / "parallel") == library_content(tmp_path / "serial")
    done = [e.path for e in events if e.stage == "done"]
    assert sorted(done) == sorted(parallel.added)  # each file finished exactly once
    media = sum(e.seconds for e in events if e.stage == "advance")
    assert media == pytest.approx(parallel.seconds, rel=0.01)

    again = _index(tmp_path / "parallel", [music], workers=2)
    assert again.added == [] and sorted(again.unchanged) == sorted(parallel.added)


def test_two_workers_fill_a_postgresql_library_as_one_process_fills_sqlite(
        ray_cluster, music: Path, tmp_path: Path, postgres_url: str) -> None:
    serial = _index(tmp_path / "serial", [music])
    parallel = _index(postgres_url, [music], workers=2)  # type: ignore[arg-type]

    assert _outcome(parallel) == _outcome(serial)
    with Library.open(tmp_path / "serial") as one, Library.open(postgres_url) as two:
        assert library_features(two) == library_features(one)
        assert len(library_features(two)) == 8


class DiesOnce(IndexWorker):
    """A worker whose process exits after committing the first work of its first
    multi-file batch, as a worker killed mid-batch does (once per run: a marker file
    beside the library remembers)."""

    def index_batch(self, paths: Sequence[Path]) -> BatchResult:
        marker = Path(self._settings.library).parent / "died"
        if len(paths) > 1 and not marker.exists():
            super().index_batch(paths[:1])
            marker.write_text(str(os.getpid()))
            os._exit(1)
        return super().index_batch(paths)


def test_a_lost_worker_is_replaced_and_nothing_is_written_twice(ray_cluster, music: Path,
                                                                tmp_path: Path) -> None:
    serial = _index(tmp_path / "serial", [music])
    (tmp_path / "parallel").mkdir()
    # one worker, so its batches hold several files and the death comes mid-batch
    parallel = _index(tmp_path / "parallel" / "library", [music], workers=1, worker=DiesOnce)

    assert (tmp_path / "parallel" / "died").exists()
    assert _outcome(parallel) == _outcome(serial)  # the retried work is counted as added
    content = library_content(tmp_path / "parallel" / "library")
    assert content == library_content(tmp_path / "serial")
    with Library.open(tmp_path / "parallel" / "library") as library:
        works = library.works()
        assert len({w.content_hash for w in works}) == len(works) == 8
        assert library.integrity_problems() == []


class AlwaysDies(IndexWorker):
    def index_batch(self, paths: Sequence[Path]) -> BatchResult:
        os._exit(1)


def test_a_batch_that_keeps_killing_its_worker_fails_the_run_naming_a_file(
        ray_cluster, music: Path, tmp_path: Path) -> None:
    with pytest.raises(HomageError, match="retries exhausted") as caught:
        _index(tmp_path / "library", [music], workers=1, worker=AlwaysDies, retries=1)
    assert caught.value.path is not None and caught.value.path.startswith(str(music))


class CannotStart(IndexWorker):
    def __init__(self, settings: Settings, inbox: str | None = None) -> None:
        raise RuntimeError("no decoder on this node")


def test_workers_that_cannot_start_fail_the_run_in_one_line(ray_cluster, music: Path,
                                                           tmp_path: Path) -> None:
    with pytest.raises(HomageError, match="could not start") as caught:
        _index(tmp_path / "library", [music], workers=2, worker=CannotStart)
    assert "no decoder on this node" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_library_the_workers_cannot_use_stops_the_run(ray_cluster, music: Path,
                                                        tmp_path: Path) -> None:
    Library.open(tmp_path / "library").close()
    default = Settings(library=tmp_path / "library")
    other = replace(default, audio=replace(default.audio, peak_time_radius=7))
    with Library.open(tmp_path / "library") as library, \
            pytest.raises(LibraryError, match="other audio fingerprint settings"):
        index_on_ray(library, collect_media([music])[0], settings=other, workers=2)


def test_cli_index_with_workers_says_what_a_one_process_run_says(ray_cluster, music: Path,
                                                                 tmp_path: Path) -> None:
    media = tmp_path / "media"
    shutil.copytree(music, media)
    (media / "zz-broken.flac").write_bytes(b"fLaC" + b"\0" * 400)
    runner = CliRunner()

    def index(library: str, *options: str):
        return runner.invoke(cli, ["--library", str(tmp_path / library), "index", *options,
                                   str(media)], catch_exceptions=False)

    serial, parallel = index("serial"), index("parallel", "--workers", "2")
    assert parallel.exit_code == serial.exit_code == 1
    assert parallel.stdout == serial.stdout
    assert "indexed 8 new, 0 unchanged, 0 moved, 0 duplicates, 1 failed" in parallel.stdout
    assert sorted(parallel.stderr.splitlines()) == sorted(serial.stderr.splitlines())
    named = [line for line in parallel.stderr.splitlines() if "zz-broken.flac" in line]
    assert named and all(line.count("\n") == 0 and "Traceback" not in line for line in named)
    assert library_content(tmp_path / "parallel") == library_content(tmp_path / "serial")


@pytest.mark.parametrize("address", ["localhost:10001", "ray://", "ray://host", "http://h:1"])
def test_cli_refuses_a_cluster_address_that_is_not_ray_host_port(address: str,
                                                                  tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--library", str(tmp_path / "lib"), "index",
                                      "--cluster", address, str(tmp_path)])
    assert result.exit_code == 2
    assert "expected a Ray address ray://HOST:PORT" in result.stderr
    assert not (tmp_path / "lib").exists()
