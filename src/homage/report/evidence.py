"""The evidence a reader sees for each match: aligned frame pairs for footage, aligned
spectrograms for samples, decoded from the files on disk and encoded as data URIs.

A file that is gone or unreadable never stops a report: the match is still listed, with a note
saying why its pictures are unavailable.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from homage.errors import HomageError
from homage.media import probe
from homage.media.stills import audio_excerpt, encode_jpeg, encode_png, frames_at
from homage.report.pictures import (
    SpectrogramSettings,
    aligned_times,
    draw_box,
    log_spectrogram,
    spectrogram_image,
    to_columns,
    warp_spectrogram,
)
from homage.types import Match, QueryResult

logger = logging.getLogger(__name__)

#: Width in pixels of each frame of a pair.
FRAME_WIDTH = 320
#: A sample longer than this shows its first this-many seconds as spectrograms.
MAX_SPECTROGRAM_SECONDS = 20.0
SPECTROGRAM = SpectrogramSettings()


@dataclass(frozen=True)
class Picture:
    """An image ready for a page: a ``data:`` URI and its size in pixels."""

    uri: str
    width: int
    height: int


@dataclass(frozen=True)
class FramePair:
    """The query's frame at ``query_time`` beside the reference's at ``reference_time``."""

    query_time: float
    reference_time: float
    query: Picture | None
    reference: Picture | None


@dataclass(frozen=True)
class SpectrogramPair:
    """Spectrograms of the query over ``[query_start, query_end]`` and of the reference over
    ``[reference_start, reference_end]``, the latter warped onto the query's time and pitch."""

    query_start: float
    query_end: float
    reference_start: float
    reference_end: float
    query: Picture | None
    reference: Picture | None


@dataclass(frozen=True)
class MediaSide:
    """What the report knows of one file: whether it is on disk and what it holds."""

    path: str
    exists: bool
    has_video: bool = False
    has_audio: bool = False


@dataclass(frozen=True)
class MatchEvidence:
    """Everything shown for one match beyond its numbers."""

    query: MediaSide
    reference: MediaSide
    frames: tuple[FramePair, ...] = ()
    spectrograms: SpectrogramPair | None = None
    reference_flipped: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)
    query_labels: tuple[str, ...] = ()
    reference_labels: tuple[str, ...] = ()


def data_uri(mime: str, payload: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(payload).decode('ascii')}"


def picture(rgb: np.ndarray, *, lossless: bool = False) -> Picture:
    """``rgb`` (h, w, 3) uint8 as a JPEG (photographs) or PNG (``lossless``) data URI."""
    if lossless:
        return Picture(data_uri("image/png", encode_png(rgb)), rgb.shape[1], rgb.shape[0])
    return Picture(data_uri("image/jpeg", encode_jpeg(rgb)), rgb.shape[1], rgb.shape[0])


class _Sides:
    """Probes each file once per report."""

    def __init__(self) -> None:
        self._known: dict[str, MediaSide] = {}

    def __call__(self, path: str) -> MediaSide:
        if path not in self._known:
            self._known[path] = _probe_side(path)
        return self._known[path]


def _probe_side(path: str) -> MediaSide:
    if not Path(path).is_file():
        return MediaSide(path, exists=False)
    try:
        info = probe(path)
    except HomageError as exc:
        logger.info("%s", exc)
        return MediaSide(path, exists=True)
    return MediaSide(path, exists=True, has_video=info.has_video, has_audio=info.has_audio)


