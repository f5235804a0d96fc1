"""What a frame looks like, coarsely: where its masses, edges and colours sit, and how it moves.

A re-staged shot (live action redoing an animated film, a painting of a film still) shares
almost no pixels with its model, and a copy descriptor, trained to see through edits but not
through a change of medium, scores it low.  What survives a change of medium is composition:
the bright and dark masses, the lines and their directions, the colour layout, the way the
camera and the subject move.  These are measured here on a coarse grid, cheap enough to
store for every sampled frame (250 half floats, ~0.5 kB), so shots can be compared later
however they are cut.

Each frame's *look* is one row of ``LOOK_DIM`` floats made of the parts named in ``PARTS``:

- ``colour`` (4×4 cells × 2): mean opponent colours, red-green and yellow-blue, in [-1, 1];
- ``mass`` (8×8): luma, standardised per frame (so exposure and contrast do not matter);
- ``edges`` (8×8): gradient magnitude, standardised per frame;
- ``lines`` (4×4 cells × 4 directions): where the edges run horizontally, diagonally,
  vertically, anti-diagonally; each frame's histogram sums to 1;
- ``motion`` (2 + 4×4): the camera's shift since the previous frame (x, y as a share of the
  frame, by phase correlation) and, once that shift is undone, where the picture still
  changed (the subject's motion), as shares of the frame's total change;
- ``texture`` (8): how the picture is rendered rather than what it shows: edge density, fine
  detail (what a blur removes), luma spread, saturation, edge contrast (how far the strongest
  edges stand above the typical one: inked outlines), share of near-white pixels, entropy of
  its colours (what a posterised or cel-shaded re-rendering cuts down) and share of flat
  pixels (no gradient at all: filled regions).
"""

from __future__ import annotations

import numpy as np

GRID = 8
"""Cells per side of the mass and edge layouts (the colour, line and motion grids are half)."""
_WORK = 56
"""Side of the luma map the edges and motion are measured on (224 / 4)."""

PARTS: dict[str, slice] = {}
_offset = 0
for _name, _size in (("colour", 32), ("mass", 64), ("edges", 64), ("lines", 64),
                     ("motion", 18), ("texture", 8)):
    PARTS[_name] = slice(_offset, _offset + _size)
    _offset += _size
LOOK_DIM = _offset
del _offset, _name, _size


