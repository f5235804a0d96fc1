"""What every ``homage bench`` shares: a system's result, its metrics, the peers' runs, and the
tables and one-line summary a benchmark prints.

Each benchmark (``bench.audio``, ``bench.video``) builds its corpus, runs homage its own way,
and hands the rest to these functions, so every system on every benchmark is scored the same
way: segment AP (VSC 2022), pair µAP, mAP and HR@1, the false-positive rate at the operating
threshold, and a breakdown per transform cell.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from homage.bench.metrics import (
    SegmentPair,
    false_positive_rate,
    pair_micro_ap,
    ranking_metrics,
    recall_breakdown,
    segment_ap,
)
from homage.library import Library, LibraryStats

logger = logging.getLogger(__name__)


def stats_at_rest(location: Path, **open_options: Any) -> LibraryStats:
    """The stats of the library at ``location``, opened afresh (with ``open_options``) after
    the run closed it: closing folds SQLite's write-ahead log back, which after an index run
    holds as much again as the database and would count twice in the index's size."""
    with Library.open(location, create=False, **open_options) as library:
        return library.stats()


class LabelledTruth(Protocol):
    """One ground-truth occurrence with its breakdown cells (audio samples, video copies)."""

    @property
    def segment(self) -> SegmentPair: ...

    @property
    def labels(self) -> tuple[str, ...]: ...


@dataclass
class SystemResult:
    """One system's predictions and costs on a corpus.

    ``media_seconds`` is the total duration of the queries (for cost per query-minute).
    """

    name: str
    predictions: list[SegmentPair]
    index_cpu_seconds: float
    reference_seconds: float
    query_seconds: list[float]
    media_seconds: float
    peak_rss_bytes: int
    index_bytes: int
    notes: str = ""
    ran: bool = True
    index_wall_seconds: float = 0.0
    metrics: dict[str, object] = field(default_factory=dict)

    @classmethod
    def not_run(cls, name: str, reason: str) -> SystemResult:
        return cls(name, [], 0.0, 0.0, [], 0.0, 0, 0, notes=reason, ran=False)


def score_system(
    truth: Sequence[LabelledTruth], negatives: Sequence[str], system: SystemResult, *,
    threshold: float | None, max_fp_rate: float = 0.02,
) -> dict[str, object]:
    """All metrics of one system; threshold-based ones at ``threshold`` when the system has
    one, else at the system's own score that keeps false positives at ``max_fp_rate``."""
    segments = [t.segment for t in truth]
    preds = system.predictions
    m_ap, hr1 = ranking_metrics(segments, preds)
    hours = system.reference_seconds / 3600
    metrics: dict[str, object] = {
        "segment_ap": round(segment_ap(segments, preds), 4),
        "pair_micro_ap": round(pair_micro_ap(segments, preds), 4),
        "map": round(m_ap, 4),
        "hr1": round(hr1, 4),
        "cell_segment_ap": {cell: round(cell_segment_ap(truth, preds, cell), 4)
                            for cell in sorted({c for t in truth for c in t.labels})},
        "index_x_realtime_per_cpu": round(system.reference_seconds
                                          / max(system.index_cpu_seconds, 1e-9), 1),
        "index_x_realtime_wall": round(system.reference_seconds
                                       / system.index_wall_seconds, 1)
        if system.index_wall_seconds else None,
        "query_seconds_mean": round(sum(system.query_seconds)
                                    / max(len(system.query_seconds), 1), 4),
        "query_seconds_per_query_minute": round(
            sum(system.query_seconds) / max(system.media_seconds / 60, 1e-9), 4),
        "peak_rss_mb": round(system.peak_rss_bytes / 1e6, 1),
        "index_mb_per_hour": round(system.index_bytes / 1e6 / hours, 2) if hours else None,
    }
    fp_threshold = threshold if threshold is not None else peer_threshold(
        preds, negatives, max_fp_rate=max_fp_rate)
    metrics["fp_rate"] = round(false_positive_rate(negatives, preds, threshold=fp_threshold), 4)
    metrics["fp_threshold"] = fp_threshold
    labelled = [(label, t.segment) for t in truth for label in t.labels]
    metrics["recall_at_threshold"] = recall_breakdown(labelled, preds, threshold=fp_threshold)
    return metrics


def cell_segment_ap(truth: Sequence[LabelledTruth], predictions: Sequence[SegmentPair],
                    cell: str) -> float:
    """Segment AP on the occurrences of one breakdown cell.

    Truth is the cell's occurrences; predictions are those on queries holding one, less those
    that hit an occurrence of another cell (they are neither right nor wrong for this cell).
    """
    inside = [t.segment for t in truth if cell in t.labels]
    outside = [t.segment for t in truth if cell not in t.labels]
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


def peer_threshold(preds: Sequence[SegmentPair], negatives: Sequence[str], *,
                   max_fp_rate: float = 0.02) -> float:
    """A peer has no calibrated threshold: use its own lowest score that keeps false positives
    at or under ``max_fp_rate`` of negative queries, the operating point homage is held to."""
    negative_set = set(negatives)
    top = sorted({p.score for p in preds if p.query in negative_set}, reverse=True)
    allowed = int(max_fp_rate * len(negative_set))
    return float(top[allowed]) + 1e-9 if len(top) > allowed else 0.0


