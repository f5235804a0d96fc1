"""``homage.media``: probing and decoding every format, and every way a file can be bad."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.signal import resample_poly

from homage.errors import DecodeError, HomageError, UnsupportedMedia
from homage.media import (
    MEDIA_EXTENSIONS,
    audio_chunks,
    content_hash,
    iter_media_files,
    probe,
    read_audio,
)
from synth_music import SR, write_audio

#: format -> (container name contains, audio codec, sample rate, channels, has video)
FORMATS = {
    "wav": ("wav", "pcm_s16le", SR, 1, False),
    "flac": ("flac", "flac", SR, 1, False),
    "mp3": ("mp3", "mp3", SR, 1, False),
    "ogg": ("ogg", "opus", 48000, 1, False),
    "opus": ("ogg", "opus", 48000, 2, False),
    "m4a": ("mp4", "aac", SR, 2, False),
    "mp4": ("mp4", "aac", SR, 1, True),
}


def assert_one_line_naming(exc: HomageError, path: Path) -> None:
    text = str(exc)
    assert "\n" not in text
    assert exc.path == str(path)
    assert text.startswith(str(path))
    assert len(text) > len(str(path)) + 2  # says why, not only where


# --------------------------------------------------------------------------------- probing


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_probe_describes_each_format(media_files, fmt: str) -> None:
    container, codec, rate, channels, has_video = FORMATS[fmt]
    path = media_files.clips[fmt]
    info = probe(path)
    assert info.path == str(path)
    assert info.has_audio
    assert info.has_video is has_video
    assert container in info.container
    assert info.audio_codec is not None and info.audio_codec.startswith(codec)
    assert info.sample_rate == rate
    assert info.channels == channels
    assert info.duration == pytest.approx(media_files.seconds, abs=0.1)
    if has_video:
        assert info.video_codec == "mpeg4"
    else:
        assert info.video_codec is None


def test_probe_video_only_file(media_files) -> None:
    info = probe(media_files.bad["video_only"])
    assert not info.has_audio
    assert info.has_video
    assert info.audio_codec is None and info.sample_rate is None and info.channels is None
    assert info.duration == pytest.approx(2.0, abs=0.1)


# -------------------------------------------------------------------------------- decoding


@pytest.mark.parametrize("rate", [8000, 16000])
@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_read_audio_gives_mono_float32_at_the_rate_asked(media_files, fmt: str,
                                                         rate: int) -> None:
    samples = read_audio(media_files.clips[fmt], sample_rate=rate)
    assert samples.dtype == np.float32
    assert samples.ndim == 1
    # AAC and Opus may add an encoder delay of a few tens of milliseconds, never more
    assert samples.size / rate == pytest.approx(media_files.seconds, abs=0.06)
    assert np.isfinite(samples).all()
    # the content survives: same loudness as what was encoded, within the +3 dB that an
    # FFmpeg stereo down-mix of two identical channels adds
    original = resample_poly(media_files.samples, rate, SR)
    level = np.sqrt(np.mean(samples.astype(np.float64) ** 2) / np.mean(original**2))
    assert 0.8 < level < 1.6


@pytest.mark.parametrize("fmt", ["wav", "flac"])
def test_lossless_decode_is_the_encoded_signal(media_files, fmt: str) -> None:
    samples = read_audio(media_files.clips[fmt], sample_rate=SR)
    assert samples.size == media_files.samples.size
    np.testing.assert_allclose(samples, media_files.samples, atol=2e-4)  # 16-bit quantisation


def test_decoded_lossy_audio_lines_up_with_the_original(media_files) -> None:
    """An mp3 decodes without a time shift (the encoder delay is trimmed)."""
    decoded = read_audio(media_files.clips["mp3"], sample_rate=SR)
    original = media_files.samples
    n = min(decoded.size, original.size)
    lags = range(-200, 201)
    corr = [np.dot(np.roll(decoded[:n], lag), original[:n]) for lag in lags]
    best = list(lags)[int(np.argmax(corr))]
    assert abs(best) <= 2
    assert max(corr) / np.dot(original[:n], original[:n]) > 0.9


@pytest.mark.parametrize("chunk_seconds", [0.37, 1.0, 2.5, 100.0])
@pytest.mark.parametrize("fmt", ["wav", "mp3", "ogg", "mp4"])
def test_chunked_decode_equals_whole_decode(media_files, fmt: str,
                                            chunk_seconds: float) -> None:
    path = media_files.clips[fmt]
    whole = read_audio(path, sample_rate=8000)
    chunks = list(audio_chunks(path, sample_rate=8000, chunk_seconds=chunk_seconds))
    size = round(chunk_seconds * 8000)
    assert all(c.size == size for c in chunks[:-1])
    assert 0 < chunks[-1].size <= size
    assert all(c.dtype == np.float32 and c.ndim == 1 for c in chunks)
    np.testing.assert_array_equal(np.concatenate(chunks), whole)


def test_decoding_is_repeatable(media_files) -> None:
    path = media_files.clips["m4a"]
    np.testing.assert_array_equal(read_audio(path, sample_rate=8000),
                                  read_audio(path, sample_rate=8000))


def test_full_scale_stereo_downmix_is_not_clipped(tmp_path: Path) -> None:
    # Documented: FFmpeg's down-mix of a full-scale stereo file may exceed [-1, 1] by about
    # 3 dB, and nothing is clipped (the fingerprint is level-invariant).
    t = np.arange(2 * SR) / SR
    loud = (0.95 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    path = write_audio(tmp_path / "loud_stereo.flac", loud, codec="flac", channels=2)
    samples = read_audio(path, sample_rate=8000)
    peak = float(np.abs(samples).max())
    assert 0.9 <= peak <= 0.95 * 2**0.5 * 1.01


# ---------------------------------------------------------------------------------- errors


@pytest.mark.parametrize("reader", ["probe", "read_audio"])
def test_missing_file_is_a_homage_error_naming_the_path(tmp_path: Path, reader: str) -> None:
    path = tmp_path / "nowhere" / "gone.mp3"
    with pytest.raises(HomageError) as info:
        _read(reader, path)
    assert_one_line_naming(info.value, path)
    assert "no such file" in str(info.value)


@pytest.mark.parametrize("reader", ["probe", "read_audio"])
def test_directory_is_refused(tmp_path: Path, reader: str) -> None:
    folder = tmp_path / "album.flac"
    folder.mkdir()
    with pytest.raises(HomageError) as info:
        _read(reader, folder)
    assert_one_line_naming(info.value, folder)
    assert "folder" in str(info.value)


@pytest.mark.parametrize("reader", ["probe", "read_audio"])
def test_zero_byte_file_is_a_decode_error(media_files, reader: str) -> None:
    path = media_files.bad["empty"]
    with pytest.raises(DecodeError) as info:
        _read(reader, path)
    assert_one_line_naming(info.value, path)
    assert "empty" in str(info.value)


@pytest.mark.parametrize("kind", ["text", "random"])
@pytest.mark.parametrize("reader", ["probe", "read_audio"])
def test_non_media_file_is_refused(media_files, kind: str, reader: str) -> None:
    path = media_files.bad[kind]
    with pytest.raises((UnsupportedMedia, DecodeError)) as info:
        _read(reader, path)
    assert_one_line_naming(info.value, path)


def test_text_file_is_unsupported_media(media_files) -> None:
    with pytest.raises(UnsupportedMedia, match="not readable as media"):
        probe(media_files.bad["text"])


def test_video_only_file_has_no_audio_stream(media_files) -> None:
    path = media_files.bad["video_only"]
    with pytest.raises(UnsupportedMedia) as info:
        read_audio(path, sample_rate=8000)
    assert_one_line_naming(info.value, path)
    assert "no audio stream" in str(info.value)


@pytest.mark.parametrize("kind", ["wav", "mp3", "flac", "m4a"])
def test_intact_long_files_decode_fully(media_files, kind: str) -> None:
    samples = read_audio(media_files.bad[f"whole_{kind}"], sample_rate=8000)
    assert samples.size / 8000 == pytest.approx(12.0, abs=0.06)


def test_mp3_cut_in_half_is_reported_truncated(media_files) -> None:
    path = media_files.bad["half_mp3"]
    with pytest.raises(DecodeError) as info:
        read_audio(path, sample_rate=8000)
    assert_one_line_naming(info.value, path)
    assert "truncated" in str(info.value)


def test_flac_cut_in_half_is_a_decode_error(media_files) -> None:
    path = media_files.bad["half_flac"]
    with pytest.raises(DecodeError) as info:
        read_audio(path, sample_rate=8000)
    assert_one_line_naming(info.value, path)


def test_m4a_cut_in_half_is_refused_in_one_line(media_files) -> None:
    # the index (moov atom) is at the end of the file, so FFmpeg cannot even open it
    path = media_files.bad["half_m4a"]
    with pytest.raises((DecodeError, UnsupportedMedia)) as info:
        read_audio(path, sample_rate=8000)
    assert_one_line_naming(info.value, path)


def test_truncated_streams_never_yield_more_than_they_hold(media_files) -> None:
    """Whatever a truncated file gives before failing is a prefix of the intact file."""
    whole = read_audio(media_files.bad["whole_flac"], sample_rate=8000)
    got: list[np.ndarray] = []
    with pytest.raises(DecodeError):
        got.extend(audio_chunks(media_files.bad["half_flac"], sample_rate=8000,
                                chunk_seconds=1.0))
    decoded = np.concatenate(got) if got else np.zeros(0, np.float32)
    assert decoded.size < whole.size // 2 + 8000
    np.testing.assert_allclose(decoded, whole[: decoded.size], atol=1e-6)


def test_wav_cut_in_half_is_reported_truncated(media_files) -> None:
    with pytest.raises(DecodeError, match="truncated"):
        read_audio(media_files.bad["half_wav"], sample_rate=8000)


def test_max_seconds_guard(media_files) -> None:
    path = media_files.clips["flac"]
    with pytest.raises(DecodeError) as info:
        read_audio(path, sample_rate=8000, max_seconds=1.0)
    assert_one_line_naming(info.value, path)
    assert "limit" in str(info.value)
    assert read_audio(path, sample_rate=8000, max_seconds=10.0).size == 4 * 8000


def test_max_seconds_guard_stops_before_decoding_everything(media_files) -> None:
    chunks = audio_chunks(media_files.bad["whole_wav"], sample_rate=8000, chunk_seconds=0.5,
                          max_seconds=2.0)
    got = 0
    with pytest.raises(DecodeError):
        for chunk in chunks:
            got += chunk.size
    assert got <= 2.0 * 8000


def _read(reader: str, path: Path) -> object:
    if reader == "probe":
        return probe(path)
    return read_audio(path, sample_rate=8000)


# ------------------------------------------------------------------------------ file walks


def test_iter_media_files_walks_folders_sorted_and_filters_extensions(tmp_path: Path) -> None:
    for name in ("b/z.mp3", "b/a.FLAC", "a/song.ogg", "a/notes.txt", "cover.jpg", "c.wav",
                 "b/deeper/x.mkv"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    found = [p.relative_to(tmp_path).as_posix() for p in iter_media_files([tmp_path])]
    assert found == ["c.wav", "a/song.ogg", "b/a.FLAC", "b/z.mp3", "b/deeper/x.mkv"]


def test_iter_media_files_takes_named_files_whatever_their_extension(tmp_path: Path) -> None:
    odd = tmp_path / "recording.data"
    odd.write_bytes(b"x")
    assert list(iter_media_files([odd])) == [odd]


def test_iter_media_files_refuses_missing_paths_and_empty_folders(tmp_path: Path) -> None:
    with pytest.raises(HomageError, match="no such file"):
        list(iter_media_files([tmp_path / "missing"]))
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "readme.txt").write_text("hi")
    with pytest.raises(HomageError, match="no media files") as info:
        list(iter_media_files([tmp_path / "docs"]))
    assert info.value.path == str(tmp_path / "docs")


def test_media_extensions_cover_the_readme_formats() -> None:
    assert {".mp3", ".ogg", ".opus", ".flac", ".wav", ".m4a", ".mp4", ".mkv",
            ".webm"} <= MEDIA_EXTENSIONS


def test_content_hash_names_content_not_path(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.wav", tmp_path / "b.wav", tmp_path / "c.wav"
    a.write_bytes(b"same bytes")
    b.write_bytes(b"same bytes")
    c.write_bytes(b"other bytes")
    assert content_hash(a) == content_hash(b) != content_hash(c)
    assert len(content_hash(a)) == 40 and int(content_hash(a), 16) >= 0
    with pytest.raises(HomageError) as info:
        content_hash(tmp_path / "missing.wav")
    assert info.value.path == str(tmp_path / "missing.wav")
