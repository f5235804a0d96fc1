"""Match JSON (the contract in DESIGN.md) and a flat CSV for spreadsheets and pipelines."""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from homage.types import QueryResult

CSV_COLUMNS = (
    "query", "kind", "reference", "query_start", "query_end", "reference_start",
    "reference_end", "score", "speed", "pitch_semitones", "tempo", "mirrored", "region",
    "aspects", "also_at", "reference_region",
)
#: A cell starting with one of these is a formula to a spreadsheet: prefix it with a quote.
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def write_json(results: Sequence[QueryResult], path: str | Path, *, as_list: bool) -> None:
    """Write one per-query object, or a list of them (``as_list``: several queries scanned)."""
    payload: object = [r.to_json() for r in results] if as_list else results[0].to_json()
    _atomic_write(path, json.dumps(payload, indent=2, ensure_ascii=False) + "\n")


def write_csv(results: Sequence[QueryResult], path: str | Path) -> None:
    """One row per match; text cells are guarded against spreadsheet formula injection."""
    rows: list[list[object]] = []
    for result in results:
        for m in result.matches:
            t = m.transform
            rows.append([
                _cell(result.query), m.kind, _cell(m.reference), round(m.query_start, 3),
                round(m.query_end, 3), round(m.reference_start, 3), round(m.reference_end, 3),
                round(m.score, 4), round(t.speed, 4), round(t.pitch_semitones, 2),
                round(t.tempo, 4), t.mirrored,
                "" if t.region is None else " ".join(f"{v:.4f}" for v in t.region),
                "" if t.aspects is None else " ".join(t.aspects),
                " ".join(f"{start:.3f}-{end:.3f}" for start, end in m.also_at),
                "" if t.reference_region is None
                else " ".join(f"{v:.4f}" for v in t.reference_region),
            ])
    with _atomic_target(path) as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        writer.writerows(rows)


def _cell(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_PREFIXES) else text


def _atomic_write(path: str | Path, text: str) -> None:
    with _atomic_target(path) as handle:
        handle.write(text)


class _atomic_target:
    """Write to a temporary file beside ``path`` and rename it into place on success, so a
    reader (or a crash) never sees half a result file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, self.tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        self.handle = os.fdopen(fd, "w", encoding="utf-8", newline="")
        return self.handle

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.handle.close()
        if exc_type is None:
            os.replace(self.tmp, self.path)
        else:
            os.unlink(self.tmp)
