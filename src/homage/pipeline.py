"""The operations behind the CLI verbs: index, scan, compare.

This is where decoding, fingerprinting, the library and matching meet; it holds no algorithm
of its own.  Long work reports progress through a callback so the CLI (or the web UI) can draw
it, and per-file failures are collected rather than raised, so one bad file never stops a
folder run.
"""

from __future__ import annotations

import functools
import logging
import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from homage.audio import AudioPrint, Peaks, analyse, hash_space
from homage.config import Settings
from homage.copies import QueryFrames, copy_matches, describe_video, descriptor_for
from homage.errors import HomageError, LibraryError, UnsupportedMedia
from homage.homages import homage_matches, reference_windows
from homage.library import (
    AlreadyCatalogued,
    Library,
    WorkRecord,
    load_hash_index,
    load_vector_index,
)
from homage.match.audio_align import (
    AudioSegmentMatch,
    align_hits,
    postings_cap,
    suppress_overlaps,
)
from homage.match.audio_loops import harmonise_loops, unfound_repeats
from homage.match.audio_verify import verify_candidate
from homage.match.hash_index import HashIndex
from homage.match.homage_match import ReferenceWindows
from homage.match.homage_model import RESTYLE
from homage.match.restyle import RestyleModel
from homage.match.vector_index import NeighbourSearch, VectorIndex
from homage.media import audio_chunks, content_hash, iter_media_files, probe
from homage.types import Match, MediaInfo, QueryResult, Transform
from homage.visual.prints import VisualPrint

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
            index_file(library, path, settings=settings, progress=progress, report=report)
        except LibraryError:
            raise  # the library, not this file: stop the run
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


def index_file(
    library: Library, path: Path, *, settings: Settings, progress: Progress,
    report: IndexReport,
) -> None:
    """Bring one file's entry in ``library`` up to date and record what happened in ``report``.

    The library is asked first (is this path, or this content, already catalogued?), so a
    re-run, or a retried cluster batch, skips committed works without decoding them; only
    then are features extracted (:func:`extract_features`, which never touches the library)
    and the work written in one transaction.
    """
    _index_one(library, path, settings, progress, report)


def _index_one(
    library: Library, path: Path, settings: Settings, progress: Progress, report: IndexReport,
    *, again: bool = False,
) -> None:
    name = _utf8_name(path)
    stat = path.stat()
    known = library.work_by_path(name)
    if known and known.size == stat.st_size and known.mtime == stat.st_mtime:
        report.unchanged.append(name)
        progress(ProgressEvent("done", name, message="unchanged"))
        return
    digest = content_hash(path)
    if _catalogued_elsewhere(library, name, digest, stat, known, report):
        progress(ProgressEvent("done", name, message="unchanged"))
        return
    features = extract_features(path, settings, progress=progress)
    if known is not None:  # same path, new content: the old fingerprints are stale
        library.remove_work(known.id)
    try:
        library.add_work(path=name, content_hash=digest, size=stat.st_size,
                         mtime=stat.st_mtime, info=features.info, duration=features.duration,
                         audio=features.audio, visual=features.visual)
    except AlreadyCatalogued:
        if again:
            raise
        # another run catalogued this file meanwhile: look again (unchanged or duplicate now)
        _index_one(library, path, settings, progress, report, again=True)
        return
    report.added.append(name)
    report.seconds += features.duration
    progress(ProgressEvent("done", name))


def _catalogued_elsewhere(
    library: Library, name: str, digest: str, stat: os.stat_result, known: WorkRecord | None,
    report: IndexReport,
) -> bool:
    """Settle a file whose content the library already holds (same path with a new time,
    moved, or a duplicate); False when the content is new and must be analysed."""
    same = library.work_by_hash(digest)
    if same is None:
        return False
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
    return True


@dataclass(frozen=True)
class Features:
    """What indexing learns from one file: everything ``Library.add_work`` stores but the
    file's identity.  Pure data, picklable, so it can be computed in one process (a cluster
    worker) and written by the same or another.

    ``audio`` is None for a file without an audio stream, ``visual`` for one without video;
    ``duration`` is the decoded audio's length, else the video's (seconds).
    """

    info: MediaInfo
    duration: float
    audio: AudioPrint | None
    visual: VisualPrint | None


