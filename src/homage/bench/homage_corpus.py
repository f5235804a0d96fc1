"""Seeded corpus of made-up music videos that re-stage reference shots, for ``homage bench
homage``.

Why: a *visual homage* re-stages a shot (same composition, colours and motion) in another
medium or look, a cartoon, a painting, a pencil sketch, a heavy grade, another framing, so its
pixels are not a copy of the original.  No public set with frame-exact homage ground truth can
be fetched here, so the corpus is *made*, on top of the video-copy corpus of the same size and
seed (:mod:`homage.bench.video_corpus`): its reference files are the library the bench indexes
(the very same files, not re-rendered, so both benches can share one library) and its
held-out footage, still photographs and ffmpeg generators give the distractor shots.

Each query is a short "music video" cut from

* **homage shots**: a 1.5-6 s stretch of a reference re-rendered in one or more styles of
  :data:`STYLES` (see :data:`HOMAGE_COMBOS`), sometimes slowed down or sped up (×0.8-1.25);
* **copy shots**: a stretch copied with one of the copy transforms of the video bench (plain,
  re-encoding, scaling, crop ≤ 15%, bars, mirroring, mild colour, blur, noise, overlays,
  speed), to measure how often a copy is called a homage and the reverse;
* **distractor shots** of footage no library holds, a third of them given the same styles,
  so that "stylised" does not mean "homage".

About 20% of the queries borrow nothing.

**Splits.**  Weights fitted on the corpus must not see the test material, so every
reference timeline is dealt into 8-12 s blocks (seeded), each block belongs to the ``train``
or the ``test`` split, each query is ``train`` or ``test`` (about 40% / 60%) and takes
borrowed stretches only from its split's blocks, never across a block boundary.  No reference
frame re-staged or copied by a test query is ever used by a train query.  The blocks are in
the manifest.  (Neighbouring blocks of one continuous shot still look alike: the split is by
reference *frames*, not by scenes.)

**Rendering.**  A borrowed shot is first rendered by the video corpus's own
:func:`~homage.bench.video_corpus.shot_command` (frame-exact: frame ``k`` of the shot shows
the latest reference frame at or before ``s0 + k / F * speed``); a homage shot is cropped to
the canvas aspect there (a re-staged shot fills its frame) and, when re-framed, zoomed and
moved off-centre.  Styles are then applied by a second, purely per-frame ffmpeg pass (no
temporal filter, so no frame moves), and the query is concatenated by the video corpus's
query renderer, which reads the styled shot back as footage.  Truth times are therefore exact,
as in the video corpus; queries carry no audio.

Layout (``cache_dir`` defaults to ``default_cache_dir() / "bench"``)::

    video-quick-seed0/              the video corpus this one builds on (built if missing)
    homage-quick-seed0/
        manifest.json               written last and atomically: its presence means complete
        references -> ../video-quick-seed0/references   (a convenience link)
        queries/train/q0000.mp4, queries/test/q0001.mp4 ...
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import numpy as np

from homage.bench.manifests import read_manifest, render_all
from homage.bench.metrics import SegmentPair
from homage.bench.video_corpus import (
    CELLS,
    VideoCorpus,
    VideoSource,
    _balanced,
    _even,
    _exclusive,
    _find_font,
    _FootagePool,
    _log_uniform,
    _Paths,
    _render_query,
    _require_tools,
    _run,
    _tool_versions,
    _write_json_atomic,
    build_video_corpus,
    copy_truth,
    draw_transform,
    fetch_video_sources,
    shot_command,
)
from homage.errors import HomageError

logger = logging.getLogger(__name__)

MANIFEST_VERSION = 2
"""Bump whenever the recipe changes: a cached corpus with another version is rebuilt."""

Size = Literal["quick", "full"]
Footage = Literal["real", "synthetic"]

STYLES: tuple[str, ...] = ("cel", "painterly", "sketch", "grade", "reframe", "mirror")
"""Looks a homage shot is re-rendered in (alone or combined, see :data:`HOMAGE_COMBOS`).

