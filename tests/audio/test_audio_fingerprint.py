"""``homage.audio``: spectra, peaks and triplet fingerprints on synthetic music."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import resample_poly

from homage.audio import FingerprintSettings, fingerprint, hash_space, stream_peaks
from homage.audio.spectrum import log_spectrogram
from homage.match.hash_index import HashIndex
from synth_music import SR, change_speed, make_score, render

SETTINGS = FingerprintSettings()
RATE = SETTINGS.sample_rate
FIELDS = ("hashes", "time", "freq", "span")


@pytest.fixture(scope="module")
def music() -> np.ndarray:
    """20 s of synthetic music at the fingerprint's rate."""
    return resample_poly(render(make_score(61, 20.0)), RATE, SR).astype(np.float32)


def assert_same_prints(a, b) -> None:
    for name in FIELDS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def chunked(samples: np.ndarray, size: int) -> list[np.ndarray]:
    return [samples[i : i + size] for i in range(0, samples.size, size)]


@pytest.mark.parametrize("query", [False, True])
def test_fingerprints_are_deterministic(music: np.ndarray, query: bool) -> None:
    first = fingerprint([music], SETTINGS, query=query)
    again = fingerprint([music.copy()], SETTINGS, query=query)
    assert len(first) > 100
    assert_same_prints(first, again)


@pytest.mark.parametrize("size", [1, 997, 4096, 8000 * 3 + 17, 10**7])
@pytest.mark.parametrize("query", [False, True])
def test_fingerprints_do_not_depend_on_chunk_size(music: np.ndarray, query: bool,
                                                  size: int) -> None:
    samples = music if size != 1 else music[: 3 * RATE]  # one-sample chunks: keep it short
    whole = fingerprint([samples], SETTINGS, query=query)
    assert_same_prints(fingerprint(chunked(samples, size), SETTINGS, query=query), whole)


def test_fingerprints_do_not_depend_on_irregular_chunks(music: np.ndarray) -> None:
    cuts = np.sort(np.random.default_rng(5).integers(0, music.size, 60))
    pieces = np.split(music, cuts)  # includes empty chunks where cuts coincide
    assert_same_prints(fingerprint(pieces, SETTINGS, query=True),
                       fingerprint([music], SETTINGS, query=True))


def test_fingerprint_arrays_are_typed_and_aligned(music: np.ndarray) -> None:
    prints = fingerprint([music], SETTINGS, query=False)
    assert prints.hashes.dtype == np.uint32
    assert all(getattr(prints, f).dtype == np.float32 for f in ("time", "freq", "span"))
    assert {getattr(prints, f).shape for f in FIELDS} == {(len(prints),)}
    assert int(prints.hashes.max()) < hash_space(SETTINGS)
    assert (prints.span > 0).all()
    assert prints.time.min() >= 0
    assert prints.time.max() <= music.size / SETTINGS.hop
    assert (prints.freq >= 0).all() and (prints.freq <= SETTINGS.n_log_bins - 1).all()


def test_queries_are_denser_than_references(music: np.ndarray) -> None:
    reference = fingerprint([music], SETTINGS, query=False)
    query = fingerprint([music], SETTINGS, query=True)
    assert len(query) > 2 * len(reference)
    # the query side covers the reference side's hashes (multi-probing only adds)
    assert np.isin(reference.hashes, query.hashes).mean() > 0.9


@pytest.mark.parametrize("chunks", [
    [],
    [np.zeros(0, np.float32)],
    [np.zeros(10, np.float32)],
    [np.zeros(5 * RATE, np.float32)],
    [np.zeros(RATE, np.float32)] * 5,
], ids=["no-chunks", "empty-chunk", "ten-samples", "five-seconds-silence", "silent-chunks"])
@pytest.mark.parametrize("query", [False, True])
def test_empty_and_silent_input_give_empty_fingerprints(chunks, query: bool) -> None:
    prints = fingerprint(iter(chunks), SETTINGS, query=query)
    assert len(prints) == 0
    assert prints.hashes.dtype == np.uint32
    assert all(getattr(prints, f).shape == (0,) for f in FIELDS)


def test_silence_around_music_changes_only_the_times(music: np.ndarray) -> None:
    """Padding the start by whole hops moves every print by as many frames, nothing else."""
    pad = 3 * SETTINGS.hop * round(RATE / SETTINGS.hop)  # about three seconds, whole hops
    plain = fingerprint([music], SETTINGS, query=False)
    padded = fingerprint([np.zeros(pad, np.float32), music], SETTINGS, query=False)
    shift = pad / SETTINGS.hop
    common = np.intersect1d(plain.hashes, padded.hashes)
    assert common.size > 0.8 * np.unique(plain.hashes).size
    a = plain.time[np.isin(plain.hashes, common)]
    b = padded.time[np.isin(padded.hashes, common)]
    assert np.median(b) - np.median(a) == pytest.approx(shift, abs=1.0)


