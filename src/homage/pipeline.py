"""The operations behind the CLI verbs: index, scan, compare.

This is where decoding, fingerprinting, the library and matching meet; it holds no algorithm
of its own.  Long work reports progress through a callback so the CLI (or the web UI) can draw
it, and per-file failures are collected rather than raised, so one bad file never stops a
folder run.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from homage.audio import AudioPrint, Peaks, analyse
from homage.config import Settings
from homage.errors import HomageError, UnsupportedMedia
from homage.library import Library, load_hash_index
from homage.match.audio_align import AudioSegmentMatch, align_hits, suppress_overlaps
from homage.match.audio_verify import verify_candidate
from homage.match.hash_index import HashIndex
from homage.media import audio_chunks, content_hash, iter_media_files, probe
from homage.types import Match, MediaInfo, QueryResult, Transform

logger = logging.getLogger(__name__)

#: A pitch change within this of the one a resampling would give counts as a speed change.
_SPEED_TOLERANCE_SEMITONES = 0.5


@dataclass(frozen=True)
class ProgressEvent:
    """What a long operation is doing: ``stage`` is "start", "advance", "done" or "failed";
    ``seconds`` is media time processed since the last event (for "advance") or a file's
    declared duration (for "start")."""

    stage: str
    path: str
    seconds: float = 0.0
    message: str = ""


Progress = Callable[[ProgressEvent], None]


def _no_progress(event: ProgressEvent) -> None:
    return None


@dataclass
class IndexReport:
    """What an ``index`` run did, file by file."""

    added: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    moved: list[tuple[str, str]] = field(default_factory=list)
    duplicates: list[tuple[str, str]] = field(default_factory=list)
    failed: list[HomageError] = field(default_factory=list)
    seconds: float = 0.0


def index_paths(
    library: Library, paths: Iterable[str | Path], *, settings: Settings,
    progress: Progress = _no_progress,
) -> IndexReport:
    """Add the media files under ``paths`` to ``library``.

    Unchanged files (same path, size and time, or same content) are skipped; a file whose
    content is already catalogued under a path that no longer exists is recorded as moved.
    Each work is committed in its own transaction, so an interrupted run resumes where it
    stopped and never leaves a half-indexed work.
    """
    report = IndexReport()
    for path in _walk(paths, report):
        try:
            _index_one(library, path, settings, progress, report)
        except HomageError as exc:
            report.failed.append(exc)
            progress(ProgressEvent("failed", str(path), message=str(exc)))
    return report


def collect_media(paths: Iterable[str | Path]) -> tuple[list[Path], list[HomageError]]:
    """The media files named by ``paths`` (folders walked), and the paths that named none."""
    report = IndexReport()
    return list(_walk(paths, report)), report.failed


def _walk(paths: Iterable[str | Path], report: IndexReport) -> Iterator[Path]:
    for raw in paths:
        try:
            yield from iter_media_files([raw])
        except HomageError as exc:
            report.failed.append(exc)


def _index_one(
    library: Library, path: Path, settings: Settings, progress: Progress, report: IndexReport
) -> None:
    name = str(path.resolve())
    stat = path.stat()
    known = library.work_by_path(name)
    if known and known.size == stat.st_size and known.mtime == stat.st_mtime:
        report.unchanged.append(name)
        progress(ProgressEvent("done", name, message="unchanged"))
        return
    digest = content_hash(path)
    same = library.work_by_hash(digest)
    if same is not None:
        if same.path == name:
            library.touch_work(same.id, mtime=stat.st_mtime)
            report.unchanged.append(name)
        elif not Path(same.path).exists():
            # A file moved over another catalogued path replaces that path's old work.
            library.move_work(same.id, path=name, size=stat.st_size, mtime=stat.st_mtime,
                              replacing=known.id if known is not None else None)
            report.moved.append((same.path, name))
        else:
            if known is not None:  # this path's old content is gone: forget it
                library.remove_work(known.id)
            report.duplicates.append((name, same.path))
        progress(ProgressEvent("done", name, message="unchanged"))
        return
    info = probe(path)
    if not info.has_audio:
        raise UnsupportedMedia("no audio stream", path=path)
    progress(ProgressEvent("start", name, seconds=info.duration))
    audio, duration = _analyse_file(path, settings, query=False, progress=progress)
    if known is not None:  # same path, new content: the old fingerprints are stale
        library.remove_work(known.id)
    library.add_work(path=name, content_hash=digest, size=stat.st_size, mtime=stat.st_mtime,
                     info=info, duration=duration, audio=audio)
    report.added.append(name)
    report.seconds += duration
    progress(ProgressEvent("done", name))


def _analyse_file(
    path: Path, settings: Settings, *, query: bool, progress: Progress = _no_progress
) -> tuple[AudioPrint, float]:
    """Analyse a file while it streams through the decoder; returns the print and duration."""
    rate = settings.audio.sample_rate
    decoded = 0

    def counted() -> Iterator[np.ndarray]:
        nonlocal decoded
        for chunk in audio_chunks(path, sample_rate=rate, max_seconds=settings.max_media_seconds):
            decoded += chunk.size
            progress(ProgressEvent("advance", str(path), seconds=chunk.size / rate))
            yield chunk

    audio = analyse(counted(), settings.audio, query=query)
    return audio, decoded / rate


def scan_paths(
    library: Library, paths: Sequence[str | Path], *, settings: Settings,
    progress: Progress = _no_progress,
) -> tuple[list[QueryResult], list[HomageError]]:
    """Match every query file under ``paths`` against the library."""
    index, durations, names = load_hash_index(library)
    results: list[QueryResult] = []
    failures: list[HomageError] = []
    report = IndexReport()
    for path in _walk(paths, report):
        try:
            results.append(
                _scan_one(library, path, index, durations, names, settings=settings,
                          progress=progress)
            )
        except HomageError as exc:
            failures.append(exc)
            progress(ProgressEvent("failed", str(path), message=str(exc)))
    return results, report.failed + failures


def _scan_one(
    library: Library, path: Path, index: HashIndex, durations: dict[int, float],
    names: dict[int, str], *, settings: Settings, progress: Progress,
) -> QueryResult:
    info = _audio_info(path)
    progress(ProgressEvent("start", str(path), seconds=info.duration))
    matches: list[Match] = []
    duration = info.duration
    if "audio" in settings.kinds:
        audio, duration = _analyse_file(path, settings, query=True, progress=progress)
        matches = audio_matches(audio, index, durations, names, duration,
                                peaks_of=library.peaks, settings=settings)
    progress(ProgressEvent("done", str(path)))
    return QueryResult(query=str(path), duration=duration, matches=tuple(matches))


def compare_files(
    query: str | Path, reference: str | Path, *, settings: Settings,
    progress: Progress = _no_progress,
) -> QueryResult:
    """Match one query against one reference, with no library."""
    ref_path, query_path = Path(reference), Path(query)
    _audio_info(ref_path)
    info = _audio_info(query_path)
    progress(ProgressEvent("start", str(query_path), seconds=info.duration))
    ref_audio, ref_duration = _analyse_file(ref_path, settings, query=False)
    audio, duration = _analyse_file(query_path, settings, query=True, progress=progress)
    index = HashIndex.build([(0, ref_audio.fingerprints)])
    matches = audio_matches(audio, index, {0: ref_duration}, {0: str(ref_path)}, duration,
                            peaks_of={0: ref_audio.peaks}.__getitem__, settings=settings)
    progress(ProgressEvent("done", str(query_path)))
    return QueryResult(query=str(query_path), duration=duration, matches=tuple(matches))


def audio_matches(
    audio: AudioPrint, index: HashIndex, durations: dict[int, float], names: dict[int, str],
    query_duration: float, *, peaks_of: Callable[[int], Peaks], settings: Settings,
) -> list[Match]:
    """Look up, align, verify, threshold: the audio-sample matches of one analysed query."""
    prints = audio.fingerprints
    hits = index.lookup(prints.hashes, max_postings_per_hash=settings.align.max_postings_per_hash)
    candidates = align_hits(prints, hits, settings.audio, reference_durations=durations,
                            query_duration=query_duration, align=settings.align)
    verified = []
    for candidate in candidates:
        checked = verify_candidate(
            candidate, audio.peaks, peaks_of(candidate.work), settings.audio,
            query_duration=query_duration, reference_duration=durations[candidate.work],
        )
        if checked is not None:
            verified.append(checked)
    verified.sort(key=lambda m: -m.score)
    return [
        _to_match(s, names[s.work])
        for s in suppress_overlaps(verified) if s.score >= settings.threshold
    ]


def _to_match(segment: AudioSegmentMatch, reference: str) -> Match:
    tempo = 1.0 / segment.time_ratio
    pitch = segment.pitch_semitones
    resampled = abs(12.0 * math.log2(tempo) - pitch) <= _SPEED_TOLERANCE_SEMITONES
    return Match(
        kind="audio_sample",
        reference=reference,
        query_start=max(0.0, segment.query_start),
        query_end=segment.query_end,
        reference_start=max(0.0, segment.reference_start),
        reference_end=segment.reference_end,
        score=segment.score,
        transform=Transform(speed=tempo if resampled else 1.0, pitch_semitones=pitch,
                            tempo=tempo),
    )


def _audio_info(path: Path) -> MediaInfo:
    info = probe(path)
    if not info.has_audio:
        raise UnsupportedMedia("no audio stream", path=path)
    return info