def gather_evidence(
    result: QueryResult, *, frame_width: int = FRAME_WIDTH,
    spectrogram: SpectrogramSettings = SPECTROGRAM,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[MatchEvidence, ...]:
    """The evidence of every match of ``result``, in the order of ``result.matches``.

    ``progress(done, total)`` is called after each match.
    """
    sides = _Sides()
    out = []
    for i, match in enumerate(result.matches):
        out.append(match_evidence(match, sides(result.query), sides(match.reference),
                                  frame_width=frame_width, spectrogram=spectrogram))
        if progress is not None:
            progress(i + 1, len(result.matches))
    return tuple(out)


def match_evidence(
    match: Match, query: MediaSide, reference: MediaSide, *, frame_width: int = FRAME_WIDTH,
    spectrogram: SpectrogramSettings = SPECTROGRAM,
) -> MatchEvidence:
    """Frame pairs (visual kinds) or spectrograms (audio samples) for one match."""
    notes = [f"{name} file not found: {side.path}" for name, side in
             (("query", query), ("reference", reference)) if not side.exists]
    if match.kind == "audio_sample":
        spectrograms = None
        if query.exists and reference.exists:
            spectrograms = _spectrograms(match, query, reference, spectrogram, notes)
        return MatchEvidence(query, reference, spectrograms=spectrograms, notes=tuple(notes))
    flipped = match.transform.mirrored
    times = aligned_times(match)
    query_frames = _frames(query, [tq for tq, _ in times], frame_width, notes)
    reference_frames = _frames(reference, [tr for _, tr in times], frame_width, notes)
    frames = _frame_pairs(match, times, query_frames, reference_frames, flipped)
    return MatchEvidence(query, reference, frames=frames, reference_flipped=flipped,
                         notes=tuple(notes), query_labels=shot_labels(query_frames),
                         reference_labels=shot_labels(reference_frames))


def shot_labels(frames: Sequence[np.ndarray | None], *, k: int = 3,
                min_share: float = 0.05) -> tuple[str, ...]:
    """What the ImageNet classifier says a stretch shows: its ``k`` likeliest classes over
    ``frames``, each holding at least ``min_share`` of the probability; () when the model is
    not installed.  Words help a reader see why two shots in different media were paired."""
    from homage.visual import descriptor_for
    from homage.visual.efficientnet import ModelUnavailable, imagenet_class_names

    shown = [f for f in frames if f is not None]
    if not shown:
        return ()
    try:
        descriptor = descriptor_for("effnet-lite0")
        height, width = descriptor.input_size
        batch = np.stack([_resized(f, width, height) for f in shown])
        _, ids, scores = descriptor.describe_labelled(batch, 5)
        names = imagenet_class_names()
    except ModelUnavailable as exc:
        logger.info("no shot labels: %s", exc)
        return ()
    if ids is None or scores is None:
        return ()
    totals: dict[int, float] = {}
    for label, score in zip(ids.ravel(), scores.ravel(), strict=True):
        totals[int(label)] = totals.get(int(label), 0.0) + float(score) / len(shown)
    best = sorted(totals.items(), key=lambda kv: -kv[1])[:k]
    return tuple(names[label] for label, share in best if share >= min_share)


def _resized(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """``rgb`` scaled to ``width`` × ``height`` by FFmpeg's scaler (as the decoder does)."""
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
    return frame.reformat(width=width, height=height, format="rgb24").to_ndarray()


def _frame_pairs(match: Match, times: Sequence[tuple[float, float]],
                 query_frames: Sequence[np.ndarray | None],
                 reference_frames: Sequence[np.ndarray | None],
                 flipped: bool) -> tuple[FramePair, ...]:
    pairs = []
    for (tq, tr), q, r in zip(times, query_frames, reference_frames, strict=True):
        if q is not None and match.transform.region is not None:
            q = draw_box(q, match.transform.region)
        if r is not None and match.transform.reference_region is not None:
            r = draw_box(r, match.transform.reference_region)  # in the reference's own frame
        if r is not None and flipped:
            r = np.ascontiguousarray(r[:, ::-1])
        pairs.append(FramePair(tq, tr, None if q is None else picture(q),
                               None if r is None else picture(r)))
    return tuple(pairs)


def _frames(side: MediaSide, times: Sequence[float], width: int, notes: list[str]
            ) -> list[np.ndarray | None]:
    if not side.exists:
        return [None for _ in times]
    try:
        return frames_at(side.path, times, width=width)
    except HomageError as exc:
        notes.append(f"frames unavailable: {exc}")
        return [None for _ in times]


def _spectrograms(match: Match, query: MediaSide, reference: MediaSide,
                  settings: SpectrogramSettings, notes: list[str]) -> SpectrogramPair | None:
    t = match.transform
    tempo = t.tempo if t.tempo > 0 else 1.0
    seconds = min(match.query_end - match.query_start, MAX_SPECTROGRAM_SECONDS)
    if seconds <= 0:
        return None
    q0, q1 = match.query_start, match.query_start + seconds
    r0, r1 = match.reference_start, match.reference_start + seconds * tempo
    try:
        q_samples = audio_excerpt(query.path, q0, q1, sample_rate=settings.sample_rate)
        r_samples = audio_excerpt(reference.path, r0, r1, sample_rate=settings.sample_rate)
    except HomageError as exc:
        notes.append(f"spectrograms unavailable: {exc}")
        return None
    q_spec = to_columns(log_spectrogram(q_samples, settings), settings.columns)
    r_spec = warp_spectrogram(log_spectrogram(r_samples, settings),
                              pitch_semitones=t.pitch_semitones, columns=settings.columns,
                              bins_per_octave=settings.bins_per_octave)
    range_db = settings.dynamic_range_db
    return SpectrogramPair(
        q0, q1, r0, r1,
        picture(spectrogram_image(q_spec, dynamic_range_db=range_db)),
        picture(spectrogram_image(r_spec, dynamic_range_db=range_db)),
    )
