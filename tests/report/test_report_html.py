"""The HTML report: its pictures (aligned frame pairs, warped spectrograms, boxes), its
structure (timeline, evidence, legend, sortable summary), escaping, missing files, and the
``--report`` option of ``scan`` and ``compare`` on generated media."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import re
import shutil
from pathlib import Path

import av
import numpy as np
import pytest
from click.testing import CliRunner

from conftest import Corpus
from homage.cli.main import cli
from homage.report.evidence import MediaSide, match_evidence
from homage.report.html import _lanes, _ticks, render_report
from homage.report.pictures import (
    SpectrogramSettings,
    aligned_times,
    draw_box,
    frame_count,
    log_spectrogram,
    warp_spectrogram,
)
from homage.report.words import timecode
from homage.types import Match, QueryResult, Transform
from html_tree import Node, parse
from synth_video import Footage

HOSTILE = 'q <img src=x onerror="alert(1)"> <script>alert(2)<script>'


def a_match(kind: str = "visual_copy", q: tuple[float, float] = (10.0, 20.0),
            r: tuple[float, float] = (100.0, 120.0), score: float = 0.8, **transform) -> Match:
    return Match(kind, "/refs/film.mp4", q[0], q[1], r[0], r[1], score, Transform(**transform))


def decode(uri: str) -> np.ndarray:
    """A ``data:image/...;base64`` URI back to RGB pixels."""
    payload = base64.b64decode(uri.split(",", 1)[1])
    with av.open(io.BytesIO(payload)) as container:
        return next(container.decode(video=0)).to_ndarray(format="rgb24")


def articles(tree: Node) -> list[Node]:
    return tree.find_all("article", cls="match")


def data_images(node: Node, mime: str = "image/jpeg") -> list[Node]:
    return [img for img in node.find_all("img")
            if img.attrs.get("src", "").startswith(f"data:{mime};base64,")]


# ------------------------------------------------------------------------ pure pictures


def test_frame_pairs_are_aligned_through_the_speed() -> None:
    pairs = aligned_times(a_match(speed=2.0), 4)
    assert [q for q, _ in pairs] == pytest.approx([11.25, 13.75, 16.25, 18.75])
    assert [r for _, r in pairs] == pytest.approx([102.5, 107.5, 112.5, 117.5])
    assert [frame_count(d) for d in (1, 4, 8, 30, 3600)] == [3, 3, 4, 5, 5]
    assert len(aligned_times(a_match(q=(0, 2)))) == 3


def test_draw_box_outlines_the_region_inside_the_frame() -> None:
    frame = np.zeros((100, 200, 3), np.uint8)
    boxed = draw_box(frame, (0.25, 0.1, 0.75, 1.0), colour=(255, 214, 0), thickness=2)
    assert frame.max() == 0  # a copy
    assert tuple(boxed[10, 100]) == (255, 214, 0) and tuple(boxed[11, 100]) == (255, 214, 0)
    assert tuple(boxed[99, 100]) == (255, 214, 0)  # the bottom edge stays inside the frame
    assert tuple(boxed[50, 50]) == (255, 214, 0) and tuple(boxed[50, 149]) == (255, 214, 0)
    assert boxed[50, 100].max() == 0 and boxed[5, 100].max() == 0 and boxed[50, 20].max() == 0


def _peak_row(spec: np.ndarray) -> int:
    return int(np.argmax(spec.mean(axis=1)))


def test_spectrogram_rows_are_log_frequency_and_warping_moves_pitch_and_time() -> None:
    s = SpectrogramSettings()
    t = np.arange(2 * s.sample_rate) / s.sample_rate
    a4 = log_spectrogram(np.sin(2 * np.pi * 440 * t), s)
    a5 = log_spectrogram(np.sin(2 * np.pi * 880 * t), s)
    assert a4.shape[0] == s.bins
    assert _peak_row(a5) - _peak_row(a4) == s.bins_per_octave
    up = warp_spectrogram(a4, pitch_semitones=12.0, columns=100,
                          bins_per_octave=s.bins_per_octave)
    assert up.shape == (s.bins, 100)
    assert _peak_row(up) == _peak_row(a5)
    # a rising tone stretched to twice as many columns rises half as fast
    sweep = np.zeros((s.bins, 50), np.float32)
    sweep[np.arange(50), np.arange(50)] = 1.0
    stretched = warp_spectrogram(sweep, pitch_semitones=0.0, columns=99,
                                 bins_per_octave=s.bins_per_octave)
    assert int(np.argmax(stretched[:, 98])) == 49 and int(np.argmax(stretched[:, 50])) == 25


def test_timeline_axis_and_lanes() -> None:
    assert _ticks(20.0) == [0, 5, 10, 15, 20]
    assert _ticks(241.3) == [0, 60, 120, 180, 240]
    assert len(_ticks(3 * 3600.0)) <= 6
    overlapping = [a_match(q=(0, 10)), a_match(q=(5, 8)), a_match(q=(9, 12)), a_match(q=(10, 11))]
    assert _lanes(overlapping) == [0, 1, 1, 0]


# ---------------------------------------------------------------- structure, no media


def _render_without_media(tmp_path: Path) -> tuple[str, Node, QueryResult]:
    result = QueryResult(str(tmp_path / f"{HOSTILE}.mp4"), 60.0, (
        a_match(q=(2.0, 9.0), r=(5.0, 12.0), score=0.91, mirrored=True),
        dataclasses.replace(
            a_match("audio_sample", q=(5.0, 11.4), r=(10.0, 18.0), score=0.62, speed=1.25,
                    tempo=1.25, pitch_semitones=3.86),
            also_at=((40.0, 48.0),)),
        a_match("visual_homage", q=(30.0, 34.0), r=(1.0, 5.0), score=0.55,
                region=(0.0, 0.125, 1.0, 0.875)),
    ))
    evidence = [match_evidence(m, MediaSide(result.query, exists=False),
                               MediaSide(m.reference, exists=False)) for m in result.matches]
    text = render_report([(result, evidence)])
    return text, parse(text), result


def test_report_lists_every_match_on_a_timeline_linked_to_its_evidence(tmp_path: Path) -> None:
    _, tree, result = _render_without_media(tmp_path)
    [section] = tree.find_all("section", cls="query")
    segments = section.find_all("a", cls="seg")
    assert len(segments) == len(result.matches) == len(articles(tree))
    for segment, match in zip(segments, result.matches, strict=True):
        assert f"k-{match.kind}" in segment.classes
        target = tree.by_id(segment.attrs["href"].lstrip("#"))
        assert target is not None and target.tag == "article"
        assert f"k-{match.kind}" in target.classes
    lefts = [float(re.search(r"left:([\d.]+)%", s.attrs["style"]).group(1)) for s in segments]
    assert lefts == pytest.approx([100 * 2 / 60, 100 * 5 / 60, 100 * 30 / 60], abs=0.01)
    words = [a.find_all("dd", cls="transform")[0].text for a in articles(tree)]
    assert words == ["mirrored", "sped up ×1.25 (+3.9 semitones)",
                     "picture at 0–100% × 12–88%"]


def test_a_repeating_reference_shows_its_other_places(tmp_path: Path) -> None:
    _, tree, _ = _render_without_media(tmp_path)
    said = [[(dt.text, dd.text) for dt, dd in zip(a.find_all("dt"), a.find_all("dd"),
                                                  strict=True) if dt.text == "also at"]
            for a in articles(tree)]
    assert said == [[], [("also at", f"{timecode(40.0)}–{timecode(48.0)}")], []]


def test_report_has_a_legend_and_a_sortable_summary(tmp_path: Path) -> None:
    text, tree, result = _render_without_media(tmp_path)
    legend = tree.by_id("legend")
    assert legend is not None
    assert {"k-visual_copy", "k-visual_homage", "k-audio_sample"} <= {
        c for s in legend.find_all("span", cls="swatch") for c in s.classes}
    assert "Score" in legend.text and "threshold" in legend.text
    [table] = tree.find_all("table", cls="sortable")
    heads = [th.text for th in table.find_all("th")]
    assert {"score", "kind", "reference"} <= set(heads)
    assert all(th.attrs.get("data-type") in ("number", "text") for th in table.find_all("th"))
    rows = table.find_all("tbody")[0].find_all("tr")
    assert len(rows) == len(result.matches)
    score_column = heads.index("score")
    assert [r.find_all("td")[score_column].attrs["data-value"] for r in rows] == [
        "0.9100", "0.6200", "0.5500"]
    assert "table.sortable" in text  # the sorting script


def test_report_escapes_file_names(tmp_path: Path) -> None:
    text, tree, _ = _render_without_media(tmp_path)
    assert len(tree.find_all("script")) == 1  # the report's own, nothing from the name
    assert not [img for img in tree.find_all("img") if img.attrs.get("src") == "x"]
    assert "<script>alert" not in text and "<img src=x" not in text
    [heading] = tree.find_all("section", cls="query")[0].find_all("h2")
    assert heading.text == f"{HOSTILE}.mp4"  # shown as text, exactly
    policy = [m.attrs["content"] for m in tree.find_all("meta")
              if m.attrs.get("http-equiv") == "Content-Security-Policy"]
    assert policy and "script-src 'sha256-" in policy[0] and "default-src 'none'" in policy[0]


def test_report_is_self_contained_responsive_and_printable(tmp_path: Path) -> None:
    text, tree, _ = _render_without_media(tmp_path)
    for node in tree.iter():
        for attr in ("src", "href"):
            value = node.attrs.get(attr, "")
            assert not re.match(r"(https?:)?//", value), (node.tag, value)
    assert not tree.find_all("link")
    assert any(m.attrs.get("name") == "viewport" for m in tree.find_all("meta"))
    assert "@media print" in text and "@media (max-width:600px)" in text


def test_missing_media_still_renders_and_says_so(tmp_path: Path) -> None:
    _, tree, _ = _render_without_media(tmp_path)
    notes = [n.text for n in tree.find_all("p", cls="note")]
    assert any("query file not found" in n and "unavailable" in n for n in notes)
    assert any("reference file not found" in n for n in notes)
    visual = articles(tree)[0]
    assert len(visual.find_all("a", cls="pair")) == frame_count(7.0)
    assert not data_images(visual) and visual.find_all("div", cls="missing")
    assert not tree.find_all("video") and not tree.find_all("audio")


# ------------------------------------------------------------- generated media, end to end


def _spectrogram_rows(ev) -> tuple[np.ndarray, np.ndarray]:
    s = ev.spectrograms
    assert s is not None and s.query is not None and s.reference is not None
    return decode(s.query.uri).mean(axis=2), decode(s.reference.uri).mean(axis=2)


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def test_compare_report_of_a_sped_up_sample(corpus: Corpus, tmp_path: Path) -> None:
    query = tmp_path / f"{HOSTILE}.wav"
    shutil.copy(corpus.queries["speed_1.25"], query)
    out, data = tmp_path / "report.html", tmp_path / "result.json"
    result = CliRunner().invoke(cli, ["compare", str(query), str(corpus.refs["a"]),
                                      "--report", str(out), "--json", str(data)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    [found] = json.loads(data.read_text())["matches"]
    tree = parse(out.read_text())
    [article] = articles(tree)
    assert "k-audio_sample" in article.classes
    [figure] = article.find_all("figure", cls="spectra")
    assert len(data_images(figure)) == 2
    assert "warped" in figure.text and "semitones" in figure.text
    players = article.find_all("audio")
    assert [p.attrs["src"].split("#")[1] for p in players] == [
        f"t={found['query_start']:.3f},{found['query_end']:.3f}",
        f"t={found['reference_start']:.3f},{found['reference_end']:.3f}"]
    assert all(p.attrs["src"].startswith("file:///") for p in players)
    assert Path(query).resolve().as_uri() == players[0].attrs["src"].split("#")[0]
    assert tree.find_all("h2")[-1].text == query.name


def test_warped_reference_spectrogram_lines_up_with_the_query(corpus: Corpus) -> None:
    query, ref = str(corpus.queries["speed_1.25"]), str(corpus.refs["a"])
    sides = MediaSide(query, True, has_audio=True), MediaSide(ref, True, has_audio=True)
    found = a_match("audio_sample", q=(5.0, 11.4), r=(10.0, 18.0), speed=1.25, tempo=1.25,
                    pitch_semitones=12 * np.log2(1.25))
    as_is = a_match("audio_sample", q=(5.0, 11.4), r=(10.0, 16.4))
    q_rows, warped = _spectrogram_rows(match_evidence(found, *sides))
    _, plain = _spectrogram_rows(match_evidence(as_is, *sides))
    assert _correlation(q_rows, warped) > 0.8
    assert _correlation(q_rows, warped) > _correlation(q_rows, plain) + 0.2


@pytest.mark.parametrize("mirrored", [False, True])
def test_a_closer_framing_is_boxed_on_the_reference_frame(footage: Footage,
                                                          mirrored: bool) -> None:
    """The box sits where the query's picture lies in the reference (bottom left), on the
    reference as shown: turned with it when the homage is mirrored."""
    closer = Match("visual_homage", str(footage.ref), 1.0, 3.0, 5.0, 7.0, 0.9,
                   Transform(mirrored=mirrored, aspects=("composition",),
                             reference_region=(0.0, 0.3, 0.7, 1.0)))
    sides = [MediaSide(str(path), exists=True, has_video=True)
             for path in (footage.query, footage.ref)]
    evidence = match_evidence(closer, *sides)
    assert evidence.frames
    for pair in evidence.frames:
        shown = decode(pair.reference.uri).astype(int)
        h, w = shown.shape[:2]
        yellow = (np.abs(shown - (255, 214, 0)).sum(axis=2) < 90)
        box_top, inside = round(0.3 * h) + 1, slice(round(0.35 * h), round(0.95 * h))
        near, far = (slice(0, 3), slice(w - 3, w)) if not mirrored else (slice(w - 3, w),
                                                                         slice(0, 3))
        assert yellow[inside, near].any(axis=1).mean() > 0.9 and yellow[inside, far].mean() < 0.1
        assert yellow[box_top, w // 4 if not mirrored else 3 * w // 4]
        query = decode(pair.query.uri).astype(int)
        assert (np.abs(query - (255, 214, 0)).sum(axis=2) < 30).mean() < 0.05  # no box there


@pytest.mark.slow
def test_scan_report_of_copied_footage(footage: Footage, tmp_path: Path) -> None:
    """Index the footage, scan the query with ``--report``, and check every visual match
    shows aligned frame pairs, the mirroring and the letterbox region."""
    runner = CliRunner()
    base = ["--library", str(tmp_path / "lib"), "--kinds", "copy"]
    indexed = runner.invoke(cli, [*base, "index", str(footage.ref), str(footage.other)],
                            catch_exceptions=False)
    assert indexed.exit_code == 0, indexed.output
    out, data = tmp_path / "report.html", tmp_path / "scan.json"
    scanned = runner.invoke(cli, [*base, "scan", str(footage.query), "--report", str(out),
                                  "--json", str(data)], catch_exceptions=False)
    assert scanned.exit_code == 0, scanned.output
    matches = json.loads(data.read_text())["matches"]
    assert len(matches) == 3
    tree = parse(out.read_text())
    assert len(tree.find_all("a", cls="seg")) == 3
    for article, match in zip(articles(tree), matches, strict=True):
        pairs = article.find_all("a", cls="pair")
        assert 3 <= len(pairs) <= 5
        for pair in pairs:
            assert len(data_images(pair)) == 2
            caption = [span.text for span in pair.find_all("span")]
            q_time, r_time = (sum(float(x) * 60 ** i for i, x in enumerate(reversed(
                c.split(":")))) for c in caption)
            expected = match["reference_start"] + (q_time - match["query_start"]) * \
                match["transform"]["speed"]
            assert r_time == pytest.approx(expected, abs=0.15)
        videos = article.find_all("video")
        assert len(videos) == 2 and all(v.attrs["src"].startswith("file:///") for v in videos)
        if match["transform"]["mirrored"]:
            assert "mirrored" in article.text
        if "region" in match["transform"]:
            _, top, _, _ = match["transform"]["region"]
            frame = decode(data_images(pairs[0])[0].attrs["src"])
            row = frame[round(top * frame.shape[0]) + 1, 10:-10].astype(int)
            assert (row[:, 0] > 170).mean() > 0.8 and (row[:, 2] < 110).mean() > 0.8  # yellow


def test_a_visual_match_names_what_each_shot_shows(footage: Footage) -> None:
    """The ImageNet classifier's likeliest classes for both shots, in the evidence and the
    page: words for why two shots in different media were paired."""
    homage = Match(kind="visual_homage", reference=str(footage.ref), query_start=2.0,
                   query_end=6.0, reference_start=5.0, reference_end=9.0, score=0.8,
                   transform=Transform(mirrored=True, aspects=("composition",)))
    query, ref = (MediaSide(str(p), exists=True, has_video=True)
                  for p in (footage.query, footage.ref))
    evidence = match_evidence(homage, query, ref)
    assert 1 <= len(evidence.query_labels) <= 3 and 1 <= len(evidence.reference_labels) <= 3
    assert all(isinstance(label, str) and label for label in evidence.reference_labels)
    page = render_report([(QueryResult(str(footage.query), 30.0, (homage,)), (evidence,))])
    shown = " ".join(p.text for p in parse(page).find_all("p", cls="labels"))
    assert "query shows" in shown and "reference shows" in shown
    assert evidence.reference_labels[0] in shown
    assert "re-staged (composition), mirrored" in page
