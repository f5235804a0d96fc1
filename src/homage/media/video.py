"""Video decoding: sampled frames at the small size descriptors want, borders removed.

Decoding a film costs far more than describing the few frames per second that matching needs,
so every decoded frame is touched only as much as necessary: a tiny grey thumbnail for the
cut detector, and, for the frames kept, one conversion to RGB at a working size, the
letterbox/pillarbox crop, and one resize to the descriptor's input size.  Frames stream out in
batches; a two-hour film is never held in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from homage.cpus import cpu_budget
from homage.errors import DecodeError, UnsupportedMedia
from homage.media.probe import _reason, container_duration, open_container

#: Width (pixels) at which kept frames are converted before border detection and cropping.
WORKING_WIDTH = 320
#: Grey thumbnail handed to the cut detector for every decoded frame: (height, width).
THUMBNAIL_SIZE = (18, 32)
#: A border row or column is darker than this (0-255 luma) nearly everywhere.
_BORDER_LUMA = 24
#: ...unless more than this share of its pixels reach that luma.
_BAR_BRIGHT_SHARE = 0.05
#: A detected picture smaller than this fraction of the frame is a dark scene, not a border.
_MIN_PICTURE_FRACTION = 0.3
#: Largest frame (pixels) accepted: beyond 8K the decoder's memory use is unbounded in practice.
MAX_PIXELS = 8192 * 8192

#: Called for every decoded frame with its grey thumbnail and time; returning True asks for
#: that frame to be kept too (the cut detector uses it to sample the first frame of a shot).
FrameObserver = Callable[[np.ndarray, float], bool]


@dataclass(frozen=True)
class FrameBatch:
    """Frames kept from a video, in display order.

    Attributes
    ----------
    times:
        (n,) float64, presentation time of each frame in seconds from the start.
    frames:
        (n, height, width, 3) uint8 RGB at the requested size, borders removed.
    boxes:
        (n, 4) float32, the picture region kept, as (left, top, right, bottom) fractions of
        the decoded frame (all 0/1 when there was no border).
    """

    times: np.ndarray
    frames: np.ndarray
    boxes: np.ndarray


@dataclass(frozen=True)
class VideoInfo:
    """What the stream headers say, for cataloguing and sanity checks."""

    width: int
    height: int
    frame_rate: float
    duration: float
    rotation: int


def video_info(path: str | Path) -> VideoInfo:
    """Describe the first video stream of ``path``.

    Raises
    ------
    UnsupportedMedia
        No video stream, a still image, or a frame size beyond ``MAX_PIXELS``.
    """
    with open_container(path) as container:
        stream = _video_stream(container, path)
        return VideoInfo(
            width=stream.codec_context.width,
            height=stream.codec_context.height,
            frame_rate=float(stream.average_rate or stream.guessed_rate or 0.0),
            duration=container_duration(container),
            rotation=_first_rotation(container, stream),
        )


def _first_rotation(container: av.container.InputContainer, stream: av.VideoStream) -> int:
    """The display rotation (degrees, counter-clockwise) of the first frame: PyAV exposes the
    display matrix on frames only, so one frame is decoded."""
    try:
        for frame in container.decode(stream):
            return round(frame.rotation or 0)
    except av.FFmpegError:
        pass
    return 0


def video_frames(
    path: str | Path,
    *,
    fps: float,
    size: tuple[int, int],
    batch_size: int = 64,
    max_seconds: float | None = None,
    observer: FrameObserver | None = None,
    remove_borders: bool = True,
    fast_decode: bool = True,
    threads: int | None = None,
) -> Iterator[FrameBatch]:
    """Decode the first video stream of ``path``, keeping about ``fps`` frames per second.

    Parameters
    ----------
    fps:
        Frames kept per second of video (a frame is kept once ``1/fps`` has passed since the
        last one kept, so variable-frame-rate video is sampled evenly in time).
    size:
        ``(height, width)`` of the frames yielded.
    max_seconds:
        Refuse files that decode to more than this: a guard against decompression bombs.
    observer:
        See ``FrameObserver``.
    remove_borders:
        Detect black letterbox/pillarbox bars and keep only the picture inside them.
    fast_decode:
        Skip decoding frames no other frame refers to (B-frames, usually half of a film):
        about twice as fast, and a few frames per second are all that matching keeps.
    threads:
        FFmpeg decoding threads; by default the process's CPU budget.

    Raises
    ------
    UnsupportedMedia
        No video stream, a still image, or an absurd frame size.
    DecodeError
        The stream is corrupt, truncated, holds no frame, or is longer than ``max_seconds``.
    """
    if fps <= 0:
        raise ValueError("fps must be positive")
    with open_container(path) as container:
        stream = _video_stream(container, path)
        stream.thread_type = "AUTO"
        # FFmpeg's default is every core of the machine
        stream.thread_count = cpu_budget() if threads is None else threads
        if fast_decode:
            stream.codec_context.skip_frame = "NONREF"
        sampler = _Sampler(fps=fps, size=size, remove_borders=remove_borders,
                           batch_size=batch_size)
        clock = _Clock(float(stream.average_rate or stream.guessed_rate or 25.0))
        decoded = 0
        t = 0.0
        try:
            for frame in container.decode(stream):
                if frame.time is None and fast_decode:
                    # no timestamps: time is counted in frames, so none may be skipped
                    stream.codec_context.skip_frame = "DEFAULT"
                    fast_decode = False
                t = clock.time(frame.time)
                if max_seconds is not None and t > max_seconds:
                    raise DecodeError(f"video runs past the {max_seconds:.0f} s limit",
                                      path=path)
                decoded += 1
                extra = False
                if observer is not None:
                    extra = observer(thumbnail(frame), t)
                ready = sampler.offer(frame, t, force=extra)
                if ready is not None:
                    yield ready
        except av.FFmpegError as exc:
            raise DecodeError(f"corrupt video stream ({_reason(exc)})", path=path) from exc
        if decoded == 0:
            raise DecodeError("video stream holds no decodable frame", path=path)
        declared = _declared_seconds(container, stream)
        decoded_s = t + clock.step
        if declared > 0 and declared - decoded_s > max(_TRUNCATION_TOLERANCE_S, 0.1 * declared):
            raise DecodeError(
                f"truncated: decodes {decoded_s:.1f} s of the {declared:.1f} s it declares",
                path=path,
            )
        last = sampler.flush()
        if last is not None:
            yield last


#: A video that declares this much more than it decodes is reported as truncated.
_TRUNCATION_TOLERANCE_S = 2.0


def _declared_seconds(container: av.container.InputContainer, stream: av.VideoStream) -> float:
    """The video stream's own declared duration, else the container's."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    return container_duration(container)