``cel``: cartoon shading: bilateral and edge-preserving smoothing, colours posterised to
4-7 levels per channel, dark ink outlines multiplied in.  ``painterly``: median "brush dabs",
posterised to 10-16 levels, saturated, stroke-sharpened, with a canvas texture.  ``sketch``:
pencil drawing (colour-dodge of the picture with its blurred negative) on tinted paper with
grain.  ``grade``: a curves preset, hue rotation and channel mixing.  ``reframe``: a crop
zoomed 1.15-1.5× off-centre plus a small perspective warp.  ``mirror``: left-right flip.
Parameters are drawn by :func:`draw_style`, filters built by :func:`style_graph`."""

HOMAGE_COMBOS: tuple[tuple[str, ...], ...] = (
    ("cel",),
    ("painterly",),
    ("sketch",),
    ("reframe",),
    ("grade", "reframe"),
    ("cel", "mirror"),
    ("cel", "reframe"),
    ("painterly", "mirror"),
    ("sketch", "reframe"),
    ("sketch", "mirror"),
    ("reframe", "mirror"),
    ("painterly", "reframe", "mirror"),
    ("grade", "reframe", "mirror"),
)
"""Style combinations of homage shots, dealt in balanced rounds per split.  ``grade`` always
comes with ``reframe`` (a grade alone is a copy transform of the video bench) and ``mirror``
never comes alone (a mirrored copy is a copy)."""

DISTRACTOR_COMBOS: tuple[tuple[str, ...], ...] = (
    ("cel",),
    ("painterly",),
    ("sketch",),
    ("grade", "reframe"),
    ("cel", "mirror"),
    ("sketch", "reframe"),
)
"""Looks given to some distractor shots, so that a stylised shot is not always a homage."""

COPY_CELLS: tuple[tuple[str, Any], ...] = (
    ("none", None),
    ("reencode", "x264"),
    ("reencode", "mpeg4"),
    ("scale", (0.25, 0.5)),
    ("scale", (0.5, 0.9)),
    ("crop", (0.05, 0.15)),
    ("letterbox", "letterbox"),
    ("letterbox", "pillarbox"),
    ("flip", "h"),
    ("color", "mild"),
    ("blur", (0.003, 0.008)),
    ("noise", (8.0, 20.0)),
    ("overlay", "text"),
    ("overlay", "logo"),
    ("speed", (0.8, 1.25)),
)
"""Copy transforms (family, strength cell of :data:`~homage.bench.video_corpus.CELLS`) of the
copy shots: the milder copy edits, one per copy, so every copy label is one family."""

_SIZES: dict[str, dict[str, Any]] = {
    "quick": {"n_queries": 12, "query_seconds": (25.0, 45.0), "max_homages": 3, "max_copies": 2,
              "extra_train": 0},
    "full": {"n_queries": 60, "query_seconds": (30.0, 90.0), "max_homages": 4, "max_copies": 3,
             "extra_train": 60},
}
"""``extra_train``: training queries added after the ``n_queries`` dealt between the splits
(see :func:`plan_homage_queries`): ``--fit`` and any cross-validation on the training split
learn from three and a half times the shots, while the test split, and so every figure
reported, stays the same."""
_TRAIN_SHARE = 0.4
_NEGATIVE_SHARE = 0.2
_COPY_ONLY_SHARE = 0.15
_BLOCK_S = (8.0, 12.0)
_SHOT_S = (1.5, 6.0)
_MIN_SHOT_S = 1.0
_SPEED_SHARE = 0.3
_SPEED_RANGE = (0.8, 1.25)
_MAX_BORROWED_SHARE = 0.6
_STYLED_DISTRACTOR_SHARE = 0.35
_DECOR_SHARE = 0.15
_DECOR_FAMILIES = ("color", "blur", "noise", "overlay", "flip")
_DISTRACTOR_SHOT_S = (1.5, 6.0)
_GUARD_S = 0.2
_CANVASES = (  # width, height, frames per second of a query
    (640, 360, 25),
    (640, 360, 30),
    (640, 360, 24),
    (480, 270, 25),
    (640, 480, 25),
    (854, 480, 24),
)
_FINAL_CRF = (18, 28)
_CURVES = ("cross_process", "vintage", "strong_contrast", "darker", "lighter", "increase_contrast")


# ----------------------------------------------------------------------------- public types


@dataclass(frozen=True)
class HomageShot:
    """One borrowed shot of a query (ground truth).

    Attributes
    ----------
    segment:
        Query path ↔ reference path, the range in the query and the range of reference
        footage it shows (seconds of each file's own timeline; the reference range is the
        query range × ``speed``).
    kind:
        ``"visual_homage"`` or ``"visual_copy"`` (the Match JSON kinds).
    styles:
        A homage's styles in :data:`STYLES` order, e.g. ``("cel", "mirror")``; a copy's
        transform families (``()`` for a plain copy).
    label:
        Breakdown cell: ``"homage:cel+mirror"``, ``"copy:crop"``, ``"copy:none"``.
    speed:
        Query-side speed ratio (> 1: faster in the query), 1.0 if unchanged.
    mirrored:
        The picture is mirrored left-right (homage ``mirror``, copy ``flip``).
    """

    segment: SegmentPair
    kind: str
    styles: tuple[str, ...]
    label: str
    speed: float
    mirrored: bool


@dataclass(frozen=True)
class HomageQuery:
    """A made-up music video: its file, length, split and borrowed shots."""

    path: Path
    duration: float
    split: str
    shots: tuple[HomageShot, ...]

    @property
    def negative(self) -> bool:
        """The query borrows nothing (for the false-positive rate)."""
        return not self.shots

    @property
    def truth(self) -> tuple[SegmentPair, ...]:
        """Ground-truth segment pairs (homages and copies), in query order."""
        return tuple(s.segment for s in self.shots)


@dataclass(frozen=True)
class HomageCorpus:
    """A built corpus: what to index, what to query, and the truth to score against.

    Attributes
    ----------
    root:
        The corpus directory.
    reference_dir:
        Folder holding exactly the reference files: the video corpus's, which this corpus
        reuses (``homage index`` it).
    references:
        Reference files, in manifest order (the paths truth names).
    queries:
        Every query of both splits, negatives included, in manifest order.
    manifest:
        The JSON file describing all of the above.
    """

    root: Path
    reference_dir: Path
    references: tuple[Path, ...]
    queries: tuple[HomageQuery, ...]
    manifest: Path

    def split(self, name: str) -> tuple[HomageQuery, ...]:
        """The queries of split ``"train"`` or ``"test"``."""
        if name not in ("train", "test"):
            raise HomageError(f"unknown split {name!r}: train or test")
        return tuple(q for q in self.queries if q.split == name)

    @property
    def shots(self) -> tuple[HomageShot, ...]:
        """Every borrowed shot of every query."""
        return tuple(s for q in self.queries for s in q.shots)


# ----------------------------------------------------------------------------- public API


def build_homage_corpus(
    cache_dir: Path | str | None = None,
    *,
    size: Size = "quick",
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    workers: int = 2,
    n_queries: int | None = None,
    query_seconds: tuple[float, float] | None = None,
    footage: Footage = "real",
    styles: Sequence[str] | None = None,
) -> HomageCorpus:
    """Build (or reuse from the cache) the visual-homage benchmark corpus.

    Parameters
    ----------
    cache_dir:
        Where corpora are cached (default ``default_cache_dir() / "bench"``).  The video
        corpus of the same size and seed is built there first (or reused); this corpus goes
        to ``homage-{size}-seed{seed}`` (with a suffix when something is overridden).
    size:
        ``"quick"``: 12 queries of 25-45 s over the quick video references (~3 min);
        ``"full"``: 60 queries of 30-90 s over the full ones, and 60 more for the training
        split only (~22 min).
    seed:
        Every random choice derives from it (and the video corpus uses the same seed).
    progress:
        Called as ``progress(done, total)`` after each query is written.
    workers:
        Queries rendered concurrently (threads: the work runs in ``ffmpeg`` children).
    n_queries, query_seconds:
        Override the number and length range (s) of queries (tests build tiny corpora).
    footage:
        ``"synthetic"`` builds on the video corpus's frame-coded synthetic references (no
        download; distractors are ffmpeg generators): it tests the builder, it does not
        measure detectors.
    styles:
        Keep only homage combinations made of these styles (tests, ablations).

    Raises
    ------
    HomageError
        ffmpeg is missing or fails, the video corpus cannot be built, or an argument is out
        of range.
    """
    if size not in _SIZES:
        raise HomageError(f"unknown corpus size {size!r}: quick or full")
    if footage not in ("real", "synthetic"):
        raise HomageError(f"unknown footage {footage!r}: real or synthetic")
    allowed = tuple(STYLES if styles is None else styles)
    unknown = sorted(set(allowed) - set(STYLES))
    if unknown:
        raise HomageError(f"unknown styles {unknown}; known: {list(STYLES)}")
    combos = [c for c in HOMAGE_COMBOS if set(c) <= set(allowed)]
    if not combos:
        raise HomageError(f"no homage style combination uses only {list(allowed)}")
    sizes = dict(_SIZES[size])
    if n_queries is not None:
        sizes["n_queries"] = n_queries
    if query_seconds is not None:
        sizes["query_seconds"] = tuple(query_seconds)
    low, high = sizes["query_seconds"]
    if sizes["n_queries"] < 2 or not 4.0 <= low <= high:
        raise HomageError("the homage corpus needs at least two queries of at least 4 s")
    if cache_dir is None:
        from homage.config import default_cache_dir

        cache_dir = default_cache_dir() / "bench"
    cache_dir = Path(cache_dir).absolute()

    name = f"homage-{size}-seed{seed}"
    if footage == "synthetic":
        name += "-synthetic"
    if n_queries is not None:
        name += f"-q{n_queries}"
    if query_seconds is not None:
        name += f"-d{query_seconds[0]:g}-{query_seconds[1]:g}"
    if styles is not None:
        name += "-s" + hashlib.sha1(",".join(sorted(allowed)).encode()).hexdigest()[:8]
    root = cache_dir / name
    cached = _load_if_current(root)
    if cached is not None:
        logger.info("homage corpus %s is cached", root)
        return cached
    if footage == "real":
        video = build_video_corpus(cache_dir, size=size, seed=seed, workers=workers)
    else:  # only its frame-coded references matter: one tiny query keeps it quick
        video = build_video_corpus(
            cache_dir,
            size=size,
            seed=seed,
            workers=workers,
            footage="synthetic",
            n_queries=1,
            query_seconds=(2.0, 2.0),
        )
    cache_dir.mkdir(parents=True, exist_ok=True)
    with _exclusive(cache_dir / f".{name}.lock"):
        cached = _load_if_current(root)  # another process may have built it meanwhile
        if cached is not None:
            return cached
        return _build(
            root,
            video,
            cache_dir,
            size=size,
            seed=seed,
            sizes=sizes,
            footage=footage,
            combos=combos,
            progress=progress,
            workers=workers,
        )


def load_homage_corpus(root: Path | str) -> HomageCorpus:
    """Read a corpus from its manifest.

    Raises
    ------
    HomageError
        No manifest, an unreadable one, or one written by another version of the recipe.
    """
    root = Path(root).absolute()
    manifest = read_manifest(root, what="homage corpus", version=MANIFEST_VERSION)
    video_root = root.parent / manifest["video_corpus"]["name"]
    ref_paths = {r["key"]: video_root / r["path"] for r in manifest["references"]}
    queries = []
    for q in manifest["queries"]:
        qpath = root / q["path"]
        shots = tuple(
            HomageShot(
                segment=SegmentPair(
                    query=str(qpath),
                    reference=str(ref_paths[t["reference"]]),
                    query_start=t["query_start"],
                    query_end=t["query_end"],
                    reference_start=t["reference_start"],
                    reference_end=t["reference_end"],
                ),
                kind=t["kind"],
                styles=tuple(t["styles"]),
                label=t["label"],
                speed=t["speed"],
                mirrored=t["mirrored"],
            )
            for t in q["truth"]
        )
        queries.append(
            HomageQuery(path=qpath, duration=q["duration"], split=q["split"], shots=shots)
        )
    return HomageCorpus(
        root=root,
        reference_dir=video_root / "references",
        references=tuple(ref_paths.values()),
        queries=tuple(queries),
        manifest=root / "manifest.json",
    )


# ----------------------------------------------------------------------------- splits


def deal_blocks(
    rng: np.random.Generator,
    references: Sequence[dict[str, Any]],
    *,
    block_seconds: tuple[float, float] = _BLOCK_S,
    train_share: float = _TRAIN_SHARE,
) -> list[dict[str, Any]]:
    """Cut every reference timeline into blocks and give each block a split (pure).

    Blocks last ``block_seconds`` (a shorter tail joins the block before it; a short
    reference is one block).  Blocks go to ``train`` in shuffled order until ``train_share``
    of the reference seconds is reached, the rest to ``test``; each split gets at least one
    block when there are two.

    Returns
    -------
    list of dict
        ``{"reference", "index", "start", "end", "split"}`` in reference and time order.
    """
    blocks: list[dict[str, Any]] = []
    for ref in references:
        duration = float(ref["duration"])
        t, k = 0.0, 0
        while duration - t > 1e-6:
            end = t + float(rng.uniform(*block_seconds))
            if duration - end < block_seconds[0] / 2:
                end = duration
            blocks.append(
                {"reference": ref["key"], "index": k, "start": round(t, 6), "end": round(end, 6)}
            )
            t, k = end, k + 1
    total = sum(b["end"] - b["start"] for b in blocks)
    train = 0.0
    order = [int(i) for i in rng.permutation(len(blocks))]
    for i in order:
        block = blocks[i]
        block["split"] = "train" if train < train_share * total else "test"
        if block["split"] == "train":
            train += block["end"] - block["start"]
    if len(blocks) > 1 and all(b["split"] == "train" for b in blocks):
        blocks[order[-1]]["split"] = "test"
    return blocks


# ----------------------------------------------------------------------------- styles


def draw_style(rng: np.random.Generator, style: str) -> dict[str, Any]:
    """Seeded parameters of one style (JSON-ready; see :func:`style_graph` for their use)."""
    s: dict[str, Any] = {"style": style}
    if style == "cel":
        s["sigma_r"] = round(float(rng.uniform(0.06, 0.15)), 3)
        s["smooth"] = round(float(rng.uniform(2.5, 4.5)), 2)
        s["levels"] = int(rng.integers(4, 8))
        s["edge_low"] = round(float(rng.uniform(0.06, 0.12)), 3)
        s["edge_high"] = round(float(rng.uniform(0.18, 0.3)), 3)
        s["saturation"] = round(float(rng.uniform(1.1, 1.5)), 3)
    elif style == "painterly":
        s["radius"] = int(rng.integers(3, 6))
        s["step"] = int(rng.integers(16, 25))
        s["saturation"] = round(float(rng.uniform(1.4, 1.8)), 3)
        s["strokes"] = round(float(rng.uniform(1.8, 2.8)), 2)
        s["texture"] = int(rng.integers(12, 23))
        s["seed"] = int(rng.integers(2**31))
    elif style == "sketch":
        s["sigma"] = round(float(rng.uniform(4.0, 9.0)), 2)
        s["paper"] = [
            round(float(rng.uniform(0.95, 1.0)), 3),
            round(float(rng.uniform(0.88, 0.97)), 3),
            round(float(rng.uniform(0.75, 0.92)), 3),
        ]
        s["gamma"] = round(float(rng.uniform(1.8, 2.6)), 2)
        s["grain"] = int(rng.integers(3, 9))
        s["seed"] = int(rng.integers(2**31))
    elif style == "grade":
        s["curves"] = _CURVES[int(rng.integers(len(_CURVES)))]
        hue = float(rng.uniform(30.0, 150.0))
        s["hue"] = round(hue if rng.random() < 0.5 else -hue, 2)
        s["saturation"] = round(
            float(rng.choice([rng.uniform(0.4, 0.7), rng.uniform(1.3, 1.8)])), 3
        )
        mix = rng.uniform(0.15, 0.4, size=3)
        s["mix"] = [round(float(x), 3) for x in mix]
    elif style == "reframe":
        s["zoom"] = round(float(rng.uniform(1.15, 1.5)), 3)
        u, v = rng.random(2)
        if abs(u - 0.5) < 0.25 and abs(v - 0.5) < 0.25:  # off-centre
            u = 0.1 if u < 0.5 else 0.9
        s["u"], s["v"] = round(float(u), 3), round(float(v), 3)
        s["corners"] = [round(float(x), 4) for x in rng.uniform(0.0, 0.07, size=8)]
    elif style == "mirror":
        pass
    else:
        raise HomageError(f"unknown style {style!r}; known: {list(STYLES)}")
    return s


def style_graph(
    styles: Sequence[dict[str, Any]], width: int, height: int, *, zoom: bool = True
) -> str:
    """The ffmpeg ``filter_complex`` turning ``[0:v]`` into ``[out]`` in the given styles.

    Every filter works frame by frame (no temporal filter), so frame ``k`` of the output is
    frame ``k`` of the input in another look: the styles change pixels, never timing.
    Order: re-framing (zoom and move when ``zoom``, else the zoom was done upstream; then a
    perspective warp whose corners lie inside the frame, so no border shows), grading, then
    the medium (cel, painterly or sketch).  ``mirror`` is done upstream (``hflip``).
    """
    by = {s["style"]: s for s in styles}
    W, H = width, height
    chain: list[str] = []
    graph: list[str] = []
    if "reframe" in by:
        r = by["reframe"]
        if zoom:
            cw, ch = _even(W / r["zoom"]), _even(H / r["zoom"])
            chain.append(
                f"crop={cw}:{ch}:{round((W - cw) * r['u'])}:{round((H - ch) * r['v'])},"
                f"scale={W}:{H}:flags=bicubic"
            )
        a = r["corners"]
        chain.append(
            f"perspective=x0={a[0] * W:.1f}:y0={a[1] * H:.1f}:"
            f"x1={(1 - a[2]) * W:.1f}:y1={a[3] * H:.1f}:"
            f"x2={a[4] * W:.1f}:y2={(1 - a[5]) * H:.1f}:"
            f"x3={(1 - a[6]) * W:.1f}:y3={(1 - a[7]) * H:.1f}:interpolation=linear"
        )
    if "grade" in by:
        g = by["grade"]
        mr, mg, mb = g["mix"]
        chain += [
            f"curves=preset={g['curves']}",
            f"hue=h={g['hue']}:s={g['saturation']}",
            f"colorchannelmixer=rr={1 - mr:.3f}:rg={mr:.3f}:gg={1 - mg:.3f}:gb={mg:.3f}:"
            f"bb={1 - mb:.3f}:br={mb:.3f}",
        ]
    head = ",".join(chain) or "null"
    if "cel" in by:
        c = by["cel"]
        q = _posterise(256 // c["levels"])
        graph += [
            f"[0:v]{head},split[a][b]",
            f"[a]bilateral=sigmaS=0.1:sigmaR={c['sigma_r']},smartblur=lr={c['smooth']}:ls=0.8,"
            f"format=gbrp,lutrgb=r={q}:g={q}:b={q},format=yuv444p,"
            f"eq=saturation={c['saturation']},format=gbrp[c]",
            f"[b]format=gray,gblur=sigma=1,edgedetect=low={c['edge_low']}:high={c['edge_high']},"
            "negate,format=gbrp[e]",
            "[c][e]blend=all_mode=multiply,format=yuv420p[out]",
        ]
    elif "painterly" in by:
        p = by["painterly"]
        q = _posterise(p["step"])
        graph.append(
            f"[0:v]{head},median=radius={p['radius']},format=gbrp,lutrgb=r={q}:g={q}:b={q},"
            f"format=yuv444p,eq=saturation={p['saturation']}:contrast=1.3,"
            f"unsharp=9:9:{p['strokes']},noise=alls={p['texture']}:allf=p:all_seed={p['seed']},"
            "format=yuv420p[out]"
        )
    elif "sketch" in by:
        s = by["sketch"]
        pr, pg, pb = s["paper"]
        graph += [
            f"[0:v]{head},format=gray,split[a][b]",
            f"[b]negate,gblur=sigma={s['sigma']}[bb]",
            f"[a][bb]blend=all_mode=dodge,lutyuv=y='255*pow(val/255\\,{s['gamma']})',format=gbrp,"
            f"colorchannelmixer=rr={pr}:gg={pg}:bb={pb},"
            f"noise=alls={s['grain']}:allf=p:all_seed={s['seed']},format=yuv420p[out]",
        ]
    else:
        graph.append(f"[0:v]{head},format=yuv420p[out]")
    return ";".join(graph)


def _posterise(step: int) -> str:
    """An ``lutrgb`` expression that flattens each channel to bands ``step`` levels wide."""
    return f"'trunc(val/{step})*{step}+{step // 2}'"


def _ordered(styles: Sequence[str]) -> tuple[str, ...]:
    return tuple(s for s in STYLES if s in styles)


# ----------------------------------------------------------------------------- planning


def plan_homage_queries(
    *,
    seed: int,
    n_queries: int,
    query_seconds: tuple[float, float],
    max_homages: int,
    max_copies: int,
    references: Sequence[dict[str, Any]],
    clips: Sequence[dict[str, Any]],
    stills: Sequence[str],
    combos: Sequence[tuple[str, ...]] = HOMAGE_COMBOS,
    has_font: bool = True,
    extra_train: int = 0,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every random choice of the corpus, as JSON-ready dicts (pure: no media is read).

    ``references`` entries need ``key``, ``duration``, ``fps`` (a fraction string), ``width``,
    ``height`` (``sar`` optional); ``clips`` (held-out footage) ``source``, ``start``, ``end``,
    ``width``, ``height``.  ``extra_train`` more ``train`` queries follow the ``n_queries``
    dealt between the splits, drawn from random streams of their own: the first
    ``n_queries`` plans (the test split among them) are the same whatever ``extra_train`` is,
    so a larger training split leaves the figures the benchmark reports comparable.

    Returns
    -------
    blocks, plans
        The split of the reference timelines (see :func:`deal_blocks`) and one plan per
        query: canvas, split, shots with exact frame counts; borrowed shots stay inside one
        block of the query's split.
    """
    if not references:
        raise HomageError("the homage corpus needs at least one reference")
    rng = np.random.default_rng([seed, 101])
    blocks = deal_blocks(rng, references)
    n_train = min(n_queries - 1, max(1, round(_TRAIN_SHARE * n_queries)))
    train = set(rng.choice(n_queries, size=n_train, replace=False).tolist())
    splits = ["train" if i in train else "test" for i in range(n_queries)]
    copy_cells = [c for c in COPY_CELLS if has_font or c != ("overlay", "text")]
    groups = {name: [i for i in range(n_queries) if splits[i] == name]
              for name in ("train", "test")}
    counts = {i: count for mine in groups.values()
              for i, count in _deal_counts(rng, mine, max_homages, max_copies).items()}
    decks = {name: _deal_decks(rng, mine, counts, combos, copy_cells)
             for name, mine in groups.items()}
    extra = list(range(n_queries, n_queries + extra_train))
    if extra:  # their own stream: the draws above stay the same
        extra_rng = np.random.default_rng([seed, 103])
        counts.update(_deal_counts(extra_rng, extra, max_homages, max_copies))
        decks["extra"] = _deal_decks(extra_rng, extra, counts, combos, copy_cells)
    splits += ["train"] * extra_train
    pool = _FootagePool(clips=list(clips), stills=list(stills))
    refs = {r["key"]: r for r in references}
    plans = []
    for i in range(n_queries + extra_train):
        qrng = np.random.default_rng([seed, 102, i])
        h, c = counts[i]
        deck = decks["extra" if i >= n_queries else splits[i]]
        borrowed = [("homage", deck["homage"].pop(0)) for _ in range(h)]
        borrowed += [("copy", deck["copy"].pop(0)) for _ in range(c)]
        borrowed = [borrowed[int(k)] for k in qrng.permutation(len(borrowed))]
        mine = [b for b in blocks if b["split"] == splits[i]]
        plans.append(_plan_query(i, qrng, splits[i], borrowed, mine, refs, pool, query_seconds))
    return blocks, plans