def test_log_spectrogram_puts_a_tone_in_its_log_bin() -> None:
    t = np.arange(2 * RATE) / RATE
    tone = np.sin(2 * np.pi * 600.0 * t).astype(np.float32)
    spec = log_spectrogram(tone, SETTINGS)
    assert spec.shape == (1 + (tone.size - SETTINGS.n_fft) // SETTINGS.hop,
                          SETTINGS.n_log_bins)
    expected_bin = SETTINGS.bins_per_octave * np.log2(600.0 / SETTINGS.fmin_hz)  # 72
    assert abs(int(np.argmax(spec[spec.shape[0] // 2])) - expected_bin) <= 1
    assert log_spectrogram(tone[: SETTINGS.n_fft - 1], SETTINGS).shape == (
        0, SETTINGS.n_log_bins)


def test_peaks_of_a_tone_sit_at_its_frequency() -> None:
    t = np.arange(3 * RATE) / RATE
    envelope = np.exp(-(t % 0.5) * 8)  # re-struck every half second: peaks in time too
    tone = (envelope * np.sin(2 * np.pi * 1000.0 * t)).astype(np.float32)
    peaks = stream_peaks([tone], SETTINGS, per_second=SETTINGS.reference_peaks_per_second)
    assert len(peaks) > 0
    expected_bin = SETTINGS.bins_per_octave * np.log2(1000.0 / SETTINGS.fmin_hz)
    loudest = peaks.freq[np.argmax(peaks.level)]
    assert loudest == pytest.approx(expected_bin, abs=0.7)
    assert np.all(np.diff(peaks.time) >= 0)


def test_peak_density_is_capped_per_second(music: np.ndarray) -> None:
    peaks = stream_peaks([music], SETTINGS, per_second=SETTINGS.reference_peaks_per_second)
    seconds = music.size / RATE
    assert len(peaks) <= SETTINGS.reference_peaks_per_second * (seconds + 1)
    assert len(peaks) >= 0.5 * SETTINGS.reference_peaks_per_second * seconds


def _consistent_hits(reference: np.ndarray, query: np.ndarray, *, pitch: float,
                     time_ratio: float) -> float:
    """Hits per reference print that carry the given transform: same hash, pitch shift and
    time ratio as measured from the triplet, anchor times on the line the transform gives."""
    ref = fingerprint([reference], SETTINGS, query=False)
    qry = fingerprint([query], SETTINGS, query=True)
    hits = HashIndex.build([(0, ref)]).lookup(qry.hashes, max_postings_per_hash=10**6)
    row = hits.query_row
    ratio = qry.span[row] / hits.span
    shift = (qry.freq[row] - hits.freq) * 12 / SETTINGS.bins_per_octave
    drift = (qry.time[row] - time_ratio * hits.time) * SETTINGS.frame_seconds
    good = (np.abs(np.log(ratio / time_ratio)) < 0.05) & (np.abs(shift - pitch) < 0.5) & (
        np.abs(drift) < 0.2)
    return int(good.sum()) / len(ref)


@pytest.mark.parametrize(("variant", "pitch", "time_ratio"), [
    pytest.param("speed 1.2", 12 * np.log2(1.2), 1 / 1.2, id="speed-1.2"),
    pytest.param("speed 0.85", 12 * np.log2(0.85), 1 / 0.85, id="speed-0.85"),
    pytest.param("pitch +3", 3.0, 1.0, id="pitch+3"),
    pytest.param("pitch -3", -3.0, 1.0, id="pitch-3"),
    pytest.param("tempo 1.2", 0.0, 1 / 1.2, id="tempo-1.2"),
    pytest.param("tempo 0.85", 0.0, 1 / 0.85, id="tempo-0.85"),
])
def test_hashes_survive_speed_pitch_and_tempo_changes(variant: str, pitch: float,
                                                      time_ratio: float) -> None:
    """The hashes are built on speed-, pitch- and tempo-invariant quantities, and each hit
    measures the transform: a transformed rendering hits many reference prints with the
    transform it was given, unrelated music almost none."""
    score = make_score(62, 12.0)
    kind, amount = variant.split()
    value = float(amount)
    if kind == "speed":
        audio = change_speed(render(score), value)
    else:
        audio = render(score, **{kind: value})
    reference = resample_poly(render(score), RATE, SR).astype(np.float32)
    query = resample_poly(audio, RATE, SR).astype(np.float32)
    unrelated = resample_poly(render(make_score(63, 12.0)), RATE, SR).astype(np.float32)
    assert _consistent_hits(reference, query, pitch=pitch, time_ratio=time_ratio) > 0.2
    assert _consistent_hits(reference, unrelated, pitch=pitch, time_ratio=time_ratio) < 0.02


def test_settings_round_trip_through_json() -> None:
    custom = FingerprintSettings(bins_per_octave=24, query_fanout=(4, 2))
    assert FingerprintSettings.from_json(custom.to_json()) == custom
    assert FingerprintSettings.from_json(SETTINGS.to_json()) == SETTINGS
    assert SETTINGS.frame_seconds == SETTINGS.hop / SETTINGS.sample_rate
