"""The values that cross module boundaries: frozen, typed, and serialisable to the match JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

MatchKind = Literal["audio_sample", "visual_copy", "visual_homage"]


@dataclass(frozen=True)
class Transform:
    """How the borrowed material was changed on its way into the query.

    ``speed`` is the resampling ratio (pitch and tempo together), ``tempo`` the ratio of
    playback rate of the query to the reference (>1: the query plays the material faster),
    ``pitch_semitones`` the pitch change heard in the query.  For a pure speed change
    ``tempo == speed`` and ``pitch_semitones == 12 * log2(speed)``.  For footage, ``speed`` is
    reference seconds shown per query second, ``mirrored`` says the query is flipped left to
    right, and ``region`` is where the reference's picture sits in the query frame, as
    (left, top, right, bottom) fractions, when it does not fill it (letterbox, crop,
    picture-in-picture).  A visual homage re-stages rather than copies: ``aspects`` says what
    it shares with its model ("composition", "colour", "motion"), and ``reference_region`` is
    the part of the reference's picture the query frame shows, as (left, top, right, bottom)
    fractions of the reference frame, when the homage frames its model closer in.
    """

    speed: float = 1.0
    pitch_semitones: float = 0.0
    tempo: float = 1.0
    mirrored: bool = False
    region: tuple[float, float, float, float] | None = None
    aspects: tuple[str, ...] | None = None
    reference_region: tuple[float, float, float, float] | None = None

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {
            "speed": round(self.speed, 4),
            "pitch_semitones": round(self.pitch_semitones, 2),
            "tempo": round(self.tempo, 4),
            "mirrored": self.mirrored,
        }
        if self.region is not None:
            data["region"] = [round(v, 4) for v in self.region]
        if self.aspects is not None:
            data["aspects"] = list(self.aspects)
        if self.reference_region is not None:
            data["reference_region"] = [round(v, 4) for v in self.reference_region]
        return data


@dataclass(frozen=True)
class Match:
    """One borrowed stretch: query ``[query_start, query_end]`` ↔ reference ``[reference_start,
    reference_end]``, in seconds of each work's own timeline; ``score`` in [0, 1].

    ``also_at`` lists other reference ranges that hold the same material just as strongly
    (a reference that repeats itself): the query stretch is one borrowing, and the reported
    reference range is its best-supported source, not the only place it occurs.
    """

    kind: MatchKind
    reference: str
    query_start: float
    query_end: float
    reference_start: float
    reference_end: float
    score: float
    transform: Transform = field(default_factory=Transform)
    also_at: tuple[tuple[float, float], ...] = ()

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        for key in ("query_start", "query_end", "reference_start", "reference_end"):
            data[key] = round(data[key], 3)
        data["score"] = round(self.score, 4)
        data["transform"] = self.transform.to_json()
        if self.also_at:
            data["also_at"] = [[round(start, 3), round(end, 3)] for start, end in self.also_at]
        else:
            del data["also_at"]
        return data


@dataclass(frozen=True)
class QueryResult:
    """Everything found in one query work: the per-query object of the match JSON."""

    query: str
    duration: float
    matches: tuple[Match, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {
            "query": self.query,
            "duration": round(self.duration, 3),
            "matches": [m.to_json() for m in self.matches],
        }


@dataclass(frozen=True)
class MediaInfo:
    """What probing a file tells before any decoding: enough to catalogue it."""

    path: str
    duration: float
    has_audio: bool
    has_video: bool
    container: str
    audio_codec: str | None = None
    video_codec: str | None = None
    sample_rate: int | None = None
    channels: int | None = None
