"""``homage bench scale``: the synthetic indexes it measures, its curve fits and projection,
and (slow) a whole run at toy sizes."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from homage.bench import scale
from homage.cli.main import cli
from homage.config import Settings
from homage.match.hash_index import HashIndex
from homage.media import probe
from homage.pipeline import collect_media
from synth_music import make_score, render, write_audio


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real-material file the audio points read, from three generated pieces."""
    root = tmp_path_factory.mktemp("scale")
    tracks = [write_audio(root / f"t{i}.flac", render(make_score(900 + i, 20.0 + 5 * i)),
                          codec="flac") for i in range(3)]
    return scale._audio_pool(tracks, root / "pool.npz", log=lambda line: None)


def test_synthetic_postings_hold_the_reference_and_the_measured_density(
        pool: Path, tmp_path: Path) -> None:
    data = dict(np.load(pool))
    arrays = scale._synthetic_postings(0.5, 3, data, tmp_path / "idx", Settings())
    index = HashIndex(*arrays)
    density = len(data["pool_hashes"]) / float(data["pool_seconds"])
    assert len(index) == round(0.5 * 3600 * density) + len(data["ref_hashes"])
    assert np.all(np.diff(index.hashes.astype(np.int64)) >= 0)
    ref = index.work == 0
    assert sorted(index.hashes[ref]) == sorted(data["ref_hashes"])
    assert sorted(index.time[ref]) == sorted(data["ref_time"])
    works = math.ceil(0.5 * 3600 / scale.WORK_SECONDS)
    assert index.work.min() == 0 and index.work.max() <= works
    hits = index.lookup(data["ref_hashes"][:50], max_postings_per_hash=10**9)
    assert np.count_nonzero(hits.work == 0) >= 50


def test_the_audio_point_finds_the_reference_among_synthetic_works(pool: Path,
                                                                   tmp_path: Path) -> None:
    point = scale._audio_point(0.2, 0, pool, tmp_path)
    assert point["found"] is True
    assert point["hours"] == 0.2 and point["query_ms"] > 0 and point["query_cpu_ms"] > 0
    assert point["peak_rss_mb"] >= point["rss_mb"] > 0 and point["query_alloc_peak_mb"] > 0


def test_the_video_point_finds_the_copied_work() -> None:
    point = scale._video_point(0.25, 0)
    assert point["found"] is True
    assert point["vectors"] == 4 * round(scale.WORK_SECONDS * Settings().visual.fps)
    assert point["index_kind"] == "IndexScalarQuantizer" and point["query_ms"] > 0


def test_synthetic_vectors_are_unit_rows_in_shots() -> None:
    vectors = scale._synthetic_vectors(64, scale._spectrum(32), np.random.default_rng(0))
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    within = np.einsum("ij,ij->i", vectors[0:7], vectors[1:8])
    across = np.einsum("ij,ij->i", vectors[0:56:8], vectors[8:64:8])
    assert within.min() > across.max()


def test_first_cuts_a_chunked_stream() -> None:
    chunks = iter([np.ones(4), np.ones(4), np.ones(4)])
    assert [c.size for c in scale._first(chunks, 6)] == [4, 2]


def test_slope_recovers_a_power_law() -> None:
    points = [{"hours": h, "query_ms": 3.0 * h ** 0.8, "query_cpu_ms": 2.0 + 5.0 * h}
              for h in (1.0, 10.0, 100.0)]
    slope = scale._slope(points)
    assert slope is not None and slope["wall_loglog_exponent"] == pytest.approx(0.8, abs=1e-3)
    assert slope["cpu_ms_per_library_hour"] == pytest.approx(5.0)
    assert scale._slope(points[:1]) is None
    kinds = [{**p, "index_kind": kind} for p, kind in zip(points, ("Exact", "Exact", "IVF"),
                                                           strict=True)]
    by_kind = scale._slope(kinds)
    assert by_kind is not None and by_kind["IVF"] is None
    assert by_kind["Exact"]["cpu_ms_per_library_hour"] == pytest.approx(5.0)


def test_projection_divides_the_daily_target_by_the_per_worker_speed() -> None:
    runs = {"status": "measured",
            "audio": {"workers_1": {"x_realtime_per_cpu": 50.0},
                      "workers_2": {"x_realtime_per_cpu": 48.0}},
            "video": {"workers_1": {"x_realtime_per_cpu": 4.0},
                      "workers_2": {"x_realtime_per_cpu": 3.5}}}
    projection = scale._projection({"postgresql": {"status": "pending"}, "sqlite": runs})
    need = scale.TARGET_HOURS_PER_DAY / 24
    assert projection["target_x_realtime"] == pytest.approx(need, abs=0.1)
    assert projection["audio"]["workers_needed"] == math.ceil(need / 48.0)
    assert projection["video"]["workers_needed"] == math.ceil(need / 3.5)
    assert scale._projection({"postgresql": {"status": "pending"}}) == {}