def extract_features(path: Path, settings: Settings, *,
                     progress: Progress = _no_progress) -> Features:
    """Decode ``path`` and compute its reference features (no library involved).

    Emits a "start" event with the media seconds to be processed (audio and video passes
    count separately) and "advance" events as decoding proceeds.
    """
    info = probe(path)
    passes = int(info.has_audio) + int(info.has_video)
    progress(ProgressEvent("start", _utf8_name(path), seconds=info.duration * passes))
    audio, duration = None, info.duration
    if info.has_audio:
        audio, duration = _analyse_file(path, settings, query=False, progress=progress)
    visual = _describe(path, settings, query=False, progress=progress).print \
        if info.has_video else None
    if visual is not None and not info.has_audio:
        duration = max(info.duration, float(visual.times[-1]) if len(visual) else 0.0)
    return Features(info=info, duration=duration, audio=audio, visual=visual)


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


def _describe(path: Path, settings: Settings, *, query: bool,
              progress: Progress = _no_progress) -> QueryFrames:
    """Describe a video's frames (and, for a query, their insets and mirror images)."""
    return describe_video(
        path, settings.visual, query=query, max_seconds=settings.max_media_seconds,
        advance=lambda seconds: progress(ProgressEvent("advance", str(path), seconds=seconds)),
    )


def scan_paths(
    library: Library, paths: Sequence[str | Path], *, settings: Settings,
    progress: Progress = _no_progress,
) -> tuple[list[QueryResult], list[HomageError]]:
    """Match every query file under ``paths`` against the library."""
    scanner = Scanner.load(library, settings=settings)
    results: list[QueryResult] = []
    failures: list[HomageError] = []
    report = IndexReport()
    for path in _walk(paths, report):
        try:
            results.append(scanner.scan(path, progress=progress))
        except HomageError as exc:
            failures.append(exc)
            progress(ProgressEvent("failed", str(path), message=str(exc)))
    return results, report.failed + failures


@dataclass(frozen=True)
class Scanner:
    """What matching queries against a library needs, loaded once for many queries: the
    audio hash index, the frame vector index (copies; homages are told from copies by the
    copy matcher, so both visual kinds need it) and the reference shot windows (homages).

    Build it with :meth:`load`; ``homage.cluster`` builds one per worker, its vector search
    served by shards on other machines where one machine's memory is not enough.
    """

    library: Library
    settings: Settings
    index: HashIndex
    durations: dict[int, float]
    names: dict[int, str]
    vectors: NeighbourSearch | None
    windows: ReferenceWindows | None

    @classmethod
    def load(cls, library: Library, *, settings: Settings,
             vectors: NeighbourSearch | None = None) -> Scanner:
        """Load what ``settings.kinds`` need from ``library``; ``vectors`` replaces the
        library's own vector index (a sharded one)."""
        index, durations, names = load_hash_index(library)
        if vectors is None and {"copy", "homage"} & set(settings.kinds):
            vectors = load_vector_index(library,
                                        dim=descriptor_for(settings.visual.descriptor).dim)
        windows = _reference_windows(library, durations) \
            if "homage" in settings.kinds else None
        return cls(library, settings, index, durations, names, vectors, windows)

    def scan(self, path: Path, *, progress: Progress = _no_progress) -> QueryResult:
        """Match one query file; a ``HomageError`` names what is wrong with it."""
        _utf8_name(path)
        settings, durations, names = self.settings, self.durations, self.names
        info = _query_info(path, settings)
        prints_of = stored_frames(self.library)
        vectors = self.vectors
        return _match_query(
            path, info, settings, progress,
            audio=lambda audio, duration: audio_matches(
                audio, self.index, durations, names, duration,
                peaks_of=_peaks_if_present(self.library), settings=settings),
            copies=lambda frames, duration: copy_matches(
                frames, vectors, durations, names, duration, prints_of=prints_of,
                settings=settings.visual, threshold=settings.threshold,
                restyle=_restyle(settings))
            if vectors is not None else [],
            homages=lambda frames, duration, copies: homage_matches(
                frames, duration, self.windows, names, prints_of=prints_of,
                threshold=settings.threshold, copies=copies),
        )


