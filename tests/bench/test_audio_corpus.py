"""The audio-sample benchmark corpus: reproducible, decodable, and with consistent truth.

These tests build a tiny corpus from the Debian music packages; where those (or ffmpeg/sox)
are missing they skip, naming what to install.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import subprocess
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import butter, correlate, fftconvolve, sosfiltfilt

from homage.bench import audio_corpus as ac
from homage.errors import HomageError

pytestmark = pytest.mark.slow

TINY = {"n_queries": 4, "n_references": 4, "n_hosts": 3}


def _build(cache: Path, seed: int = 3) -> ac.AudioCorpus:
    try:
        return ac.build_audio_corpus(cache, quick=True, seed=seed, **TINY)
    except HomageError as exc:
        if "needs" in str(exc):  # a Debian package or a tool is not installed
            pytest.skip(str(exc))
        raise


def _duration(path: Path) -> float:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return float(out.strip())


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def corpora(tmp_path_factory: pytest.TempPathFactory) -> tuple[ac.AudioCorpus, ac.AudioCorpus]:
    first = _build(tmp_path_factory.mktemp("a"))
    second = _build(tmp_path_factory.mktemp("b"))
    return first, second


def test_same_seed_same_corpus(corpora: tuple[ac.AudioCorpus, ac.AudioCorpus]) -> None:
    a, b = corpora
    ma = json.loads(a.manifest.read_text())
    mb = json.loads(b.manifest.read_text())
    assert ma["samples"] == mb["samples"]
    assert ma["queries"] == mb["queries"]
    assert ma["references"] == mb["references"] and ma["hosts"] == mb["hosts"]
    assert [_md5(p) for p in a.queries] == [_md5(p) for p in b.queries]


def test_sizes_and_disjoint_split(corpora: tuple[ac.AudioCorpus, ac.AudioCorpus]) -> None:
    corpus = corpora[0]
    manifest = json.loads(corpus.manifest.read_text())
    assert len(corpus.references) == TINY["n_references"]
    assert len(corpus.queries) == TINY["n_queries"]
    assert not set(manifest["references"]) & set(manifest["hosts"])
    for key in manifest["references"]:
        source = manifest["sources"][key]
        assert source["package"] in ac.PACKAGES and source["version"]
        assert Path(source["original"]).is_file()


def test_files_exist_and_decode(corpora: tuple[ac.AudioCorpus, ac.AudioCorpus]) -> None:
    corpus = corpora[0]
    manifest = json.loads(corpus.manifest.read_text())
    for path, query in zip(corpus.queries, manifest["queries"], strict=True):
        assert path.is_file()
        assert path.suffix in {".mp3", ".ogg", ".m4a"}
        assert abs(_duration(path) - query["duration"]) < 0.1
        assert 30.0 - 0.1 <= query["duration"] <= 90.0 + 0.1
    for path in corpus.references:
        assert _duration(path) >= 30.0


def test_negatives(corpora: tuple[ac.AudioCorpus, ac.AudioCorpus]) -> None:
    corpus = corpora[0]
    assert len(corpus.negative_queries) >= 1
    assert len(corpus.negative_queries) >= 0.2 * len(corpus.queries)
    sampled = {s.segment.query for s in corpus.samples}
    assert not sampled & {str(p) for p in corpus.negative_queries}
    assert sampled == {str(p) for p in corpus.queries} - {str(p) for p in corpus.negative_queries}


def test_truth_within_durations(corpora: tuple[ac.AudioCorpus, ac.AudioCorpus]) -> None:
    corpus = corpora[0]
    assert corpus.samples
    durations: dict[str, float] = {}
    for s in corpus.samples:
        seg = s.segment
        for path in (seg.query, seg.reference):
            if path not in durations:
                durations[path] = _duration(Path(path))
        assert 0.0 <= seg.query_start < seg.query_end <= durations[seg.query] + 1e-3
        assert 0.0 <= seg.reference_start < seg.reference_end <= durations[seg.reference]
        ref_len = seg.reference_end - seg.reference_start
        assert 1.5 - 1e-3 <= ref_len <= 15.0 + 1e-3
        ratio = s.strength if s.family in {"speed", "tempo"} else 1.0
        assert seg.query_end - seg.query_start == pytest.approx(ref_len / ratio, abs=2e-3)
        assert -6.0 <= s.snr_db <= 12.0
        assert s.family in ac.FAMILIES and s.label.split(":")[0] == s.family
        assert f"snr:{s.snr_db:g}" in s.labels


def test_loops_are_separate_entries(corpora: tuple[ac.AudioCorpus, ac.AudioCorpus]) -> None:
    groups: dict[tuple[str, str, float], list[ac.SampleTruth]] = defaultdict(list)
    for s in corpora[0].samples:
        key = (s.segment.query, s.segment.reference, s.segment.reference_start)
        groups[key].append(s)
    looped = [g for g in groups.values() if len(g) > 1]
    assert looped, "the tiny corpus should hold at least one looped sample"
    for group in looped:
        group.sort(key=lambda s: s.segment.query_start)
        assert len({(s.segment.reference_start, s.segment.reference_end) for s in group}) == 1
        assert len({(s.family, s.strength, s.snr_db) for s in group}) == 1
        for before, after in itertools.pairwise(group):
            assert after.segment.query_start == pytest.approx(before.segment.query_end, abs=1e-5)


def test_inserted_excerpt_is_where_the_truth_says(
    corpora: tuple[ac.AudioCorpus, ac.AudioCorpus],
) -> None:
    """An untransformed or speed-changed sample correlates best with the query at lag 0."""
    corpus = corpora[0]
    manifest = json.loads(corpus.manifest.read_text())
    sr = ac.SAMPLE_RATE
    checked = 0
    for query in manifest["queries"]:
        audio = None
        for spec in query["samples"]:
            if spec["family"] not in {"none", "speed"}:
                continue
            audio = ac._decode(corpus.root / query["path"]) if audio is None else audio
            n_q, rate = ac._rep_samples(spec["family"], spec["strength"], spec["n_ref"])
            clip = ac._fit(
                ac._decode(
                    manifest["sources"][spec["reference"]]["path"],
                    start=spec["reference_start"],
                    duration=spec["n_ref"] / sr + 0.05,
                    rate=rate or sr,
                ),
                n_q,
            )
            if spec["eq"] is not None:
                eq = spec["eq"]
                sos = butter(eq["order"], eq["cutoff_hz"], btype=eq["type"], fs=sr, output="sos")
                clip = sosfiltfilt(sos, clip)
            at, pad = spec["query_start_sample"], sr // 4
            window = audio[at - pad : at + n_q + pad]
            energy = np.sqrt(np.maximum(fftconvolve(window**2, np.ones(n_q), "valid"), 0.0))
            scores = correlate(window, clip, "valid", method="fft")
            scores /= energy * np.linalg.norm(clip) + 1e-12
            assert abs(int(np.argmax(scores)) - pad) <= 5
            assert scores[pad] > 0.3  # −6 dB sample-to-host gives ~0.45
            checked += 1
    if not checked:
        pytest.skip("no untransformed or speed-changed sample in this tiny corpus")


def test_cached_corpus_is_reused(
    corpora: tuple[ac.AudioCorpus, ac.AudioCorpus], tmp_path: Path
) -> None:
    corpus = corpora[0]
    stamp = corpus.manifest.stat().st_mtime_ns
    again = _build(corpus.root.parent)
    assert again == corpus
    assert corpus.manifest.stat().st_mtime_ns == stamp
    assert ac.load_audio_corpus(corpus.root) == corpus
    with pytest.raises(HomageError):
        ac.load_audio_corpus(tmp_path)


def test_hard_cells_exist_in_every_plan() -> None:
    """Planning alone (no audio) deals the −6 dB, ×0.75, ×1.33 and ±5 st cells."""
    refs = [
        ac._Source(f"pkg:r{i}.ogg", "pkg", "1", f"/r{i}.ogg", None, Path(f"/r{i}.ogg"), 200.0)
        for i in range(5)
    ]
    hosts = [ac._Source("pkg:h.ogg", "pkg", "1", "/h.ogg", None, Path("/h.ogg"), 200.0)]
    drums = {
        "kit": {
            v: [ac._Source(f"d:{v}", "d", "1", f"/{v}", None, Path(f"/{v}"), 0.0)]
            for v in ("kick", "snare", "hat")
        }
    }
    speech = [ac._Source("s:a", "s", "1", "/a", None, Path("/a"), 0.0)]
    for seed in range(3):
        plans = ac._plan_queries(
            seed=seed, n_queries=30, references=refs, hosts=hosts, drums=drums, speech=speech
        )
        samples = [s for p in plans for s in p["samples"]]
        strengths = {(s["family"], s["strength"]) for s in samples}
        assert -6.0 in {s["snr_db"] for s in samples}
        assert ("speed", 0.75) in strengths
        assert any(f == "speed" and abs(v - 1.33) < 1e-3 for f, v in strengths)
        assert {("tempo", 0.8), ("tempo", 1.25)} <= strengths
        assert any(f == "pitch" and abs(v) == 5.0 for f, v in strengths)
        assert sum(not p["samples"] for p in plans) >= 0.2 * len(plans)
        for p in plans:
            assert 0 <= len(p["samples"]) <= 3
            end = max((s["query_start_sample"] for s in p["samples"]), default=0)
            assert end < p["n_samples"]