class _Clock:
    """Seconds from the first frame, always moving forward: frames without a timestamp (raw
    elementary streams) are one frame period after the previous one, and timestamps that
    jump back (concatenated MPEG-TS, DVD VOBs) continue from where the video was."""

    def __init__(self, rate: float) -> None:
        self.step = 1.0 / rate if rate > 0 else 0.04
        self._start: float | None = None
        self._offset = 0.0
        self._last: float | None = None

    def time(self, raw: float | None) -> float:
        if raw is None:
            t = 0.0 if self._last is None else self._last + self.step
        else:
            if self._start is None:
                self._start = raw
            t = raw - self._start + self._offset
            if self._last is not None and t < self._last - 0.5:
                self._offset += self._last + self.step - t
                t = self._last + self.step
        self._last = t
        return t


_PLANAR_8BIT = {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "gray",
                "nv12", "nv21"}


def thumbnail(frame: av.VideoFrame) -> np.ndarray:
    """A ``THUMBNAIL_SIZE`` uint8 grey picture of ``frame``, read straight from its luma
    plane when it has one (no colour conversion: this runs on every decoded frame)."""
    height, width = THUMBNAIL_SIZE
    if frame.format.name not in _PLANAR_8BIT:
        return frame.to_ndarray(width=width, height=height, format="gray")
    plane = frame.planes[0]
    luma = np.frombuffer(plane, dtype=np.uint8).reshape(plane.height, plane.line_size)
    rows = np.linspace(0, frame.height - 1, 2 * height).astype(int)
    cols = np.linspace(0, frame.width - 1, 2 * width).astype(int)
    grid = luma[rows][:, cols].astype(np.uint16)
    return ((grid[0::2, 0::2] + grid[1::2, 0::2] + grid[0::2, 1::2] + grid[1::2, 1::2]) // 4
            ).astype(np.uint8)


#: Frames narrower or flatter than this (long side / short side) are refused: the working
#: picture is ``WORKING_WIDTH`` wide, so a 2x2000 frame would become 320x320000.
MAX_ASPECT = 8.0


def video_streams(container: av.container.InputContainer) -> list[av.VideoStream]:
    """The video streams that are moving pictures (not a cover picture in a music file)."""
    return [s for s in container.streams.video
            if not s.disposition & av.stream.Disposition.attached_pic]


def _video_stream(container: av.container.InputContainer, path: str | Path) -> av.VideoStream:
    streams = video_streams(container)
    if not streams:
        cover = " (only a cover picture)" if container.streams.video else ""
        raise UnsupportedMedia(f"no video stream{cover}", path=path)
    stream = streams[0]
    ctx = stream.codec_context
    name = container.format.name
    if name == "image2" or name.endswith("_pipe"):
        raise UnsupportedMedia("a still image, not a video", path=path)
    if ctx.width <= 0 or ctx.height <= 0:
        raise UnsupportedMedia("video stream declares no frame size", path=path)
    if ctx.width * ctx.height > MAX_PIXELS:
        raise UnsupportedMedia(f"frame size {ctx.width}x{ctx.height} is beyond 8K", path=path)
    if max(ctx.width, ctx.height) > MAX_ASPECT * min(ctx.width, ctx.height):
        raise UnsupportedMedia(f"frame size {ctx.width}x{ctx.height} is not a picture "
                               f"(beyond {MAX_ASPECT:.0f}:1)", path=path)
    return stream


