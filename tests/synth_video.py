"""Footage for the video tests: shots that pan and zoom over the photographs scikit-image
ships, each with a coloured box moving across, so two shots differ as real shots do and an
edited copy (cropped, flipped, recoloured, sped up, boxed) can be made of any stretch.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

FPS = 25
SIZE = (180, 320)  # height, width

Edit = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Footage:
    """The video files the tests share (see the ``footage`` fixture)."""

    root: Path
    ref: Path
    other: Path
    unrelated: Path
    query: Path
    fresh: Path


#: Photographs bundled with scikit-image (no download): one per shot, so shots differ as
#: much as real footage does.  ``chelsea`` is left out: it is ``cat`` again.
PHOTOS = ("astronaut", "brick", "camera", "cat", "clock", "coffee", "coins", "colorwheel",
          "grass", "gravel", "horse", "hubble_deep_field", "immunohistochemistry", "logo",
          "microaneurysms", "moon", "page", "retina", "rocket", "text", "stereo_motorcycle")


@functools.cache
def photo(index: int) -> np.ndarray:
    """Photograph ``index`` of ``PHOTOS`` as (h, w, 3) float32 RGB."""
    from skimage import data

    picture = getattr(data, PHOTOS[index % len(PHOTOS)])()
    picture = picture[0] if isinstance(picture, tuple) else picture
    picture = np.asarray(picture, dtype=np.float32)
    if picture.max() <= 1.0:
        picture = picture * 255.0
    if picture.ndim == 2:
        picture = np.repeat(picture[..., None], 3, axis=2)
    return picture[..., :3]


def shot_frame(seed: int, t: float, size: tuple[int, int] = SIZE) -> np.ndarray:
    """The picture of shot ``seed`` at ``t`` seconds into the shot, (h, w, 3) uint8: a slow
    pan and zoom over photograph ``seed`` with a coloured box crossing it."""
    rng = np.random.default_rng(seed)
    source = photo(seed)
    sh, sw = source.shape[:2]
    h, w = size
    zoom = rng.uniform(0.55, 0.8) + 0.03 * t
    win_h, win_w = min(sh, sw * h / w) * min(zoom, 1.0), min(sw, sh * w / h) * min(zoom, 1.0)
    drift = rng.uniform(-1, 1, 2) * 0.04 * t
    cy = np.clip(sh / 2 + drift[0] * sh, win_h / 2, sh - win_h / 2)
    cx = np.clip(sw / 2 + drift[1] * sw, win_w / 2, sw - win_w / 2)
    rows = np.clip((cy - win_h / 2 + np.arange(h) * win_h / h).astype(int), 0, sh - 1)
    cols = np.clip((cx - win_w / 2 + np.arange(w) * win_w / w).astype(int), 0, sw - 1)
    picture = source[rows][:, cols].copy()
    colour = rng.uniform(0, 255, 3)
    x = (rng.uniform(0, w) + rng.uniform(-40, 40) * t) % w
    y = (rng.uniform(0, h) + rng.uniform(-25, 25) * t) % h
    picture[max(0, int(y) - 12):int(y) + 12, max(0, int(x) - 18):int(x) + 18] = colour
    return np.clip(picture, 0, 255).astype(np.uint8)


def shots(seeds: Sequence[int], seconds: float) -> Iterator[np.ndarray]:
    """Frames of consecutive shots, ``seconds`` each, at ``FPS``."""
    for seed in seeds:
        for i in range(round(seconds * FPS)):
            yield shot_frame(seed, i / FPS)


def write_video(path: str | Path, frames: Iterator[np.ndarray] | Sequence[np.ndarray], *,
                fps: int = FPS, codec: str = "libx264", crf: int = 23) -> Path:
    """Encode RGB frames to an mp4 (yuv420p; even sizes required)."""
    path = Path(path)
    with av.open(str(path), "w") as container:
        stream = None
        for index, picture in enumerate(frames):
            if stream is None:
                stream = container.add_stream(codec, rate=fps)
                stream.height, stream.width = picture.shape[:2]
                stream.pix_fmt = "yuv420p"
                if codec == "libx264":
                    stream.options = {"crf": str(crf), "preset": "veryfast"}
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts = index
            for packet in stream.encode(frame):
                container.mux(packet)
        if stream is not None:
            for packet in stream.encode(None):
                container.mux(packet)
    return path


def read_all(path: str | Path) -> list[np.ndarray]:
    """Every frame of a video, RGB."""
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def excerpt(frames: Sequence[np.ndarray], start: float, end: float, *, speed: float = 1.0
            ) -> list[np.ndarray]:
    """Frames of ``[start, end)`` replayed at ``speed`` (2.0: twice as fast)."""
    count = round((end - start) * FPS / speed)
    picks = [min(len(frames) - 1, round(start * FPS + i * speed)) for i in range(count)]
    return [frames[i] for i in picks]


def crop(fraction: float) -> Edit:
    """Keep the centre, cutting ``fraction`` of each side's length away, then scale back."""
    def edit(picture: np.ndarray) -> np.ndarray:
        h, w = picture.shape[:2]
        dy, dx = round(h * fraction / 2), round(w * fraction / 2)
        inner = picture[dy:h - dy, dx:w - dx]
        rows = np.linspace(0, inner.shape[0] - 1, h).astype(int)
        cols = np.linspace(0, inner.shape[1] - 1, w).astype(int)
        return inner[rows][:, cols]
    return edit