def _deal_counts(rng: np.random.Generator, mine: Sequence[int], max_homages: int,
                 max_copies: int) -> dict[int, tuple[int, int]]:
    """How many homage and copy shots each query of one group borrows: a share of the
    group borrows nothing (the negatives), a share only copies."""
    n_negative = max(1, round(_NEGATIVE_SHARE * len(mine))) if len(mine) > 1 else 0
    negative = set(rng.choice(mine, size=n_negative, replace=False).tolist())
    counts = {}
    for i in mine:
        if i in negative:
            counts[i] = (0, 0)
            continue
        copy_only = rng.random() < _COPY_ONLY_SHARE
        homages = 0 if copy_only else int(rng.integers(1, max_homages + 1))
        copies = int(rng.integers(1 if copy_only else 0, max_copies + 1))
        counts[i] = (homages, copies)
    return counts


def _deal_decks(rng: np.random.Generator, mine: Sequence[int],
                counts: dict[int, tuple[int, int]], combos: Sequence[tuple[str, ...]],
                copy_cells: Sequence[tuple[str, Any]]) -> dict[str, list[Any]]:
    """The homage style combinations and copy cells of one group, in balanced rounds, a
    plain copy first (the one cell no group may lack)."""
    deck = {
        "homage": _balanced(rng, list(combos), sum(counts[i][0] for i in mine)),
        "copy": _balanced(rng, list(copy_cells), sum(counts[i][1] for i in mine)),
    }
    copies = deck["copy"]
    if copies:
        copies.pop(copies.index(("none", None)) if ("none", None) in copies else -1)
        copies.insert(0, ("none", None))
    return deck


