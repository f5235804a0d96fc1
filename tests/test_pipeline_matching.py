"""Finding samples: ``compare_files`` (no library) and ``index_paths`` + ``scan_paths``.

Every query of the corpus (see ``conftest.py``) borrows from the references in a known way:
sped up or slowed down by resampling, pitch-shifted without a tempo change, time-stretched
without a pitch change, mixed under an unrelated track, encoded lossily, put in a video, two
samples in one query, a loop.  Each must be found in the right reference, at the right place,
with the right transform.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import REF_FILES, UNRELATED_SEEDS, Corpus, Expected
from homage.config import Settings
from homage.errors import HomageError, UnsupportedMedia
from homage.library import Library
from homage.pipeline import ProgressEvent, compare_files, index_paths, scan_paths
from homage.types import Match, QueryResult
from synth_music import SR, write_audio

#: query and reference start of a match within this of the truth
START_TOLERANCE_S = 0.75
SPEED_TOLERANCE = 0.03  # relative
TEMPO_TOLERANCE = 0.03  # relative
PITCH_TOLERANCE = 0.5  # semitones

SINGLE = ["plain", "speed_0.8", "speed_1.25", "pitch_+3", "pitch_-3", "tempo_0.85",
          "tempo_1.2", "mix_+6dB", "mix_+0dB", "mp3", "video"]


def overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def fits(match: Match, want: Expected, reference: Path) -> bool:
    """The match is ``want``: same reference, starts close, covers most of it."""
    return (
        Path(match.reference).resolve() == reference.resolve()
        and abs(match.query_start - want.q_start) <= START_TOLERANCE_S
        and abs(match.reference_start - want.r_start) <= START_TOLERANCE_S
        and overlap(match.query_start, match.query_end, want.q_start, want.q_end)
        >= 0.6 * (want.q_end - want.q_start)
        and overlap(match.reference_start, match.reference_end, want.r_start, want.r_end)
        >= 0.6 * (want.r_end - want.r_start)
    )


def assert_found(result: QueryResult, want: Expected, corpus: Corpus) -> Match:
    reference = corpus.refs[want.ref]
    found = [m for m in result.matches if fits(m, want, reference)]
    assert found, f"{want} not among {[m.to_json() for m in result.matches]}"
    match = found[0]
    t = match.transform
    assert t.speed == pytest.approx(want.speed, rel=SPEED_TOLERANCE)
    assert t.tempo == pytest.approx(want.tempo, rel=TEMPO_TOLERANCE)
    assert t.pitch_semitones == pytest.approx(want.pitch, abs=PITCH_TOLERANCE)
    assert t.mirrored is False
    assert match.kind == "audio_sample"
    assert 0.5 <= match.score <= 1.0
    # the ends agree with the transform: the query stretch is the reference stretch / tempo
    q_len = match.query_end - match.query_start
    r_len = match.reference_end - match.reference_start
    assert q_len == pytest.approx(r_len / t.tempo, rel=0.1, abs=0.5)
    return match


def assert_matches_are_valid(result: QueryResult, settings: Settings) -> None:
    for m in result.matches:
        assert settings.threshold <= m.score <= 1.0
        assert 0.0 <= m.query_start <= m.query_end <= result.duration + 0.5
        assert 0.0 <= m.reference_start <= m.reference_end
        assert all(math.isfinite(v) for v in (m.transform.speed, m.transform.tempo,
                                              m.transform.pitch_semitones))
    scores = [m.score for m in result.matches]
    assert scores == sorted(scores, reverse=True)


# ------------------------------------------------------------------- one query, one reference


@pytest.mark.parametrize("name", SINGLE)
def test_compare_finds_the_sample(corpus: Corpus, name: str) -> None:
    settings = Settings()
    [want] = corpus.expected[name]
    result = compare_files(corpus.queries[name], corpus.refs[want.ref], settings=settings)
    assert result.query == str(corpus.queries[name])
    assert result.duration == pytest.approx(20.0, abs=0.1)
    assert_matches_are_valid(result, settings)
    best = assert_found(result, want, corpus)
    assert best is result.matches[0], "the sample is the strongest match"


def test_compare_reports_the_reference_as_given(corpus: Corpus) -> None:
    result = compare_files(corpus.queries["plain"], corpus.refs["a"], settings=Settings())
    assert result.matches[0].reference == str(corpus.refs["a"])


def test_compare_against_the_wrong_reference_finds_nothing_of_the_sample(corpus: Corpus
                                                                         ) -> None:
    result = compare_files(corpus.queries["plain"], corpus.refs["c"], settings=Settings())
    [want] = corpus.expected["plain"]
    assert not any(
        overlap(m.query_start, m.query_end, want.q_start, want.q_end) > 2.0
        for m in result.matches
    )


def test_a_reference_that_repeats_itself_gives_one_match_with_both_places(
        corpus: Corpus, tmp_path: Path) -> None:
    """The sampled 8 s occur twice in this reference (a loop-built track): the query stretch
    is one borrowing, reported once, at one place, with the other place in ``also_at``."""
    a, c = corpus.audio["a"], corpus.audio["c"]
    repeated = np.concatenate([a[10 * SR : 18 * SR], c[:6 * SR], a[10 * SR : 18 * SR]])
    reference = write_audio(tmp_path / "repeats.wav", repeated)
    result = compare_files(corpus.queries["plain"], reference, settings=Settings())
    on_sample = [m for m in result.matches if overlap(m.query_start, m.query_end, 5, 13) > 4]
    assert len(on_sample) == 1, [m.to_json() for m in result.matches]
    [match] = on_sample
    places = sorted([(match.reference_start, match.reference_end), *match.also_at])
    assert len(places) == 2, match.to_json()
    for (start, end), want in zip(places, (0.0, 14.0), strict=True):
        assert start == pytest.approx(want, abs=START_TOLERANCE_S)
        assert end - start == pytest.approx(8.0, abs=1.0)
    assert match.to_json()["also_at"] == [[round(a, 3), round(b, 3)] for a, b in match.also_at]


def test_whole_track_identification(corpus: Corpus) -> None:
    result = compare_files(corpus.queries["whole_a"], corpus.refs["a"], settings=Settings())
    match = assert_found(result, corpus.expected["whole_a"][0], corpus)
    assert match.query_end - match.query_start > 25.0


def test_noise_finds_nothing(corpus: Corpus) -> None:
    for ref in REF_FILES:
        assert compare_files(corpus.queries["noise"], corpus.refs[ref],
                             settings=Settings()).matches == ()


def test_threshold_filters_matches(corpus: Corpus) -> None:
    query, ref = corpus.queries["mix_+0dB"], corpus.refs["a"]
    loose = compare_files(query, ref, settings=Settings(threshold=0.0))
    default = compare_files(query, ref, settings=Settings())
    strict = compare_files(query, ref, settings=Settings(threshold=1.0))
    assert strict.matches == ()
    assert len(loose.matches) >= len(default.matches) >= 1
    assert all(m.score >= 0.5 for m in default.matches)


def test_an_audio_query_is_refused_when_only_visual_kinds_are_asked(corpus: Corpus, tmp_path: Path
                                                       ) -> None:
    settings = Settings(library=tmp_path / "lib", kinds=("copy",))
    with Library.open(settings.library) as library:
        index_paths(library, [corpus.refs["a"]], settings=settings)
        results, failures = scan_paths(library, [corpus.queries["plain"]], settings=settings)
    assert results == []
    assert [str(f) for f in failures] == [
        f"{corpus.queries['plain']}: no video stream for the kinds asked for (copy)"]


def test_compare_refuses_files_without_audio(corpus: Corpus, media_files) -> None:
    video = media_files.bad["video_only"]
    with pytest.raises(UnsupportedMedia, match="no audio stream") as info:
        compare_files(video, corpus.refs["a"], settings=Settings())
    assert info.value.path == str(video)
    with pytest.raises(UnsupportedMedia) as info:
        compare_files(corpus.queries["plain"], video, settings=Settings())
    assert info.value.path == str(video)
    with pytest.raises(HomageError, match="no such file"):
        compare_files(corpus.queries["plain"], corpus.root / "missing.flac",
                      settings=Settings())


# -------------------------------------------------------------------------- with a library


@pytest.mark.parametrize("name", SINGLE)
def test_scan_finds_the_sample_in_the_right_reference(corpus: Corpus,
                                                      scanned: dict[str, QueryResult],
                                                      name: str) -> None:
    result = scanned[name]
    assert_matches_are_valid(result, Settings())
    [want] = corpus.expected[name]
    assert assert_found(result, want, corpus) is result.matches[0]


def test_scan_reports_library_paths(corpus: Corpus, scanned: dict[str, QueryResult]) -> None:
    references = {str(p.resolve()) for p in corpus.refs.values()}
    assert all(m.reference in references for r in scanned.values() for m in r.matches)


def test_two_samples_from_two_references(corpus: Corpus, scanned: dict[str, QueryResult]
                                         ) -> None:
    result = scanned["two_refs"]
    first, second = corpus.expected["two_refs"]
    assert_found(result, first, corpus)
    assert_found(result, second, corpus)
    compared = compare_files(corpus.queries["two_refs"], corpus.refs["b"], settings=Settings())
    assert_found(compared, second, corpus)


def test_a_loop_gives_one_segment_per_repeat(corpus: Corpus, scanned: dict[str, QueryResult]
                                             ) -> None:
    """The same 4 s of reference heard three times back to back: three segments, each on
    its own repeat and each pointing at the looped stretch of the reference."""
    result = scanned["loop"]
    reference = str(corpus.refs["a"].resolve())
    segments = []
    for want in corpus.expected["loop"]:
        mine = [m for m in result.matches if m.reference == reference
                and overlap(m.query_start, m.query_end, want.q_start, want.q_end) >= 3.0
                and overlap(m.reference_start, m.reference_end, want.r_start, want.r_end)
                >= 3.0]
        assert len(mine) == 1, (want, [m.to_json() for m in result.matches])
        segments.append(mine[0])
    assert len({(m.query_start, m.query_end) for m in segments}) == 3
    for m in segments:
        assert m.transform.tempo == pytest.approx(1.0, rel=TEMPO_TOLERANCE)
        assert m.transform.pitch_semitones == pytest.approx(0.0, abs=PITCH_TOLERANCE)
        assert m.query_end - m.query_start < 6.0


def test_loop_repeats_are_located_precisely(corpus: Corpus, scanned: dict[str, QueryResult]
                                            ) -> None:
    for want in corpus.expected["loop"]:
        assert_found(scanned["loop"], want, corpus)


def test_whole_track_is_identified_from_the_library(corpus: Corpus,
                                                    scanned: dict[str, QueryResult]) -> None:
    match = assert_found(scanned["whole_a"], corpus.expected["whole_a"][0], corpus)
    assert match.query_end - match.query_start > 25.0


def test_scanning_noise_finds_nothing(scanned: dict[str, QueryResult]) -> None:
    assert scanned["noise"].matches == ()


def test_unrelated_music_finds_nothing(scanned: dict[str, QueryResult]) -> None:
    found = {seed: [m.to_json() for m in scanned[f"unrelated_{seed}"].matches]
             for seed in UNRELATED_SEEDS}
    assert found == {seed: [] for seed in UNRELATED_SEEDS}


def test_reported_matches_span_a_plausible_stretch(scanned: dict[str, QueryResult]) -> None:
    """No match is a sliver: half a second is the least a sample can be recognised from."""
    short = [(name, m.to_json()) for name, r in scanned.items() for m in r.matches
             if m.query_end - m.query_start < 0.5]
    assert short == []


def test_samples_are_not_credited_to_other_references(corpus: Corpus,
                                                      scanned: dict[str, QueryResult]) -> None:
    """Where a query holds a sample of one reference, no other reference matches there."""
    for name in [*SINGLE, "two_refs", "loop"]:
        for want in corpus.expected[name]:
            right = str(corpus.refs[want.ref].resolve())
            for m in scanned[name].matches:
                if m.reference != right:
                    assert overlap(m.query_start, m.query_end, want.q_start,
                                   want.q_end) <= 1.0, (name, m.to_json())


def test_scan_results_are_deterministic(corpus: Corpus, scanned: dict[str, QueryResult],
                                        tmp_path: Path) -> None:
    settings = Settings(library=tmp_path / "lib")
    names = ["pitch_+3", "two_refs"]
    with Library.open(settings.library) as library:
        index_paths(library, [corpus.root / "refs"], settings=settings)
        results, _ = scan_paths(library, [corpus.queries[n] for n in names], settings=settings)
    for name, result in zip(names, results, strict=True):
        assert [m.to_json() for m in result.matches] == [
            m.to_json() for m in scanned[name].matches]


# ------------------------------------------------------------------ progress and failures


def test_progress_events_follow_each_file(corpus: Corpus, tmp_path: Path) -> None:
    settings = Settings(library=tmp_path / "lib")
    (tmp_path / "in").mkdir()
    bad = tmp_path / "in" / "bad.mp3"
    bad.write_text("not audio")
    events: list[ProgressEvent] = []
    with Library.open(settings.library) as library:
        report = index_paths(library, [corpus.refs["c"], bad], settings=settings,
                             progress=events.append)
    ref = str(corpus.refs["c"].resolve())
    stages = [(e.stage, e.path) for e in events if e.stage != "advance"]
    assert stages == [("start", ref), ("done", ref), ("failed", str(bad))]
    assert events[0].seconds == pytest.approx(30.0, abs=0.1)
    advanced = sum(e.seconds for e in events if e.stage == "advance")
    assert advanced == pytest.approx(report.seconds) == pytest.approx(30.0, abs=0.1)
    failed = events[-1]
    assert str(bad) in failed.message and "\n" not in failed.message


def test_scan_collects_failures_and_goes_on(corpus: Corpus, tmp_path: Path) -> None:
    settings = Settings(library=tmp_path / "lib")
    queries = tmp_path / "queries"
    queries.mkdir()
    (queries / "a_broken.wav").write_bytes(b"RIFF nonsense")
    good = Path(shutil.copy2(corpus.queries["plain"], queries))
    with Library.open(settings.library) as library:
        index_paths(library, [corpus.refs["a"]], settings=settings)
        results, failures = scan_paths(library, [queries, tmp_path / "missing.mp3"],
                                       settings=settings)
    assert [r.query for r in results] == [str(good)]
    assert results[0].matches
    assert sorted(f.path for f in failures) == sorted(
        [str(queries / "a_broken.wav"), str(tmp_path / "missing.mp3")])


def test_scanning_an_empty_library_finds_nothing(corpus: Corpus, tmp_path: Path) -> None:
    settings = Settings(library=tmp_path / "lib")
    with Library.open(settings.library) as library:
        results, failures = scan_paths(library, [corpus.queries["plain"]], settings=settings)
    assert failures == [] and results[0].matches == ()
