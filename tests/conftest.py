"""Shared fixtures: a synthetic music corpus (references, transformed queries, files of every
format, broken files) written once per session, and a library indexed from it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from homage.config import Settings
from homage.library import Library
from homage.pipeline import index_paths, scan_paths
from homage.types import QueryResult
from synth_music import (
    SR,
    arrange,
    change_speed,
    make_score,
    noise,
    render,
    scaled_to,
    write_audio,
    write_video_only,
)
from synth_video import (
    Footage,
    crop,
    edited,
    excerpt,
    letterbox,
    mirror,
    read_all,
    recolour,
    shots,
    write_video,
)

#: ``library_location`` (one per backend), ``postgres_server``, ``postgres_url``
pytest_plugins = ["backend_fixtures", "cluster_fixtures"]

REF_SECONDS = 30.0
REF_SEEDS = {"a": 11, "b": 22, "c": 33}
#: the references as files: a lossless, a lossy and a plain PCM one
REF_FILES = {"a": "ref_a.flac", "b": "ref_b.ogg", "c": "ref_c.wav"}
HOST_SEED = 404
#: seeds of pieces that share nothing with the references
UNRELATED_SEEDS = (501, 502, 503, 504, 505, 506)


@dataclass(frozen=True)
class Expected:
    """Where a sample sits: ``ref`` ``[r_start, r_end]`` heard at query ``[q_start, q_end]``
    with the given transform (``speed`` is 1.0 unless the sample was resampled)."""

    ref: str
    q_start: float
    q_end: float
    r_start: float
    r_end: float
    speed: float = 1.0
    pitch: float = 0.0
    tempo: float = 1.0


@dataclass
class Corpus:
    root: Path
    refs: dict[str, Path] = field(default_factory=dict)
    queries: dict[str, Path] = field(default_factory=dict)
    expected: dict[str, list[Expected]] = field(default_factory=dict)
    audio: dict[str, np.ndarray] = field(default_factory=dict)


def _excerpt_queries(corpus: Corpus) -> None:
    """One query per transform, each holding ``a[10:18]`` at query time 5 s."""
    score_a = make_score(REF_SEEDS["a"], REF_SECONDS)
    full_a = corpus.audio["a"]
    plain = full_a[10 * SR : 18 * SR]

    def query(name: str, samples: np.ndarray, expected: list[Expected], *, suffix: str = ".wav",
              **encode: object) -> None:
        path = write_audio(corpus.root / "queries" / f"q_{name}{suffix}", samples, **encode)
        corpus.queries[name] = path
        corpus.expected[name] = expected

    query("plain", arrange(20, [(5, plain)]), [Expected("a", 5, 13, 10, 18)])
    for speed in (0.8, 1.25):
        sample = change_speed(plain, speed)
        query(f"speed_{speed}", arrange(20, [(5, sample)]),
              [Expected("a", 5, 5 + 8 / speed, 10, 18, speed=speed,
                        pitch=12 * np.log2(speed), tempo=speed)])
    for pitch in (3, -3):
        sample = render(score_a, pitch=pitch, start=10, end=18)
        query(f"pitch_{pitch:+d}", arrange(20, [(5, sample)]),
              [Expected("a", 5, 13, 10, 18, pitch=pitch)])
    for tempo in (0.85, 1.2):
        sample = render(score_a, tempo=tempo, start=10, end=18)
        query(f"tempo_{tempo}", arrange(20, [(5, sample)]),
              [Expected("a", 5, 5 + 8 / tempo, 10, 18, tempo=tempo)])
    host = render(make_score(HOST_SEED, 20), sr=SR)
    for db in (6, 0):
        query(f"mix_{db:+d}dB", arrange(20, [(5, plain)], bed=scaled_to(host, plain, db)),
              [Expected("a", 5, 13, 10, 18)])
    query("mp3", arrange(20, [(5, plain)]), [Expected("a", 5, 13, 10, 18)],
          suffix=".mp3", codec="libmp3lame", bit_rate=64000)
    query("video", arrange(20, [(5, plain)]), [Expected("a", 5, 13, 10, 18)],
          suffix=".mp4", codec="aac", video=True)
    two = arrange(20, [(2, full_a[10 * SR : 16 * SR]), (12, corpus.audio["b"][5 * SR : 11 * SR])])
    query("two_refs", two, [Expected("a", 2, 8, 10, 16), Expected("b", 12, 18, 5, 11)])
    loop = full_a[20 * SR : 24 * SR]
    query("loop", arrange(18, [(3, loop), (7, loop), (11, loop)]),
          [Expected("a", at, at + 4, 20, 24) for at in (3, 7, 11)])
    query("whole_a", full_a, [Expected("a", 0, REF_SECONDS, 0, REF_SECONDS)],
          suffix=".mp3", codec="libmp3lame", bit_rate=96000)
    query("noise", noise(7, 20), [])
    for seed in UNRELATED_SEEDS:
        query(f"unrelated_{seed}", render(make_score(seed, 20)), [])


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    """Three 30-second references and queries borrowing from them (see ``Expected``)."""
    root = tmp_path_factory.mktemp("corpus")
    (root / "refs").mkdir()
    (root / "queries").mkdir()
    result = Corpus(root)
    encoders = {
        "a": {"codec": "flac"},
        "b": {"codec": "libopus", "codec_rate": 48000},
        "c": {"codec": "pcm_s16le"},
    }
    for name, seed in REF_SEEDS.items():
        samples = render(make_score(seed, REF_SECONDS))
        result.audio[name] = samples
        result.refs[name] = write_audio(root / "refs" / REF_FILES[name], samples,
                                        **encoders[name])
    _excerpt_queries(result)
    return result


@pytest.fixture(scope="session")
def scanned(corpus: Corpus, tmp_path_factory: pytest.TempPathFactory) -> dict[str, QueryResult]:
    """Every corpus query scanned against a library of the three references."""
    settings = Settings(library=tmp_path_factory.mktemp("scan") / "library")
    with Library.open(settings.library, settings=settings.audio) as library:
        report = index_paths(library, [corpus.root / "refs"], settings=settings)
        assert not report.failed and len(report.added) == len(REF_SEEDS)
        names = {str(path): name for name, path in corpus.queries.items()}
        results, failures = scan_paths(library, list(corpus.queries.values()), settings=settings)
    assert failures == []
    return {names[r.query]: r for r in results}


@dataclass(frozen=True)
class MediaFiles:
    """Short clips of known content in each format, and files that are not good media."""

    clips: dict[str, Path]
    bad: dict[str, Path]
    seconds: float
    samples: np.ndarray


CLIP_SECONDS = 4.0


@pytest.fixture(scope="session")
def media_files(tmp_path_factory: pytest.TempPathFactory) -> MediaFiles:
    root = tmp_path_factory.mktemp("media")
    samples = render(make_score(7, CLIP_SECONDS))
    clips = {
        "wav": write_audio(root / "clip.wav", samples),
        "flac": write_audio(root / "clip.flac", samples, codec="flac"),
        "mp3": write_audio(root / "clip.mp3", samples, codec="libmp3lame"),
        "ogg": write_audio(root / "clip.ogg", samples, codec="libopus", codec_rate=48000),
        "opus": write_audio(root / "clip.opus", samples, codec="libopus", codec_rate=48000,
                            channels=2),
        "m4a": write_audio(root / "clip.m4a", samples, codec="aac", channels=2),
        "mp4": write_audio(root / "clip.mp4", samples, codec="aac", video=True),
    }
    bad = {"video_only": write_video_only(root / "video_only.mp4")}
    (root / "empty.wav").write_bytes(b"")
    bad["empty"] = root / "empty.wav"
    (root / "text.mp3").write_text("these are not the samples you are looking for\n" * 40)
    bad["text"] = root / "text.mp3"
    (root / "random.wav").write_bytes(np.random.default_rng(3).bytes(20000))
    bad["random"] = root / "random.wav"
    long = render(make_score(8, 12.0))
    for kind, codec in (("wav", "pcm_s16le"), ("mp3", "libmp3lame"), ("flac", "flac"),
                        ("m4a", "aac")):
        whole = write_audio(root / f"long.{kind}", long, codec=codec)
        data = whole.read_bytes()
        cut = root / f"half.{kind}"
        cut.write_bytes(data[: len(data) // 2])
        bad[f"half_{kind}"] = cut
        bad[f"whole_{kind}"] = whole
    return MediaFiles(clips, bad, CLIP_SECONDS, samples)


@pytest.fixture(autouse=True)
def _no_user_library(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                     monkeypatch: pytest.MonkeyPatch) -> None:
    """No test here may read or write the user's real library (the benchmark tests under
    ``tests/bench`` keep their own environment and caches)."""
    if "bench" in request.node.path.relative_to(Path(__file__).parent).parts[:1]:
        return
    monkeypatch.delenv("HOMAGE_LIBRARY", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("home") / "data"))


@pytest.fixture(scope="session")
def footage(tmp_path_factory: pytest.TempPathFactory) -> Footage:
    """Three reference videos, a query holding three edited copies (a cropped, mirrored,
    recoloured stretch; a ×2 one; a letterboxed one) and a query that copies nothing."""
    root = tmp_path_factory.mktemp("footage")
    ref = write_video(root / "ref.mp4", shots([0, 1, 2, 3, 4, 5], 4.0), crf=18)
    other = write_video(root / "other.mp4", shots([6, 7, 8, 9], 4.0), crf=18)
    unrelated = write_video(root / "unrelated.mp4", shots([10, 11, 12, 13, 14], 3.0))
    ref_frames, other_frames = read_all(ref), read_all(other)
    query_frames = [
        *shots([15], 2.0),
        *edited(excerpt(ref_frames, 5.0, 13.0), crop(0.2), mirror, recolour),
        *shots([16], 2.0),
        *excerpt(ref_frames, 14.0, 22.0, speed=2.0),
        *edited(excerpt(other_frames, 2.0, 8.0), letterbox),
    ]
    query = write_video(root / "query.mp4", query_frames, crf=30)
    fresh = write_video(root / "fresh.mp4", shots([17, 18, 19, 20], 3.0))
    return Footage(root, ref, other, unrelated, query, fresh)
