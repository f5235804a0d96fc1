"""``homage bench scale``: how query latency and memory grow with the library, and how fast
one and two workers index.

Three measurements, one JSON:

* **Audio query latency** of a real 3-minute query (``pipeline.audio_matches``: hash look-up,
  alignment, verification) against hash indexes of 1 h … 1000 h of material.  Beyond the few
  hours of real music at hand the postings are synthetic, drawn at the density real music
  gives (postings per second, measured on the indexed tracks), half of them following the
  real tracks' hash frequencies and half uniform over the hash space (real libraries lie
  between those two extremes: common intervals stay common, but new music adds new hashes);
  they are written as the memory-mapped arrays the library keeps and searched by the real
  ``HashIndex``.  The query's own reference is in every index with its real postings and
  peaks, so each point also says whether the match is still found.
* **Video query latency** of a 4-minute query (``copies.copy_segments``: nearest-neighbour
  search, alignment, layout check, scoring) against ``VectorIndex`` es of 1 h … 100 h of
  frames at the library's 2 frames per second: synthetic unit descriptors with shot structure
  (8 near-identical frames per shot) and an uneven spectrum, since real descriptors occupy
  a low-dimensional part of their space; the query copies one synthetic work.
* **Indexing throughput** of real music (the Debian ``warzone2100-music`` albums) and of
  generated video, in one process and with 1 and 2 Ray workers (``homage.cluster``), per
  library backend; and from the per-worker figure, the cluster that indexes 100 000 h a day.

Each latency point runs in a child process, so its peak RSS is its own; ``tracemalloc``
measures what the query itself allocates (numpy buffers; FAISS's own memory is in the RSS).
"""

from __future__ import annotations

import json
import logging
import math
import multiprocessing
import os
import shutil
import statistics
import time
import tracemalloc
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from homage.audio import AudioPrint, Fingerprints, Peaks, analyse
from homage.audio.triplets import hash_space
from homage.bench.harness import fmt, write_result
from homage.config import Settings
from homage.errors import HomageError, ParameterError
from homage.library import Library
from homage.media import audio_chunks
from homage.pipeline import IndexReport, collect_media, index_paths

logger = logging.getLogger(__name__)

#: Library sizes (hours of material) of the latency curves.
#: A 3-minute query's hash hits take about 44 MB per library hour (measured: 4.4 GB at
#: 100 h), so past ~200 h they outgrow this 24 GB machine and the full curve stops there.
AUDIO_HOURS = {"quick": (1.0, 10.0, 100.0), "full": (1.0, 10.0, 100.0, 200.0)}
#: Past 13.9 h (``vector_index.EXACT_LIMIT`` frames) the index is compressed: the full curve
#: has two points on each side of that switch.
VIDEO_HOURS = {"quick": (1.0, 10.0), "full": (1.0, 10.0, 50.0, 100.0)}
AUDIO_QUERY_SECONDS = 180.0
VIDEO_QUERY_SECONDS = 240.0
#: Length of each synthetic work: a typical track.
WORK_SECONDS = 240.0
#: Timed repetitions of each query (the median is reported).
REPEATS = 3
#: Share of synthetic postings that follow the real tracks' hash frequencies.
EMPIRICAL_SHARE = 0.5
#: Library backends the throughput runs can index into, and whether one needs a server
#: (``--library-url``: a database the benchmark may empty and fill).
BACKENDS = {"sqlite": False, "postgresql": True}
#: Real music the throughput runs index (installed by ``.ci/run``).
MUSIC_FOLDER = Path("/usr/share/games/warzone2100/music/albums")
MUSIC_TRACKS = {"quick": 6, "full": 29}
#: Generated video for the throughput runs: clips and seconds per clip (long enough that what
#: a worker pays once, its model's loading, weighs little, as it does beside a film).
VIDEO_CLIPS = {"quick": (4, 20.0), "full": (8, 150.0)}
#: The library size the video curve is carried to by shards of its largest measured point.
SHARDED_HOURS = 10_000.0
#: Media seconds a day of cluster time must index to reach 100 000 h a day.
TARGET_HOURS_PER_DAY = 100_000.0


