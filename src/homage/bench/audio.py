"""``homage bench audio``: homage and the PyPI peers on one sample-detection corpus, one run.

The corpus comes from ``homage.bench.audio_corpus`` (real music from Debian packages, seeded);
homage indexes its references into a fresh library and scans every query; each peer that can
be set up here does the same in its own virtual environment.  Every system is scored with the
same pure metrics (``homage.bench.metrics``), and the result is written as JSON with a
one-line summary, so ratios are always measured side by side on the same machine and moment.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from homage.bench.audio_corpus import AudioCorpus, build_audio_corpus
from homage.bench.harness import (
    SystemResult,
    canonical,
    cell_table,
    run_peers,
    score_system,
    stats_at_rest,
    system_table,
    write_result,
)
from homage.bench.metrics import SegmentPair
from homage.config import Settings
from homage.library import Library
from homage.pipeline import index_paths, scan_paths

logger = logging.getLogger(__name__)


def run_audio_bench(
    cache_dir: Path, *, quick: bool, seed: int, peers: Sequence[str], out: Path | None,
    log: Callable[[str], None] = logger.info,
) -> dict[str, object]:
    """Build (or reuse) the corpus, run homage and the peers, score them, write JSON."""
    log(f"building corpus ({'quick' if quick else 'full'}, seed {seed}) in {cache_dir}")
    corpus = build_audio_corpus(cache_dir, quick=quick, seed=seed)
    truth = [s.segment for s in corpus.samples]
    log(f"corpus: {len(corpus.references)} references, {len(corpus.queries)} queries, "
        f"{len(truth)} sample occurrences, {len(corpus.negative_queries)} negative queries")
    settings = Settings()
    systems = [_run_homage(corpus, cache_dir / "bench-library", settings, log)]
    from homage.bench.peers import AVAILABLE_AUDIO_PEERS

    # The peers' work folder is shared: they reuse environments and converted inputs.
    systems.extend(run_peers(AVAILABLE_AUDIO_PEERS, peers, corpus.references, corpus.queries,
                             work_dir=cache_dir / "peers",
                             media_seconds=_query_audio_seconds(corpus), log=log))
    memory = probe_index_memory(cache_dir, corpus.references, hours=1.0 if quick else 3.0,
                                log=log)
    for system in (s for s in systems if s.ran):
        system.metrics = score_system(
            corpus.samples, [str(q) for q in corpus.negative_queries], system,
            threshold=settings.threshold if system.name == "homage" else None)
    result = {
        "benchmark": "audio",
        "variant": "quick" if quick else "full",
        "seed": seed,
        "corpus": {
            "manifest": str(corpus.manifest),
            "references": len(corpus.references),
            "reference_hours": round(systems[0].reference_seconds / 3600, 3),
            "queries": len(corpus.queries),
            "negative_queries": len(corpus.negative_queries),
            "samples": len(truth),
        },
        "threshold": settings.threshold,
        "index_long_file": memory,
        "systems": {s.name: {**s.metrics, "notes": s.notes} for s in systems},
        # Kept so a result can be re-scored or inspected without re-running anything.
        "predictions": {s.name: [dataclasses.astuple(p) for p in s.predictions]
                        for s in systems},
        "machine": {"cpus": os.cpu_count()},
    }
    write_result(result, out, markdown_table)
    return result


def markdown_table(result: Mapping[str, object]) -> str:
    """The result as the Markdown tables docs/benchmarks.md quotes (homage beside each peer)."""
    systems = result["systems"]
    assert isinstance(systems, dict)
    lines = system_table(systems)
    probe = result.get("index_long_file")
    if isinstance(probe, dict):
        lines += ["", f"homage indexing one {probe.get('hours')}-hour file: "
                  + (f"peak RSS {probe['peak_rss_mb']} MB, {probe['x_realtime_per_cpu']}× "
                     "real time per CPU second" if "peak_rss_mb" in probe
                     else f"failed ({probe.get('error')})")]
    return "\n".join([*lines, "", *cell_table(systems)]) + "\n"


def _run_homage(corpus: AudioCorpus, library_dir: Path, settings: Settings,
                log: Callable[[str], None]) -> SystemResult:
    shutil.rmtree(library_dir, ignore_errors=True)
    settings = Settings(library=library_dir, threshold=0.0)
    log("homage: indexing references")
    cpu0 = time.process_time()
    with Library.open(library_dir, settings=settings.audio) as library:
        report = index_paths(library, corpus.references, settings=settings)
        if report.failed:
            raise RuntimeError(f"homage failed to index: {report.failed[0]}")
        index_cpu = time.process_time() - cpu0
        log("homage: scanning queries")
        predictions: list[SegmentPair] = []
        latencies: list[float] = []
        query_audio = 0.0
        scan_paths(library, corpus.queries[:1], settings=settings)  # builds the hash index
        for query in corpus.queries:
            t0 = time.perf_counter()
            results, failures = scan_paths(library, [query], settings=settings)
            latencies.append(time.perf_counter() - t0)
            if failures:
                raise RuntimeError(f"homage failed on a query: {failures[0]}")
            for result in results:
                query_audio += result.duration
                predictions.extend(
                    SegmentPair(str(query), m.reference, m.query_start, m.query_end,
                                m.reference_start, m.reference_end, m.score)
                    for m in result.matches
                )
    stats = stats_at_rest(library_dir, settings=settings.audio)
    return SystemResult(
        name="homage", predictions=canonical(predictions, corpus.references),
        index_cpu_seconds=index_cpu, reference_seconds=stats.total_duration,
        query_seconds=latencies, media_seconds=query_audio,
        peak_rss_bytes=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        index_bytes=stats.database_bytes + stats.index_bytes,
    )


def probe_index_memory(cache_dir: Path, references: Sequence[Path], *, hours: float,
                       log: Callable[[str], None]) -> dict[str, float]:
    """Peak memory of ``homage index`` on one long file (references joined end to end).

    Runs the real CLI in a child process, so the figure is the whole process's high-water
    mark (``ru_maxrss`` of the child), not an estimate.
    """
    long_file = cache_dir / f"long-{hours:g}h.opus"
    if not long_file.exists():
        log(f"making a {hours:g}-hour file for the memory probe")
        _join_audio(references, long_file, seconds=hours * 3600)
    library = cache_dir / "memory-probe-library"
    shutil.rmtree(library, ignore_errors=True)
    t0 = time.perf_counter()
    errors_file = open(cache_dir / "memory-probe.log", "w")  # noqa: SIM115 (closed below)
    child = subprocess.Popen(
        [sys.executable, "-m", "homage", "-q", "--library", str(library), "index",
         str(long_file)], stdout=subprocess.DEVNULL, stderr=errors_file)
    # ru_maxrss would include the forked image of this (large) bench process, which Linux
    # carries across exec; the child's own high-water mark is VmHWM in /proc, polled.
    peak_kb = 0
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            break
        peak_kb = max(peak_kb, _vm_hwm_kb(child.pid))
        time.sleep(0.05)
    errors_file.close()
    errors = Path(errors_file.name).read_text(errors="replace")
    child.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    shutil.rmtree(library, ignore_errors=True)
    if child.returncode != 0:
        return {"hours": hours, "error": errors.strip().splitlines()[-1]}
    cpu = usage.ru_utime + usage.ru_stime
    return {"hours": hours, "peak_rss_mb": round(peak_kb / 1024, 1),
            "cpu_seconds": round(cpu, 1), "wall_seconds": round(wall, 1),
            "x_realtime_per_cpu": round(hours * 3600 / max(cpu, 1e-9), 1)}


def _vm_hwm_kb(pid: int) -> int:
    """Peak resident memory of a live process in KiB (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _join_audio(sources: Sequence[Path], target: Path, *, seconds: float) -> None:
    """Write ``seconds`` of the sources played end to end (cycling) as one Ogg Opus file.

    Decoded and encoded with PyAV, so the file is one clean stream whatever the sources'
    codecs (FFmpeg's concat demuxer would splice mismatched streams).
    """
    import av

    from homage.media import audio_chunks

    rate = 48000
    scratch = target.with_suffix(".tmp.opus")
    with av.open(str(scratch), "w", format="ogg") as out:
        stream = out.add_stream("libopus", rate=rate, layout="mono")
        stream.bit_rate = 48000
        written = 0
        while written < seconds * rate:
            for source in sources:
                for chunk in audio_chunks(source, sample_rate=rate):
                    chunk = chunk[: int(seconds * rate) - written]
                    if chunk.size == 0:
                        break
                    frame = av.AudioFrame.from_ndarray(chunk[None, :], format="flt",
                                                       layout="mono")
                    frame.sample_rate = rate
                    out.mux(stream.encode(frame))
                    written += chunk.size
        out.mux(stream.encode(None))
    scratch.rename(target)


def _query_audio_seconds(corpus: AudioCorpus) -> float:
    from homage.media import probe

    return sum(probe(q).duration for q in corpus.queries)
