"""A re-framing (the model shot closer in, off centre), end to end: found as a
``visual_homage`` at its model's moment, the right way round, saying which part of the
reference it shows."""

from __future__ import annotations

import pytest

from homage.config import Settings
from homage.pipeline import compare_files
from synth_video import Footage, closer, edited, excerpt, read_all, shots, write_video


@pytest.mark.slow
def test_a_closer_framing_is_a_homage_of_that_part_of_the_reference(
        footage: Footage, tmp_path) -> None:
    ref_frames = read_all(footage.ref)
    query = write_video(tmp_path / "closer.mp4", [
        *shots([15], 2.0),
        *edited(excerpt(ref_frames, 4.5, 8.0), closer(1.4, top=1.0, left=0.0)),
        *shots([16], 2.0),
    ], crf=23)                                                  # 2.0-5.5 s <- 4.5-8.0 s
    result = compare_files(query, footage.ref, settings=Settings(kinds=("homage",)))
    on_it = [m for m in result.matches if m.query_start < 5.5 and m.query_end > 2.0]
    assert on_it, result.matches
    best = max(on_it, key=lambda m: m.score)
    assert best.kind == "visual_homage" and not best.transform.mirrored
    assert best.reference_start < 8.0 and best.reference_end > 4.5
    region = best.transform.reference_region
    assert region is not None, best
    left, top, right, bottom = region
    assert left < 0.1 and bottom > 0.9 and right < 0.8 and top > 0.2  # bottom left, closer