class _Sampler:
    """Chooses which decoded frames to keep, converts them, and groups them into batches."""

    def __init__(self, *, fps: float, size: tuple[int, int], remove_borders: bool,
                 batch_size: int) -> None:
        self._step = 1.0 / fps
        self._size = size
        self._remove_borders = remove_borders
        self._batch_size = batch_size
        self._next = 0.0
        self._last_box = (0.0, 0.0, 1.0, 1.0)
        self._times: list[float] = []
        self._frames: list[np.ndarray] = []
        self._boxes: list[tuple[float, float, float, float]] = []

    def due(self, t: float) -> bool:
        return t + 1e-6 >= self._next

    def offer(self, frame: av.VideoFrame, t: float, *, force: bool) -> FrameBatch | None:
        if not (force or self.due(t)):
            return None
        if self.due(t):
            self._next = max(self._next + self._step, t + 0.5 * self._step)
        picture, box = self._convert(frame)
        self._times.append(t)
        self._frames.append(picture)
        self._boxes.append(box)
        return self.flush() if len(self._times) >= self._batch_size else None

    def flush(self) -> FrameBatch | None:
        if not self._times:
            return None
        batch = FrameBatch(
            times=np.asarray(self._times, dtype=np.float64),
            frames=np.stack(self._frames),
            boxes=np.asarray(self._boxes, dtype=np.float32),
        )
        self._times, self._frames, self._boxes = [], [], []
        return batch

    def _convert(self, frame: av.VideoFrame) -> tuple[np.ndarray, tuple[float, ...]]:
        height = max(2, round(WORKING_WIDTH * frame.height / max(frame.width, 1) / 2) * 2)
        rgb = frame.to_ndarray(width=WORKING_WIDTH, height=height, format="rgb24")
        rgb = _apply_rotation(rgb, frame.rotation)
        box = self._last_box
        if self._remove_borders:
            found = picture_box(rgb)
            if found is not None:
                box = self._last_box = found
        h, w = rgb.shape[:2]
        left, top, right, bottom = box
        crop = rgb[round(top * h):round(bottom * h), round(left * w):round(right * w)]
        return resize_rgb(crop, self._size), box


def _apply_rotation(rgb: np.ndarray, rotation: int | float) -> np.ndarray:
    """Turn the picture upright as the display matrix says (phones store it sideways)."""
    quarter_turns = round(float(rotation or 0) / 90.0) % 4
    return np.ascontiguousarray(np.rot90(rgb, k=quarter_turns)) if quarter_turns else rgb


def picture_box(rgb: np.ndarray) -> tuple[float, float, float, float] | None:
    """The region inside black bars, as (left, top, right, bottom) fractions, or None when the
    frame is too dark to tell bars from picture.

    A bar row/column is one where fewer than ``_BAR_BRIGHT_SHARE`` of the pixels reach
    ``_BORDER_LUMA``: text or a logo burnt into a bar (subtitles) covers few pixels and does
    not hide the bar.  (Counting, not a percentile: this runs on every kept frame, and a
    sort per row cost a tenth of decoding.)
    """
    bright = (rgb @ np.array([0.299, 0.587, 0.114], np.float32)) >= _BORDER_LUMA
    h, w = bright.shape
    rows = np.count_nonzero(bright, axis=1) > _BAR_BRIGHT_SHARE * w
    cols = np.count_nonzero(bright, axis=0) > _BAR_BRIGHT_SHARE * h
    if not rows.any() or not cols.any():
        return None
    top, bottom = np.argmax(rows), len(rows) - np.argmax(rows[::-1])
    left, right = np.argmax(cols), len(cols) - np.argmax(cols[::-1])
    if (bottom - top) * (right - left) < _MIN_PICTURE_FRACTION * h * w:
        return None
    return (left / w, top / h, right / w, bottom / h)


def resize_rgb(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``rgb`` (h, w, 3) uint8 resized to ``size`` = (height, width) with FFmpeg's swscale
    (area averaging when shrinking, so small frames are not aliased)."""
    if rgb.shape[:2] == size:
        return rgb
    if rgb.shape[0] < 1 or rgb.shape[1] < 1:
        return np.zeros((*size, 3), dtype=np.uint8)
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
    return frame.to_ndarray(width=size[1], height=size[0], format="rgb24",
                            interpolation="AREA")