def _plan_query(
    index: int,
    rng: np.random.Generator,
    split: str,
    borrowed: list[tuple[str, Any]],
    blocks: list[dict[str, Any]],
    refs: dict[str, dict[str, Any]],
    pool: _FootagePool,
    query_seconds: tuple[float, float],
) -> dict[str, Any]:
    """Canvas, shot list (exact frame counts) and placement of one query's borrowed shots."""
    width, height, fps = _CANVASES[int(rng.integers(len(_CANVASES)))]
    duration = float(rng.uniform(*query_seconds))
    n_total = round(duration * fps)
    shots: list[dict[str, Any]] = []
    placed: dict[tuple[str, int], list[tuple[float, float]]] = {}
    drafts = []
    for kind, what in borrowed:
        if kind == "homage":
            styles = [draw_style(rng, s) for s in what]
            transforms: list[dict[str, Any]] = []
            speed = 1.0
            if rng.random() < _SPEED_SHARE:
                while abs(math.log(speed)) < math.log(1.05):
                    speed = round(_log_uniform(rng, *_SPEED_RANGE), 4)
        else:
            family, cell = what
            styles = []
            transforms = [] if family == "none" else [draw_transform(rng, family, cell)]
            speed = float(transforms[0]["speed"]) if family == "speed" else 1.0
        seconds = _log_uniform(rng, *_SHOT_S)
        drafts.append((kind, styles, transforms, speed, seconds))
    seconds_left = _MAX_BORROWED_SHARE * n_total / fps
    lengths = [d[4] for d in drafts]
    while sum(lengths) > seconds_left:  # shorten the longest shots, drop if need be
        k = int(np.argmax(lengths))
        if lengths[k] > _SHOT_S[0]:
            lengths[k] = max(_SHOT_S[0], lengths[k] * 0.85)
        else:
            lengths.pop()
            drafts.pop()
    for (kind, styles, transforms, speed, _), seconds in zip(drafts, lengths, strict=True):
        spot = _place(rng, blocks, refs, placed, speed, seconds, fps)
        if spot is None:
            logger.debug("query %d: no room left for a %.1f s shot", index, seconds)
            continue
        ref, block, n, frame = spot
        start = float(frame / Fraction(ref["fps"]))
        content = {
            "type": "reference",
            "source": ref["key"],
            "start": round(start, 6),
            "frame": frame,
            "speed": speed,
            "width": ref["width"],
            "height": ref["height"],
            "sar": ref.get("sar", 1.0),
            "fps": ref["fps"],
            "fit": "pad",
        }
        shot: dict[str, Any] = {
            "kind": kind,
            "frames": n,
            "content": content,
            "transforms": transforms,
            "styles": styles,
            "secondary": None,
            "length_bin": list(_SHOT_S),
            "block": [block["reference"], block["index"]],
        }
        if kind == "homage":
            shot["transforms"] = _homage_geometry(ref, (width, height), styles)
        shots.append(shot)
    remaining = n_total - sum(s["frames"] for s in shots)
    fillers = []
    while remaining > 0:
        n = round(float(rng.uniform(*_DISTRACTOR_SHOT_S)) * fps)
        if remaining - n < fps:
            n = remaining
        fillers.append(n)
        remaining -= n
    for n in fillers:
        decor: list[dict[str, Any]] = []
        styles = []
        if rng.random() < _STYLED_DISTRACTOR_SHARE:
            combo = DISTRACTOR_COMBOS[int(rng.integers(len(DISTRACTOR_COMBOS)))]
            styles = [draw_style(rng, s) for s in combo]
            if "mirror" in combo:
                decor.append({"family": "flip", "label": "flip:h"})
        elif rng.random() < _DECOR_SHARE / (1 - _STYLED_DISTRACTOR_SHARE):
            family = _DECOR_FAMILIES[int(rng.integers(len(_DECOR_FAMILIES)))]
            cells = CELLS[family]
            decor.append(draw_transform(rng, family, cells[int(rng.integers(len(cells)))]))
        shots.append(
            {
                "kind": "distractor",
                "frames": n,
                "content": pool.draw(rng, n / fps),
                "transforms": decor,
                "styles": styles,
                "secondary": None,
            }
        )
    shots = [shots[int(i)] for i in rng.permutation(len(shots))]
    offset = 0
    for k, shot in enumerate(shots):
        shot["index"] = k
        shot["query_start_frame"] = offset
        offset += shot["frames"]
    return {
        "index": index,
        "split": split,
        "path": f"queries/{split}/q{index:04d}.mp4",
        "width": width,
        "height": height,
        "fps": fps,
        "frames": offset,
        "duration": round(offset / fps, 6),
        "crf": int(rng.integers(_FINAL_CRF[0], _FINAL_CRF[1] + 1)),
        "shots": shots,
    }


