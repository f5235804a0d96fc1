"""A streaming shot-boundary detector over grey thumbnails (one per decoded frame).

Why not PySceneDetect: it wants whole frames through OpenCV, and pulls a second ``cv2``; here
the decoder already hands over a 18×32 luma thumbnail per frame for free, and the two signals
that matter are cheap on it:

* a **cut** is a frame whose difference to its predecessor stands far above the recent
  typical difference (an adaptive ratio, as PySceneDetect's ``AdaptiveDetector`` does), and
  above an absolute floor so that a still shot's noise never counts;
* a **gradual transition** (fade, dissolve) changes little per frame but a lot over half a
  second: the difference to the frame ``gradual_seconds`` back is large while no cut was
  seen in that window.  It is placed at the middle of the window.
"""

from __future__ import annotations

from collections import deque

import numpy as np


class CutDetector:
    """Feed thumbnails in display order with :meth:`update`; read :attr:`cuts` (seconds).

    Parameters
    ----------
    ratio:
        A cut's frame difference is at least this many times the recent median difference.
    floor:
        ...and at least this mean absolute luma difference (0-255 scale).
    gradual_floor:
        Mean absolute luma difference over ``gradual_seconds`` that marks a fade/dissolve.
    min_shot_seconds:
        Boundaries closer than this to the previous one are ignored (flashes, strobes).
    """

    def __init__(self, *, ratio: float = 3.0, floor: float = 12.0, gradual_floor: float = 30.0,
                 gradual_seconds: float = 0.5, min_shot_seconds: float = 0.6,
                 history: int = 24) -> None:
        self.ratio = ratio
        self.floor = floor
        self.gradual_floor = gradual_floor
        self.gradual_seconds = gradual_seconds
        self.min_shot_seconds = min_shot_seconds
        self.cuts: list[float] = []
        self._recent: deque[float] = deque(maxlen=history)
        self._window: deque[tuple[float, np.ndarray]] = deque()
        self._previous: np.ndarray | None = None
        #: last frame that looked like a cut, reported or not (a flash's return is one)
        self._last_change: float | None = None
        #: (start of the first window, end of the last) of a gradual change under way
        self._transition: tuple[float, float] | None = None

    def update(self, thumbnail: np.ndarray, t: float) -> bool:
        """Take the next frame's thumbnail; True when a boundary was found at this frame: a
        cut here, or a gradual transition that has just ended (placed at its middle)."""
        current = thumbnail.astype(np.int16)
        found = False
        if self._previous is not None:
            diff = float(np.abs(current - self._previous).mean())
            typical = float(np.median(self._recent)) if self._recent else 0.0
            if diff >= self.floor and diff >= self.ratio * max(typical, 1.0):
                self._last_change = t
                self._transition = None
                found = self._mark(t)
            elif self._gradual(current, t):
                first = self._window[0][0] if self._transition is None else self._transition[0]
                self._transition = (first, t)
            elif self._transition is not None and (
                    t - self._transition[1] > self.gradual_seconds):
                found = self._mark(sum(self._transition) / 2)
                self._transition = None
            self._recent.append(diff)
        self._previous = current
        self._window.append((t, current))
        while self._window and self._window[0][0] < t - self.gradual_seconds:
            self._window.popleft()
        return found

    def _gradual(self, current: np.ndarray, t: float) -> bool:
        if not self._window or t - self._window[0][0] < 0.8 * self.gradual_seconds:
            return False
        if self._last_change is not None and self._last_change >= self._window[0][0]:
            return False
        return float(np.abs(current - self._window[0][1]).mean()) >= self.gradual_floor

    def _mark(self, t: float) -> bool:
        if self.cuts and t - self.cuts[-1] < self.min_shot_seconds:
            return False
        if not self.cuts and t < self.min_shot_seconds:
            return False
        self.cuts.append(t)
        return True


def shot_spans(cuts: list[float] | np.ndarray, duration: float) -> np.ndarray:
    """(n, 2) float64 ``[start, end)`` of each shot given the cut times and the duration."""
    inner = [c for c in sorted(cuts) if 0.0 < c < duration]
    edges = np.asarray([0.0, *inner, max(duration, 0.0)], dtype=np.float64)
    return np.stack([edges[:-1], edges[1:]], axis=1)