def frame_looks(frames: np.ndarray, previous: np.ndarray | None = None) -> np.ndarray:
    """The look of each frame.

    Parameters
    ----------
    frames : (n, height, width, 3) uint8
        RGB frames in time order, height and width multiples of 8 (the descriptor's input
        size is 224 × 224; other sizes are pooled to the same grids).
    previous : (height, width, 3) uint8, optional
        The frame before ``frames[0]``, so motion runs on across batches; without it the
        first frame's motion is zero.

    Returns
    -------
    (n, LOOK_DIM) float32
    """
    frames = _frames(frames)
    n = len(frames)
    looks = np.zeros((n, LOOK_DIM), np.float32)
    if n == 0:
        return looks
    rgb = frames.astype(np.float32) / 255.0
    luma = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
    work = _pool(luma, _WORK)
    red_green = rgb[..., 0] - rgb[..., 1]
    yellow_blue = 0.5 * (rgb[..., 0] + rgb[..., 1]) - rgb[..., 2]
    colour = np.stack([_pool(red_green, GRID // 2), _pool(yellow_blue, GRID // 2)], axis=-1)
    looks[:, PARTS["colour"]] = colour.reshape(n, -1)
    gx, gy, magnitude = _layouts(work, looks)
    looks[:, PARTS["lines"]] = _line_directions(gx, gy, magnitude)
    before = _pool(frame_luma(previous), _WORK)[0] if previous is not None else None
    looks[:, PARTS["motion"]] = _motion(work, before)
    looks[:, PARTS["texture"]] = _texture(rgb, luma, magnitude)
    return looks


def layout_looks(frames: np.ndarray) -> np.ndarray:
    """Looks with only their ``mass`` and ``edges`` layouts filled in (the other parts zero),
    the same as ``frame_looks`` gives them: all that ``layout_agreement`` compares, for
    pictures compared by nothing else (insets), at a third of the cost."""
    frames = _frames(frames)
    looks = np.zeros((len(frames), LOOK_DIM), np.float32)
    if len(frames):
        rgb = frames.astype(np.float32) / 255.0
        _layouts(_pool(rgb @ np.array([0.299, 0.587, 0.114], np.float32), _WORK), looks)
    return looks


def _frames(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"expected (n, height, width, 3) frames, got {frames.shape}")
    return frames


def _layouts(work: np.ndarray, looks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fill ``looks``' mass and edge layouts from the luma map ``work``; returns its
    gradients (x, y) and their magnitude, which the other parts are read from."""
    n = len(work)
    looks[:, PARTS["mass"]] = standardise(_pool(work, GRID).reshape(n, -1))
    gy, gx = np.gradient(work, axis=(1, 2))
    magnitude = np.hypot(gx, gy)
    looks[:, PARTS["edges"]] = standardise(_pool(magnitude, GRID).reshape(n, -1))
    return gx, gy, magnitude


def part_agreement(looks: np.ndarray, other: np.ndarray, part: str) -> np.ndarray:
    """(n,) the correlation of paired rows' ``part`` grids (``mass`` or ``edges``, both
    standardised per frame), in [-1, 1]."""
    cells = PARTS[part]
    return np.einsum("ij,ij->i", np.asarray(looks)[:, cells],
                     np.asarray(other)[:, cells]) / (cells.stop - cells.start)


def layout_agreement(looks: np.ndarray, other: np.ndarray) -> np.ndarray:
    """(n,) how alike the coarse layouts of paired rows are: the mean of the correlations of
    their mass and edge grids, in [-1, 1].  A crop of up to a fifth of the frame, a
    recolouring or a re-encode keeps it high; a mirror image reverses it."""
    return (part_agreement(looks, other, "mass") + part_agreement(looks, other, "edges")) / 2


def luma_spread(looks: np.ndarray) -> np.ndarray:
    """Each frame's luma spread (standard deviation of luma, 0-1), read from its looks."""
    return np.asarray(looks)[:, PARTS["texture"].start + _LUMA_SPREAD]


#: Where ``_texture`` puts the luma spread among its numbers.
_LUMA_SPREAD = 2


def mirror_looks(looks: np.ndarray) -> np.ndarray:
    """The looks of the same frames flipped left to right, without describing them again.

    Grids are reversed along x, line directions swap their diagonals, the camera's
    horizontal shift changes sign.
    """
    looks = np.asarray(looks, dtype=np.float32)
    n = len(looks)
    out = np.empty_like(looks)
    half = GRID // 2
    out[:, PARTS["colour"]] = looks[:, PARTS["colour"]].reshape(n, half, half, 2)[
        :, :, ::-1].reshape(n, -1)
    for part in ("mass", "edges"):
        out[:, PARTS[part]] = looks[:, PARTS[part]].reshape(n, GRID, GRID)[
            :, :, ::-1].reshape(n, -1)
    lines = looks[:, PARTS["lines"]].reshape(n, half, half, 4)[:, :, ::-1]
    out[:, PARTS["lines"]] = lines[..., [0, 3, 2, 1]].reshape(n, -1)
    motion = looks[:, PARTS["motion"]]
    shift = motion[:, :2] * np.array([-1.0, 1.0], np.float32)
    change = motion[:, 2:].reshape(n, half, half)[:, :, ::-1].reshape(n, -1)
    out[:, PARTS["motion"]] = np.concatenate([shift, change], axis=1)
    out[:, PARTS["texture"]] = looks[:, PARTS["texture"]]
    return out


def frame_luma(frame: np.ndarray | None) -> np.ndarray:
    """(1, h, w) luma in [0, 1] of one uint8 RGB frame."""
    rgb = np.asarray(frame, dtype=np.float32)[None] / 255.0
    return rgb @ np.array([0.299, 0.587, 0.114], np.float32)


#: Cells of at most this many pixels are summed as strided slices of the picture, one slice
#: per pixel of a cell: 3-4 times faster than a mean over the reshaped cell axes (the half-
#: resolution copy ``_texture`` reads was a third of the time of ``frame_looks``).
_SLICED_CELL = 16


def _pool(images: np.ndarray, side: int) -> np.ndarray:
    """(n, h, w, ...) → (n, side, side, ...) cell means; cells take whole pixels, edges
    trimmed."""
    n, h, w = images.shape[:3]
    ch, cw = max(1, h // side), max(1, w // side)
    if h < side or w < side:  # tiny frames: repeat pixels up to the grid
        images = np.repeat(np.repeat(images, -(-side // h), axis=1), -(-side // w), axis=2)
        n, h, w = images.shape[:3]
        ch, cw = h // side, w // side
    trimmed = images[:, : ch * side, : cw * side]
    if ch * cw <= _SLICED_CELL:
        total = sum(trimmed[:, dy::ch, dx::cw] for dy in range(ch) for dx in range(cw))
        return np.asarray(total) / (ch * cw)
    return trimmed.reshape(n, side, ch, side, cw, *images.shape[3:]).mean(axis=(2, 4))


def standardise(rows: np.ndarray) -> np.ndarray:
    """Zero mean, unit deviation per row; flat rows stay zero."""
    centred = rows - rows.mean(axis=1, keepdims=True)
    spread = centred.std(axis=1, keepdims=True)
    return np.divide(centred, spread, out=np.zeros_like(centred), where=spread > 1e-6)


def _line_directions(gx: np.ndarray, gy: np.ndarray, magnitude: np.ndarray) -> np.ndarray:
    """Magnitude-weighted histogram of edge directions in 4 bins per cell of a 4 × 4 grid.

    An edge runs across its gradient: a horizontal line has a vertical gradient.  Bin 0:
    horizontal lines, 1: rising diagonals (/), 2: vertical, 3: falling diagonals (\\).
    """
    n = len(gx)
    angle = np.mod(np.arctan2(gy, gx) + np.pi / 2, np.pi)  # direction of the line, [0, π)
    bins = np.floor(angle / (np.pi / 4) + 0.5).astype(np.int64) % 4
    half = GRID // 2
    hist = np.stack([_pool(np.where(bins == b, magnitude, 0.0), half) for b in range(4)],
                    axis=-1).reshape(n, -1)
    total = hist.sum(axis=1, keepdims=True)
    return np.divide(hist, total, out=np.zeros_like(hist), where=total > 1e-9)


def _motion(work: np.ndarray, before: np.ndarray | None) -> np.ndarray:
    """Camera shift (phase correlation) and residual change layout of each frame against the
    one before it; zeros where there is none."""
    n, side, _ = work.shape
    half = GRID // 2
    out = np.zeros((n, 2 + half * half), np.float32)
    window = np.outer(np.hanning(side), np.hanning(side)).astype(np.float32)
    for i in range(n):
        prior = work[i - 1] if i > 0 else before
        if prior is None:
            continue
        dy, dx = _phase_shift(prior * window, work[i] * window)
        shifted = np.roll(prior, (dy, dx), axis=(0, 1))
        change = _pool(np.abs(work[i] - shifted)[None], half).reshape(-1)
        total = change.sum()
        out[i, 0], out[i, 1] = dx / side, dy / side
        if total > 1e-6:
            out[i, 2:] = change / total
    return out


def _texture(rgb: np.ndarray, luma: np.ndarray, magnitude: np.ndarray) -> np.ndarray:
    """Per frame: edge density, fine detail, luma spread, saturation, edge contrast, near-white
    share, colour entropy (bits, of a 4 × 4 × 4 colour histogram) and flat share, each a plain
    number.  Read at half resolution: as telling, at a quarter of the cost."""
    n = len(rgb)
    side = max(1, min(rgb.shape[1], rgb.shape[2]) // 2)
    small = _pool(rgb, side)
    half = small @ np.array([0.299, 0.587, 0.114], np.float32)
    detail = np.abs(half - _smooth(half)).mean(axis=(1, 2))
    gy, gx = np.gradient(half, axis=(1, 2))
    gradient = np.hypot(gx, gy).reshape(n, -1)
    typical, strong = np.percentile(gradient, [50, 95], axis=1)
    contrast = strong / (typical + 0.002)
    flat = (gradient < 0.004).mean(axis=1)
    r, g, b = small[..., 0], small[..., 1], small[..., 2]
    saturation = (np.maximum(np.maximum(r, g), b) - np.minimum(np.minimum(r, g), b)).mean(
        axis=(1, 2))
    white = (half > 0.9).mean(axis=(1, 2))
    codes = (np.minimum((r * 4).astype(np.int64), 3) * 16 + np.minimum((g * 4).astype(
        np.int64), 3) * 4 + np.minimum((b * 4).astype(np.int64), 3)).reshape(n, -1)
    counts = np.stack([np.bincount(c, minlength=64) for c in codes]).astype(np.float64)
    share = counts / counts.sum(axis=1, keepdims=True)
    logs = np.log2(share, out=np.zeros_like(share), where=share > 0)
    entropy = -(share * logs).sum(axis=1)
    return np.stack([magnitude.mean(axis=(1, 2)) * _WORK, detail, luma.std(axis=(1, 2)),
                     saturation, contrast, white, entropy, flat], axis=1).astype(np.float32)


def _smooth(images: np.ndarray) -> np.ndarray:
    """3 × 3 box mean (edges replicated): the picture without its finest detail."""
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1)), mode="edge")
    h, w = images.shape[1:]
    return sum(padded[:, dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3)) / 9.0


def _phase_shift(a: np.ndarray, b: np.ndarray) -> tuple[int, int]:
    """The whole-pixel (dy, dx) that best moves ``a`` onto ``b``."""
    fa, fb = np.fft.rfft2(a), np.fft.rfft2(b)
    cross = fb * np.conj(fa)
    cross /= np.maximum(np.abs(cross), 1e-9)
    surface = np.fft.irfft2(cross, s=a.shape)
    dy, dx = np.unravel_index(int(np.argmax(surface)), surface.shape)
    h, w = a.shape
    return int(dy - h if dy > h // 2 else dy), int(dx - w if dx > w // 2 else dx)