def run_scale_bench(
    cache_dir: Path, *, quick: bool, seed: int, out: Path | None,
    backends: Sequence[str] = ("sqlite",), library_url: str | None = None,
    workers: Sequence[int] = (1, 2), audio_hours: Sequence[float] | None = None,
    video_hours: Sequence[float] | None = None, tracks: int | None = None,
    log: Callable[[str], None] = logger.info,
) -> dict[str, object]:
    """Run the three measurements, write the JSON (and Markdown beside it), return it.

    ``backends`` names library backends for the throughput runs (see ``BACKENDS``; one not
    built yet is reported as pending); ``library_url`` is where a server backend's library
    lives.  ``audio_hours``, ``video_hours`` and ``tracks`` (music files indexed) override
    the variant's sizes.
    """
    variant = "quick" if quick else "full"
    for name in backends:
        if name not in BACKENDS:
            raise ParameterError(f"unknown backend {name!r}; choose from {', '.join(BACKENDS)}")
    work = cache_dir / f"scale-{variant}-seed{seed}"
    work.mkdir(parents=True, exist_ok=True)
    music = _music_tracks(tracks or MUSIC_TRACKS[variant])
    throughput = {name: _throughput(name, music, _video_clips(work / "video", variant),
                                    work, workers=workers, library_url=library_url, log=log)
                  for name in backends}
    pool = _audio_pool(music, work / "audio-pool.npz", log=log)
    audio = [_in_child(_audio_point, hours, seed, pool, work / "indexes", log=log)
             for hours in (audio_hours or AUDIO_HOURS[variant])]
    video = [_in_child(_video_point, hours, seed, log=log)
             for hours in (video_hours or VIDEO_HOURS[variant])]
    result: dict[str, object] = {
        "benchmark": "scale", "variant": variant, "seed": seed,
        "machine": {"cpus": os.cpu_count(), "memory_gb": round(_memory_bytes() / 1e9, 1),
                    "load_average_at_end": [round(x, 2) for x in os.getloadavg()]},
        "audio_query": {"query_seconds": AUDIO_QUERY_SECONDS, "points": audio,
                        "slope": _slope(audio)},
        "video_query": {"query_seconds": VIDEO_QUERY_SECONDS, "points": video,
                        "slope": _slope(video),
                        "sharded": _sharded_projection(video, SHARDED_HOURS)},
        "throughput": throughput,
        "projection": _projection(throughput),
    }
    write_result(result, out, markdown_tables)
    shutil.rmtree(work / "indexes", ignore_errors=True)  # gigabytes, rebuilt in seconds
    return result


# ------------------------------------------------------------------------ throughput
def _throughput(backend: str, music: list[Path], videos: list[Path], work: Path, *,
                workers: Sequence[int], library_url: str | None,
                log: Callable[[str], None]) -> dict[str, object]:
    """Index the music and the video into fresh libraries: one process, then N workers."""
    if BACKENDS[backend] and library_url is None:
        return {"status": f"pending: give --library-url of a {backend} database the "
                          "benchmark may empty and fill"}
    from homage.cluster import index_on_ray
    from homage.cluster.runtime import ray_session

    sets = {"audio": music, "video": videos}
    runs: dict[str, dict[str, object]] = {name: {} for name in sets}
    with ray_session(address=None, workers=max(workers)):
        for name, files in sets.items():
            def location(run: str, name: str = name) -> Path | str:
                return library_url or work / f"library-{backend}-{name}-{run}"

            runs[name]["serial"] = _timed_index(
                location("serial"), files,
                lambda library, files, settings: index_paths(library, files, settings=settings))
            for count in workers:
                runs[name][f"workers_{count}"] = _timed_index(
                    location(f"w{count}"), files,
                    lambda library, files, settings, count=count: index_on_ray(
                        library, files, settings=settings, workers=count))
            for key, run in runs[name].items():
                log(f"scale: {backend} {name} {key}: {json.dumps(run)}")
            one, two = (runs[name].get(f"workers_{n}") for n in (1, 2))
            if one and two:
                runs[name]["speedup_2_vs_1"] = round(
                    float(two["x_realtime_after_startup"])
                    / float(one["x_realtime_after_startup"]), 2)
                runs[name]["cpu_ratio_1_vs_2"] = round(
                    float(one["cpu_seconds"]) / float(two["cpu_seconds"]), 2)
                # with a free core per worker a run lasts as long as its busiest worker
                runs[name]["speedup_2_vs_1_free_cores"] = round(
                    float(one["busiest_worker_cpu_seconds"])
                    / float(two["busiest_worker_cpu_seconds"]), 2)
    return {"status": "measured", **runs}