def closer(zoom: float, *, top: float, left: float) -> Edit:
    """Frame the picture ``zoom`` times closer, the kept part at (``top``, ``left``) shares of
    the room left (1, 0: the bottom left corner), then scale back: a re-framing."""
    def edit(picture: np.ndarray) -> np.ndarray:
        h, w = picture.shape[:2]
        ih, iw = round(h / zoom), round(w / zoom)
        y0, x0 = round(top * (h - ih)), round(left * (w - iw))
        rows = y0 + np.linspace(0, ih - 1, h).astype(int)
        cols = x0 + np.linspace(0, iw - 1, w).astype(int)
        return picture[rows][:, cols]
    return edit


def mirror(picture: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(picture[:, ::-1])


def recolour(picture: np.ndarray) -> np.ndarray:
    """Warmer, brighter and more contrasted."""
    out = picture.astype(np.float32) * np.array([1.15, 1.0, 0.85]) * 1.1 + 10
    return np.clip(out, 0, 255).astype(np.uint8)


def letterbox(picture: np.ndarray) -> np.ndarray:
    """Shrink into a 4:3-ish window with black bars above and below."""
    h = picture.shape[0]
    inner_h = (h * 3 // 4) // 2 * 2
    rows = np.linspace(0, h - 1, inner_h).astype(int)
    out = np.zeros_like(picture)
    top = (h - inner_h) // 2
    out[top:top + inner_h] = picture[rows]
    return out


def edited(frames: Sequence[np.ndarray], *edits: Edit) -> list[np.ndarray]:
    out = list(frames)
    for edit in edits:
        out = [edit(p) for p in out]
    return out


def cel(picture: np.ndarray) -> np.ndarray:
    """A cartoon re-rendering: smoothed, posterised to 4 levels a channel, inked where the
    picture has strong edges (what ``homage bench homage`` calls cel shading)."""
    from scipy.ndimage import gaussian_filter, sobel

    smooth = gaussian_filter(picture.astype(np.float32), (2, 2, 0))
    flat = np.floor(smooth / 64.0) * 64.0 + 32.0
    luma = smooth.mean(axis=2)
    edges = np.hypot(sobel(luma, 0), sobel(luma, 1))
    flat[edges > np.percentile(edges, 88)] = 20.0
    return np.clip(flat, 0, 255).astype(np.uint8)