def _reference_windows(library: Library, durations: dict[int, float]) -> ReferenceWindows | None:
    frames_of = stored_frames(library)
    return reference_windows(
        (w.id, frames_of(w.id), durations.get(w.id, w.duration))
        for w in library.works() if w.frames)


def _restyle(settings: Settings) -> RestyleModel | None:
    """The copy-or-re-rendering label, when homages are asked for; without them the copy
    matcher's stretches are all copies (what ``--kinds copy`` has always reported)."""
    return RESTYLE if "homage" in settings.kinds else None


def _match_query(
    path: Path, info: MediaInfo, settings: Settings, progress: Progress, *,
    audio: Callable[[AudioPrint, float], list[Match]],
    copies: Callable[[QueryFrames, float], list[Match]],
    homages: Callable[[QueryFrames, float, list[Match]], list[Match]],
) -> QueryResult:
    """Analyse one query for the kinds asked for and collect what each matcher finds.

    Homages need the copies (a copy is reported once, as a copy), so the copy matcher runs
    whenever either visual kind is asked for; what it finds is reported by kind.
    """
    wants_audio = "audio" in settings.kinds and info.has_audio
    wants_copy = "copy" in settings.kinds and info.has_video
    wants_homage = "homage" in settings.kinds and info.has_video
    visual = wants_copy or wants_homage
    kinds = {"visual_copy"} if wants_copy else set()
    if wants_homage:
        kinds.add("visual_homage")  # re-renderings the copy matcher lines up frame by frame
    progress(ProgressEvent("start", str(path),
                           seconds=info.duration * (int(wants_audio) + int(visual))))
    matches: list[Match] = []
    duration = info.duration
    if wants_audio:
        prints, duration = _analyse_file(path, settings, query=True, progress=progress)
        matches += audio(prints, duration)
    if visual:
        frames = _describe(path, settings, query=True, progress=progress)
        found = copies(frames, duration)
        matches += [m for m in found if m.kind in kinds]
        if wants_homage:
            matches += homages(frames, duration, found)
    progress(ProgressEvent("done", str(path)))
    matches.sort(key=lambda m: (m.query_start, -m.score))
    return QueryResult(query=str(path), duration=duration, matches=tuple(matches))


def compare_files(
    query: str | Path, reference: str | Path, *, settings: Settings,
    progress: Progress = _no_progress,
) -> QueryResult:
    """Match one query against one reference, with no library."""
    ref_path, query_path = Path(reference), Path(query)
    ref_info = _query_info(ref_path, settings)
    info = _query_info(query_path, settings)
    _refuse_nothing_in_common(info, ref_info, settings)
    names = {0: str(ref_path)}

    def audio(prints: AudioPrint, duration: float) -> list[Match]:
        if not ref_info.has_audio:
            return []
        ref_audio, ref_duration = _analyse_file(ref_path, settings, query=False)
        index = HashIndex.build([(0, ref_audio.fingerprints)])
        return audio_matches(prints, index, {0: ref_duration}, names, duration,
                             peaks_of={0: ref_audio.peaks}.__getitem__, settings=settings)

    @functools.cache
    def described() -> tuple[VisualPrint, float]:
        ref: VisualPrint = _describe(ref_path, settings, query=False).print
        return ref, max(ref_info.duration, float(ref.times[-1]) if len(ref) else 0.0)

    def copies(frames: QueryFrames, duration: float) -> list[Match]:
        if not ref_info.has_video:
            return []
        ref, ref_duration = described()
        index = VectorIndex.build([(0, ref.times, ref.vectors)], dim=ref.vectors.shape[1])
        return copy_matches(frames, index, {0: ref_duration}, names, duration,
                            prints_of={0: ref}.__getitem__, settings=settings.visual,
                            threshold=settings.threshold, restyle=_restyle(settings))

    def homages(frames: QueryFrames, duration: float, copies: list[Match]) -> list[Match]:
        if not ref_info.has_video:
            return []
        ref, ref_duration = described()
        return homage_matches(frames, duration, reference_windows([(0, ref, ref_duration)]),
                              names, prints_of={0: ref}.__getitem__,
                              threshold=settings.threshold, copies=copies)

    return _match_query(query_path, info, settings, progress, audio=audio, copies=copies,
                        homages=homages)