def _place(
    rng: np.random.Generator,
    blocks: list[dict[str, Any]],
    refs: dict[str, dict[str, Any]],
    placed: dict[tuple[str, int], list[tuple[float, float]]],
    speed: float,
    seconds: float,
    fps: int,
) -> tuple[dict[str, Any], dict[str, Any], int, int] | None:
    """Where a borrowed shot of ``seconds`` goes: a block of the split, its length in query
    frames (shortened to fit the block) and its first reference frame, not overlapping what
    the query already borrows from that block; ``None`` when nothing fits."""
    for _ in range(5):
        block = _pick_block(rng, blocks, speed)
        if block is None:
            return None
        ref = refs[block["reference"]]
        ref_fps = Fraction(ref["fps"])
        room = block["end"] - block["start"] - 2 * _GUARD_S - 1.0 / float(ref_fps)
        n = max(round(_MIN_SHOT_S * fps), min(round(seconds * fps), math.floor(room / speed * fps)))
        span = n / fps * speed
        if span > room:
            continue
        taken = placed.setdefault((block["reference"], block["index"]), [])
        latest = block["end"] - _GUARD_S - 1.0 / float(ref_fps) - span
        for _ in range(20):
            frame = math.ceil(float(rng.uniform(block["start"] + _GUARD_S, latest)) * ref_fps)
            start = float(frame / ref_fps)
            if all(start + span <= a or start >= b for a, b in taken):
                taken.append((start, start + span))
                return ref, block, n, frame
    return None