def _timed_index(location: Path | str, files: list[Path],
                 index: Callable[[Library, list[Path], Settings], IndexReport]
                 ) -> dict[str, object]:
    """One timed index run into an empty library at ``location`` (emptied again after).

    Wall-clock figures depend on what else the machine runs; CPU seconds (this process's,
    plus the workers' own for a cluster run) do not, so each run reports both, and the
    wall time less the workers' start-up (process start, imports), paid once per run.
    """
    from homage.cluster import ClusterReport

    settings = Settings(library=location)
    _empty(location, settings)
    with Library.open(location, settings=settings.audio, visual=settings.visual) as library:
        start, cpu = time.perf_counter(), time.process_time()
        report = index(library, files, settings)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    _empty(location, settings)
    if report.failed:
        raise HomageError(f"scale bench: indexing failed ({report.failed[0]})",
                          path=str(location))
    startup, busiest = 0.0, cpu
    if isinstance(report, ClusterReport):
        cpu += report.worker_cpu_seconds
        startup, busiest = report.startup_seconds, report.busiest_worker_cpu_seconds
    media = report.seconds
    return {"files": len(report.added), "media_seconds": round(media, 1),
            "wall_seconds": round(wall, 2), "startup_seconds": round(startup, 2),
            "cpu_seconds": round(cpu, 2), "busiest_worker_cpu_seconds": round(busiest, 2),
            "x_realtime": round(media / wall, 1),
            "x_realtime_after_startup": round(media / max(wall - startup, 1e-9), 1),
            "x_realtime_per_cpu": round(media / max(cpu, 1e-9), 1)}


def _empty(location: Path | str, settings: Settings) -> None:
    """A library folder is deleted; a server library has its works removed."""
    if isinstance(location, Path):
        shutil.rmtree(location, ignore_errors=True)
        return
    with Library.open(location, settings=settings.audio, visual=settings.visual) as library:
        for record in library.works():
            library.remove_work(record.id)


def _sharded_projection(points: Sequence[Mapping[str, object]],
                        hours: float) -> dict[str, object] | None:
    """``hours`` of video served by shards (``homage.cluster.shards``) the size of the largest
    measured point: how many, the memory each holds, and the query's latency, which is one
    shard's (they search in parallel, and the matcher's work after the search does not grow
    with the library) plus the fan-out, not measured here."""
    if not points:
        return None
    largest = max(points, key=lambda p: float(p["hours"]))  # type: ignore[arg-type]
    shard_hours = float(largest["hours"])  # type: ignore[arg-type]
    return {"hours": hours, "shard_hours": shard_hours,
            "shards": math.ceil(hours / shard_hours),
            "shard_peak_rss_mb": largest["peak_rss_mb"],
            "query_ms_without_fan_out": largest["query_ms"],
            "query_cpu_ms_all_shards": round(
                float(largest["query_cpu_ms"])  # type: ignore[arg-type]
                * math.ceil(hours / shard_hours), 1)}


def _projection(throughput: Mapping[str, object]) -> dict[str, object]:
    """Workers (cores) needed for ``TARGET_HOURS_PER_DAY``, from the most-workers run's
    media seconds per worker CPU second (a worker is one process on one core, so this is
    its speed on a core of its own, whatever else shared this machine)."""
    measured = next((runs for runs in throughput.values()
                     if isinstance(runs, dict) and runs.get("status") == "measured"), None)
    if measured is None:
        return {}
    need = TARGET_HOURS_PER_DAY / 24.0  # media hours per wall hour = × real time
    projection: dict[str, object] = {"target_x_realtime": round(need, 1)}
    for name in ("audio", "video"):
        runs = measured[name]
        best = max((k for k in runs if k.startswith("workers_")),
                   key=lambda k: int(k.split("_")[1]))
        per_worker = float(runs[best]["x_realtime_per_cpu"])
        projection[name] = {
            "x_realtime_per_worker": round(per_worker, 1),
            "workers_needed": math.ceil(need / per_worker),
            "16_core_machines": math.ceil(need / per_worker / 16),
        }
    return projection


