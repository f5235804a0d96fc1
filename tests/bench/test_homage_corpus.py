"""The visual-homage benchmark corpus: seeded plans, disjoint splits, exact ground truth,
styles that change the picture but keep its layout.

Planning, split and truth tests are pure and fast.  The ffmpeg tests build tiny corpora on the
video corpus's frame-coded synthetic references (every frame one flat grey whose level names
its index, no download), so reading a query frame back tells which reference frame a homage
shot shows; the real quick corpus is built once, in the default cache, by the last test.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from homage.bench import homage_corpus as hc
from homage.bench import video_corpus as vc
from homage.errors import HomageError

REFS = [
    {"key": "long", "duration": 120.0, "fps": "24", "width": 1280, "height": 720},
    {"key": "pal", "duration": 40.0, "fps": "25", "width": 640, "height": 480, "sar": 1.0243},
    {"key": "short", "duration": 7.6, "fps": "30000/1001", "width": 720, "height": 404},
]
CLIPS = [{"source": "held", "start": 10.0, "end": 100.0, "width": 640, "height": 272}]
STILLS = ["still:a.jpg"]


def _plan(seed: int, n_queries: int = 30, **kw: Any) -> tuple[list[dict], list[dict]]:
    args: dict[str, Any] = {
        "seed": seed,
        "n_queries": n_queries,
        "query_seconds": (25.0, 45.0),
        "max_homages": 3,
        "max_copies": 2,
        "references": REFS,
        "clips": CLIPS,
        "stills": STILLS,
    }
    return hc.plan_homage_queries(**{**args, **kw})


def _borrowed(plans: list[dict]) -> list[tuple[dict, dict, dict]]:
    return [
        (p, s, hc.shot_truth(p, s))
        for p in plans
        for s in p["shots"]
        if s["kind"] in ("homage", "copy")
    ]


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _check_splits(blocks: list[dict], truths: list[tuple[str, dict]]) -> None:
    """Each borrowed range lies inside one block of its query's split, and no test range
    overlaps a train range."""
    for split, t in truths:
        inside = [
            b
            for b in blocks
            if b["reference"] == t["reference"]
            and b["start"] <= t["reference_start"]
            and t["reference_end"] <= b["end"]
        ]
        assert len(inside) == 1 and inside[0]["split"] == split, (split, t)
        assert [inside[0]["reference"], inside[0]["index"]] == list(t["block"])
    train = [t for s, t in truths if s == "train"]
    for split, t in truths:
        if split == "test":
            for u in train:
                if u["reference"] == t["reference"]:
                    spans = (t["reference_start"], t["reference_end"])
                    assert not _overlap(spans, (u["reference_start"], u["reference_end"]))


# ----------------------------------------------------------------------------- planning


def test_plans_are_seeded() -> None:
    assert _plan(0) == _plan(0)
    assert json.dumps(_plan(0)) != json.dumps(_plan(1))


def test_blocks_tile_each_reference() -> None:
    for seed in range(5):
        blocks = hc.deal_blocks(np.random.default_rng(seed), REFS)
        for ref in REFS:
            mine = [b for b in blocks if b["reference"] == ref["key"]]
            assert mine[0]["start"] == 0.0 and mine[-1]["end"] == ref["duration"]
            for a, b in itertools.pairwise(mine):
                assert a["end"] == b["start"]
            for b in mine[:-1]:
                assert 8.0 - 1e-6 <= b["end"] - b["start"] <= 12.0 + 1e-6
            assert [b["index"] for b in mine] == list(range(len(mine)))
        seconds = {
            s: sum(b["end"] - b["start"] for b in blocks if b["split"] == s)
            for s in ("train", "test")
        }
        share = seconds["train"] / (seconds["train"] + seconds["test"])
        assert 0.3 <= share <= 0.55 and seconds["test"] > 0


def test_splits_are_disjoint_and_blocks_respected() -> None:
    for seed in range(4):
        blocks, plans = _plan(seed, n_queries=40)
        assert {p["split"] for p in plans} == {"train", "test"}
        n_train = sum(p["split"] == "train" for p in plans)
        assert n_train == round(0.4 * len(plans))
        _check_splits(blocks, [(p["split"], t) for p, _, t in _borrowed(plans)])


def test_extra_training_queries_leave_the_dealt_queries_alone() -> None:
    """A larger training split must not move a single test query, or the figures before and
    after it could not be compared; the extra queries borrow only training blocks."""
    for seed in range(3):
        blocks, plans = _plan(seed, n_queries=30)
        more_blocks, more = _plan(seed, n_queries=30, extra_train=20)
        assert more_blocks == blocks
        assert more[:30] == plans
        extra = more[30:]
        assert [p["index"] for p in extra] == list(range(30, 50))
        assert {p["split"] for p in extra} == {"train"}
        kinds = {s["kind"] for p in extra for s in p["shots"]}
        assert {"homage", "copy"} <= kinds
        _check_splits(blocks, [(p["split"], t) for p, _, t in _borrowed(more)])


def test_every_combo_copy_cell_and_negative_exists_in_both_splits() -> None:
    _blocks, plans = _plan(0, n_queries=60, query_seconds=(30.0, 90.0), max_homages=4)
    for split in ("train", "test"):
        mine = [p for p in plans if p["split"] == split]
        truths = [t for p, _, t in _borrowed(mine)]
        labels = {t["label"] for t in truths}
        for combo in hc.HOMAGE_COMBOS:
            assert "homage:" + "+".join(hc._ordered(combo)) in labels, (split, combo)
        assert {f"copy:{f}" for f, _ in hc.COPY_CELLS} <= labels, split
        negatives = [p for p in mine if not any(s["kind"] != "distractor" for s in p["shots"])]
        assert 0.15 * len(mine) <= len(negatives) <= 0.3 * len(mine)
        assert any(t["speed"] != 1.0 for t in truths if t["kind"] == "visual_homage")
        assert any(t["mirrored"] for t in truths if t["kind"] == "visual_homage")
        styled = [s for p in mine for s in p["shots"] if s["kind"] == "distractor" and s["styles"]]
        assert {s["styles"][0]["style"] for s in styled} >= {"cel", "painterly", "sketch"}


def test_query_layout_and_truth_are_exact() -> None:
    """Shots tile each query frame-exactly; borrowed ranges stay inside their reference, on
    its frame grid, 1.5-6 s long (at least 1 s), at speeds 0.8-1.25 for homages."""
    refs = {r["key"]: r for r in REFS}
    _blocks, plans = _plan(4, n_queries=40)
    for plan in plans:
        offset = 0
        for shot in plan["shots"]:
            assert shot["query_start_frame"] == offset and shot["frames"] >= 1
            offset += shot["frames"]
        assert offset == plan["frames"]
        assert plan["duration"] == pytest.approx(plan["frames"] / plan["fps"], abs=1e-6)
        assert 25.0 - 1 / plan["fps"] <= plan["duration"] <= 45.0 + 1 / plan["fps"]
        assert plan["path"] == f"queries/{plan['split']}/q{plan['index']:04d}.mp4"
        borrowed = sum(s["frames"] for s in plan["shots"] if s["kind"] != "distractor")
        assert borrowed <= 0.6 * plan["frames"]
    for plan, _shot, t in _borrowed(plans):
        ref = refs[t["reference"]]
        fps = Fraction(ref["fps"])
        assert 0.0 < t["reference_start"] < t["reference_end"] <= ref["duration"]
        frame = t["reference_start"] * fps
        assert frame == pytest.approx(round(frame), abs=1e-3)  # times are rounded to 1 µs
        q = t["query_end"] - t["query_start"]
        assert 1.0 - 1e-6 <= q <= 6.0 + 0.5 / plan["fps"]
        assert t["reference_end"] - t["reference_start"] == pytest.approx(q * t["speed"], abs=1e-5)
        if t["kind"] == "visual_homage":
            assert 0.8 <= t["speed"] <= 1.25
            assert t["mirrored"] == ("mirror" in t["styles"])
            assert t["label"] == "homage:" + "+".join(t["styles"])
        else:
            assert t["label"] == "copy:" + ("+".join(t["styles"]) or "none")


def test_homage_framing_fills_the_canvas() -> None:
    """A homage is cropped to the canvas aspect (no bars), zoomed and off-centre if re-framed."""
    rng = np.random.default_rng(1)
    for ref in REFS:
        for canvas in ((640, 360), (640, 480), (854, 480)):
            for combo in hc.HOMAGE_COMBOS:
                styles = [hc.draw_style(rng, s) for s in combo]
                transforms = hc._homage_geometry(ref, canvas, styles)
                geo = vc.content_geometry(
                    ref["width"], ref["height"], ref.get("sar", 1.0), canvas, transforms
                )
                assert geo["size"] == list(canvas) and geo["at"] == [0, 0]
                crop = transforms[0]
                area = (1 - crop["x"]) * (1 - crop["y"])
                if "reframe" in combo:
                    zoom = styles[list(combo).index("reframe")]["zoom"]
                    assert 1.15 <= zoom <= 1.5
                    assert area <= 1 / zoom**2 + 1e-3
                    assert max(abs(crop["u"] - 0.5), abs(crop["v"] - 0.5)) >= 0.25
                assert ("flip" in [t["family"] for t in transforms]) == ("mirror" in combo)


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(HomageError):
        hc.build_homage_corpus(tmp_path, size="huge")  # type: ignore[arg-type]
    with pytest.raises(HomageError):
        hc.build_homage_corpus(tmp_path, styles=["watercolour"])
    with pytest.raises(HomageError):
        hc.build_homage_corpus(tmp_path, styles=["mirror"])  # mirror never comes alone
    with pytest.raises(HomageError):
        hc.build_homage_corpus(tmp_path, n_queries=1)
    with pytest.raises(HomageError):
        hc.draw_style(np.random.default_rng(0), "watercolour")
    assert not list(tmp_path.iterdir())


# ----------------------------------------------------------------------------- rendering


def _need_ffmpeg() -> None:
    if shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None:
        pytest.skip("needs ffmpeg: apt-get install -y --no-install-recommends ffmpeg")


def _frames(graph: str, inputs: list[str], w: int, h: int, n: int) -> np.ndarray:
    """``n`` frames of ``[out]`` of a filter graph, as rgb24 arrays of shape (n, h, w, 3)."""
    out = subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            *inputs,
            "-filter_complex",
            graph,
            "-map",
            "[out]",
            "-frames:v",
            str(n),
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(out, dtype=np.uint8).reshape(n, h, w, 3)


def _grid(picture: np.ndarray) -> np.ndarray:
    """8×8 grid of cell means of an (h, w) array, or of the luma of an (h, w, 3) picture:
    its coarse layout."""
    if picture.ndim == 3:
        picture = picture.astype(float) @ np.array([0.299, 0.587, 0.114])
    h, w = picture.shape
    return picture[: h - h % 8, : w - w % 8].reshape(8, h // 8, 8, w // 8).mean(axis=(1, 3))


def _edges(picture: np.ndarray) -> np.ndarray:
    """Gradient magnitude of the luma, shape (h, w): where the outlines are."""
    gy, gx = np.gradient(picture.astype(float) @ np.array([0.299, 0.587, 0.114]))
    return np.hypot(gx, gy)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


@pytest.mark.slow
@pytest.mark.parametrize("combo", sorted(set(hc.HOMAGE_COMBOS) | set(hc.DISTRACTOR_COMBOS)))
def test_every_style_changes_the_picture_but_keeps_its_layout(combo: tuple[str, ...]) -> None:
    """Each combination renders and differs a lot from its source, yet keeps the layout of
    the source as framed (brightness or outline grids correlate: a sketch keeps the outlines,
    not the brightness), and a re-framing shows the window it zoomed into: a re-staging, not
    a copy and not a new picture."""
    _need_ffmpeg()
    w, h, n = 320, 180, 2
    source = (  # large coloured blobs and a red box
        f"color=c=gray:s=24x14:r=25,noise=alls=100:allf=u:all_seed=5,scale={w}:{h}:"
        "flags=bicubic,eq=saturation=2.5:contrast=1.6,"
        "drawbox=x=40:y=30:w=90:h=70:color=0xd03020:t=fill,format=yuv420p"
    )
    inputs = ["-f", "lavfi", "-i", source]
    flip = ",hflip" if "mirror" in combo else ""

    def render(styles: list[dict[str, Any]]) -> np.ndarray:
        graph = hc.style_graph(styles, w, h).replace("[0:v]", "[m]")
        return _frames(f"[0:v]null{flip}[m];{graph}", inputs, w, h, n)

    for seed in range(3):
        rng = np.random.default_rng([seed, 11])
        styles = [hc.draw_style(rng, s) for s in combo]
        reframe = [s for s in styles if s["style"] == "reframe"]
        original = _frames(f"[0:v]null{flip},format=rgb24[out]", inputs, w, h, n)
        framed, styled = render(reframe), render(styles)
        diff = np.abs(styled.astype(float) - original.astype(float)).mean()
        assert diff > 10.0, (combo, diff)
        for a, b in zip(framed, styled, strict=True):
            layout = max(_corr(_grid(a), _grid(b)), _corr(_grid(_edges(a)), _grid(_edges(b))))
            assert layout > 0.25, (combo, layout)
        if reframe:
            r = reframe[0]
            cw, ch = round(w / r["zoom"]), round(h / r["zoom"])
            x0, y0 = round((w - cw) * r["u"]), round((h - ch) * r["v"])
            window = original[0][y0 : y0 + ch, x0 : x0 + cw]
            window = window[(np.arange(h) * ch // h)][:, (np.arange(w) * cw // w)]
            assert _corr(_grid(window), _grid(framed[0])) > 0.5, combo


def _planes(frame: Any) -> tuple[np.ndarray, np.ndarray]:
    """The Y and U planes of a yuv420p ``av.VideoFrame``, as stored (no range conversion)."""
    out = []
    for plane in frame.planes[:2]:
        rows = np.frombuffer(plane, dtype=np.uint8).reshape(plane.height, plane.line_size)
        out.append(rows[:, : plane.width])
    return out[0], out[1]


TINY: dict[str, Any] = {
    "size": "quick",
    "seed": 4,
    "footage": "synthetic",
    "n_queries": 6,
    "query_seconds": (6.0, 8.0),
    "styles": ("reframe", "mirror"),
}
"""Re-framing and mirroring keep a flat frame's grey level: a query frame reads back to the
reference frame it shows.  Short queries (built twice, by the fixture and by the determinism
test) still hold both splits, two negatives and seven homage shots."""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> hc.HomageCorpus:
    _need_ffmpeg()
    return hc.build_homage_corpus(tmp_path_factory.mktemp("homage"), **TINY)


@pytest.mark.slow
def test_tiny_corpus_matches_its_manifest(tiny: hc.HomageCorpus) -> None:
    av = pytest.importorskip("av")
    manifest = json.loads(tiny.manifest.read_text())
    refs = {r["key"]: r for r in manifest["references"]}
    assert tiny.references and all(p.is_file() for p in tiny.references)
    assert all(p.parent == tiny.reference_dir for p in tiny.references)
    assert (tiny.root / "references").resolve() == tiny.reference_dir.resolve()
    assert {q.split for q in tiny.queries} == {"train", "test"}
    assert set(tiny.split("train")) | set(tiny.split("test")) == set(tiny.queries)
    assert any(q.negative for q in tiny.queries)
    _check_splits(
        manifest["blocks"], [(q["split"], t) for q in manifest["queries"] for t in q["truth"]]
    )
    checked = 0
    for query, entry in zip(tiny.queries, manifest["queries"], strict=True):
        assert query.path.parent.name == query.split == entry["split"]
        F = entry["fps"]
        with av.open(str(query.path)) as container:
            assert not container.streams.audio
            frames = list(container.decode(video=0))
        assert len(frames) == entry["frames"]
        assert query.duration == pytest.approx(len(frames) / F, abs=1e-6)
        shots = {s["index"]: s for s in entry["shots"]}
        for shot, truth in zip(query.shots, entry["truth"], strict=True):
            seg = shot.segment
            assert seg.query == str(query.path)
            assert 0.0 <= seg.query_start < seg.query_end <= query.duration + 1e-6
            assert 0.0 <= seg.reference_start < seg.reference_end
            assert seg.reference_end <= refs[truth["reference"]]["duration"] + 1e-6
            if shot.kind != "visual_homage":
                continue
            assert shot.label in ("homage:reframe", "homage:reframe+mirror")
            ref_fps = float(Fraction(refs[truth["reference"]]["fps"]))
            first, n = shots[truth["shot"]]["query_start_frame"], shots[truth["shot"]]["frames"]
            for k in (first, first + n // 2, first + n - 1):
                luma, _ = _planes(frames[k])
                h, w = luma.shape
                level = float(
                    np.median(luma[int(0.4 * h) : int(0.6 * h), int(0.4 * w) : int(0.6 * w)])
                )
                expected = (seg.reference_start + (k / F - seg.query_start) * shot.speed) * ref_fps
                e = math.floor(expected + 1e-6)  # the latest frame at or before
                best = min(range(e - 3, e + 4), key=lambda i: abs(level - vc.frame_code(i)))
                assert best == e or abs(best - expected) <= 1.01, (query.path.name, truth, k)
                assert abs(level - vc.frame_code(best)) <= 16
                checked += 1
    assert checked >= 3


@pytest.mark.slow
def test_tiny_corpus_is_cached_and_deterministic(tiny: hc.HomageCorpus, tmp_path: Path) -> None:
    """Same seed, same manifest and the same bytes (every filter is seeded or exact)."""
    stamp = tiny.manifest.stat().st_mtime_ns
    assert hc.build_homage_corpus(tiny.root.parent, **TINY) == tiny
    assert tiny.manifest.stat().st_mtime_ns == stamp
    assert hc.load_homage_corpus(tiny.root) == tiny
    other = hc.build_homage_corpus(tmp_path, **TINY, workers=1)

    def stable(corpus: hc.HomageCorpus) -> dict[str, Any]:
        m = json.loads(corpus.manifest.read_text())
        del m["build_seconds"]
        return json.loads(json.dumps(m).replace(str(corpus.root.parent), "CACHE"))

    assert stable(other) == stable(tiny)
    md5 = lambda p: hashlib.md5(p.read_bytes()).hexdigest()  # noqa: E731
    assert [md5(q.path) for q in other.queries] == [md5(q.path) for q in tiny.queries]


@pytest.mark.slow
def test_tiny_corpus_with_every_style(tmp_path: Path) -> None:
    """Every style goes through the whole pipeline: plan, style pass, cut, manifest."""
    _need_ffmpeg()
    corpus = hc.build_homage_corpus(  # seed 2's five short queries draw every style below
        tmp_path,
        size="quick",
        seed=2,
        footage="synthetic",
        n_queries=5,
        query_seconds=(6.0, 8.0),
    )
    manifest = json.loads(corpus.manifest.read_text())
    filters = [s["filter"] for q in manifest["queries"] for s in q["shots"] if s["styles"]]
    for needle in ("bilateral", "median=radius", "blend=all_mode=dodge", "perspective", "curves"):
        assert any(needle in f for f in filters), needle
    kinds = {s.kind for s in corpus.shots}
    assert kinds == {"visual_homage", "visual_copy"}
    for query in corpus.queries:
        assert query.path.is_file()


@pytest.mark.slow
def test_real_quick_corpus() -> None:
    """The corpus the bench runs (built once in the default cache, fetching footage)."""
    _need_ffmpeg()
    corpus = hc.build_homage_corpus(size="quick", seed=0)
    video = vc.build_video_corpus(size="quick", seed=0)
    assert corpus.references == video.references
    assert len(corpus.queries) == 12 and len(corpus.split("train")) == 5
    labels = {s.label for s in corpus.shots}
    assert sum(label.startswith("homage:") for label in labels) >= 8
    assert any(label.startswith("copy:") for label in labels)
    assert sum(q.negative for q in corpus.queries) >= 2
    for query in corpus.queries:
        assert 25.0 - 0.1 <= query.duration <= 45.0 + 0.1
        for shot in query.shots:
            assert shot.segment.reference in {str(p) for p in corpus.references}