def _pick_block(
    rng: np.random.Generator, blocks: list[dict[str, Any]], speed: float
) -> dict[str, Any] | None:
    """A block of the split, drawn in proportion to its length (long enough for 1 s)."""
    fitting = [b for b in blocks if b["end"] - b["start"] - 2 * _GUARD_S - 0.1 >= speed]
    if not fitting:
        return None
    w = np.array([b["end"] - b["start"] for b in fitting])
    return fitting[int(rng.choice(len(fitting), p=w / w.sum()))]


def _homage_geometry(
    ref: dict[str, Any], canvas: tuple[int, int], styles: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The copy-bench transforms that frame a homage shot: a crop to the canvas aspect (a
    re-staged shot fills its frame), zoomed and off-centre when re-framed, and ``flip`` for
    ``mirror`` (both done by :func:`~homage.bench.video_corpus.shot_command`)."""
    by = {s["style"]: s for s in styles}
    w, h, sar = ref["width"], ref["height"], ref.get("sar", 1.0)
    aspect = canvas[0] / canvas[1]
    cw, ch = (h * aspect / sar, float(h)) if w * sar / h > aspect else (float(w), w * sar / aspect)
    u = v = 0.5
    if "reframe" in by:
        r = by["reframe"]
        cw, ch = cw / r["zoom"], ch / r["zoom"]
        u, v = r["u"], r["v"]
    out = [
        {
            "family": "crop",
            "label": "crop:homage",
            "x": round(1 - cw / w, 4),
            "y": round(1 - ch / h, 4),
            "u": u,
            "v": v,
        }
    ]
    if "mirror" in by:
        out.append({"family": "flip", "label": "flip:h"})
    return out


def shot_truth(plan: dict[str, Any], shot: dict[str, Any]) -> dict[str, Any]:
    """Ground truth of one homage or copy shot (times by
    :func:`~homage.bench.video_corpus.copy_truth`: exact, from frame counts)."""
    t = copy_truth(plan, shot)
    speed = float(shot["content"]["speed"])
    if shot["kind"] == "homage":
        styles = _ordered([s["style"] for s in shot["styles"]])
        kind, label = "visual_homage", "homage:" + "+".join(styles)
    else:
        styles = tuple(t["transforms"])
        kind, label = "visual_copy", "copy:" + ("+".join(styles) or "none")
    return {
        "kind": kind,
        "reference": t["reference"],
        "query_start": t["query_start"],
        "query_end": t["query_end"],
        "reference_start": t["reference_start"],
        "reference_end": t["reference_end"],
        "styles": list(styles),
        "label": label,
        "speed": speed,
        "mirrored": "mirror" in styles or "flip" in styles,
        "shot": shot["index"],
        "block": shot["block"],
    }


# ----------------------------------------------------------------------------- rendering


@dataclass(frozen=True)
class _HomagePaths(_Paths):
    """The video corpus's paths, plus pre-rendered styled shots read back as footage."""

    def of(self, spec: dict[str, Any]) -> Path:
        if spec.get("piece"):
            return Path(spec["piece"])
        return super().of(spec)


def _style_shot(
    plan: dict[str, Any], shot: dict[str, Any], paths: _HomagePaths, work: Path
) -> dict[str, Any]:
    """Render a shot with styles to a lossless piece; return the shot that reads it back."""
    n = shot["frames"]
    W, H = plan["width"], plan["height"]
    plain = work / f"plain-s{shot['index']:03d}.nut"
    styled = work / f"styled-s{shot['index']:03d}.nut"
    cmd, _ = shot_command(plan, shot, paths, plain)
    _run(cmd, path=plain)
    graph = style_graph(shot["styles"], W, H, zoom=shot["kind"] != "homage")
    shot["filter"] = graph
    _run(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-y",
            "-i",
            str(plain),
            "-filter_complex",
            graph,
            "-map",
            "[out]",
            "-frames:v",
            str(n),
            "-c:v",
            "rawvideo",
            "-f",
            "nut",
            "-fflags",
            "+bitexact",
            "-flags:v",
            "+bitexact",
            str(styled),
        ],
        path=styled,
    )
    plain.unlink()
    return {
        "kind": f"styled-{shot['kind']}",
        "frames": n,
        "index": shot["index"],
        "query_start_frame": shot["query_start_frame"],
        "content": {
            "type": "clip",
            "source": f"styled:{shot['index']}",
            "piece": str(styled),
            "start": 0.0,
            "speed": 1.0,
            "width": W,
            "height": H,
            "sar": 1.0,
            "fit": "pad",
        },
        "transforms": [],
        "secondary": None,
    }


