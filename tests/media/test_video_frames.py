"""``homage.media.video``: frames sampled evenly in time, batches, the cut-detector observer,
black bars, rotation, and every way a file can fail to be a video (each a one-line
``HomageError`` naming the file)."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from homage.config import Settings
from homage.errors import DecodeError, HomageError, UnsupportedMedia
from homage.library import Library
from homage.media import probe
from homage.media.video import (
    THUMBNAIL_SIZE,
    _apply_rotation,
    picture_box,
    thumbnail,
    video_frames,
    video_info,
)
from homage.pipeline import index_paths
from synth_music import make_score, render, write_audio
from synth_video import edited, letterbox, shot_frame, write_video

FPS = 25
SIZE = (90, 160)  # height, width of the generated footage
SECONDS = 4.0


def footage(seeds: Sequence[int], seconds: float, size: tuple[int, int] = SIZE
            ) -> list[np.ndarray]:
    """Consecutive moving shots (``synth_video.shot_frame``) at ``FPS``, small."""
    return [shot_frame(seed, i / FPS, size) for seed in seeds
            for i in range(round(seconds * FPS))]


def write_frames(path: Path, frames: Sequence[np.ndarray], *, codec: str = "mpeg4",
                 times: Sequence[float] | None = None, fmt: str | None = None,
                 rotation: int | None = None, pix_fmt: str = "yuv420p",
                 options: dict[str, str] | None = None) -> Path:
    """Encode RGB frames, at ``FPS`` or at the given ``times`` (seconds, millisecond clock)."""
    height, width = frames[0].shape[:2] if frames else (48, 64)
    with av.open(str(path), "w", format=fmt, options=options or {}) as container:
        stream = container.add_stream(codec, rate=FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        if times is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        if rotation is not None:
            stream.set_display_rotation(rotation)
        if not frames:
            container.start_encoding()
        for index, picture in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            if pix_fmt != "yuv420p":
                frame = frame.reformat(format=pix_fmt)
            if times is None:
                frame.pts = index
            else:
                frame.pts, frame.time_base = round(times[index] * 1000), Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def y4m(path: Path, width: int, height: int, frames: int) -> Path:
    """An uncompressed YUV4MPEG2 file: the header says the size, nothing checks it is sane."""
    header = f"YUV4MPEG2 W{width} H{height} F25:1 Ip A1:1 C444\n".encode()
    picture = b"FRAME\n" + bytes([128]) * (width * height * 3) if frames else b""
    path.write_bytes(header + picture * frames)
    return path


def decode(path: Path, **options: object):
    """Every batch joined: (times, frames, boxes)."""
    options = {"fps": 4.0, "size": (48, 64), **options}
    batches = list(video_frames(path, **options))
    return (np.concatenate([b.times for b in batches]),
            np.concatenate([b.frames for b in batches]),
            np.concatenate([b.boxes for b in batches]))


def assert_one_line_naming(exc: HomageError, path: Path) -> None:
    text = str(exc)
    assert "\n" not in text
    assert exc.path == str(path)
    assert text.startswith(str(path))
    assert len(text) > len(str(path)) + 2


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("video-frames")
    frames = footage([0, 3], SECONDS / 2)
    # variable frame rate: bursts of ten frames 10 ms apart, then ten frames 120 ms apart
    vfr_times = np.cumsum([0.0] + [0.01 if (i // 10) % 2 == 0 else 0.12
                                   for i in range(69)])
    vfr_frames = footage([5], 3.0)[: len(vfr_times)]
    return {
        "x264": write_video(root / "x264.mp4", frames),
        "mpeg4": write_frames(root / "mpeg4.mkv", frames),
        "vfr": write_frames(root / "vfr.mkv", vfr_frames, times=vfr_times),
        "letterbox": write_video(root / "letterbox.mp4", edited(frames, letterbox), crf=18),
        "pillarbox": write_video(root / "pillarbox.mp4", edited(frames, pillarbox), crf=18),
        "plain": write_video(root / "plain.mp4", frames, crf=18),
    }


def pillarbox(picture: np.ndarray) -> np.ndarray:
    """Shrink into a window 3/4 as wide, black bars left and right."""
    w = picture.shape[1]
    inner = (w * 3 // 4) // 2 * 2
    out = np.zeros_like(picture)
    left = (w - inner) // 2
    out[:, left:left + inner] = picture[:, np.linspace(0, w - 1, inner).astype(int)]
    return out


# -------------------------------------------------------------------------------- sampling


@pytest.mark.parametrize("fast_decode", [True, False])
def test_frames_are_kept_evenly_in_time(videos: dict[str, Path], fast_decode: bool) -> None:
    fps = 4.0
    times, frames, boxes = decode(videos["x264"], fps=fps, size=(48, 64),
                                  fast_decode=fast_decode)
    assert times.dtype == np.float64 and times[0] == 0.0
    assert len(times) == pytest.approx(SECONDS * fps, abs=1)
    steps = np.diff(times)
    # each kept frame is the first decoded one after 1/fps has passed (skipped B-frames
    # included, a few source frames late at most), never twice as close
    assert steps.min() >= 0.5 / fps
    slack = 4 / FPS if fast_decode else 1 / FPS
    assert steps.max() <= 1 / fps + slack + 1e-6
    assert abs(steps.mean() - 1 / fps) <= 0.02
    assert frames.shape == (len(times), 48, 64, 3) and frames.dtype == np.uint8
    assert boxes.shape == (len(times), 4) and boxes.dtype == np.float32
    np.testing.assert_allclose(boxes, np.tile([0, 0, 1, 1], (len(times), 1)))


def test_frames_have_the_requested_size_whatever_the_aspect(videos: dict[str, Path]) -> None:
    for size in ((32, 32), (128, 128), (20, 100)):
        _, frames, _ = decode(videos["mpeg4"], fps=1.0, size=size)
        assert frames.shape[1:] == (*size, 3)


def test_without_fast_decode_every_step_is_within_a_frame_of_the_rate(
        videos: dict[str, Path]) -> None:
    times, _, _ = decode(videos["mpeg4"], fps=5.0, fast_decode=False)
    np.testing.assert_allclose(times, np.arange(len(times)) / 5.0, atol=1 / FPS + 1e-6)
    assert len(times) == round(SECONDS * 5.0)


def test_batches_hold_at_most_batch_size_and_join_to_the_same_frames(
        videos: dict[str, Path]) -> None:
    batches = list(video_frames(videos["mpeg4"], fps=4.0, size=(48, 64), batch_size=5))
    assert [len(b.times) for b in batches] == [5, 5, 5, 1]
    for batch in batches:
        assert len(batch.times) == len(batch.frames) == len(batch.boxes)
    whole = list(video_frames(videos["mpeg4"], fps=4.0, size=(48, 64), batch_size=1000))
    assert len(whole) == 1
    np.testing.assert_array_equal(np.concatenate([b.times for b in batches]), whole[0].times)
    np.testing.assert_array_equal(np.concatenate([b.frames for b in batches]),
                                  whole[0].frames)


def test_a_rate_above_the_source_keeps_each_frame_once(videos: dict[str, Path]) -> None:
    times, _, _ = decode(videos["mpeg4"], fps=60.0, fast_decode=False)
    np.testing.assert_allclose(times, np.arange(round(SECONDS * FPS)) / FPS, atol=1e-6)


def test_variable_frame_rate_is_sampled_evenly_in_time(videos: dict[str, Path]) -> None:
    path = videos["vfr"]
    with av.open(str(path)) as container:
        source = np.array([f.time for f in container.decode(video=0)])
    gaps = np.diff(source)
    assert gaps.min() < 0.02 and gaps.max() > 0.1  # really variable
    fps = 2.0
    times, _, _ = decode(path, fps=fps, fast_decode=False)
    duration = source[-1]
    assert len(times) == pytest.approx(duration * fps, abs=1)
    # the k-th kept frame is the first one at or after k/fps (not every n-th frame)
    grid = np.arange(len(times)) / fps
    assert np.all(times >= grid - 1e-6)
    assert np.all(times - grid <= gaps.max() + 1e-6)


def test_fps_must_be_positive(videos: dict[str, Path]) -> None:
    with pytest.raises(ValueError):
        next(video_frames(videos["mpeg4"], fps=0.0, size=(8, 8)))


# -------------------------------------------------------------------------------- observer


def test_observer_sees_every_decoded_frame_with_its_thumbnail(videos: dict[str, Path]) -> None:
    seen: list[tuple[float, np.ndarray]] = []

    def observer(thumb: np.ndarray, t: float) -> bool:
        seen.append((t, thumb))
        return False

    times, _, _ = decode(videos["mpeg4"], fps=2.0, observer=observer, fast_decode=False)
    total = round(SECONDS * FPS)
    assert len(seen) == total
    np.testing.assert_allclose([t for t, _ in seen], np.arange(total) / FPS, atol=1e-6)
    assert all(th.shape == THUMBNAIL_SIZE and th.dtype == np.uint8 for _, th in seen)
    assert len(times) == round(SECONDS * 2.0)  # observing alone keeps nothing extra
    # the thumbnail is the luma of the picture, small: a different shot after 2 s shows
    before, after = seen[round(2 * FPS) - 1][1], seen[round(2 * FPS)][1]
    assert np.abs(before.astype(int) - after.astype(int)).mean() > 10


def test_observer_returning_true_keeps_that_frame_too(videos: dict[str, Path]) -> None:
    wanted = {17, 61}  # frame indices off the 2-per-second grid (0, 13, 25, 38, 50, 63...)

    def observer(thumb: np.ndarray, t: float) -> bool:
        return round(t * FPS) in wanted

    times, frames, _ = decode(videos["mpeg4"], fps=2.0, observer=observer, fast_decode=False)
    regular, _, _ = decode(videos["mpeg4"], fps=2.0, fast_decode=False)
    assert sorted(set(np.round(times * FPS).astype(int)) - set(
        np.round(regular * FPS).astype(int))) == sorted(wanted)
    assert set(regular).issubset(set(times))  # the regular grid is not disturbed
    assert np.all(np.diff(times) > 0)
    assert len(frames) == len(times)


def test_thumbnail_reads_luma_of_planar_and_packed_frames() -> None:
    """A planar frame's thumbnail is sampled from its Y plane as stored (limited range for
    ``yuv420p``: black is 16); any other format goes through swscale's full-range grey."""
    picture = shot_frame(2, 0.0, SIZE)
    packed = av.VideoFrame.from_ndarray(picture, format="rgb24")
    planar = packed.reformat(format="yuv420p")
    full, limited = thumbnail(packed).astype(float), thumbnail(planar).astype(float)
    assert full.shape == limited.shape == THUMBNAIL_SIZE
    assert abs(16 + full.mean() * 219 / 255 - limited.mean()) < 1.5
    assert np.corrcoef(full.ravel(), limited.ravel())[0, 1] > 0.95
    grey = picture @ np.array([0.299, 0.587, 0.114])
    assert abs(full.mean() - grey.mean()) < 4


