"""``homage.report`` and the result types: match JSON, CSV, and transforms said in words."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import pytest

from homage.report import describe_transform, timecode, write_csv, write_json
from homage.report.tabular import CSV_COLUMNS, _atomic_target
from homage.types import Match, QueryResult, Transform

MATCH_KEYS = {"kind", "reference", "query_start", "query_end", "reference_start",
              "reference_end", "score", "transform"}
TRANSFORM_KEYS = {"speed", "pitch_semitones", "tempo", "mirrored"}


def a_match(reference: str = "/music/old_record.flac", **transform: float) -> Match:
    return Match(kind="audio_sample", reference=reference, query_start=12.41234,
                 query_end=20.1, reference_start=63.0, reference_end=71.2,
                 score=0.930012345, transform=Transform(**transform))


def a_result(query: str = "new_song.mp3", matches: tuple[Match, ...] | None = None
             ) -> QueryResult:
    if matches is None:
        matches = (a_match(speed=1.0612345, pitch_semitones=1.0049, tempo=1.0612345),)
    return QueryResult(query=query, duration=62.1004, matches=matches)


def assert_match_json(data: dict) -> None:
    assert set(data) == MATCH_KEYS
    assert data["kind"] == "audio_sample"
    assert isinstance(data["reference"], str)
    for key in ("query_start", "query_end", "reference_start", "reference_end", "score"):
        assert isinstance(data[key], float)
    assert 0.0 <= data["score"] <= 1.0
    assert set(data["transform"]) == TRANSFORM_KEYS
    assert isinstance(data["transform"]["mirrored"], bool)
    for key in ("speed", "pitch_semitones", "tempo"):
        assert isinstance(data["transform"][key], float)


# ------------------------------------------------------------------------------------ JSON


def test_result_json_follows_the_contract() -> None:
    data = a_result().to_json()
    assert set(data) == {"query", "duration", "matches"}
    assert data["query"] == "new_song.mp3"
    assert data["duration"] == 62.1
    [match] = data["matches"]
    assert_match_json(match)
    assert match["query_start"] == 12.412  # times to the millisecond
    assert match["score"] == 0.93
    assert match["transform"] == {"speed": 1.0612, "pitch_semitones": 1.0, "tempo": 1.0612,
                                  "mirrored": False}


def test_write_json_single_and_list(tmp_path: Path) -> None:
    one, two = a_result("q1.mp3"), a_result("q2.mp3", matches=())
    write_json([one], tmp_path / "one.json", as_list=False)
    assert json.loads((tmp_path / "one.json").read_text("utf-8")) == one.to_json()
    write_json([one, two], tmp_path / "out" / "many.json", as_list=True)
    assert json.loads((tmp_path / "out" / "many.json").read_text("utf-8")) == [
        one.to_json(), two.to_json()]


def test_write_json_keeps_unicode_readable(tmp_path: Path) -> None:
    result = a_result("Sigur Rós – Hoppípolla.flac")
    write_json([result], tmp_path / "r.json", as_list=False)
    text = (tmp_path / "r.json").read_text("utf-8")
    assert "Sigur Rós – Hoppípolla.flac" in text
    assert json.loads(text)["query"] == result.query


def test_write_json_replaces_atomically(tmp_path: Path) -> None:
    target = tmp_path / "r.json"
    target.write_text("old")
    write_json([a_result()], target, as_list=False)
    assert json.loads(target.read_text("utf-8"))["query"] == "new_song.mp3"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # no temporary left behind


def test_atomic_target_leaves_the_old_file_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "r.csv"
    target.write_text("previous results\n")
    with pytest.raises(RuntimeError), _atomic_target(target) as handle:
        handle.write("half a fi")
        raise RuntimeError("disk on fire")
    assert target.read_text() == "previous results\n"
    assert [p.name for p in tmp_path.iterdir()] == ["r.csv"]


# ------------------------------------------------------------------------------------- CSV


def read_csv(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def test_write_csv_has_one_row_per_match(tmp_path: Path) -> None:
    first = a_result("q1.mp3", matches=(a_match(), a_match("/music/b.ogg", tempo=1.2)))
    second = a_result("q2.mp3", matches=())
    third = a_result("q3.mp3")
    write_csv([first, second, third], tmp_path / "r.csv")
    rows = read_csv(tmp_path / "r.csv")
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [r[0] for r in rows[1:]] == ["q1.mp3", "q1.mp3", "q3.mp3"]
    row = dict(zip(CSV_COLUMNS, rows[2], strict=True))
    assert row == {"query": "q1.mp3", "kind": "audio_sample", "reference": "/music/b.ogg",
                   "query_start": "12.412", "query_end": "20.1", "reference_start": "63.0",
                   "reference_end": "71.2", "score": "0.93", "speed": "1.0",
                   "pitch_semitones": "0.0", "tempo": "1.2", "mirrored": "False",
                   "region": "", "aspects": "", "also_at": "", "reference_region": ""}


def test_a_homage_says_what_it_shares_in_json_csv_and_words(tmp_path: Path) -> None:
    homage = Match(kind="visual_homage", reference="/films/akira.mkv", query_start=1.0,
                   query_end=4.0, reference_start=60.0, reference_end=63.0, score=0.8,
                   transform=Transform(mirrored=True, aspects=("composition", "motion")))
    write_csv([a_result("video.mp4", matches=(homage,))], tmp_path / "r.csv")
    row = dict(zip(CSV_COLUMNS, read_csv(tmp_path / "r.csv")[1], strict=True))
    assert (row["kind"], row["aspects"], row["mirrored"]) == (
        "visual_homage", "composition motion", "True")
    assert homage.to_json()["transform"] == {"speed": 1.0, "pitch_semitones": 0.0,
                                             "tempo": 1.0, "mirrored": True,
                                             "aspects": ["composition", "motion"]}
    assert "aspects" not in a_match().to_json()["transform"]
    assert describe_transform(homage.transform, homage.kind) == \
        "re-staged (composition, motion), mirrored"


def test_a_homage_framed_closer_says_which_part_of_the_reference_it_shows(
        tmp_path: Path) -> None:
    closer = Match(kind="visual_homage", reference="/films/akira.mkv", query_start=1.0,
                   query_end=4.0, reference_start=60.0, reference_end=63.0, score=0.8,
                   transform=Transform(aspects=("colour",),
                                       reference_region=(0.0, 0.31, 0.69, 1.0)))
    assert closer.to_json()["transform"]["reference_region"] == [0.0, 0.31, 0.69, 1.0]
    assert "reference_region" not in a_match().to_json()["transform"]
    write_csv([a_result("video.mp4", matches=(closer,))], tmp_path / "r.csv")
    row = dict(zip(CSV_COLUMNS, read_csv(tmp_path / "r.csv")[1], strict=True))
    assert row["reference_region"] == "0.0000 0.3100 0.6900 1.0000"
    assert describe_transform(closer.transform, closer.kind) == \
        "re-staged (colour), framed closer: 0–69% × 31–100% of the reference"
    cropped = dataclasses.replace(closer, kind="visual_copy",
                                  transform=Transform(reference_region=(0.1, 0.0, 0.9, 1.0)))
    assert describe_transform(cropped.transform, cropped.kind) == \
        "cropped: 10–90% × 0–100% of the reference"


def test_the_other_places_of_a_repeating_reference_go_in_json_and_csv(tmp_path: Path) -> None:
    looped = dataclasses.replace(a_match(), also_at=((15.0, 23.2), (111.0, 119.25)))
    assert looped.to_json()["also_at"] == [[15.0, 23.2], [111.0, 119.25]]
    assert "also_at" not in a_match().to_json()
    write_csv([a_result(matches=(looped,))], tmp_path / "r.csv")
    row = dict(zip(CSV_COLUMNS, read_csv(tmp_path / "r.csv")[1], strict=True))
    assert row["also_at"] == "15.000-23.200 111.000-119.250"


def test_write_csv_with_no_matches_writes_the_header(tmp_path: Path) -> None:
    write_csv([a_result(matches=())], tmp_path / "r.csv")
    assert read_csv(tmp_path / "r.csv") == [list(CSV_COLUMNS)]


@pytest.mark.parametrize("name", [
    "=HYPERLINK(\"http://evil\")", "+1+2", "-2+3", "@SUM(A1)", "\tcmd", "\r=1",
])
def test_csv_cells_are_guarded_against_formula_injection(tmp_path: Path, name: str) -> None:
    result = a_result(name, matches=(a_match(name),))
    write_csv([result], tmp_path / "r.csv")
    row = dict(zip(CSV_COLUMNS, read_csv(tmp_path / "r.csv")[1], strict=True))
    assert row["query"] == "'" + name
    assert row["reference"] == "'" + name


@pytest.mark.parametrize("name", ["<script>alert(1)</script>.mp3", "my song, live.mp3",
                                  "Ünïcødé – 日本語.flac", "quote\"d.wav"])
def test_csv_keeps_other_names_intact(tmp_path: Path, name: str) -> None:
    write_csv([a_result(name, matches=(a_match(name),))], tmp_path / "r.csv")
    row = dict(zip(CSV_COLUMNS, read_csv(tmp_path / "r.csv")[1], strict=True))
    assert row["query"] == row["reference"] == name


# ---------------------------------------------------------------------------------- words


@pytest.mark.parametrize(("transform", "words"), [
    (Transform(), "unchanged"),
    (Transform(speed=1.005, tempo=1.005, pitch_semitones=0.1), "unchanged"),
    (Transform(speed=1.06, pitch_semitones=1.0, tempo=1.06), "sped up ×1.06 (+1.0 semitones)"),
    (Transform(speed=0.8, pitch_semitones=-3.86, tempo=0.8),
     "slowed down ×0.80 (-3.9 semitones)"),
    (Transform(tempo=1.2), "tempo ×1.20 (faster)"),
    (Transform(tempo=0.85), "tempo ×0.85 (slower)"),
    (Transform(pitch_semitones=3.0), "pitched +3.0 semitones"),
    (Transform(pitch_semitones=-3.0), "pitched -3.0 semitones"),
    (Transform(tempo=1.2, pitch_semitones=-2.0), "tempo ×1.20 (faster), pitched -2.0 semitones"),
    (Transform(mirrored=True), "mirrored"),
    (Transform(speed=1.25, tempo=1.25, pitch_semitones=3.86, mirrored=True),
     "sped up ×1.25 (+3.9 semitones), mirrored"),
])
def test_describe_transform(transform: Transform, words: str) -> None:
    assert describe_transform(transform).replace("−", "-") == words


@pytest.mark.parametrize(("seconds", "text"), [
    (0.0, "0:00.0"), (5.04, "0:05.0"), (83.25, "1:23.2"), (600.0, "10:00.0"),
    (3725.5, "1:02:05.5"), (-3.0, "0:00.0"),
])
def test_timecode(seconds: float, text: str) -> None:
    assert timecode(seconds) == text


@pytest.mark.parametrize(("seconds", "text"), [(59.97, "1:00.0"), (3599.97, "1:00:00.0")])
def test_timecode_rounds_up_into_the_next_minute(seconds: float, text: str) -> None:
    assert timecode(seconds) == text