def _render(plan: dict[str, Any], paths: _HomagePaths) -> dict[str, Any]:
    """Style the shots that have styles, then let the video corpus cut the query."""
    work = paths.work / f"q{plan['index']:04d}"
    work.mkdir(parents=True, exist_ok=True)
    shots = [_style_shot(plan, s, paths, work) if s["styles"] else s for s in plan["shots"]]
    _render_query({**plan, "shots": shots}, paths)
    truth = [shot_truth(plan, s) for s in plan["shots"] if s["kind"] in ("homage", "copy")]
    truth.sort(key=lambda t: t["query_start"])
    logger.debug("wrote %s (%d borrowed shots)", plan["path"], len(truth))
    return {**plan, "truth": truth, "negative": not truth}


def _build(
    root: Path,
    video: VideoCorpus,
    cache_dir: Path,
    *,
    size: str,
    seed: int,
    sizes: dict[str, Any],
    footage: str,
    combos: list[tuple[str, ...]],
    progress: Callable[[int, int], None] | None,
    workers: int,
) -> HomageCorpus:
    """Build a corpus into ``root`` (see :func:`build_homage_corpus`), manifest last."""
    started = time.monotonic()
    _require_tools()
    font = _find_font()
    vmanifest = json.loads(video.manifest.read_text(encoding="utf-8"))
    references = vmanifest["references"]
    clips, stills = vmanifest["held_out"], vmanifest["stills"]
    sources: dict[str, VideoSource] = {}
    if footage == "real" and (clips or stills):
        keys = sorted({c["source"] for c in clips} | set(stills))
        sources, skipped = fetch_video_sources(cache_dir / "video-sources", keys=keys)
        clips = [c for c in clips if c["source"] in sources]
        stills = [s for s in stills if s in sources]
        if skipped:
            logger.warning("homage corpus: distractor footage skipped: %s", sorted(skipped))
    blocks, plans = plan_homage_queries(
        seed=seed,
        n_queries=sizes["n_queries"],
        query_seconds=sizes["query_seconds"],
        max_homages=sizes["max_homages"],
        max_copies=sizes["max_copies"],
        references=references,
        clips=clips,
        stills=stills,
        combos=combos,
        has_font=font is not None,
        extra_train=sizes["extra_train"],
    )
    shutil.rmtree(root, ignore_errors=True)
    for split in ("train", "test"):
        (root / "queries" / split).mkdir(parents=True)
    work = root / "work"
    work.mkdir()
    os.symlink(os.path.relpath(video.reference_dir, root), root / "references")
    logger.info(
        "building homage corpus %s: %d references, %d blocks, %d queries",
        root,
        len(references),
        len(blocks),
        len(plans),
    )
    absolute = [{**r, "path": str(video.root / r["path"])} for r in references]
    paths = _HomagePaths(root=root, work=work, references=absolute, sources=sources, font=font)
    queries = render_all(
        plans, functools.partial(_render, paths=paths), workers=workers, progress=progress
    )
    shutil.rmtree(work, ignore_errors=True)
    used = {
        c["source"]
        for q in queries
        for s in q["shots"]
        for c in [s["content"]]
        if c["type"] in ("clip", "still")
    }
    manifest = {
        "version": MANIFEST_VERSION,
        "generator": __name__,
        "size": size,
        "footage": footage,
        "seed": seed,
        "sizes": {**sizes, "query_seconds": list(sizes["query_seconds"])},
        "styles": list(STYLES),
        "homage_combos": ["+".join(c) for c in combos],
        "distractor_combos": ["+".join(c) for c in DISTRACTOR_COMBOS],
        "copy_cells": [[f, list(c) if isinstance(c, tuple) else c] for f, c in COPY_CELLS],
        "tools": _tool_versions(),
        "font": font,
        "video_corpus": {"name": video.root.name, "identity": _identity(vmanifest)},
        "references": references,
        "blocks": blocks,
        "split_seconds": {
            name: round(sum(b["end"] - b["start"] for b in blocks if b["split"] == name), 6)
            for name in ("train", "test")
        },
        "sources": {k: sources[k].to_json() for k in sorted(used) if k in sources},
        "held_out": clips,
        "stills": stills,
        "queries": queries,
        "build_seconds": round(time.monotonic() - started, 1),
    }
    _write_json_atomic(root / "manifest.json", manifest)
    logger.info("homage corpus %s built in %.1f s", root, time.monotonic() - started)
    return load_homage_corpus(root)


