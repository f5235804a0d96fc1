"""``homage.media.stills``: the frame on screen at a time (by seeking), audio excerpts, and
pictures encoded as JPEG and PNG."""

from __future__ import annotations

import io
from pathlib import Path

import av
import numpy as np
import pytest

from homage.errors import HomageError, UnsupportedMedia
from homage.media import read_audio
from homage.media.stills import audio_excerpt, encode_jpeg, encode_png, frames_at
from synth_music import make_score, render, write_audio
from synth_video import FPS, read_all, shots, write_video


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three 2-second shots (6 s, 25 fps, a keyframe every 250 frames by default)."""
    return write_video(tmp_path_factory.mktemp("stills") / "clip.mp4", shots([0, 1, 2], 2.0),
                       crf=18)


def test_frames_at_returns_the_frame_on_screen(clip: Path) -> None:
    decoded = read_all(clip)
    times = [0.0, 0.5, 1.02, 3.0, 5.97, 2.5]  # out of order on purpose: each one seeks
    got = frames_at(clip, times, width=320)
    for t, frame in zip(times, got, strict=True):
        assert frame is not None and frame.shape == (180, 320, 3)
        # the frame shown at t: the last one whose time is at most t
        assert np.array_equal(frame, decoded[int(t * FPS + 1e-6)]), t


def test_frames_at_scales_and_says_none_outside_the_video(clip: Path) -> None:
    small, before, after = frames_at(clip, [1.0, -1.0, 60.0], width=160)
    assert small is not None and small.shape == (90, 160, 3)
    assert before is None and after is None


def test_frames_at_refuses_audio_and_missing_files(clip: Path, tmp_path: Path) -> None:
    song = write_audio(tmp_path / "song.wav", render(make_score(5, 2.0)))
    with pytest.raises(UnsupportedMedia):
        frames_at(song, [0.5], width=64)
    with pytest.raises(HomageError, match="no such file"):
        frames_at(tmp_path / "gone.mp4", [0.5], width=64)


def test_audio_excerpt_is_the_slice_read_audio_gives(tmp_path: Path) -> None:
    song = write_audio(tmp_path / "song.flac", render(make_score(6, 12.0)), codec="flac")
    rate = 11025
    whole = read_audio(song, sample_rate=rate)
    for start, end in ((0.0, 2.0), (5.3, 9.1), (10.5, 20.0)):
        part = audio_excerpt(song, start, end, sample_rate=rate)
        first = round(start * rate)
        expected = whole[first:round(end * rate)]
        assert abs(part.size - expected.size) <= 1
        # after a seek the resampler may start a sample early or late: 0.1 ms
        errors = [np.abs(part[4:-4] - whole[first + 4 + lag:first + part.size - 4 + lag]).max()
                  for lag in (-2, -1, 0, 1, 2)]
        assert min(errors) < 1e-3, (start, end, errors)
    assert audio_excerpt(song, 30.0, 31.0, sample_rate=rate).size == 0


def _decode_picture(data: bytes) -> np.ndarray:
    with av.open(io.BytesIO(data)) as container:
        return next(container.decode(video=0)).to_ndarray(format="rgb24")


def test_pictures_encode_to_jpeg_and_png() -> None:
    rng = np.random.default_rng(0)
    rgb = np.zeros((45, 81, 3), np.uint8)  # odd sizes are fine
    rgb[:, :40] = (200, 30, 30)
    rgb[:, 40:] = rng.integers(0, 255, (45, 41, 3))
    png = encode_png(rgb)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert np.array_equal(_decode_picture(png), rgb)
    jpeg = encode_jpeg(rgb)
    assert jpeg.startswith(b"\xff\xd8")
    back = _decode_picture(jpeg)
    assert back.shape == rgb.shape
    assert np.abs(back[5:40, 5:30].astype(int) - (200, 30, 30)).mean() < 12
    with pytest.raises(ValueError):
        encode_png(np.zeros((4, 4), np.uint8))