def test_the_sharded_projection_carries_the_largest_point() -> None:
    points = [{"hours": 1.0, "query_ms": 5.0, "query_cpu_ms": 4.0, "peak_rss_mb": 100.0},
              {"hours": 1000.0, "query_ms": 900.0, "query_cpu_ms": 1700.0,
               "peak_rss_mb": 2800.0}]
    sharded = scale._sharded_projection(points, 10_000.0)
    assert sharded == {"hours": 10_000.0, "shard_hours": 1000.0, "shards": 10,
                       "shard_peak_rss_mb": 2800.0, "query_ms_without_fan_out": 900.0,
                       "query_cpu_ms_all_shards": 17_000.0}
    assert scale._sharded_projection([], 10_000.0) is None


@pytest.mark.parametrize("args", [["--peers", "vpdq"], ["--workers", "0"],
                                  ["--workers", "two"], ["--backends", "oracle"],
                                  ["--audio-hours", "-1"]])
def test_bench_scale_usage_errors(args: list[str], tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["bench", "scale", "--quick", "--cache", str(tmp_path),
                                      *args])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("homage: usage error:")


def _shortest_tracks(count: int, folder: Path) -> Path:
    """A folder of links to the ``count`` shortest installed tracks (still over the 3-minute
    audio query): the toy run indexes about 10 minutes of real music instead of 19."""
    files, _ = collect_media([scale.MUSIC_FOLDER])
    shortest = sorted(files, key=lambda path: (probe(path).duration, str(path)))[:count]
    folder.mkdir()
    for number, track in enumerate(shortest):
        (folder / f"{number:02d}-{track.name}").symlink_to(track)
    return folder


@pytest.mark.slow
@pytest.mark.skipif(not scale.MUSIC_FOLDER.is_dir(), reason="needs warzone2100-music")
def test_a_toy_scale_run_writes_its_json_and_summary(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("ray", reason="indexing with workers needs homage[cluster]")
    # toy sizes: the two shortest tracks, and the quick variant's 4 clips at 8 s, not 20 s
    monkeypatch.setattr(scale, "MUSIC_FOLDER", _shortest_tracks(2, tmp_path / "music"))
    monkeypatch.setitem(scale.VIDEO_CLIPS, "quick", (scale.VIDEO_CLIPS["quick"][0], 8.0))
    out = tmp_path / "scale.json"
    result = scale.run_scale_bench(
        tmp_path / "cache", quick=True, seed=0, out=out, backends=["sqlite", "postgresql"],
        audio_hours=[0.1, 0.3], video_hours=[0.1, 0.2], tracks=2, log=lambda line: None)
    assert json.loads(out.read_text()) == result
    assert "## Audio query (3 min)" in out.with_suffix(".md").read_text()
    assert [p["found"] for p in result["audio_query"]["points"]] == [True, True]
    assert [p["found"] for p in result["video_query"]["points"]] == [True, True]
    sqlite = result["throughput"]["sqlite"]
    assert sqlite["audio"]["workers_2"]["files"] == sqlite["audio"]["serial"]["files"] == 2
    assert sqlite["video"]["workers_1"]["files"] == scale.VIDEO_CLIPS["quick"][0]
    assert sqlite["audio"]["speedup_2_vs_1"] > 0 and sqlite["audio"]["cpu_ratio_1_vs_2"] > 0
    assert sqlite["audio"]["workers_2"]["cpu_seconds"] > 0
    assert result["throughput"]["postgresql"]["status"].startswith("pending")
    line = scale.summary_line(result)
    summary = json.loads(line.removeprefix("BENCH "))
    assert summary["benchmark"] == "scale" and summary["pending_backends"] == ["postgresql"]
    assert set(summary["audio_query_ms"]) == {"0.1h", "0.3h"}
    assert summary["workers_for_100000h_per_day"]["audio"] >= 1
    assert summary["video_sharded"]["shard_hours"] == 0.2
    assert summary["video_sharded"]["shards"] == math.ceil(scale.SHARDED_HOURS / 0.2)
    assert os.path.exists(tmp_path / "cache" / "scale-quick-seed0" / "audio-pool.npz")