def audio_matches(
    audio: AudioPrint, index: HashIndex, durations: dict[int, float], names: dict[int, str],
    query_duration: float, *, peaks_of: Callable[[int], Peaks | None], settings: Settings,
) -> list[Match]:
    """Look up, align, verify, threshold: the audio-sample matches of one analysed query."""
    prints = audio.fingerprints
    cap = postings_cap(len(index), hash_space(settings.audio), settings.align)
    hits = index.lookup(prints.hashes, max_postings_per_hash=cap)
    candidates = align_hits(prints, hits, settings.audio, reference_durations=durations,
                            query_duration=query_duration, align=settings.align)

    def verify_all(candidates: list[AudioSegmentMatch]) -> list[AudioSegmentMatch]:
        kept = []
        for candidate in candidates:
            peaks = peaks_of(candidate.work)
            if peaks is None:  # removed from the library since the index was read
                continue
            checked = verify_candidate(
                candidate, audio.peaks, peaks, settings.audio,
                query_duration=query_duration, reference_duration=durations[candidate.work],
            )
            if checked is not None:
                kept.append(checked)
        return kept

    found = verify_all(candidates)
    # A loop found at some of its repeats is looked for at the others, then every repeat
    # is given the loop's range (match.audio_loops).
    found += verify_all(unfound_repeats(found, query_duration=query_duration,
                                      reference_durations=durations))
    found = harmonise_loops(found, query_duration=query_duration, reference_durations=durations)
    found.sort(key=lambda m: -m.score)
    return [
        _to_match(s, names[s.work])
        for s in suppress_overlaps(found) if s.score >= settings.threshold
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
        also_at=tuple(sorted((max(0.0, start), end) for start, end in segment.also_at)),
    )


def stored_frames(library: Library) -> Callable[[int], VisualPrint]:
    """``work id → its stored frames``, for the layout check of copy matching."""

    def frames_of(work: int) -> VisualPrint:
        stored = library.visual(work)
        if stored is None:
            raise UnsupportedMedia("indexed without frames; run `homage library check`",
                                   path=library.paths().get(work, str(work)))
        return stored
    return frames_of


def _refuse_nothing_in_common(query: MediaInfo, reference: MediaInfo,
                              settings: Settings) -> None:
    """``compare`` of an audio-only file with a video-only one can find nothing: say so."""
    audio = "audio" in settings.kinds and query.has_audio and reference.has_audio
    video = bool({"copy", "homage"} & set(settings.kinds)) and query.has_video \
        and reference.has_video
    if audio or video:
        return
    lacking, other = (query, reference) if not query.has_audio else (reference, query)
    raise UnsupportedMedia(
        f"no audio stream, and {Path(other.path).name} has no video stream to compare it with",
        path=lacking.path)


def _peaks_if_present(library: Library) -> Callable[[int], Peaks | None]:
    def peaks_of(work_id: int) -> Peaks | None:
        try:
            return library.peaks(work_id)
        except LibraryError:
            return None

    return peaks_of


def _utf8_name(path: Path) -> str:
    """The resolved path, refused when it cannot be written as UTF-8 (a name of raw bytes):
    the catalogue, the JSON and the CSV all hold text."""
    name = str(path.resolve())
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise UnsupportedMedia("file name is not valid UTF-8; rename the file",
                               path=path) from None
    return name


def _query_info(path: Path, settings: Settings) -> MediaInfo:
    """Probe a file and refuse it when it holds nothing the asked-for kinds can use."""
    info = probe(path)
    usable = ("audio" in settings.kinds and info.has_audio) or (
        bool({"copy", "homage"} & set(settings.kinds)) and info.has_video)
    if not usable:
        wanted = "audio stream" if not info.has_audio else "video stream"
        raise UnsupportedMedia(f"no {wanted} for the kinds asked for "
                               f"({','.join(settings.kinds)})", path=path)
    return info
