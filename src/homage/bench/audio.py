"""``homage bench audio``: homage and the PyPI peers on one sample-detection corpus, one run.

The corpus comes from ``homage.bench.audio_corpus`` (real music from Debian packages, seeded);
homage indexes its references into a fresh library and scans every query; each peer that can
be set up here does the same in its own virtual environment.  Every system is scored with the
same pure metrics (``homage.bench.metrics``), and the result is written as JSON with a
one-line summary, so ratios are always measured side by side on the same machine and moment.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from homage.bench.audio_corpus import AudioCorpus, SampleTruth, build_audio_corpus
from homage.bench.metrics import (
    SegmentPair,
    false_positive_rate,
    pair_micro_ap,
    ranking_metrics,
    recall_breakdown,
    segment_ap,
)
from homage.config import Settings
from homage.library import Library
from homage.pipeline import index_paths, scan_paths

logger = logging.getLogger(__name__)

#: Breakdown cells whose segment AP the issue singles out as the hardest.
HARD_CELLS = ("speed:x0.75", "speed:x1.33", "snr:-6")


@dataclass
class SystemResult:
    """One system's predictions and costs on the corpus."""

    name: str
    predictions: list[SegmentPair]
    index_cpu_seconds: float
    reference_seconds: float
    query_seconds: list[float]
    query_audio_seconds: float
    peak_rss_bytes: int
    index_bytes: int
    notes: str = ""
    ran: bool = True
    metrics: dict[str, object] = field(default_factory=dict)


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
    systems.extend(_run_peers(corpus, cache_dir, peers, log))
    memory = probe_index_memory(cache_dir, corpus.references, hours=1.0 if quick else 3.0,
                                log=log)
    for system in (s for s in systems if s.ran):
        system.metrics = score_system(corpus, system, threshold=settings.threshold
                                      if system.name == "homage" else None)
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
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
        out.with_suffix(".md").write_text(markdown_table(result))
    return result


def summary_line(result: dict[str, object]) -> str:
    """The one machine-readable line a benchmark ends with."""
    systems = result["systems"]
    assert isinstance(systems, dict)
    compact = {
        name: {k: m.get(k) for k in ("segment_ap", "pair_micro_ap", "fp_rate",
                                      "index_x_realtime_per_cpu", "query_seconds_mean")}
        for name, m in systems.items() if "segment_ap" in m
    }
    return "BENCH " + json.dumps({"benchmark": result["benchmark"], "variant": result["variant"],
                                  "systems": compact}, separators=(",", ":"))


