"""Synthetic, music-like test audio: seeded scores rendered with numpy, written with PyAV.

A *score* is a list of notes (harmonic tones with their own timbre and decay), chords and drum
hits (decaying sines and noise bursts), drawn from a seeded RNG, so every test hears the same
sounds on every machine.  Rendering the same score with ``pitch`` or ``tempo`` gives a clean
pitch shift without a tempo change, or a tempo change without a pitch change: no phase vocoder,
so what the matcher measures is exactly what the test asked for.  A speed change (pitch and
tempo together) is a plain resampling of the rendered audio.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from scipy.signal import resample_poly

#: Rate the tests render at; files are written at this rate unless a codec needs another.
SR = 22050


@dataclass(frozen=True)
class Note:
    onset: float
    duration: float
    freq: float
    amp: float
    harmonics: tuple[float, ...]
    decay: float


@dataclass(frozen=True)
class Hit:
    onset: float
    kind: str
    seed: int


@dataclass(frozen=True)
class Score:
    notes: tuple[Note, ...]
    hits: tuple[Hit, ...]
    seconds: float


def make_score(seed: int, seconds: float) -> Score:
    """A random melody over random chords and a drum part, all from ``seed``.

    Each piece draws its own pitch ladder (not equal-tempered), timbres and rhythms, so two
    seeds give unrelated music while one seed always gives the same piece.
    """
    rng = np.random.default_rng(seed)
    base = rng.uniform(180.0, 320.0)
    ladder = np.sort(rng.uniform(0.0, 24.0, size=9))
    notes: list[Note] = []
    t = 0.0
    while t < seconds:  # melody
        duration = float(rng.uniform(0.12, 0.6))
        harmonics = rng.uniform(0.1, 1.0, size=4) * 0.7 ** np.arange(4)
        notes.append(Note(t, duration, float(base * 2 ** (rng.choice(ladder) / 12)),
                          float(rng.uniform(0.5, 1.0)), tuple(harmonics.tolist()),
                          float(rng.uniform(1.0, 6.0))))
        t += duration * float(rng.uniform(0.8, 1.3))
    t = 0.0
    while t < seconds:  # chords
        duration = float(rng.uniform(0.8, 2.0))
        for semis in rng.choice(ladder, size=int(rng.integers(2, 4)), replace=False):
            harmonics = rng.uniform(0.1, 1.0, size=3) * 0.6 ** np.arange(3)
            notes.append(Note(t, duration, float(base / 2 * 2 ** (semis / 12)), 0.3,
                              tuple(harmonics.tolist()), float(rng.uniform(0.5, 3.0))))
        t += duration
    hits: list[Hit] = []
    t = float(rng.uniform(0.0, 0.3))
    while t < seconds:  # drums
        hits.append(Hit(t, str(rng.choice(["kick", "snare", "hat", "tom"])),
                        int(rng.integers(0, 2**31))))
        t += float(rng.uniform(0.15, 0.5))
    return Score(tuple(notes), tuple(hits), seconds)


def render(
    score: Score, *, pitch: float = 0.0, tempo: float = 1.0, start: float = 0.0,
    end: float | None = None, sr: int = SR,
) -> np.ndarray:
    """Render ``score[start:end]`` (score seconds) as mono float32 peaking at 0.5.

    ``pitch`` shifts every pitched sound by that many semitones; ``tempo`` > 1 plays the score
    faster (onsets and note lengths divided by it) without changing any pitch.
    """
    end = score.seconds if end is None else end
    n = round((end - start) / tempo * sr)
    out = np.zeros(n, dtype=np.float64)
    factor = 2.0 ** (pitch / 12.0)

    def add(first: int, segment: np.ndarray) -> None:
        lo, hi = max(first, 0), min(first + segment.size, n)
        if hi > lo:
            out[lo:hi] += segment[lo - first : hi - first]

    for note in score.notes:
        if note.onset + note.duration <= start or note.onset >= end:
            continue
        first = round((note.onset - start) / tempo * sr)
        m = round(note.duration / tempo * sr)
        tt = np.arange(m) / sr
        envelope = (
            np.minimum(1.0, tt / 0.008)
            * np.exp(-tt * note.decay * tempo)
            * np.minimum(1.0, (m - np.arange(m)) / (0.01 * sr))
        )
        wave = sum(
            h * np.sin(2 * np.pi * note.freq * factor * (k + 1) * tt)
            for k, h in enumerate(note.harmonics)
        )
        add(first, note.amp * envelope * wave)
    for hit in score.hits:
        if hit.onset < start or hit.onset >= end:
            continue
        first = round((hit.onset - start) / tempo * sr)
        add(first, _drum(hit, factor, sr))
    peak = float(np.abs(out).max(initial=0.0))
    return (0.5 * out / peak if peak > 0 else out).astype(np.float32)


def _drum(hit: Hit, factor: float, sr: int) -> np.ndarray:
    rng = np.random.default_rng(hit.seed)
    f0 = rng.uniform(50.0, 400.0) * factor
    tt = np.arange(round(0.3 * sr)) / sr
    if hit.kind == "kick":
        return 0.9 * np.exp(-tt * 15) * np.sin(2 * np.pi * f0 / 4 * tt * (1 + np.exp(-tt * 30)))
    if hit.kind == "tom":
        return 0.6 * np.exp(-tt * 10) * np.sin(2 * np.pi * f0 * tt)
    if hit.kind == "snare":
        body = 0.6 * rng.standard_normal(tt.size) + np.sin(2 * np.pi * f0 * tt)
        return 0.4 * np.exp(-tt * 25) * body
    return 0.15 * np.exp(-tt * 80) * rng.standard_normal(tt.size)  # hi-hat: a noise burst


def change_speed(samples: np.ndarray, speed: float) -> np.ndarray:
    """Play ``samples`` ``speed`` times faster by resampling (pitch and tempo together)."""
    ratio = Fraction(speed).limit_denominator(100)
    return resample_poly(samples, ratio.denominator, ratio.numerator).astype(np.float32)


def noise(seed: int, seconds: float, *, sr: int = SR) -> np.ndarray:
    """Noise bursts of random colour and length: audio with no tonal structure at all."""
    rng = np.random.default_rng(seed)
    out = np.zeros(round(seconds * sr), dtype=np.float32)
    t = 0.0
    while t < seconds:
        length = round(float(rng.uniform(0.05, 0.8)) * sr)
        burst = np.cumsum(rng.standard_normal(length)) * 0.02 + rng.standard_normal(length)
        burst *= np.exp(-np.arange(length) / (length / 3))
        first = round(t * sr)
        stop = min(first + length, out.size)
        out[first:stop] += burst[: stop - first].astype(np.float32)
        t += float(rng.uniform(0.1, 0.6))
    return (0.5 * out / np.abs(out).max()).astype(np.float32)


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))


def arrange(seconds: float, parts: list[tuple[float, np.ndarray]],
            *, bed: np.ndarray | None = None, sr: int = SR) -> np.ndarray:
    """A track of ``seconds``: each ``(at, samples)`` added at ``at`` seconds over ``bed``."""
    out = np.zeros(round(seconds * sr), dtype=np.float32)
    if bed is not None:
        out[: min(out.size, bed.size)] += bed[: out.size]
    for at, samples in parts:
        first = round(at * sr)
        stop = min(first + samples.size, out.size)
        out[first:stop] += samples[: stop - first]
    peak = float(np.abs(out).max(initial=0.0))
    return out * (0.8 / peak) if peak > 0.8 else out


def scaled_to(host: np.ndarray, sample: np.ndarray, sample_to_host_db: float) -> np.ndarray:
    """``host`` scaled so that ``sample`` is ``sample_to_host_db`` louder than it (RMS)."""
    gain = rms(sample) / (rms(host) * 10 ** (sample_to_host_db / 20))
    return (host * gain).astype(np.float32)


def write_audio(
    path: str | Path, samples: np.ndarray, *, rate: int = SR, codec: str = "pcm_s16le",
    fmt: str | None = None, channels: int = 1, codec_rate: int | None = None,
    bit_rate: int | None = None, video: bool = False,
) -> Path:
    """Encode mono ``samples`` with PyAV (``channels`` copies of it), optionally beside a small
    video stream; ``codec_rate`` is the encoder's rate when it cannot take ``rate``."""
    path = Path(path)
    samples = np.asarray(samples, dtype=np.float32)
    layout = "mono" if channels == 1 else "stereo"
    with av.open(str(path), "w", format=fmt) as container:
        vstream = None
        if video:
            vstream = container.add_stream("mpeg4", rate=25)
            vstream.width, vstream.height, vstream.pix_fmt = 64, 48, "yuv420p"
        astream = container.add_stream(codec, rate=codec_rate or rate, layout=layout)
        if bit_rate:
            astream.bit_rate = bit_rate
        data = np.tile(samples[None, :], (channels, 1))
        step = rate // 10
        shown = 0
        for first in range(0, samples.size, step):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(data[:, first : first + step]), format="fltp", layout=layout
            )
            frame.sample_rate = rate
            frame.pts = first
            frame.time_base = Fraction(1, rate)
            for packet in astream.encode(frame):
                container.mux(packet)
            while vstream is not None and shown / 25 <= (first + step) / rate:
                _mux_picture(container, vstream, shown)
                shown += 1
        for packet in astream.encode(None):
            container.mux(packet)
        if vstream is not None:
            for packet in vstream.encode(None):
                container.mux(packet)
    return path


def write_video_only(path: str | Path, seconds: float = 2.0) -> Path:
    """An mp4 with one video stream and no audio at all."""
    path = Path(path)
    with av.open(str(path), "w") as container:
        vstream = container.add_stream("mpeg4", rate=25)
        vstream.width, vstream.height, vstream.pix_fmt = 64, 48, "yuv420p"
        for shown in range(round(seconds * 25)):
            _mux_picture(container, vstream, shown)
        for packet in vstream.encode(None):
            container.mux(packet)
    return path


def _mux_picture(container: av.container.OutputContainer, stream: av.VideoStream,
                 index: int) -> None:
    picture = np.full((48, 64, 3), (index * 7) % 256, dtype=np.uint8)
    frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
    frame.pts = index
    for packet in stream.encode(frame):
        container.mux(packet)
