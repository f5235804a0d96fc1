"""Each PyPI peer of ``homage bench audio`` installs, indexes two references and finds the
one a query borrows from.

The references are synthetic and deliberately unlike each other (a chord sequence and a
drum-and-bass pattern) so that a working peer has no excuse to confuse them; the query
mixes a plain excerpt of the first into unrelated material.  Set-up needs PyPI and Debian's
package archive: a peer that cannot be installed here is skipped with its reason.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from homage.bench.peers import (
    AVAILABLE_AUDIO_PEERS,
    AudioPeer,
    PeerResult,
    default_work_dir,
)

SR = 22050
#: Ground truth: query [6, 14) s is reference A [10, 18) s.
Q_START, Q_END, R_START, R_END = 6.0, 14.0, 10.0, 18.0


def _write(path: Path, signal: np.ndarray) -> Path:
    pcm = (np.clip(signal, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(SR)
        handle.writeframes(pcm.tobytes())
    return path


def _normalise(signal: np.ndarray, peak: float = 0.8) -> np.ndarray:
    return signal * (peak / float(np.max(np.abs(signal))))


def _chords(seed: int, seconds: float) -> np.ndarray:
    """Random three-note chords, one every quarter second, with decaying envelopes."""
    rng = np.random.default_rng(seed)
    n_step = int(0.25 * SR)
    t = np.arange(n_step) / SR
    env = np.exp(-6.0 * t)
    steps = []
    for _ in range(int(seconds / 0.25)):
        freqs = 110.0 * 2.0 ** (rng.integers(0, 36, size=3) / 12.0)
        steps.append(sum(np.sin(2 * np.pi * f * t) for f in freqs) * env)
    return _normalise(np.concatenate(steps))


def _drums(seed: int, seconds: float) -> np.ndarray:
    """A random kick/snare/hat pattern over a sliding bass line."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    out = np.zeros(n)
    t = np.arange(n) / SR
    bass_f = 55.0 * 2.0 ** (rng.integers(0, 12, size=int(seconds) + 1) / 12.0)
    out += 0.3 * np.sin(2 * np.pi * np.cumsum(bass_f[(t).astype(int)]) / SR)
    hit = int(0.125 * SR)
    k = np.arange(hit) / SR
    for start in range(0, n - hit, hit):
        kind = rng.integers(0, 3)
        if kind == 0:
            out[start : start + hit] += np.sin(2 * np.pi * (60 + 80 * np.exp(-30 * k)) * k) * (
                np.exp(-20 * k)
            )
        elif kind == 1:
            out[start : start + hit] += rng.normal(0, 0.5, hit) * np.exp(-25 * k)
        else:
            out[start : start + hit] += np.diff(rng.normal(0, 0.3, hit + 1)) * np.exp(-60 * k)
    return _normalise(out)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], Path]:
    root = tmp_path_factory.mktemp("peer-corpus")
    ref_a = _chords(1, 30.0)
    ref_b = _drums(2, 30.0)
    query = 0.25 * _drums(3, 20.0)
    query[int(Q_START * SR) : int(Q_END * SR)] += ref_a[int(R_START * SR) : int(R_END * SR)]
    refs = [_write(root / "ref_a.wav", ref_a), _write(root / "ref_b.wav", ref_b)]
    return refs, _write(root / "query.wav", _normalise(query, 0.9))


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> float:
    return max(0.0, min(a[1], b[1]) - max(a[0], b[0]))


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(AVAILABLE_AUDIO_PEERS))
def test_peer_finds_the_borrowed_reference(name: str, corpus: tuple[list[Path], Path]) -> None:
    refs, query = corpus
    peer: AudioPeer = AVAILABLE_AUDIO_PEERS[name]()
    reason = peer.setup(default_work_dir())
    if reason is not None:
        pytest.skip(reason)

    result = peer.run(refs, [query])

    assert isinstance(result, PeerResult)
    assert result.predictions, f"{name} found nothing"
    best = max(result.predictions, key=lambda p: p.score)
    assert best.query == str(query)
    assert best.reference == str(refs[0])
    assert _overlap((best.query_start, best.query_end), (Q_START, Q_END)) > 1.0
    assert _overlap((best.reference_start, best.reference_end), (R_START, R_END)) > 1.0
    assert all(0.0 <= p.score <= 1.0 for p in result.predictions)
    assert result.reference_seconds == pytest.approx(60.0, abs=0.1)
    assert result.index_cpu_seconds > 0.0
    assert len(result.query_seconds_per_query) == 1
    assert result.peak_rss_bytes > 0
    assert result.index_bytes > 0
    assert result.notes
