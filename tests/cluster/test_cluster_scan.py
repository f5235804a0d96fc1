"""Scanning with Ray workers, and with the frame vectors searched in shards, finds what a
one-process scan finds, in the same order, with the same failures and progress."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from homage.cli.main import cli
from homage.cluster import scan_on_ray
from homage.config import Settings
from homage.library import Library
from homage.pipeline import ProgressEvent, collect_media, index_paths, scan_paths

pytest.importorskip("ray", reason="the cluster tests need homage[cluster]")


@pytest.fixture(scope="module")
def indexed(music: Path, footage, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A library of the music and three reference videos (indexed in one process)."""
    root = tmp_path_factory.mktemp("scan-library")
    settings = Settings(library=root / "library")
    with Library.open(settings.library, settings=settings.audio,
                      visual=settings.visual) as library:
        report = index_paths(library, [music, footage.ref, footage.other, footage.unrelated],
                             settings=settings)
    assert report.failed == [] and len(report.added) == 11
    return settings.library


@pytest.fixture(scope="module")
def queries(music: Path, footage, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two pieces of music, a video holding three copies, one copying nothing, and a file
    that is not media."""
    root = tmp_path_factory.mktemp("scan-queries")
    broken = root / "broken.mp3"
    broken.write_text("not an mp3\n" * 50)
    pieces = sorted(music.glob("*.flac"))[:2]
    return [*pieces, footage.query, broken, footage.fresh]


def _scan(library_dir: Path, queries: list[Path], *, kinds: tuple[str, ...],
          events: list[ProgressEvent] | None = None, **ray_options: object):
    settings = Settings(library=library_dir, kinds=kinds)
    files, missing = collect_media(queries)
    assert missing == []
    with Library.open(library_dir, settings=settings.audio, visual=settings.visual,
                      create=False) as library:
        progress = events.append if events is not None else (lambda event: None)
        if not ray_options:
            return scan_paths(library, files, settings=settings, progress=progress)
        return scan_on_ray(library, files, settings=settings, progress=progress,
                           **ray_options)  # type: ignore[arg-type]


def _failures(failures: list) -> list[str]:
    return [str(e) for e in failures]


@pytest.mark.slow
def test_two_workers_find_what_one_process_finds(ray_cluster, indexed: Path,
                                                 queries: list[Path]) -> None:
    kinds = ("audio", "copy")
    serial, serial_failed = _scan(indexed, queries, kinds=kinds)
    events: list[ProgressEvent] = []
    parallel, parallel_failed = _scan(indexed, queries, kinds=kinds, events=events, workers=2)

    assert [r.query for r in serial] == [str(q) for q in queries if q.name != "broken.mp3"]
    assert parallel == serial
    assert _failures(parallel_failed) == _failures(serial_failed)
    assert len(serial_failed) == 1 and "broken.mp3" in str(serial_failed[0])
    copied = next(r for r in parallel if r.query.endswith("query.mp4"))
    assert sum(m.kind == "visual_copy" for m in copied.matches) >= 3
    finished = sorted(e.path for e in events if e.stage in ("done", "failed"))
    assert finished == sorted(str(q) for q in queries)  # each query finished exactly once
    failed = [e.message for e in events if e.stage == "failed"]
    assert failed == [str(serial_failed[0])]


SHARDED_KINDS = ("copy", "homage")


@pytest.fixture(scope="module")
def serial_visual(indexed: Path, footage) -> list:
    """What a one-process scan of the two videos finds (scanned once: the tests only read
    it)."""
    serial, failed = _scan(indexed, [footage.query, footage.fresh], kinds=SHARDED_KINDS)
    assert failed == []
    return serial


@pytest.mark.slow
@pytest.mark.parametrize("shards", [1, 3])
def test_vectors_searched_in_shards_find_what_one_index_finds(
        ray_cluster, indexed: Path, footage, serial_visual: list, shards: int) -> None:
    serial = serial_visual
    sharded, failed = _scan(indexed, [footage.query, footage.fresh], kinds=SHARDED_KINDS,
                            workers=2, shards=shards)
    assert failed == []
    assert sharded == serial
    assert any(m.kind == "visual_copy" for m in sharded[0].matches)
    folder = indexed / "vectorindex" / f"shard-0-of-{shards}"
    assert any(p.name.startswith("gen-") for p in folder.iterdir())


def test_cli_scan_with_workers_writes_what_a_one_process_scan_writes(
        ray_cluster, indexed: Path, footage, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    library = tmp_path / "library"
    shutil.copytree(indexed, library)
    shutil.copy(footage.query, tmp_path / "query.mp4")
    (tmp_path / "broken.mp4").write_bytes(b"\0" * 300)
    monkeypatch.chdir(tmp_path)  # the queries named relatively, as users type them
    runner = CliRunner()

    def scan(name: str, *options: str):
        out = tmp_path / f"{name}.json"
        result = runner.invoke(cli, ["-q", "--library", str(library), "--kinds", "copy",
                                     "scan", *options, "--json", str(out), "query.mp4",
                                     "broken.mp4"], catch_exceptions=False)
        return result, json.loads(out.read_text())

    (serial, one), (parallel, two) = scan("serial"), scan("parallel", "--workers", "2")
    assert parallel.exit_code == serial.exit_code == 1
    assert parallel.stdout == serial.stdout
    assert parallel.stderr == serial.stderr and "broken.mp4" in serial.stderr
    assert two == one and one[0]["query"] == "query.mp4" and one[0]["matches"]


def test_a_library_that_cannot_be_opened_is_refused_before_ray_starts(
        indexed: Path, footage, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--library", str(tmp_path / "none"), "scan",
                                      "--workers", "2", str(footage.query)])
    assert result.exit_code == 1
    assert "none" in result.stderr and "Traceback" not in result.stderr