# ---------------------------------------------------------------------------- black bars


def test_picture_box_finds_letterbox_and_pillarbox_bars() -> None:
    picture = shot_frame(1, 0.0, SIZE)
    assert picture_box(picture) == (0.0, 0.0, 1.0, 1.0)
    left, top, right, bottom = picture_box(letterbox(picture))
    assert (left, right) == (0.0, 1.0)
    assert top == pytest.approx(0.125, abs=0.02) and bottom == pytest.approx(0.875, abs=0.02)
    left, top, right, bottom = picture_box(pillarbox(picture))
    assert (top, bottom) == (0.0, 1.0)
    assert left == pytest.approx(0.125, abs=0.02) and right == pytest.approx(0.875, abs=0.02)
    framed = np.zeros((90, 160, 3), np.uint8)
    framed[20:70, 30:130] = picture[20:70, 30:130] // 2 + 60
    assert picture_box(framed) == pytest.approx((30 / 160, 20 / 90, 130 / 160, 70 / 90))


def test_subtitles_in_a_bar_do_not_hide_it() -> None:
    boxed = letterbox(shot_frame(1, 0.0, SIZE))
    boxed[80:84, 60:66] = 255  # a few letters burnt into the bottom bar
    _, top, _, bottom = picture_box(boxed)
    assert top == pytest.approx(0.125, abs=0.02) and bottom == pytest.approx(0.875, abs=0.02)