def _identity(video_manifest: dict[str, Any]) -> str:
    """What of the video corpus this corpus depends on: its recipe and reference files."""
    keep = {k: video_manifest.get(k) for k in ("version", "references", "held_out", "stills")}
    return hashlib.sha256(json.dumps(keep, sort_keys=True).encode()).hexdigest()


def _load_if_current(root: Path) -> HomageCorpus | None:
    """The cached corpus when its manifest is of this version, the video corpus under it is
    the one it was built on, and all files exist."""
    if not (root / "manifest.json").is_file():
        return None
    try:
        corpus = load_homage_corpus(root)
        manifest = json.loads(corpus.manifest.read_text(encoding="utf-8"))
        video_manifest = corpus.reference_dir.parent / "manifest.json"
        identity = _identity(json.loads(video_manifest.read_text(encoding="utf-8")))
    except (OSError, HomageError, KeyError, TypeError, ValueError) as exc:
        logger.info("rebuilding homage corpus %s: %s", root, exc)
        return None
    if identity != manifest["video_corpus"]["identity"]:
        logger.info("rebuilding homage corpus %s: its video corpus changed", root)
        return None
    missing = [
        p for p in (*corpus.references, *(q.path for q in corpus.queries)) if not p.is_file()
    ]
    if missing:
        logger.info("rebuilding homage corpus %s: %d files missing", root, len(missing))
        return None
    return corpus