# ------------------------------------------------------------------------ media
def _music_tracks(count: int) -> list[Path]:
    """The first ``count`` tracks of the installed albums, in walk order."""
    if not MUSIC_FOLDER.is_dir():
        raise HomageError("the scale benchmark indexes Debian's warzone2100-music: "
                          "apt-get install warzone2100-music", path=MUSIC_FOLDER)
    files, _ = collect_media([MUSIC_FOLDER])
    return files[:count]


def _video_clips(folder: Path, variant: str) -> list[Path]:
    """Generated clips (panning noise images, a new shot every 4 s, a tone), made once."""
    import av

    count, seconds = VIDEO_CLIPS[variant]
    folder.mkdir(parents=True, exist_ok=True)
    clips = []
    for number in range(count):
        path = folder / f"clip{number}-{seconds:.0f}s.mp4"
        clips.append(path)
        if path.exists():
            continue
        rng = np.random.default_rng(number)
        partial = path.with_suffix(".part.mp4")
        with av.open(str(partial), "w") as container:
            stream = container.add_stream("libx264", rate=25)
            stream.width, stream.height, stream.pix_fmt = 320, 180, "yuv420p"
            sound = container.add_stream("aac", rate=22050)
            sound.layout = "mono"
            for frame in range(int(seconds * 25)):
                if frame % 100 == 0:
                    base = np.kron(rng.integers(0, 256, (24, 40, 3), dtype=np.uint8),
                                   np.ones((10, 10, 1), dtype=np.uint8))
                picture = np.ascontiguousarray(base[30:210, frame % 100:frame % 100 + 320])
                container.mux(stream.encode(av.VideoFrame.from_ndarray(picture, "rgb24")))
            tone = 0.2 * np.sin(2 * np.pi * rng.uniform(200, 800)
                                * np.arange(int(seconds * 22050)) / 22050)
            for start in range(0, tone.size, 1024):
                block = av.AudioFrame.from_ndarray(
                    tone[None, start:start + 1024].astype(np.float32), format="fltp",
                    layout="mono")
                block.sample_rate = 22050
                container.mux(sound.encode(block))
            container.mux(stream.encode())
            container.mux(sound.encode())
        partial.rename(path)
    return clips


# ------------------------------------------------------------------------ audio points
def _audio_pool(music: list[Path], target: Path, *, log: Callable[[str], None]) -> Path:
    """Real material for the synthetic indexes, saved for the child processes: the hashes of
    every track (their frequencies and density), and a 3-minute query with its reference's
    postings and peaks."""
    if target.exists():
        return target
    settings = Settings().audio
    log("scale: analysing the real tracks for the audio index")
    prints = [analyse(audio_chunks(p, sample_rate=settings.sample_rate), settings, query=False)
              for p in music]
    seconds = [float(p.peaks.time[-1]) * settings.frame_seconds if len(p.peaks) else 0.0
               for p in prints]
    longest = int(np.argmax(seconds))
    query = analyse(_first(audio_chunks(music[longest], sample_rate=settings.sample_rate),
                           round(AUDIO_QUERY_SECONDS * settings.sample_rate)),
                    settings, query=True)
    ref = prints[longest]
    np.savez(
        target.with_suffix(".part.npz"),
        pool_hashes=np.concatenate([p.fingerprints.hashes for p in prints]),
        pool_seconds=np.float64(sum(seconds)),
        ref_duration=np.float64(seconds[longest]),
        **{f"ref_{k}": getattr(ref.fingerprints, k) for k in ("hashes", "time", "freq", "span")},
        ref_peak_time=ref.peaks.time, ref_peak_freq=ref.peaks.freq,
        **{f"query_{k}": getattr(query.fingerprints, k)
           for k in ("hashes", "time", "freq", "span")},
        query_peak_time=query.peaks.time, query_peak_freq=query.peaks.freq,
        query_peak_level=query.peaks.level,
    )
    target.with_suffix(".part.npz").rename(target)
    return target