def markdown_table(result: dict[str, object]) -> str:
    """The result as the Markdown tables docs/benchmarks.md quotes (homage beside each peer)."""
    systems = result["systems"]
    assert isinstance(systems, dict)
    columns = [
        ("segment AP", "segment_ap"), ("pair µAP", "pair_micro_ap"), ("mAP", "map"),
        ("HR@1", "hr1"), ("FP rate", "fp_rate"), ("index ×RT/CPU", "index_x_realtime_per_cpu"),
        ("query s (mean)", "query_seconds_mean"), ("index MB/h", "index_mb_per_hour"),
        ("peak RSS MB", "peak_rss_mb"),
    ]
    lines = ["| system | " + " | ".join(c for c, _ in columns) + " |",
             "|---|" + "---|" * len(columns)]
    for name, metrics in systems.items():
        if "segment_ap" not in metrics:
            lines.append(f"| {name} | {metrics.get('notes', '')} |" + " |" * (len(columns) - 1))
            continue
        cells = [_fmt(metrics.get(key)) for _, key in columns]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    probe = result.get("index_long_file")
    if isinstance(probe, dict):
        lines += ["", f"homage indexing one {probe.get('hours')}-hour file: "
                  + (f"peak RSS {probe['peak_rss_mb']} MB, {probe['x_realtime_per_cpu']}× "
                     "real time per CPU second" if "peak_rss_mb" in probe
                     else f"failed ({probe.get('error')})")]
    cells = sorted({c for m in systems.values() for c in m.get("cell_segment_ap", {})})
    ran = [n for n, m in systems.items() if "segment_ap" in m]
    lines += ["", "Segment AP per cell:", "",
              "| cell | " + " | ".join(ran) + " |", "|---|" + "---|" * len(ran)]
    for cell in cells:
        row = [_fmt(systems[n]["cell_segment_ap"].get(cell)) for n in ran]
        lines.append(f"| {cell} | " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if value < 10 else f"{value:,.1f}"
    return "–" if value is None else str(value)


def score_system(
    corpus: AudioCorpus, system: SystemResult, *, threshold: float | None
) -> dict[str, object]:
    """All metrics of one system; threshold-based ones only where the system has a threshold."""
    truth = [s.segment for s in corpus.samples]
    preds = system.predictions
    m_ap, hr1 = ranking_metrics(truth, preds)
    hours = system.reference_seconds / 3600
    metrics: dict[str, object] = {
        "segment_ap": round(segment_ap(truth, preds), 4),
        "pair_micro_ap": round(pair_micro_ap(truth, preds), 4),
        "map": round(m_ap, 4),
        "hr1": round(hr1, 4),
        "cell_segment_ap": {
            cell: round(cell_segment_ap(corpus.samples, preds, cell), 4)
            for cell in _cells(corpus.samples)
        },
        "index_x_realtime_per_cpu": round(system.reference_seconds
                                          / max(system.index_cpu_seconds, 1e-9), 1),
        "query_seconds_mean": round(sum(system.query_seconds)
                                    / max(len(system.query_seconds), 1), 4),
        "query_seconds_per_query_minute": round(
            sum(system.query_seconds) / max(system.query_audio_seconds / 60, 1e-9), 4),
        "peak_rss_mb": round(system.peak_rss_bytes / 1e6, 1),
        "index_mb_per_hour": round(system.index_bytes / 1e6 / hours, 2) if hours else None,
    }
    negatives = [str(q) for q in corpus.negative_queries]
    fp_threshold = threshold if threshold is not None else _peer_threshold(preds, negatives)
    metrics["fp_rate"] = round(false_positive_rate(negatives, preds, threshold=fp_threshold), 4)
    metrics["fp_threshold"] = fp_threshold
    labelled = [(label, s.segment) for s in corpus.samples for label in s.labels]
    metrics["recall_at_threshold"] = recall_breakdown(labelled, preds, threshold=fp_threshold)
    return metrics


def cell_segment_ap(samples: Sequence[SampleTruth], predictions: Sequence[SegmentPair],
                    cell: str) -> float:
    """Segment AP on the samples of one breakdown cell.

    Truth is the cell's samples; predictions are those on queries holding such a sample, less
    those that hit a sample of another cell (they are neither right nor wrong for this cell).
    """
    inside = [s.segment for s in samples if cell in s.labels]
    outside = [s.segment for s in samples if cell not in s.labels]
    queries = {t.query for t in inside}
    preds = [
        p for p in predictions
        if p.query in queries and not any(_overlaps(p, o) for o in outside)
    ]
    return segment_ap(inside, preds)


def _overlaps(a: SegmentPair, b: SegmentPair) -> bool:
    return (
        a.query == b.query and a.reference == b.reference
        and min(a.query_end, b.query_end) > max(a.query_start, b.query_start)
        and min(a.reference_end, b.reference_end) > max(a.reference_start, b.reference_start)
    )


def _cells(samples: Sequence[SampleTruth]) -> list[str]:
    return sorted({label for s in samples for label in s.labels})


def _peer_threshold(preds: Sequence[SegmentPair], negatives: Sequence[str]) -> float:
    """A peer has no calibrated threshold: use its own lowest score that keeps false positives
    at or under 2% of negative queries, the operating point homage is held to."""
    negative_set = set(negatives)
    top = sorted({p.score for p in preds if p.query in negative_set}, reverse=True)
    allowed = int(0.02 * len(negative_set))
    return float(top[allowed]) + 1e-9 if len(top) > allowed else 0.0


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
        stats = library.stats()
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
        stats = library.stats()
    return SystemResult(
        name="homage", predictions=_canonical(predictions, corpus),
        index_cpu_seconds=index_cpu, reference_seconds=stats.total_duration,
        query_seconds=latencies, query_audio_seconds=query_audio,
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


def _canonical(predictions: list[SegmentPair], corpus: AudioCorpus) -> list[SegmentPair]:
    """Map the library's resolved reference paths back to the corpus's spelling of them."""
    spelled = {str(Path(p).resolve()): str(p) for p in corpus.references}
    return [
        SegmentPair(p.query, spelled.get(p.reference, p.reference), p.query_start, p.query_end,
                    p.reference_start, p.reference_end, p.score)
        for p in predictions
    ]


def _run_peers(corpus: AudioCorpus, cache_dir: Path, names: Sequence[str],
               log: Callable[[str], None]) -> list[SystemResult]:
    from homage.bench.peers import AVAILABLE_AUDIO_PEERS, PeerError

    systems: list[SystemResult] = []
    work_dir = cache_dir / "peers"  # shared: peers reuse environments and converted inputs
    for name in names:
        peer_cls = AVAILABLE_AUDIO_PEERS.get(name)
        if peer_cls is None:
            log(f"{name}: unknown peer; known: {', '.join(AVAILABLE_AUDIO_PEERS)}")
            continue
        peer = peer_cls()
        reason = peer.setup(work_dir)
        if reason is not None:
            log(f"{name}: not run ({reason})")
            systems.append(SystemResult(name, [], 0.0, 0.0, [], 0.0, 0, 0,
                                        notes=f"not run: {reason}", ran=False))
            continue
        log(f"{name}: running")
        try:
            result = peer.run(list(corpus.references), list(corpus.queries))
        except PeerError as exc:
            log(f"{name}: failed ({exc})")
            systems.append(SystemResult(name, [], 0.0, 0.0, [], 0.0, 0, 0,
                                        notes=f"failed: {exc}", ran=False))
            continue
        per_query = result.query_seconds_per_query
        latencies = list(per_query) if isinstance(per_query, list | tuple) else \
            [float(per_query)] * len(corpus.queries)
        systems.append(SystemResult(
            name=name, predictions=list(result.predictions),
            index_cpu_seconds=result.index_cpu_seconds,
            reference_seconds=result.reference_seconds, query_seconds=latencies,
            query_audio_seconds=_query_audio_seconds(corpus),
            peak_rss_bytes=result.peak_rss_bytes, index_bytes=result.index_bytes,
            notes=result.notes,
        ))
    return systems


def _query_audio_seconds(corpus: AudioCorpus) -> float:
    from homage.media import probe

    return sum(probe(q).duration for q in corpus.queries)