def canonical(predictions: Sequence[SegmentPair], references: Sequence[Path]
              ) -> list[SegmentPair]:
    """Map a library's resolved reference paths back to the corpus's spelling of them."""
    spelled = {str(Path(p).resolve()): str(p) for p in references}
    return [
        SegmentPair(p.query, spelled.get(p.reference, p.reference), p.query_start, p.query_end,
                    p.reference_start, p.reference_end, p.score)
        for p in predictions
    ]


def run_peers(
    registry: Mapping[str, type], names: Sequence[str], references: Sequence[Path],
    queries: Sequence[Path], *, work_dir: Path, media_seconds: float,
    log: Callable[[str], None],
) -> list[SystemResult]:
    """Set up and run each named peer of ``registry`` on the corpus, in its own environment.

    A peer that cannot be set up or fails is reported as not run, with the reason.
    """
    from homage.bench.peers import PeerError

    systems: list[SystemResult] = []
    for name in names:
        peer_cls = registry.get(name)
        if peer_cls is None:
            log(f"{name}: unknown peer; known: {', '.join(registry)}")
            continue
        peer = peer_cls()
        reason = peer.setup(work_dir)
        if reason is not None:
            log(f"{name}: not run ({reason})")
            systems.append(SystemResult.not_run(name, f"not run: {reason}"))
            continue
        log(f"{name}: running")
        try:
            result = peer.run(list(references), list(queries))
        except PeerError as exc:
            log(f"{name}: failed ({exc})")
            systems.append(SystemResult.not_run(name, f"failed: {exc}"))
            continue
        per_query = result.query_seconds_per_query
        latencies = list(per_query) if isinstance(per_query, list | tuple) else \
            [float(per_query)] * len(queries)
        systems.append(SystemResult(
            name=name, predictions=list(result.predictions),
            index_cpu_seconds=result.index_cpu_seconds,
            reference_seconds=result.reference_seconds, query_seconds=latencies,
            media_seconds=media_seconds, peak_rss_bytes=result.peak_rss_bytes,
            index_bytes=result.index_bytes, notes=result.notes,
            index_wall_seconds=result.index_wall_seconds,
        ))
    return systems


SUMMARY_KEYS = ("segment_ap", "pair_micro_ap", "shot_hr1", "shot_map", "fp_rate",
                "homage_as_copy_rate", "copy_as_homage_rate", "index_x_realtime_per_cpu",
                "query_seconds_mean")
"""The figures of each system the summary line carries, those a benchmark measures."""


def summary_line(result: Mapping[str, object]) -> str:
    """The one machine-readable line a benchmark ends with."""
    systems = result["systems"]
    assert isinstance(systems, dict)
    compact = {
        name: {k: m[k] for k in SUMMARY_KEYS if k in m}
        for name, m in systems.items() if "segment_ap" in m
    }
    return "BENCH " + json.dumps({"benchmark": result["benchmark"], "variant": result["variant"],
                                  "systems": compact}, separators=(",", ":"))


def write_result(result: Mapping[str, object], out: Path | None,
                 tables: Callable[[Mapping[str, object]], str]) -> None:
    """The result as JSON at ``out`` and its Markdown tables beside it (``.md``)."""
    if out is None:
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    out.with_suffix(".md").write_text(tables(result))


SYSTEM_COLUMNS = (
    ("segment AP", "segment_ap"), ("pair µAP", "pair_micro_ap"), ("mAP", "map"),
    ("HR@1", "hr1"), ("FP rate", "fp_rate"), ("index ×RT/CPU", "index_x_realtime_per_cpu"),
    ("query s (mean)", "query_seconds_mean"), ("index MB/h", "index_mb_per_hour"),
    ("peak RSS MB", "peak_rss_mb"),
)


def system_table(systems: Mapping[str, Mapping[str, object]]) -> list[str]:
    """Markdown rows: one per system, the columns of ``SYSTEM_COLUMNS``."""
    lines = ["| system | " + " | ".join(c for c, _ in SYSTEM_COLUMNS) + " |",
             "|---|" + "---|" * len(SYSTEM_COLUMNS)]
    for name, metrics in systems.items():
        if "segment_ap" not in metrics:
            lines.append(f"| {name} | {metrics.get('notes', '')} |"
                         + " |" * (len(SYSTEM_COLUMNS) - 1))
            continue
        cells = [fmt(metrics.get(key)) for _, key in SYSTEM_COLUMNS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def cell_table(systems: Mapping[str, Mapping[str, object]]) -> list[str]:
    """Markdown rows: segment AP per breakdown cell, one column per system that ran."""
    cells = sorted({c for m in systems.values()
                    for c in m.get("cell_segment_ap", {})})  # type: ignore[union-attr]
    ran = [n for n, m in systems.items() if "segment_ap" in m]
    lines = ["Segment AP per cell:", "",
             "| cell | " + " | ".join(ran) + " |", "|---|" + "---|" * len(ran)]
    for cell in cells:
        row = [fmt(systems[n]["cell_segment_ap"].get(cell))  # type: ignore[union-attr]
               for n in ran]
        lines.append(f"| {cell} | " + " | ".join(row) + " |")
    return lines


def fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if value < 10 else f"{value:,.1f}"
    return "–" if value is None else str(value)