def _first(chunks: Iterator[np.ndarray], samples: int) -> Iterator[np.ndarray]:
    """The first ``samples`` samples of a chunked stream (an excerpt, as a query is)."""
    for chunk in chunks:
        if samples <= 0:
            return
        yield chunk[:samples]
        samples -= chunk.size


def _audio_point(hours: float, seed: int, pool_file: Path, folder: Path) -> dict[str, object]:
    """One point of the audio curve (runs in a child process)."""
    from homage.match.hash_index import HashIndex
    from homage.pipeline import audio_matches

    settings = Settings()
    pool = dict(np.load(pool_file))
    start = time.perf_counter()
    arrays = _synthetic_postings(hours, seed, pool, folder / f"audio-{hours:g}h-seed{seed}",
                                 settings)
    index = HashIndex(*arrays)
    build = time.perf_counter() - start
    works = 1 + math.ceil(hours * 3600 / WORK_SECONDS)
    durations = {0: float(pool["ref_duration"]), **dict.fromkeys(range(1, works), WORK_SECONDS)}
    names = {w: f"synthetic-{w}" for w in durations}
    names[0] = "reference"
    ref_peaks = Peaks(pool["ref_peak_time"], pool["ref_peak_freq"],
                      np.zeros_like(pool["ref_peak_time"]))
    query = AudioPrint(
        Peaks(pool["query_peak_time"], pool["query_peak_freq"], pool["query_peak_level"]),
        Fingerprints(**{k: pool[f"query_{k}"] for k in ("hashes", "time", "freq", "span")}))

    def peaks_of(work: int) -> Peaks:
        return ref_peaks if work == 0 else _synthetic_peaks(work, settings)

    def run() -> list[object]:
        return audio_matches(query, index, durations, names, AUDIO_QUERY_SECONDS,
                             peaks_of=peaks_of, settings=settings)

    timing, matches = _timed(run)
    return {"hours": hours, "postings": len(index), "build_seconds": round(build, 2),
            **timing,
            "found": any(m.reference == "reference" for m in matches),  # type: ignore[attr-defined]
            **_memory(run)}


def _synthetic_postings(hours: float, seed: int, pool: Mapping[str, np.ndarray],
                        folder: Path, settings: Settings) -> list[np.ndarray]:
    """Memory-mapped sorted postings for ``hours`` of material: the real reference's, and
    synthetic ones at the real density (see the module notes), written chunk by chunk so
    that no more than one chunk is ever in memory."""
    audio = settings.audio
    space = hash_space(audio)
    density = len(pool["pool_hashes"]) / float(pool["pool_seconds"])
    total = round(hours * 3600 * density)
    rng = np.random.default_rng(seed)
    empirical = np.bincount(pool["pool_hashes"], minlength=space)[:space].astype(np.float64)
    p = EMPIRICAL_SHARE * empirical / empirical.sum() + (1 - EMPIRICAL_SHARE) / space
    counts = rng.multinomial(total, p / p.sum())
    ref = {k: pool[f"ref_{k}"] for k in ("hashes", "time", "freq", "span")}
    order = np.argsort(ref["hashes"], kind="stable")
    ref = {k: v[order] for k, v in ref.items()}
    size = total + len(ref["hashes"])
    folder.mkdir(parents=True, exist_ok=True)
    dtypes = {"hashes": np.uint32, "work": np.int64, "time": np.float32,
              "freq": np.float32, "span": np.float32}
    arrays = {k: np.lib.format.open_memmap(folder / f"{k}.npy", mode="w+", dtype=d,
                                           shape=(size,)) for k, d in dtypes.items()}
    works = math.ceil(hours * 3600 / WORK_SECONDS)
    frames = WORK_SECONDS / audio.frame_seconds
    at = 0
    for low in range(0, space, 1 << 16):
        high = min(space, low + (1 << 16))
        n = int(counts[low:high].sum())
        lo, hi = np.searchsorted(ref["hashes"], [low, high])
        hashes = np.concatenate([np.repeat(np.arange(low, high, dtype=np.uint32),
                                           counts[low:high]), ref["hashes"][lo:hi]])
        chunk = {
            "hashes": hashes,
            "work": np.concatenate([rng.integers(1, works + 1, n), np.zeros(hi - lo, np.int64)]),
            "time": np.concatenate([rng.uniform(0, frames, n), ref["time"][lo:hi]]),
            "freq": np.concatenate([rng.uniform(0, audio.n_log_bins, n), ref["freq"][lo:hi]]),
            "span": np.concatenate([rng.uniform(audio.min_gap_frames, audio.max_span_frames, n),
                                    ref["span"][lo:hi]]),
        }
        order = np.argsort(hashes, kind="stable")
        for key, values in chunk.items():
            arrays[key][at:at + hashes.size] = values[order]
        at += hashes.size
    for array in arrays.values():
        array.flush()
    return [arrays[k] for k in dtypes]