def test_picture_box_is_none_for_a_dark_frame() -> None:
    assert picture_box(np.zeros((90, 160, 3), np.uint8)) is None
    assert picture_box(np.full((90, 160, 3), 16, np.uint8)) is None  # "video black"
    night = np.zeros((90, 160, 3), np.uint8)
    night[40:50, 70:90] = 255  # a small moon: a dark scene, not a picture inside bars
    assert picture_box(night) is None


@pytest.mark.parametrize("kind", ["letterbox", "pillarbox"])
def test_remove_borders_crops_to_the_picture(videos: dict[str, Path], kind: str) -> None:
    size = (45, 80)
    plain_times, plain, plain_boxes = decode(videos["plain"], size=size, fast_decode=False)
    times, cropped, boxes = decode(videos[kind], size=size, fast_decode=False)
    _, uncropped, _ = decode(videos[kind], size=size, fast_decode=False, remove_borders=False)
    np.testing.assert_array_equal(times, plain_times)
    np.testing.assert_allclose(plain_boxes, np.tile([0, 0, 1, 1], (len(times), 1)))
    expected = (0.0, 0.125, 1.0, 0.875) if kind == "letterbox" else (0.125, 0.0, 0.875, 1.0)
    np.testing.assert_allclose(boxes, np.tile(expected, (len(times), 1)), atol=0.02)
    diff = np.abs(cropped.astype(float) - plain.astype(float)).mean()
    assert diff < 8.0
    assert np.abs(uncropped.astype(float) - plain.astype(float)).mean() > 4 * diff


