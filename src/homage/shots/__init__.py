"""Shot boundaries: cuts and gradual transitions found in a stream of tiny grey thumbnails."""

from homage.shots.cuts import CutDetector, shot_spans

__all__ = ["CutDetector", "shot_spans"]