def _synthetic_peaks(work: int, settings: Settings) -> Peaks:
    """Peaks of a synthetic work at the reference density (what verification reads)."""
    rng = np.random.default_rng(work)
    audio = settings.audio
    n = round(audio.reference_peaks_per_second * WORK_SECONDS)
    time_ = np.sort(rng.uniform(0, WORK_SECONDS / audio.frame_seconds, n)).astype(np.float32)
    freq = rng.uniform(0, audio.n_log_bins, n).astype(np.float32)
    return Peaks(time_, freq, np.zeros(n, np.float32))


# ------------------------------------------------------------------------ video points
def _video_point(hours: float, seed: int) -> dict[str, object]:
    """One point of the video curve (runs in a child process).

    Each synthetic work's vectors are drawn from its own seed, so the index is built
    streamed (``VectorIndex.build_streamed``, as a library builds it) and a work's frames
    are drawn again when the matcher asks for them: the points past 100 h never hold the
    library's float32 vectors (5 kB a frame) in memory, only its index.
    """
    from homage.copies import QueryFrames, copy_segments, descriptor_for
    from homage.match.vector_index import VectorIndex
    from homage.visual.prints import VisualPrint

    settings = Settings().visual
    dim = descriptor_for(settings.descriptor).dim
    fps = settings.fps
    per_work = round(WORK_SECONDS * fps)
    works = max(1, math.ceil(hours * 3600 / WORK_SECONDS))
    times = np.arange(per_work, dtype=np.float32) / fps
    spectrum = _spectrum(dim)

    def vectors_of(work: int) -> np.ndarray:
        return _synthetic_vectors(per_work, spectrum, np.random.default_rng([seed, work]))

    start = time.perf_counter()
    index = VectorIndex.build_streamed(
        lambda: ((w, times, vectors_of(w)) for w in range(works)),
        count=works * per_work, dim=dim, seed=seed)
    build = time.perf_counter() - start
    rng = np.random.default_rng(seed)
    pdq = rng.integers(0, 256, (per_work, 32), dtype=np.uint8)
    rows = slice(0, round(VIDEO_QUERY_SECONDS * fps))
    original = vectors_of(0)[rows]
    copy = original + rng.normal(0, 0.02, original.shape).astype(np.float32)
    copy /= np.linalg.norm(copy, axis=1, keepdims=True)
    boxes = np.tile(np.array([0, 0, 1, 1], np.float32), (per_work, 1))
    query = QueryFrames(
        VisualPrint(times=times[rows], vectors=copy, boxes=boxes[rows],
                    cuts=np.zeros(0, np.float32), pdq=pdq[rows]),
        # as ``describe_video`` makes it: flipped vectors only where the descriptor sees it
        mirrored=None if descriptor_for(settings.descriptor).mirror_invariant
        else copy[:, ::-1].copy(), mirrored_pdq=pdq[rows, ::-1].copy())
    durations = dict.fromkeys(range(works), WORK_SECONDS)

    def prints_of(work: int) -> VisualPrint:
        return VisualPrint(times=times, vectors=vectors_of(work), boxes=boxes,
                           cuts=np.zeros(0, np.float32),
                           pdq=pdq if work == 0 else np.roll(pdq, work, axis=0))

    def run() -> list[object]:
        return copy_segments(query, index, durations, VIDEO_QUERY_SECONDS,
                             prints_of=prints_of, settings=settings)

    timing, segments = _timed(run)
    threshold = Settings().threshold
    return {"hours": hours, "vectors": len(index), "build_seconds": round(build, 2),
            "index_kind": type(index.index).__name__, **timing,
            "found": any(s.work == 0 and s.score >= threshold  # type: ignore[attr-defined]
                         for s in segments),
            **_memory(run)}