# ------------------------------------------------------------------------------- rotation


def test_apply_rotation_turns_by_quarter_turns() -> None:
    picture = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    assert _apply_rotation(picture, 0) is picture
    assert _apply_rotation(picture, None) is picture  # type: ignore[arg-type]
    np.testing.assert_array_equal(_apply_rotation(picture, 90), np.rot90(picture, 1))
    np.testing.assert_array_equal(_apply_rotation(picture, -90), np.rot90(picture, 3))
    np.testing.assert_array_equal(_apply_rotation(picture, 270), np.rot90(picture, 3))
    np.testing.assert_array_equal(_apply_rotation(picture, 180), picture[::-1, ::-1])
    np.testing.assert_array_equal(_apply_rotation(picture, -180), picture[::-1, ::-1])
    np.testing.assert_array_equal(_apply_rotation(picture, 450), np.rot90(picture, 1))
    np.testing.assert_array_equal(_apply_rotation(picture, 89.6), np.rot90(picture, 1))
    turned = _apply_rotation(picture, 90)
    assert turned.shape == (3, 2, 3) and turned.flags["C_CONTIGUOUS"]


def _marked(height: int = 96, width: int = 160) -> np.ndarray:
    """Grey with a bright patch in the top-left corner."""
    picture = np.full((height, width, 3), 40, np.uint8)
    picture[: height // 3, : width // 3] = 255
    return picture


def _bright_corner(picture: np.ndarray) -> str:
    h, w = picture.shape[:2]
    grey = picture.mean(axis=2)
    corners = {"top-left": grey[: h // 2, : w // 2], "top-right": grey[: h // 2, w // 2:],
               "bottom-left": grey[h // 2:, : w // 2], "bottom-right": grey[h // 2:, w // 2:]}
    return max(corners, key=lambda k: corners[k].mean())


@pytest.mark.parametrize(("rotation", "corner"), [
    (90, "bottom-left"), (-90, "top-right"), (180, "bottom-right"), (0, "top-left")])
def test_a_phone_video_with_a_display_rotation_comes_out_upright(
        tmp_path: Path, rotation: int, corner: str) -> None:
    """A display matrix written by PyAV (``set_display_rotation``, counter-clockwise, as
    ``frame.rotation`` reads it back) is applied the way FFmpeg's autorotate applies it."""
    path = write_frames(tmp_path / "phone.mp4", [_marked()] * 10, rotation=rotation)
    with av.open(str(path)) as container:
        assert next(container.decode(video=0)).rotation % 360 == rotation % 360
    size = (160, 96) if rotation % 180 else (96, 160)
    _, frames, _ = decode(path, fps=2.0, size=size, remove_borders=False)
    assert _bright_corner(frames[0]) == corner


def test_video_info_reports_the_display_rotation(tmp_path: Path) -> None:
    path = write_frames(tmp_path / "phone.mp4", [_marked()] * 10, rotation=90)
    assert video_info(path).rotation % 360 == 90


def test_video_info_describes_the_stream(videos: dict[str, Path]) -> None:
    info = video_info(videos["x264"])
    assert (info.width, info.height) == (SIZE[1], SIZE[0])
    assert info.frame_rate == pytest.approx(FPS)
    assert info.duration == pytest.approx(SECONDS, abs=0.1)
    assert info.rotation == 0


# ------------------------------------------------------------------------------ bad input


def _still(path: Path, codec: str, pix_fmt: str, fmt: str = "image2") -> Path:
    return write_frames(path, [shot_frame(4, 0.0, SIZE)], codec=codec, fmt=fmt,
                        pix_fmt=pix_fmt)


@pytest.fixture(scope="module")
def bad(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bad-video")
    files = {
        "audio_only": write_audio(root / "audio_only.m4a", render(make_score(3, 1.0)),
                                  codec="aac"),
        "png": _still(root / "still.png", "png", "rgb24"),
        "jpeg": _still(root / "still.jpg", "mjpeg", "yuvj420p"),
    }
    files["png_as_mp4"] = root / "png_named.mp4"
    files["png_as_mp4"].write_bytes(files["png"].read_bytes())
    files["jpeg_as_mp4"] = root / "jpeg_named.mp4"
    files["jpeg_as_mp4"].write_bytes(files["jpeg"].read_bytes())
    files["no_frames_mp4"] = write_frames(root / "no_frames.mp4", [])
    files["no_frames_y4m"] = y4m(root / "no_frames.y4m", 64, 48, frames=0)
    files["random"] = root / "random.mp4"
    files["random"].write_bytes(np.random.default_rng(5).bytes(20000))
    files["empty"] = root / "empty.mp4"
    files["empty"].write_bytes(b"")
    files["beyond_8k"] = y4m(root / "beyond_8k.y4m", 10000, 10000, frames=0)
    long = write_video(root / "long.mp4", footage([7], 6.0))
    data = long.read_bytes()
    files["half_mp4"] = root / "half.mp4"  # its index (moov) is at the end: lost
    files["half_mp4"].write_bytes(data[: len(data) // 2])
    return files


#: bad file -> (error type, words the message says)
REFUSALS = {
    "audio_only": (UnsupportedMedia, "no video stream"),
    "png": (UnsupportedMedia, "still image"),
    "jpeg": (UnsupportedMedia, "still image"),
    "png_as_mp4": (UnsupportedMedia, "still image"),
    "jpeg_as_mp4": (UnsupportedMedia, "still image"),
    # an mp4 muxer drops a stream that got no sample: nothing says there was one
    "no_frames_mp4": (UnsupportedMedia, "no video stream"),
    "no_frames_y4m": (DecodeError, "no decodable frame"),
    "random": (UnsupportedMedia, "not readable"),
    "empty": (DecodeError, "empty"),
    "beyond_8k": (UnsupportedMedia, "beyond 8K"),
    "half_mp4": (UnsupportedMedia, "not readable"),
}


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_bad_input_is_a_typed_one_line_error(bad: dict[str, Path], name: str) -> None:
    kind, words = REFUSALS[name]
    path = bad[name]
    with pytest.raises(kind, match=words) as info:
        decode(path)
    assert_one_line_naming(info.value, path)


@pytest.mark.parametrize("name", ["audio_only", "png", "jpeg", "random", "beyond_8k"])
def test_video_info_refuses_what_video_frames_refuses(bad: dict[str, Path], name: str) -> None:
    kind, words = REFUSALS[name]
    with pytest.raises(kind, match=words) as info:
        video_info(bad[name])
    assert_one_line_naming(info.value, bad[name])


def test_still_images_are_recognised_by_their_demuxer(bad: dict[str, Path]) -> None:
    for key in ("png", "jpeg", "png_as_mp4", "jpeg_as_mp4"):
        with av.open(str(bad[key])) as container:
            assert container.format.name in {"image2", "png_pipe", "jpeg_pipe"}


@pytest.mark.parametrize(("codec", "pix_fmt", "suffix"), [
    ("tiff", "rgb24", "tif"), ("ppm", "rgb24", "ppm")])
def test_other_still_images_are_refused_too(tmp_path: Path, codec: str, pix_fmt: str,
                                            suffix: str) -> None:
    path = _still(tmp_path / f"still.{suffix}", codec, pix_fmt)
    with pytest.raises(UnsupportedMedia, match="still image"):
        decode(path)


def test_an_animated_gif_decodes_as_video(tmp_path: Path) -> None:
    pictures = []
    for i in range(30):  # a bright bar crossing the picture at 10 frames/s
        picture = np.zeros((48, 80, 3), np.uint8)
        picture[:, (2 * i) % 70:(2 * i) % 70 + 10] = 255
        pictures.append(picture)
    path = tmp_path / "anim.gif"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("gif", rate=10)
        stream.width, stream.height, stream.pix_fmt = 80, 48, "rgb8"
        for i, picture in enumerate(pictures):
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24").reformat(format="rgb8")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    times, frames, _ = decode(path, fps=2.0, size=(48, 80), remove_borders=False)
    assert len(times) == 6 and times[0] == 0.0
    assert np.all(np.diff(times) == pytest.approx(0.5, abs=0.11))
    bar = [int(np.argmax(f.mean(axis=(0, 2)))) for f in frames]
    assert bar == sorted(bar) and bar[-1] > bar[0] + 30  # the bar moves: it is video


def test_a_one_pixel_video_decodes(tmp_path: Path) -> None:
    pictures = [np.full((1, 1, 3), 20 * i, np.uint8) for i in range(10)]
    path = write_frames(tmp_path / "dot.mkv", pictures, codec="ffv1")
    times, frames, boxes = decode(path, fps=5.0, size=(8, 8), remove_borders=True)
    assert len(times) == 2 and frames.shape == (2, 8, 8, 3)
    assert frames[1].mean() > frames[0].mean() + 50  # the dot brightened: real content
    assert np.all(np.isfinite(boxes))


def test_frame_size_limit_is_checked_from_the_header(tmp_path: Path) -> None:
    """8192x8192 is the largest accepted; the header alone decides (nothing is decoded)."""
    at_limit = y4m(tmp_path / "at_limit.y4m", 8192, 8192, frames=0)
    assert video_info(at_limit).width == 8192
    wide = y4m(tmp_path / "wide.y4m", 16384, 8192, frames=0)
    with pytest.raises(UnsupportedMedia, match="16384x8192 is beyond 8K"):
        video_info(wide)


def test_an_absurd_aspect_ratio_is_refused(tmp_path: Path) -> None:
    path = y4m(tmp_path / "needle.y4m", 2, 64, frames=3)
    with pytest.raises(UnsupportedMedia) as info:
        video_info(path)
    assert_one_line_naming(info.value, path)
    with pytest.raises(UnsupportedMedia):
        decode(path)


def test_max_seconds_guard(videos: dict[str, Path]) -> None:
    path = videos["mpeg4"]
    with pytest.raises(DecodeError, match="limit") as info:
        decode(path, max_seconds=2.0)
    assert_one_line_naming(info.value, path)
    times, _, _ = decode(path, max_seconds=SECONDS + 1)
    assert times[-1] < SECONDS


def _cut_in_half(source: Path, target: Path) -> Path:
    data = source.read_bytes()
    target.write_bytes(data[: len(data) // 2])
    return target


@pytest.fixture(scope="module")
def truncated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Six-second videos cut in half where the container still opens: Matroska, and an mp4
    with its index first (``faststart``)."""
    root = tmp_path_factory.mktemp("truncated")
    frames = footage([8], 6.0)
    mkv = write_frames(root / "whole.mkv", frames)
    faststart = write_frames(root / "whole.mp4", frames, options={"movflags": "faststart"})
    return {"mkv": _cut_in_half(mkv, root / "half.mkv"),
            "faststart": _cut_in_half(faststart, root / "half.mp4")}


@pytest.mark.parametrize("kind", ["mkv", "faststart"])
def test_a_truncated_video_yields_a_prefix_at_most(truncated: dict[str, Path],
                                                   kind: str) -> None:
    """Whatever comes out of a file cut in half is its first half, with or without the error
    that says so (today: without, see the next test)."""
    times: list[float] = []
    failed = False
    try:
        for batch in video_frames(truncated[kind], fps=2.0, size=(16, 16), fast_decode=False):
            times.extend(batch.times)
    except DecodeError as exc:
        assert_one_line_naming(exc, truncated[kind])
        failed = True
    assert times or failed
    assert max(times, default=0.0) < 0.6 * 6.0


@pytest.mark.parametrize("kind", ["mkv", "faststart"])
def test_a_truncated_video_is_reported(truncated: dict[str, Path], kind: str) -> None:
    with pytest.raises(DecodeError, match="truncated"):
        decode(truncated[kind], fast_decode=False)


def test_a_raw_h264_stream_without_timestamps_decodes(tmp_path: Path) -> None:
    path = write_frames(tmp_path / "camera.h264", footage([9], 2.0), codec="libx264",
                        fmt="h264")
    times, _, _ = decode(path, fps=2.0)
    assert len(times) == 4


def test_timestamps_that_restart_keep_the_rest_of_the_video(tmp_path: Path) -> None:
    part = write_frames(tmp_path / "part.ts", footage([10], 2.0), fmt="mpegts")
    joined = tmp_path / "joined.ts"
    joined.write_bytes(part.read_bytes() * 2)
    times, _, _ = decode(joined, fps=2.0, fast_decode=False)
    assert len(times) == pytest.approx(8, abs=1)
    assert np.all(np.diff(times) > 0)


# --------------------------------------------------------------------------- cover pictures


@pytest.fixture(scope="module")
def cover_art(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An mp3 whose only picture is its album cover (an ``attached_pic`` mjpeg stream)."""
    path = tmp_path_factory.mktemp("cover") / "song.mp3"
    samples = render(make_score(12, 3.0))
    with av.open(str(path), "w") as container:
        audio = container.add_stream("libmp3lame", rate=22050, layout="mono")
        cover = container.add_stream("mjpeg", rate=1)
        cover.width, cover.height, cover.pix_fmt = 160, 90, "yuvj420p"
        cover.disposition = av.stream.Disposition.attached_pic
        picture = av.VideoFrame.from_ndarray(shot_frame(11, 0.0, SIZE), format="rgb24")
        picture = picture.reformat(format="yuvj420p")
        picture.pts = 0
        for packet in [*cover.encode(picture), *cover.encode(None)]:
            container.mux(packet)
        frame = av.AudioFrame.from_ndarray(samples[None, :].astype(np.float32),
                                           format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 22050, 0
        for packet in [*audio.encode(frame), *audio.encode(None)]:
            container.mux(packet)
    return path


def test_an_album_cover_is_not_a_video(cover_art: Path) -> None:
    assert probe(cover_art).has_video is False
    with pytest.raises(UnsupportedMedia, match="no video"):
        decode(cover_art)


def test_a_song_with_an_album_cover_is_indexed(cover_art: Path, tmp_path: Path) -> None:
    settings = Settings(library=tmp_path / "library")
    with Library.open(settings.library, settings=settings.audio,
                      visual=settings.visual) as library:
        report = index_paths(library, [cover_art], settings=settings)
        assert report.failed == []
        assert library.stats().fingerprints > 0
