"""Visual homages end to end: cel-shaded re-renderings of generated footage are found where
they are (the one the copy matcher misses as a ``visual_homage``), a plain copy beside them
stays a ``visual_copy``."""

from __future__ import annotations

import pytest

from homage.config import Settings
from homage.pipeline import compare_files
from homage.types import Match, QueryResult
from synth_video import Footage, cel, edited, excerpt, mirror, read_all, shots, write_video


@pytest.fixture(scope="module")
def compared(footage: Footage, tmp_path_factory: pytest.TempPathFactory) -> QueryResult:
    root = tmp_path_factory.mktemp("homages")
    ref_frames = read_all(footage.ref)
    query = write_video(root / "restaged.mp4", [
        *shots([15], 2.0),
        *edited(excerpt(ref_frames, 4.5, 8.0), cel),            # 2.0-5.5 s ← 4.5-8.0 s
        *shots([16], 2.0),
        *edited(excerpt(ref_frames, 16.5, 19.5), cel, mirror),  # 7.5-10.5 s ← 16.5-19.5 s
        *shots([17], 2.0),
        *excerpt(ref_frames, 8.5, 11.5),                        # 12.5-15.5 s ← 8.5-11.5 s
    ], crf=23)
    return compare_files(query, footage.ref, settings=Settings(kinds=("copy", "homage")))


RESTAGED = (((2.0, 5.5), (4.5, 8.0), False), ((7.5, 10.5), (16.5, 19.5), True))
"""Query range, reference range and mirroring of the two re-rendered stretches."""


def _found(compared: QueryResult, kinds: set[str]) -> list[Match | None]:
    """For each re-rendered stretch, the best match of ``kinds`` lying on it, if any."""
    best = []
    for (q0, q1), (r0, r1), _ in RESTAGED:
        hits = [m for m in compared.matches if m.kind in kinds and m.query_start < q1
                and m.query_end > q0 and m.reference_start < r1 and m.reference_end > r0]
        best.append(max(hits, key=lambda m: m.score) if hits else None)
    return best


def test_re_renderings_are_found_at_the_right_place(compared: QueryResult) -> None:
    for match, ((q0, q1), (r0, r1), _) in zip(_found(compared, {"visual_copy",
                                                                "visual_homage"}),
                                               RESTAGED, strict=True):
        assert match is not None, compared.matches
        assert abs(match.query_start - q0) <= 1.0 and abs(match.query_end - q1) <= 1.0
        shown = min(match.reference_end, r1) - max(match.reference_start, r0)
        assert shown >= 0.5 * (match.reference_end - match.reference_start)  # mostly the model


def test_the_mirrored_re_rendering_is_a_mirrored_homage(compared: QueryResult) -> None:
    """The copy matcher does not line this one up; the shot matcher finds it."""
    match = _found(compared, {"visual_homage"})[1]
    assert match is not None, compared.matches
    assert match.transform.mirrored and match.transform.aspects
    assert 0.5 <= match.score <= 1.0


def test_every_re_rendering_is_labelled_a_homage(compared: QueryResult) -> None:
    assert all(m is not None for m in _found(compared, {"visual_homage"}))


def test_the_plain_copy_stays_a_copy_and_nothing_else_is_reported(
        compared: QueryResult) -> None:
    copies = [m for m in compared.matches if m.kind == "visual_copy"]
    assert any(12.0 <= m.query_start <= 13.0 and abs(m.reference_start - 8.5) <= 1.0
               for m in copies), compared.matches
    # every match lies on one of the three borrowed stretches
    borrowed = ((2.0, 5.5), (7.5, 10.5), (12.5, 15.5))
    for m in compared.matches:
        middle = (m.query_start + m.query_end) / 2
        assert any(q0 - 0.5 <= middle <= q1 + 0.5 for q0, q1 in borrowed), m


def test_homage_kind_alone_reports_no_copies(footage: Footage) -> None:
    result = compare_files(footage.fresh, footage.ref, settings=Settings(kinds=("homage",)))
    assert all(m.kind == "visual_homage" for m in result.matches)
    assert result.matches == ()