def _spectrum(dim: int) -> np.ndarray:
    """A 1/sqrt(rank) spectrum: real descriptors fill a low-dimensional part of their space."""
    return (1.0 / np.sqrt(np.arange(1, dim + 1))).astype(np.float32)


def _synthetic_vectors(n: int, spectrum: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``n`` unit rows: shots of 8 frames around a shot vector, scaled by ``spectrum``."""
    dim = len(spectrum)
    shots = rng.standard_normal((math.ceil(n / 8), dim), dtype=np.float32)
    block = np.repeat(shots, 8, axis=0)[:n]
    block += 0.25 * rng.standard_normal((n, dim), dtype=np.float32)
    block *= spectrum
    block /= np.linalg.norm(block, axis=1, keepdims=True)
    return block


# ------------------------------------------------------------------------ measuring
def _timed(run: Callable[[], list[object]]) -> tuple[dict[str, float], list[object]]:
    """Median wall and CPU milliseconds of ``REPEATS`` runs after one warm-up, and the last
    run's result.  CPU time (all threads) is what a shared machine's load does not inflate."""
    result = run()
    wall, cpu = [], []
    for _ in range(REPEATS):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = run()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return {"query_ms": round(1000 * statistics.median(wall), 1),
            "query_cpu_ms": round(1000 * statistics.median(cpu), 1)}, result


def _memory(run: Callable[[], object]) -> dict[str, float]:
    """The process's peak RSS so far, its RSS now, and what one more run allocates at its
    peak (numpy and Python allocations, by ``tracemalloc``).  The peak is the kernel's
    high-water mark of this process image (``VmHWM``; ``ru_maxrss`` would carry over the
    parent's from before the child's ``exec``)."""
    tracemalloc.start()
    try:
        run()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text()
                  .splitlines() if ":" in line)
    return {"peak_rss_mb": round(int(status["VmHWM"].split()[0]) / 1024, 1),
            "rss_mb": round(int(status["VmRSS"].split()[0]) / 1024, 1),
            "query_alloc_peak_mb": round(peak / 1e6, 1)}


def _memory_bytes() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _in_child(point: Callable[..., dict[str, object]], *args: object,
              log: Callable[[str], None]) -> dict[str, object]:
    """``point(*args)`` in a fresh process, so that its memory is measured alone (a child
    killed for memory fails the run instead of being replaced)."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        result = pool.submit(point, *args).result()
    log(f"scale: {point.__name__.strip('_')} {json.dumps(result)}")
    return result


def _slope(points: Sequence[Mapping[str, object]]) -> dict[str, object] | None:
    """The curve's log-log slope (latency ∝ size^exponent) and its increment per library
    hour, fitted on the wall and on the CPU milliseconds; for the video curve, one fit per
    index kind (the index turns from exact to compressed past ``EXACT_LIMIT`` vectors, and a
    line across that switch would describe neither)."""
    kinds = {str(p["index_kind"]) for p in points if "index_kind" in p}
    if kinds:
        return {kind: _fit([p for p in points if p["index_kind"] == kind])
                for kind in sorted(kinds)}
    return _fit(points)


def _fit(points: Sequence[Mapping[str, object]]) -> dict[str, object] | None:
    if len(points) < 2:
        return None
    hours = np.array([float(p["hours"]) for p in points])  # type: ignore[arg-type]
    fitted: dict[str, object] = {}
    for key in ("query_ms", "query_cpu_ms"):
        ms = np.maximum([float(p[key]) for p in points], 1e-3)  # type: ignore[arg-type]
        name = key.removeprefix("query_").removesuffix("ms").rstrip("_") or "wall"
        fitted[f"{name}_loglog_exponent"] = round(
            float(np.polyfit(np.log(hours), np.log(ms), 1)[0]), 3)
        fitted[f"{name}_ms_per_library_hour"] = round(float(np.polyfit(hours, ms, 1)[0]), 4)
    return fitted


# ------------------------------------------------------------------------ reporting
def summary_line(result: Mapping[str, object]) -> str:
    """The one machine-readable line: latency per size, speed-ups, the projection."""
    def curve(key: str, value: str) -> dict[str, object]:
        section = result[key]
        assert isinstance(section, dict)
        return {f"{p['hours']:g}h": p[value] for p in section["points"]}

    throughput = result["throughput"]
    assert isinstance(throughput, dict)
    speedups = {f"{backend}_{name}": [runs[name].get("speedup_2_vs_1"),
                                       runs[name].get("speedup_2_vs_1_free_cores")]
                for backend, runs in throughput.items() if runs.get("status") == "measured"
                for name in ("audio", "video")}
    pending = sorted(b for b, runs in throughput.items() if runs.get("status") != "measured")
    projection = result["projection"]
    assert isinstance(projection, dict)
    return "BENCH " + json.dumps({
        "benchmark": "scale", "variant": result["variant"],
        **{f"{kind}_query_{value}": curve(f"{kind}_query", f"query_{value}")
           for kind in ("audio", "video") for value in ("ms", "cpu_ms")},
        "speedup_2_vs_1": speedups, "pending_backends": pending,
        "workers_for_100000h_per_day": {name: projection[name]["workers_needed"]
                                        for name in ("audio", "video") if name in projection},
        "video_sharded": result["video_query"].get("sharded"),  # type: ignore[attr-defined]
    }, separators=(",", ":"))


def markdown_tables(result: Mapping[str, object]) -> str:
    """The curves, the throughput runs and the projection as Markdown."""
    lines = [f"# homage bench scale ({result['variant']}, seed {result['seed']})", ""]
    for key, label, size in (("audio_query", "Audio query (3 min)", "postings"),
                             ("video_query", "Video query (4 min)", "vectors")):
        section = result[key]
        assert isinstance(section, dict)
        lines += [f"## {label}", "", f"| hours | {size} | build s | query ms | query CPU ms "
                  "| found | peak RSS MB | query alloc MB |", "|---" * 8 + "|"]
        for p in section["points"]:
            lines.append(f"| {p['hours']:g} | {p[size]:,} | {fmt(p['build_seconds'])} | "
                         f"{fmt(p['query_ms'])} | {fmt(p['query_cpu_ms'])} | {p['found']} | "
                         f"{fmt(p['peak_rss_mb'])} | {fmt(p['query_alloc_peak_mb'])} |")
        lines += ["", f"Slope: {json.dumps(section['slope'])}", ""]
        if section.get("sharded"):
            lines += [f"Sharded (projection): {json.dumps(section['sharded'])}", ""]
    lines += ["## Indexing throughput (× real time, wall clock)", ""]
    throughput = result["throughput"]
    assert isinstance(throughput, dict)
    for backend, runs in throughput.items():
        if runs.get("status") != "measured":
            lines += [f"- {backend}: {runs['status']}", ""]
            continue
        columns = ("files", "media_seconds", "wall_seconds", "startup_seconds", "cpu_seconds",
                   "x_realtime", "x_realtime_after_startup", "x_realtime_per_cpu")
        lines += [f"| {backend} | run | files | media s | wall s | start-up s | CPU s | "
                  "×RT wall | ×RT after start-up | ×RT per CPU |", "|---" * 10 + "|"]
        for name in ("audio", "video"):
            for key, run in runs[name].items():
                if isinstance(run, dict):
                    cells = " | ".join(fmt(run[c]) for c in columns)
                    lines.append(f"| {name} | {key} | {cells} |")
            lines.append(f"| {name} | 2 vs 1 workers: speed-up after start-up "
                         f"×{runs[name].get('speedup_2_vs_1')}, on free cores (busiest "
                         f"worker's CPU) ×{runs[name].get('speedup_2_vs_1_free_cores')}, "
                         f"CPU 1 worker / 2 workers {runs[name].get('cpu_ratio_1_vs_2')} |"
                         + " |" * 8)
        lines.append("")
    lines += ["## Projection", "", "```json", json.dumps(result["projection"], indent=2),
              "```", ""]
    return "\n".join(lines)

