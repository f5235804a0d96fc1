"""The video-copy benchmark corpus: seeded plans, exact ground truth, faithful rendering.

The planning, truth arithmetic, geometry and manifest tests are pure and fast.  The slow test
builds a tiny corpus from ffmpeg-generated footage only (no download): its references are
frame-coded (every frame one flat grey whose level names its index), so reading a query
frame back tells which reference frame it shows.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import shutil
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from homage.bench import video_corpus as vc
from homage.bench.metrics import SegmentPair
from homage.errors import HomageError

REFS = [
    {"key": "long", "duration": 300.0, "fps": "24", "width": 1280, "height": 720},
    {"key": "pal", "duration": 60.0, "fps": "25", "width": 640, "height": 480},
    {"key": "short", "duration": 7.6, "fps": "30000/1001", "width": 720, "height": 404},
]
CLIPS = [{"source": "held", "start": 10.0, "end": 100.0, "width": 640, "height": 272}]
STILLS = ["still:a.jpg", "still:b.png"]


def _plan(seed: int, n_queries: int = 30, **kw) -> list[dict]:
    args = {
        "seed": seed,
        "n_queries": n_queries,
        "query_seconds": (30.0, 60.0),
        "max_copies": 3,
        "references": REFS,
        "clips": CLIPS,
        "stills": STILLS,
    }
    return vc.plan_queries(**{**args, **kw})


def _copies(plans: list[dict]) -> list[tuple[dict, dict, dict]]:
    return [(p, s, vc.copy_truth(p, s)) for p in plans for s in p["shots"] if s["kind"] == "copy"]


# ----------------------------------------------------------------------------- planning


def test_plans_are_seeded() -> None:
    assert _plan(0) == _plan(0)
    assert json.dumps(_plan(0)) != json.dumps(_plan(1))


def test_draw_transform_is_seeded_and_in_range() -> None:
    for family, cells in vc.CELLS.items():
        for cell in cells:
            a = vc.draw_transform(np.random.default_rng([7, 1]), family, cell)
            b = vc.draw_transform(np.random.default_rng([7, 1]), family, cell)
            assert a == b and a["family"] == family
            assert a["label"] == vc.cell_label(family, cell)
    rng = np.random.default_rng(0)
    for _ in range(200):
        speed = vc.draw_transform(rng, "speed", (1.25, 2.0))["speed"]
        assert 1.25 <= speed <= 2.0
        crop = vc.draw_transform(rng, "crop", (0.15, 0.30))
        assert max(crop["x"], crop["y"]) <= 0.30 and min(crop["x"], crop["y"]) >= 0.0
        assert 1.0 <= abs(vc.draw_transform(rng, "rotate", (5.0, 10.0))["degrees"]) <= 10.0
        assert 0.25 <= vc.draw_transform(rng, "scale", (0.25, 0.5))["factor"] <= 0.5
    assert vc.draw_transform(rng, "speed", (0.5, 0.8), extreme=True)["speed"] == 0.5
    assert vc.draw_transform(rng, "speed", (1.25, 2.0), extreme=True)["speed"] == 2.0
    crop = vc.draw_transform(rng, "crop", (0.15, 0.30), extreme=True)
    assert max(crop["x"], crop["y"]) == 0.30


def test_every_cell_negatives_and_hard_cases_exist() -> None:
    for seed in range(3):
        plans = _plan(seed, n_queries=100, query_seconds=(30.0, 120.0), max_copies=5)
        negatives = [p for p in plans if not any(s["kind"] == "copy" for s in p["shots"])]
        assert len(negatives) >= 0.2 * len(plans)
        labels = {label for _, _, t in _copies(plans) for label in t["labels"]}
        for family, cells in vc.CELLS.items():
            for cell in cells:
                assert vc.cell_label(family, cell) in labels, (seed, family, cell)
        assert {"combo:none", "combo:single", "combo:multi"} <= labels
        assert {f"length:{a:g}-{b:g}" for a, b in vc.LENGTH_BINS} <= labels
        params = [t for _, s, _ in _copies(plans) for t in s["transforms"]]
        assert {0.5, 2.0} <= {t["speed"] for t in params if t["family"] == "speed"}
        assert 0.25 in {t["factor"] for t in params if t["family"] == "scale"}
        assert 10.0 in {abs(t["degrees"]) for t in params if t["family"] == "rotate"}
        assert 0.30 in {max(t["x"], t["y"]) for t in params if t["family"] == "crop"}
        assert {r["key"] for r in REFS} == {t["reference"] for _, _, t in _copies(plans)}


def test_families_can_be_restricted() -> None:
    plans = _plan(0, families=("speed", "flip"))
    used = {f for _, _, t in _copies(plans) for f in t["transforms"]}
    assert used == {"speed", "flip"}


def test_query_layout_is_exact() -> None:
    """Shots tile each query frame-exactly; copies stay inside their reference."""
    refs = {r["key"]: r for r in REFS}
    for plan in _plan(4, n_queries=40):
        fps = plan["fps"]
        offset = 0
        for shot in plan["shots"]:
            assert shot["query_start_frame"] == offset
            assert shot["frames"] >= 1
            offset += shot["frames"]
        assert offset == plan["frames"]
        assert plan["duration"] == pytest.approx(plan["frames"] / fps, abs=1e-6)
        assert 30.0 - 1 / fps <= plan["duration"] <= 60.0 + 1 / fps
        assert plan["width"] % 2 == 0 and plan["height"] % 2 == 0
        copies = [s for s in plan["shots"] if s["kind"] == "copy"]
        assert sum(s["frames"] for s in copies) <= 0.6 * plan["frames"] + 1
        spans: dict[str, list[tuple[float, float]]] = {}
        for shot in copies:
            truth = vc.copy_truth(plan, shot)
            speed = shot["content"]["speed"]
            q_len = truth["query_end"] - truth["query_start"]
            assert 1.0 - 1e-9 <= q_len <= 20.0 + 1 / fps
            assert truth["query_start"] == pytest.approx(shot["query_start_frame"] / fps, abs=1e-6)
            r_len = truth["reference_end"] - truth["reference_start"]
            assert r_len == pytest.approx(q_len * speed, abs=2e-6)
            ref = refs[truth["reference"]]
            assert 0.0 < truth["reference_start"] < truth["reference_end"] < ref["duration"]
            ref_fps = Fraction(ref["fps"])
            on_grid = truth["reference_start"] * ref_fps
            assert abs(on_grid - round(on_grid)) < 1e-4  # starts on a reference frame
            spans.setdefault(truth["reference"], []).append(
                (truth["reference_start"], truth["reference_end"])
            )
        for ranges in spans.values():  # one query never copies a stretch twice
            ranges.sort()
            assert all(a[1] <= b[0] + 1e-6 for a, b in itertools.pairwise(ranges))


def test_truth_arithmetic_by_hand() -> None:
    """A 2x copy of reference frames 240.. (24 fps) placed after a 2 s shot at 25 fps."""
    plan = {"fps": 25}
    shot = {
        "index": 1,
        "kind": "copy",
        "frames": 100,
        "query_start_frame": 50,
        "content": {"source": "r", "frame": 240, "fps": "24", "speed": 2.0},
        "transforms": [{"family": "speed", "label": "speed:x1.25-2", "speed": 2.0}],
        "length_bin": [3.0, 8.0],
    }
    truth = vc.copy_truth(plan, shot)
    assert (truth["query_start"], truth["query_end"]) == (2.0, 6.0)
    assert (truth["reference_start"], truth["reference_end"]) == (10.0, 18.0)
    assert truth["labels"] == ["speed:x1.25-2", "length:3-8", "combo:single"]
    shot["content"] = {**shot["content"], "speed": 0.5, "fps": "30000/1001", "frame": 300}
    shot["transforms"] = []
    truth = vc.copy_truth(plan, shot)
    assert truth["reference_start"] == pytest.approx(300 * 1001 / 30000, abs=1e-6)
    assert truth["reference_end"] - truth["reference_start"] == pytest.approx(2.0, abs=1e-6)
    assert truth["labels"][-1] == "combo:none" and truth["transforms"] == []


def test_seek_lands_on_the_planned_frame() -> None:
    """The input seek sits a quarter frame before the planned frame, never after it."""
    paths = vc._Paths(Path("/r"), Path("/w"), [{"key": "r", "path": "references/r.mp4"}], {}, None)
    spec = {"type": "reference", "source": "r", "frame": 240, "fps": "24", "speed": 1.5}
    args = vc._input_args(spec, 4.0, 25, paths)
    seek = float(args[args.index("-ss") + 1])
    assert 10.0 - 1 / 24 < seek < 10.0
    assert float(args[args.index("-t") + 1]) >= 4.0 * 1.5


# ----------------------------------------------------------------------------- geometry


@pytest.mark.parametrize("canvas", [(640, 360), (640, 480), (854, 480)])
@pytest.mark.parametrize("source", [(1280, 720), (768, 576), (640, 272), (720, 404)])
def test_geometry_fits_the_canvas(canvas: tuple[int, int], source: tuple[int, int]) -> None:
    rng = np.random.default_rng(1)
    W, H = canvas
    for _ in range(30):
        transforms = [
            vc.draw_transform(rng, f, vc.CELLS[f][int(rng.integers(len(vc.CELLS[f])))])
            for f in rng.choice(["crop", "letterbox", "pip", "scale"], size=2, replace=False)
        ]
        if {"pip", "letterbox"} <= {t["family"] for t in transforms}:
            continue
        geo = vc.content_geometry(*source, 1.0, canvas, transforms)
        w, h = geo["size"]
        x, y = geo["at"]
        assert w % 2 == 0 and h % 2 == 0 and w > 0 and h > 0
        assert x >= 0 and y >= 0 and x + w <= W and y + h <= H
        cx, cy, cw, ch = geo["crop"]
        assert cx + cw <= source[0] and cy + ch <= source[1]
        assert cw >= 0.7 * source[0] - 2 and ch >= 0.7 * source[1] - 2
        by = {t["family"]: t for t in transforms}
        if "pip" in by and by["pip"]["kind"] == "ref-inside":
            assert w <= by["pip"]["scale"] * W + 2 and h <= by["pip"]["scale"] * H + 2
        if "letterbox" in by:
            lb = by["letterbox"]
            if lb["kind"] == "letterbox":
                assert h <= (1 - lb["bars"]) * H + 2
            else:
                assert w <= (1 - lb["bars"]) * W + 2
    cover = vc.content_geometry(*source, 1.0, canvas, [], fit="cover")
    sw, sh = cover["scaled"]
    assert sw >= W - 1 and sh >= H - 1


# ----------------------------------------------------------------------------- manifest


def _fake_corpus(root: Path) -> Path:
    (root / "references").mkdir(parents=True)
    (root / "queries").mkdir()
    (root / "references" / "r.mp4").write_bytes(b"r")
    (root / "queries" / "q0000.mp4").write_bytes(b"q")
    (root / "queries" / "q0001.mp4").write_bytes(b"q")
    source = vc.VideoSource(
        key="r",
        package="pkg",
        version="1",
        registry="pypi-wheel",
        archive="pkg.whl",
        archive_sha256="0" * 64,
        member="a/r.mp4",
        licence="CC0",
        sha256="1" * 64,
        path=Path("/cache/r.mp4"),
        kind="video",
    )
    copy = {
        "reference": "r",
        "query_start": 1.0,
        "query_end": 3.0,
        "reference_start": 5.0,
        "reference_end": 9.0,
        "transforms": ["speed"],
        "labels": ["speed:x1.25-2"],
        "params": [{"family": "speed", "speed": 2.0}],
        "shot": 1,
    }
    manifest = {
        "version": vc.MANIFEST_VERSION,
        "sources": {"r": source.to_json()},
        "references": [{"key": "r", "path": "references/r.mp4", "source": "r"}],
        "queries": [
            {"path": "queries/q0000.mp4", "duration": 30.0, "copies": [copy]},
            {"path": "queries/q0001.mp4", "duration": 31.5, "copies": []},
        ],
    }
    vc._write_json_atomic(root / "manifest.json", manifest)
    return root


def test_manifest_round_trip(tmp_path: Path) -> None:
    root = _fake_corpus(tmp_path / "c")
    corpus = vc.load_video_corpus(root)
    assert corpus.reference_dir == root / "references"
    assert corpus.references == (root / "references" / "r.mp4",)
    assert [q.duration for q in corpus.queries] == [30.0, 31.5]
    assert corpus.negative_queries == (root / "queries" / "q0001.mp4",)
    assert corpus.truth == (
        SegmentPair(
            str(root / "queries" / "q0000.mp4"),
            str(root / "references" / "r.mp4"),
            1.0,
            3.0,
            5.0,
            9.0,
        ),
    )
    (copy,) = corpus.copies
    assert copy.transforms == ("speed",) and copy.params[0]["speed"] == 2.0
    assert corpus.sources[0].path == Path("/cache/r.mp4")
    assert vc._load_if_current(root) == corpus
    (root / "queries" / "q0001.mp4").unlink()
    assert vc._load_if_current(root) is None


def test_manifest_errors(tmp_path: Path) -> None:
    with pytest.raises(HomageError, match="no video corpus manifest"):
        vc.load_video_corpus(tmp_path)
    root = _fake_corpus(tmp_path / "c")
    data = json.loads((root / "manifest.json").read_text())
    data["version"] = vc.MANIFEST_VERSION + 1
    (root / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(HomageError, match="rebuild"):
        vc.load_video_corpus(root)
    assert vc._load_if_current(root) is None


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(HomageError):
        vc.build_video_corpus(tmp_path, size="huge")  # type: ignore[arg-type]
    with pytest.raises(HomageError):
        vc.build_video_corpus(tmp_path, families=["warp"])
    with pytest.raises(HomageError):
        vc.build_video_corpus(tmp_path, n_queries=0)


# ----------------------------------------------------------------------------- rendering

CHECKED = (
    "reencode",
    "scale",
    "crop",
    "letterbox",
    "flip",
    "blur",
    "speed",
    "fps",
    "rotate",
    "pip",
)
"""Families that keep the centre of a flat frame's grey level (colour, noise, fades and
overlays would change it), so a query frame can be read back to its reference frame."""


TINY = {
    "size": "quick",
    "seed": 5,
    "footage": "synthetic",
    "n_queries": 4,
    "query_seconds": (6.0, 8.0),  # short (built twice): still eight copies and a negative
    "families": CHECKED,
}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> vc.VideoCorpus:
    if shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None:
        pytest.skip("needs ffmpeg: apt-get install -y --no-install-recommends ffmpeg")
    return vc.build_video_corpus(tmp_path_factory.mktemp("video"), **TINY)


def _planes(frame: Any) -> tuple[np.ndarray, np.ndarray]:
    """The Y and U planes of a yuv420p ``av.VideoFrame``, as stored (no range conversion)."""
    out = []
    for plane in frame.planes[:2]:
        rows = np.frombuffer(plane, dtype=np.uint8).reshape(plane.height, plane.line_size)
        out.append(rows[:, : plane.width])
    return out[0], out[1]


@pytest.mark.slow
def test_tiny_corpus_matches_its_manifest(tiny: vc.VideoCorpus) -> None:
    av = pytest.importorskip("av")
    manifest = json.loads(tiny.manifest.read_text())
    refs = {r["key"]: r for r in manifest["references"]}
    assert len(tiny.queries) == 4 and tiny.negative_queries
    assert all(p.is_file() for p in tiny.reference_dir.iterdir())
    chroma = {r["key"]: int(r["lavfi"].split("cb=")[1].split(":")[0]) for r in refs.values()}
    checked = 0
    for query, entry in zip(tiny.queries, manifest["queries"], strict=True):
        F = entry["fps"]
        with av.open(str(query.path)) as container:
            stream = container.streams.video[0]
            frames = list(container.decode(stream))
        assert len(frames) == entry["frames"]
        assert query.duration == pytest.approx(len(frames) / F, abs=1e-6)
        assert (frames[0].width, frames[0].height) == (entry["width"], entry["height"])
        assert frames[0].time == pytest.approx(0.0, abs=1e-6)
        assert frames[-1].time == pytest.approx((len(frames) - 1) / F, abs=1e-3)
        shots = {s["index"]: s for s in entry["shots"]}
        for copy, truth in zip(query.copies, entry["copies"], strict=True):
            shot = shots[truth["shot"]]
            ref = refs[truth["reference"]]
            ref_fps = float(Fraction(ref["fps"]))
            (x, y), (w, h) = shot["geometry"]["at"], shot["geometry"]["size"]
            first = shot["query_start_frame"]
            n = shot["frames"]
            ks = [first] if "fps" in copy.transforms else [first, first + n // 2, first + n - 1]
            for k in ks:
                luma, u = _planes(frames[k])
                box = luma[
                    y + int(0.45 * h) : y + int(0.55 * h) + 1,
                    x + int(0.45 * w) : x + int(0.55 * w) + 1,
                ]
                level = float(np.median(box))
                t = k / F
                expected = (
                    copy.segment.reference_start
                    + (t - copy.segment.query_start) * shot["content"]["speed"]
                ) * ref_fps
                e = round(expected)
                candidates = range(e - 3, e + 4)
                best = min(candidates, key=lambda i: abs(level - vc.frame_code(i)))
                assert abs(best - expected) <= 1.01, (query.path.name, truth, k, level)
                assert abs(level - vc.frame_code(best)) <= 16, (query.path.name, truth, k)
                ubox = u[
                    (y + h // 2) // 2 - 1 : (y + h // 2) // 2 + 2,
                    (x + w // 2) // 2 - 1 : (x + w // 2) // 2 + 2,
                ]
                assert abs(float(np.median(ubox)) - chroma[truth["reference"]]) <= 12
                checked += 1
    assert checked >= 3


@pytest.mark.slow
def test_tiny_corpus_is_cached(tiny: vc.VideoCorpus) -> None:
    stamp = tiny.manifest.stat().st_mtime_ns
    again = vc.build_video_corpus(tiny.root.parent, **TINY)
    assert again == tiny
    assert tiny.manifest.stat().st_mtime_ns == stamp
    manifest = json.loads(tiny.manifest.read_text())
    assert manifest["version"] == vc.MANIFEST_VERSION and manifest["seed"] == 5
    for query in manifest["queries"]:
        for copy in query["copies"]:
            assert set(copy["transforms"]) <= set(CHECKED)


@pytest.mark.slow
def test_same_seed_same_bytes(tiny: vc.VideoCorpus, tmp_path: Path) -> None:
    """Every generator is seeded and x264 is deterministic: a rebuild is bit-identical."""
    other = vc.build_video_corpus(tmp_path, **TINY, workers=1)
    md5 = lambda p: hashlib.md5(p.read_bytes()).hexdigest()  # noqa: E731
    assert [md5(q.path) for q in other.queries] == [md5(q.path) for q in tiny.queries]
    assert [md5(p) for p in other.references] == [md5(p) for p in tiny.references]


@pytest.mark.slow
def test_every_cell_and_generator_renders(tiny: vc.VideoCorpus, tmp_path: Path) -> None:
    """One short shot per transform cell (at its hardest) and per generator, in one query."""
    av = pytest.importorskip("av")
    manifest = json.loads(tiny.manifest.read_text())
    ref = manifest["references"][0]
    rng = np.random.default_rng(3)
    backdrop = {"type": "generator", "name": "testsrc2", "seed": 1, "hue": 90, "params": [0.5] * 4}
    shots = []
    for family, cells in vc.CELLS.items():
        for cell in cells:
            shots.append(
                {
                    "kind": "copy",
                    "frames": 9,
                    "content": {
                        "type": "reference",
                        "source": ref["key"],
                        "start": 1.0,
                        "frame": round(Fraction(ref["fps"])),
                        "speed": 1.0,
                        "fps": ref["fps"],
                        "width": ref["width"],
                        "height": ref["height"],
                        "fit": "pad",
                    },
                    "transforms": [vc.draw_transform(rng, family, cell, extreme=True)],
                    "secondary": backdrop if family == "pip" else None,
                    "length_bin": [1.0, 3.0],
                }
            )
            if family == "speed":
                shots[-1]["content"]["speed"] = shots[-1]["transforms"][0]["speed"]
    for name in vc.GENERATORS:
        spec = {"type": "generator", "name": name, "seed": 7, "hue": 10, "params": [0.4] * 4}
        shots.append({"kind": "distractor", "frames": 7, "content": spec, "transforms": []})
    offset = 0
    for k, shot in enumerate(shots):
        shot["index"], shot["query_start_frame"] = k, offset
        offset += shot["frames"]
    plan = {
        "index": 0,
        "path": str(tmp_path / "all.mp4"),
        "width": 480,
        "height": 270,
        "fps": 25,
        "frames": offset,
        "duration": offset / 25,
        "crf": 23,
        "shots": shots,
    }
    paths = vc._Paths(tiny.root, tmp_path / "work", manifest["references"], {}, vc._find_font())
    result = vc._render_query(plan, paths)
    with av.open(str(tmp_path / "all.mp4")) as container:
        assert sum(1 for _ in container.decode(video=0)) == offset
    copies = [s for s in shots if s["kind"] == "copy"]
    assert len(result["copies"]) == len(copies) == sum(len(c) for c in vc.CELLS.values())
    for truth in result["copies"]:
        assert truth["query_end"] - truth["query_start"] == pytest.approx(9 / 25, abs=1e-6)
