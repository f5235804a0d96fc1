"""Seeded corpus of made-up songs that sample real music, for ``homage bench audio``.

Why a generator and not a fixed data set: nothing can be downloaded here, and a benchmark
needs ground truth that no public sample database gives with second-level precision. So the
corpus is *made*: real, openly licensed music installed from Debian packages is split into
reference tracks (what a library indexes) and host tracks (never indexed), and each query is
a short song built from host music, a drum loop made of one-shots and spoken prompts, into
which 0-3 excerpts of references are mixed after one of the transforms producers use
(resampling, pitch shift, time stretch), an EQ and a level.  Every random choice comes from
a seeded generator and is written to a JSON manifest, together with the exact source of
every ingredient, so a corpus can be rebuilt and audited.

Layout of a corpus directory (``cache_dir / "audio-quick-seed0"`` and the like)::

    manifest.json        written last and atomically: its presence means "complete"
    queries/q0000.mp3    lossy-encoded queries (mp3, ogg vorbis or aac in m4a)

References are used in place (paths to the installed files); the ``ufoai-music`` tracks
live inside a zip and are extracted once to ``cache_dir / "sources"``.

Decoding, pitch shifting and time stretching go through the Debian ``ffmpeg`` and ``sox``
command-line tools (bench corpus making only, see DEPENDENCIES.md); mixing is numpy.
Generated material is 22050 Hz mono.
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import math
import os
import shutil
import subprocess
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.signal import butter, sosfiltfilt

from homage.bench.manifests import read_manifest, render_all
from homage.bench.metrics import SegmentPair
from homage.errors import HomageError

logger = logging.getLogger(__name__)

MANIFEST_VERSION = 2
"""Bump whenever the recipe changes: a cached corpus with another version is rebuilt."""

SAMPLE_RATE = 22050
"""Rate of all generated material (Hz, mono)."""

ENCODE_RATE = 44100
"""Rate of the encoded queries; libvorbis refuses 96-128 kb/s for 22050 Hz mono."""

FAMILIES = ("none", "speed", "pitch", "tempo")
SNR_GRID_DB = (-6.0, -3.0, 0.0, 3.0, 6.0, 9.0, 12.0)
"""Sample-to-host ratios drawn, balanced, so every cell (the hard −6 dB one included) exists."""

SPEED_BINS = ((0.75, 0.9), (0.9, 1.1), (1.1, 1.33))
TEMPO_BINS = ((0.8, 0.9), (0.9, 1.1), (1.1, 1.25))
PITCH_BINS = ((1.0, 3.0), (3.0, 5.0))
"""Strength cells of the breakdown; the outer edges (×0.75, ×1.33, ±5 st...) are drawn exactly
for the first sample of the cell and for 30% of the rest, so the hardest cases always exist."""

_EXTREME_SHARE = 0.3
_MIN_REFERENCE_S = 30.0
_MIN_HOST_S = 5.0
_FULL_MIN_HOURS = 6.0
_SAMPLE_LEN_S = (1.5, 15.0)
_QUERY_LEN_S = (30.0, 90.0)
_NEGATIVE_SHARE = 0.25
_LOOP_CYCLE = (1, 1, 2, 3, 4)
_BITRATES_KBPS = (64, 96, 128)
_CODECS = {  # name: (ffmpeg encoder, file suffix, muxer)
    "mp3": ("libmp3lame", ".mp3", "mp3"),
    "vorbis": ("libvorbis", ".ogg", "ogg"),
    "aac": ("aac", ".m4a", "mp4"),
}
_HOST_RMS_DB = -20.0
_CROSSFADE_S = 0.25
_EDGE_FADE_S = 0.005
_CONTEXT_S = 0.3
_TAIL_GUARD_S = 8.0
"""Samples avoid a reference's last seconds: several warzone2100 tracks end on the same tail."""

_EXCLUDED = {
    "warzone2100-music:menu.opus": "same recording as albums/aftermath_soundtrack/"
    "menu_enhanced.opus",
    "warzone2100-music:albums/original_soundtrack/track3.opus": "remastered as "
    "albums/aftermath_soundtrack/track3_enhanced.opus",
    "singularity-music:lose/March Thee to Dis.ogg": "shares audio with Advanced Simulacra.ogg",
    "ufoai-music:music/dynamictest-battle-41-74sec.ogg": "test snippet, not a track",
    "ufoai-music:music/dynamictest-normal-08-35sec.ogg": "test snippet, not a track",
    "wesnoth-1.16-music:silence.ogg": "silence",
    "warzone2100-music:albums/legacy_soundtrack/track15.opus": "shares audio with "
    "albums/legacy_soundtrack/track10.opus (found by homage on negative queries)",
    "ufoai-music:music/van_theme.ogg": "states the theme of van_geoscape.ogg, transposed "
    "(found by homage on negative queries)",
}
"""Tracks left out because the same audio exists in another track (checked by
cross-correlation): a reference whose audio also sits in a host or in another reference would
turn correct detections into false positives."""

_KICK_PATTERNS = ((0, 8), (0, 6, 8), (0, 7, 10), (0, 3, 8, 11), (0, 4, 8, 12), (0, 8, 10))
_SNARE_PATTERNS = ((4, 12), (4, 12, 15), (4, 10, 12))
_HAT_PATTERNS = (tuple(range(0, 16, 2)), tuple(range(16)), (2, 6, 10, 14))


@dataclass(frozen=True)
class _Package:
    """A Debian package the corpus takes material from."""

    name: str
    root: str
    suffixes: tuple[str, ...]
    kind: str  # "music", "drums" or "speech"


_MUSIC_PACKAGES = (
    _Package("warzone2100-music", "/usr/share/games/warzone2100/music", (".opus",), "music"),
    _Package(
        "wesnoth-1.16-music", "/usr/share/games/wesnoth/1.16/data/core/music", (".ogg",), "music"
    ),
    _Package("singularity-music", "/usr/share/games/singularity/music", (".ogg",), "music"),
    _Package("ufoai-music", "/usr/share/games/ufoai/base", (".pk3",), "music"),
)
_DRUM_PACKAGE = _Package(
    "hydrogen-data", "/usr/share/hydrogen/data/drumkits", (".wav", ".flac"), "drums"
)
_SPEECH_PACKAGE = _Package(
    "asterisk-core-sounds-en-wav", "/usr/share/asterisk/sounds", (".wav",), "speech"
)
PACKAGES = tuple(p.name for p in (*_MUSIC_PACKAGES, _DRUM_PACKAGE, _SPEECH_PACKAGE))
"""Debian packages the benchmark's set-up must install (plus ``ffmpeg`` and ``sox``)."""


@dataclass(frozen=True)
class SampleTruth:
    """One inserted sample occurrence; each repetition of a loop is its own entry.

    Attributes
    ----------
    segment:
        Query path ↔ reference path, with the range of the occurrence in the query and the
        original excerpt range in the reference (seconds of each file's own timeline).  For
        speed and tempo changes the query range is the reference range's length / ratio.
    family:
        ``"none"``, ``"speed"`` (resampling), ``"pitch"`` (pitch only) or ``"tempo"``.
    strength:
        The ratio for speed and tempo (>1: faster in the query), semitones for pitch,
        1.0 for none.
    snr_db:
        Sample-to-host power ratio over the occurrence, in dB.
    label:
        Breakdown cell of the transform, e.g. ``"speed:x0.75-0.9"``, ``"pitch:+-3-5"``,
        ``"none"``; see :attr:`labels` for the SNR cell too.
    """

    segment: SegmentPair
    family: str
    strength: float
    snr_db: float
    label: str

    @property
    def labels(self) -> tuple[str, str]:
        """Every breakdown cell this occurrence belongs to: transform cell and ``"snr:-6"``."""
        return (self.label, f"snr:{self.snr_db:g}")


@dataclass(frozen=True)
class AudioCorpus:
    """A built corpus: what to index, what to query, and the truth to score against.

    Attributes
    ----------
    root:
        The corpus directory.
    references:
        Reference tracks to index (installed files, or extracted from the ufoai zip).
    queries:
        Every query file, negatives included, in manifest order.
    samples:
        Ground truth: one entry per inserted sample occurrence.
    negative_queries:
        Queries holding no sample (for the false-positive rate).
    manifest:
        The JSON file describing all of the above and the exact sources.
    """

    root: Path
    references: tuple[Path, ...]
    queries: tuple[Path, ...]
    samples: tuple[SampleTruth, ...]
    negative_queries: tuple[Path, ...]
    manifest: Path


@dataclass(frozen=True)
class _Source:
    """One usable file from a Debian package."""

    key: str  # "package:relative/path", stable across machines
    package: str
    version: str
    original: str  # installed file (the zip for ufoai-music)
    member: str | None  # member inside ``original`` when it is a zip
    path: Path  # decodable file (installed, or where the member is extracted)
    duration: float

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "path": str(self.path),
            "package": self.package,
            "version": self.version,
            "original": self.original,
            "member": self.member,
            "duration": round(self.duration, 6),
        }


# ----------------------------------------------------------------------------- public API


def build_audio_corpus(
    cache_dir: Path,
    *,
    quick: bool,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    n_queries: int | None = None,
    n_references: int | None = None,
    n_hosts: int | None = None,
    workers: int = 2,
) -> AudioCorpus:
    """Build (or reuse from the cache) the audio-sample benchmark corpus.

    Parameters
    ----------
    cache_dir:
        Where corpora are cached; this one goes to ``audio-{quick|full}-seed{seed}`` inside
        it (with a suffix when sizes are overridden).
    quick:
        20 references and ~30 queries (CI), instead of ≥ 120 references totalling ≥ 6 h and
        ~200 queries.
    seed:
        Every random choice derives from it: same seed, same corpus.
    progress:
        Called as ``progress(done, total)`` after each query is written.
    n_queries, n_references, n_hosts:
        Override the sizes (tests build tiny corpora); ``n_hosts=None`` keeps the default
        (12 for quick, every non-reference track for full).
    workers:
        Queries rendered concurrently.  Threads suffice: the heavy work runs in ``ffmpeg`` and
        ``sox`` child processes.

    Returns
    -------
    AudioCorpus
        The corpus, read back from its manifest.

    Raises
    ------
    HomageError
        A Debian source package or a tool is missing, or a tool fails.
    """
    cache_dir = Path(cache_dir)
    sizes = {
        "n_queries": n_queries if n_queries is not None else (30 if quick else 200),
        "n_references": n_references if n_references is not None else (20 if quick else 120),
        "n_hosts": n_hosts if n_hosts is not None else (12 if quick else None),
    }
    name = f"audio-{'quick' if quick else 'full'}-seed{seed}"
    overrides = [
        f"{tag}{value}"
        for tag, value in (("q", n_queries), ("r", n_references), ("h", n_hosts))
        if value is not None
    ]
    if overrides:
        name += "-" + "-".join(overrides)
    root = cache_dir / name
    cached = _load_if_current(root)
    if cached is not None:
        logger.info("audio corpus %s is cached", root)
        return cached
    if sizes["n_queries"] < 1 or sizes["n_references"] < 1:
        raise HomageError("the audio corpus needs at least one query and one reference")
    started = time.monotonic()
    _require_tools()
    versions, music, drums, speech = _inventory()
    rng = np.random.default_rng([seed, 0])
    references, hosts = _split(
        music,
        rng=rng,
        n_references=sizes["n_references"],
        n_hosts=sizes["n_hosts"],
        min_hours=0.0 if quick or n_references is not None else _FULL_MIN_HOURS,
    )
    references = [_materialise(t, cache_dir) for t in references]
    hosts = [_materialise(t, cache_dir) for t in hosts]
    plans = _plan_queries(
        seed=seed,
        n_queries=sizes["n_queries"],
        references=references,
        hosts=hosts,
        drums=drums,
        speech=speech,
    )
    sources = {s.key: s for s in (*references, *hosts, *_flat_drums(drums), *speech)}

    shutil.rmtree(root / "queries", ignore_errors=True)
    (root / "queries").mkdir(parents=True, exist_ok=True)
    logger.info(
        "building audio corpus %s: %d references (%.2f h), %d hosts, %d queries",
        root,
        len(references),
        sum(t.duration for t in references) / 3600,
        len(hosts),
        len(plans),
    )
    queries = render_all(
        plans, functools.partial(_render_query, root=root, sources=sources, seed=seed),
        workers=workers, progress=progress)
    samples = [truth for q in queries for truth in q.pop("truth")]

    manifest = {
        "version": MANIFEST_VERSION,
        "generator": __name__,
        "quick": quick,
        "seed": seed,
        "sizes": sizes,
        "sample_rate": SAMPLE_RATE,
        "encode_rate": ENCODE_RATE,
        "tools": _tool_versions(),
        "packages": versions,
        "excluded": _EXCLUDED,
        "sources": {k: sources[k].to_json() for k in sorted(sources)},
        "references": [t.key for t in references],
        "hosts": [t.key for t in hosts],
        "queries": queries,
        "samples": samples,
        "negative_queries": [q["path"] for q in queries if not q["samples"]],
    }
    _write_json_atomic(root / "manifest.json", manifest)
    logger.info("audio corpus %s built in %.1f s", root, time.monotonic() - started)
    return load_audio_corpus(root)


def load_audio_corpus(root: Path) -> AudioCorpus:
    """Read a corpus from its manifest.

    Parameters
    ----------
    root:
        A directory made by :func:`build_audio_corpus`.

    Raises
    ------
    HomageError
        No manifest, an unreadable one, or one written by another version of the recipe.
    """
    root = Path(root).absolute()
    manifest = read_manifest(root, what="audio corpus", version=MANIFEST_VERSION)
    sources = manifest["sources"]
    samples = tuple(
        SampleTruth(
            segment=SegmentPair(
                query=str(root / s["query"]),
                reference=sources[s["reference"]]["path"],
                query_start=s["query_start"],
                query_end=s["query_end"],
                reference_start=s["reference_start"],
                reference_end=s["reference_end"],
            ),
            family=s["family"],
            strength=s["strength"],
            snr_db=s["snr_db"],
            label=s["label"],
        )
        for s in manifest["samples"]
    )
    return AudioCorpus(
        root=root,
        references=tuple(Path(sources[k]["path"]) for k in manifest["references"]),
        queries=tuple(root / q["path"] for q in manifest["queries"]),
        samples=samples,
        negative_queries=tuple(root / p for p in manifest["negative_queries"]),
        manifest=root / "manifest.json",
    )


# ----------------------------------------------------------------------------- sources


def _require_tools() -> None:
    """Fail early, naming the Debian package, when a command-line tool is missing."""
    for tool, package in (("ffmpeg", "ffmpeg"), ("ffprobe", "ffmpeg"), ("sox", "sox")):
        if shutil.which(tool) is None:
            raise HomageError(
                f"the audio benchmark needs `{tool}`: apt-get install -y "
                f"--no-install-recommends {package}"
            )


def _tool_versions() -> dict[str, str]:
    out = {}
    for tool, flag in (("ffmpeg", "-version"), ("sox", "--version")):
        proc = subprocess.run([tool, flag], capture_output=True, text=True, check=False)
        first = (proc.stdout or proc.stderr).splitlines()
        out[tool] = first[0].strip() if first else "unknown"
    out["numpy"] = np.__version__
    return out


def _missing(package: _Package) -> HomageError:
    return HomageError(
        f"the audio benchmark needs the Debian package {package.name}: apt-get install -y "
        f"--no-install-recommends {package.name}",
        path=package.root,
    )


def _package_files(package: _Package) -> tuple[str, list[Path]]:
    """Version and files (by suffix) of an installed package; dpkg first, the usual folder next.

    dpkg is asked first so that the manifest can name the exact version; the folder fallback
    covers packages unpacked with ``dpkg -x`` into their usual place.
    """
    files: list[Path] = []
    version = "unknown"
    try:
        status = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}\t${Version}", package.name],
            capture_output=True,
            text=True,
            check=False,
        )
        if status.returncode == 0 and status.stdout.startswith("install ok installed"):
            version = status.stdout.split("\t", 1)[1].strip()
            listing = subprocess.run(
                ["dpkg-query", "-L", package.name], capture_output=True, text=True, check=False
            ).stdout.splitlines()
            files = [Path(p) for p in listing if p.endswith(package.suffixes)]
    except FileNotFoundError:
        pass
    if not files:
        root = Path(package.root)
        if root.is_dir():
            files = [p for p in root.rglob("*") if p.name.endswith(package.suffixes)]
    files = sorted(p for p in files if p.is_file())
    if not files:
        raise _missing(package)
    return version, files


def _relative(path: Path, root: str) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def _ogg_duration(head: bytes, tail: bytes) -> float | None:
    """Duration of an Ogg Vorbis/Opus stream from its first and last bytes, or None.

    Reading the last page's granule position is instant, where probing 150 tracks with
    ffprobe (or decompressing them) is not.
    """
    if not head.startswith(b"OggS"):
        return None
    i = head.find(b"\x01vorbis")
    if i >= 0:
        rate = int.from_bytes(head[i + 12 : i + 16], "little")
        skip = 0
    else:
        i = head.find(b"OpusHead")
        if i < 0:
            return None
        rate = 48000
        skip = int.from_bytes(head[i + 10 : i + 12], "little")
    end = len(tail)
    while True:
        j = tail.rfind(b"OggS", 0, end)
        if j < 0 or rate <= 0:
            return None
        if j + 14 <= len(tail) and tail[j + 4] == 0:
            granule = int.from_bytes(tail[j + 6 : j + 14], "little", signed=True)
            if granule >= 0:
                return max(0.0, (granule - skip) / rate)
        end = j


def _probe_duration(path: Path) -> float:
    proc = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        return float(proc.stdout.strip())
    except ValueError:
        raise HomageError("ffprobe could not read its duration", path=path) from None


def _file_duration(path: Path) -> float:
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(8192)
        f.seek(max(0, size - 65536))
        tail = f.read()
    duration = _ogg_duration(head, tail)
    return duration if duration is not None else _probe_duration(path)


def _inventory() -> tuple[
    dict[str, str], list[_Source], dict[str, dict[str, list[_Source]]], list[_Source]
]:
    """Everything the corpus may use: music tracks, drum one-shots by kit and voice, speech."""
    versions: dict[str, str] = {}
    music: list[_Source] = []
    for package in _MUSIC_PACKAGES:
        version, files = _package_files(package)
        versions[package.name] = version
        for path in files:
            if path.suffix == ".pk3":
                music.extend(_zip_tracks(package, version, path))
                continue
            key = f"{package.name}:{_relative(path, package.root)}"
            music.append(
                _Source(key, package.name, version, str(path), None, path, _file_duration(path))
            )
    music = sorted((t for t in music if t.key not in _EXCLUDED), key=lambda t: t.key)

    version, files = _package_files(_DRUM_PACKAGE)
    versions[_DRUM_PACKAGE.name] = version
    drums: dict[str, dict[str, list[_Source]]] = {}
    for path in files:
        voice = _drum_voice(path.stem)
        if voice is None:
            continue
        rel = _relative(path, _DRUM_PACKAGE.root)
        kit = rel.split("/")[0]
        source = _Source(
            f"{_DRUM_PACKAGE.name}:{rel}", _DRUM_PACKAGE.name, version, str(path), None, path, 0.0
        )
        drums.setdefault(kit, {}).setdefault(voice, []).append(source)
    drums = {k: v for k, v in sorted(drums.items()) if {"kick", "snare", "hat"} <= v.keys()}
    if not drums:
        raise _missing(_DRUM_PACKAGE)

    version, files = _package_files(_SPEECH_PACKAGE)
    versions[_SPEECH_PACKAGE.name] = version
    speech = [
        _Source(
            f"{_SPEECH_PACKAGE.name}:{_relative(p, _SPEECH_PACKAGE.root)}",
            _SPEECH_PACKAGE.name,
            version,
            str(p),
            None,
            p,
            0.0,
        )
        for p in files
    ]
    return versions, music, drums, speech


def _zip_tracks(package: _Package, version: str, archive: Path) -> list[_Source]:
    """Tracks inside the ufoai-music zip; they are extracted later, only when chosen."""
    tracks = []
    with zipfile.ZipFile(archive) as zf:
        for info in sorted(zf.infolist(), key=lambda i: i.filename):
            if not info.filename.endswith(".ogg"):
                continue
            data = zf.read(info)
            duration = _ogg_duration(data[:8192], data[-65536:])
            if duration is None:
                continue
            target = Path("sources") / f"{package.name}_{version}" / info.filename
            tracks.append(
                _Source(
                    f"{package.name}:{info.filename}",
                    package.name,
                    version,
                    str(archive),
                    info.filename,
                    target,
                    duration,
                )
            )
    return tracks


def _materialise(track: _Source, cache_dir: Path) -> _Source:
    """Return the track with a decodable path, extracting a zip member into the cache once."""
    if track.member is None:
        return track
    target = cache_dir / track.path
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.part")
        with (
            zipfile.ZipFile(track.original) as zf,
            zf.open(track.member) as src,
            tmp.open("wb") as dst,
        ):
            shutil.copyfileobj(src, dst)
        os.replace(tmp, target)
    return _Source(
        track.key,
        track.package,
        track.version,
        track.original,
        track.member,
        target.resolve(),
        track.duration,
    )


def _drum_voice(stem: str) -> str | None:
    """Which voice of a drum loop a one-shot can play, from its file name."""
    name = stem.lower()
    if "kick" in name:
        return "kick"
    if "snare" in name or "clap" in name:
        return "snare"
    if "hat" in name and ("closed" in name or "pedal" in name):
        return "hat"
    if "hat" in name and "open" in name:
        return "open_hat"
    if "crash" in name or "cymbal" in name:
        return "crash"
    return None


def _flat_drums(drums: dict[str, dict[str, list[_Source]]]) -> list[_Source]:
    return [s for voices in drums.values() for sounds in voices.values() for s in sounds]


def _split(
    music: Sequence[_Source],
    *,
    rng: np.random.Generator,
    n_references: int,
    n_hosts: int | None,
    min_hours: float,
) -> tuple[list[_Source], list[_Source]]:
    """Disjoint reference and host sets, drawn with ``rng``; references are ≥ 30 s long."""
    eligible = [t for t in music if t.duration >= _MIN_REFERENCE_S]
    if len(eligible) < n_references + 1:
        raise HomageError(
            f"only {len(eligible)} music tracks are long enough; {n_references} references "
            "and at least one host are needed"
        )
    order = rng.permutation(len(eligible))
    references = [eligible[i] for i in order[:n_references]]
    rest = [eligible[i] for i in order[n_references:]]
    while sum(t.duration for t in references) < min_hours * 3600:
        shortest = min(references, key=lambda t: t.duration)
        longest = max(rest, key=lambda t: t.duration)
        if longest.duration <= shortest.duration:
            break
        references[references.index(shortest)] = longest
        rest[rest.index(longest)] = shortest
    pool = sorted(
        [*rest, *(t for t in music if _MIN_HOST_S <= t.duration < _MIN_REFERENCE_S)],
        key=lambda t: t.key,
    )
    if n_hosts is not None and n_hosts < len(pool):
        pool = [pool[i] for i in sorted(rng.choice(len(pool), size=n_hosts, replace=False))]
    return sorted(references, key=lambda t: t.key), pool


# ----------------------------------------------------------------------------- planning


def _balanced(rng: np.random.Generator, values: Sequence[Any], n: int) -> list[Any]:
    """``n`` values cycling through ``values`` in shuffled rounds, so every value appears."""
    out: list[Any] = []
    while len(out) < n:
        out.extend(values[i] for i in rng.permutation(len(values)))
    return out[:n]


def _bin_label(family: str, low: float, high: float) -> str:
    if family == "pitch":
        return f"pitch:+-{low:g}-{high:g}"
    return f"{family}:x{low:g}-{high:g}"


def _draw_strength(
    rng: np.random.Generator, family: str, cell: tuple[float, float], first: bool
) -> float:
    """Strength within a cell; the cell's outer edge exactly when ``first`` or 30% of the time."""
    low, high = cell
    extreme = first or rng.random() < _EXTREME_SHARE
    if family == "pitch":
        magnitude = high if extreme and high == PITCH_BINS[-1][1] else rng.uniform(low, high)
        return round(float(magnitude) * (1 if rng.random() < 0.5 else -1), 2)
    bins = SPEED_BINS if family == "speed" else TEMPO_BINS
    if extreme and cell == bins[0]:
        return low
    if extreme and cell == bins[-1]:
        return high
    while True:
        value = float(np.exp(rng.uniform(np.log(low), np.log(high))))
        if abs(np.log(value)) >= np.log(1.02):
            return round(value, 4)


def _plan_queries(
    *,
    seed: int,
    n_queries: int,
    references: Sequence[_Source],
    hosts: Sequence[_Source],
    drums: dict[str, dict[str, list[_Source]]],
    speech: Sequence[_Source],
) -> list[dict[str, Any]]:
    """Every random choice except sample positions (chosen at render time to skip silence).

    Families, strength cells, SNRs, loop counts and references are dealt in balanced rounds
    over the whole corpus, so that even a small corpus holds every breakdown cell.
    """
    rng = np.random.default_rng([seed, 1])
    n_negative = max(1, math.ceil(_NEGATIVE_SHARE * n_queries))
    negative = set(rng.choice(n_queries, size=min(n_negative, n_queries), replace=False).tolist())
    counts = [
        0 if i in negative else int(rng.choice([1, 2, 3], p=[0.45, 0.35, 0.2]))
        for i in range(n_queries)
    ]
    total = sum(counts)
    families = _balanced(rng, FAMILIES, total)
    snrs = _balanced(rng, SNR_GRID_DB, total)
    loops = _balanced(rng, _LOOP_CYCLE, total)
    refs = _balanced(rng, list(references), total)
    cell_lists = {
        "speed": _balanced(rng, SPEED_BINS, total),
        "tempo": _balanced(rng, TEMPO_BINS, total),
        "pitch": _balanced(rng, PITCH_BINS, total),
    }
    seen_cells: set[tuple[str, tuple[float, float]]] = set()
    specs: list[dict[str, Any]] = []
    for k in range(total):
        family = families[k]
        if family == "none":
            strength, label = 1.0, "none"
        else:
            cell = cell_lists[family].pop(0)
            first = (family, cell) not in seen_cells
            seen_cells.add((family, cell))
            strength = _draw_strength(rng, family, cell, first)
            label = _bin_label(family, *cell)
        specs.append(
            {
                "reference": refs[k].key,
                "family": family,
                "strength": strength,
                "label": label,
                "snr_db": snrs[k],
                "loops": loops[k],
            }
        )

    plans = []
    cursor = 0
    ref_durations = {t.key: t.duration for t in references}
    for i in range(n_queries):
        qrng = np.random.default_rng([seed, 2, i])
        samples = specs[cursor : cursor + counts[i]]
        cursor += counts[i]
        plans.append(_plan_query(i, qrng, samples, ref_durations, hosts, drums, speech))
    return plans


def _rep_samples(family: str, strength: float, n_ref: int) -> tuple[int, int | None]:
    """Length in query samples of one repetition, and the decode rate for speed changes.

    A speed change is a decode at ``round(SR / ratio)`` Hz played back at SR, so the
    recorded ratio is ``SR / rate`` exactly and the length follows from it.
    """
    if family == "speed":
        rate = round(SAMPLE_RATE / strength)
        return round(n_ref * rate / SAMPLE_RATE), rate
    if family == "tempo":
        return round(n_ref / strength), None
    return n_ref, None


def _plan_query(
    index: int,
    rng: np.random.Generator,
    samples: list[dict[str, Any]],
    ref_durations: dict[str, float],
    hosts: Sequence[_Source],
    drums: dict[str, dict[str, list[_Source]]],
    speech: Sequence[_Source],
) -> dict[str, Any]:
    """Duration, host material, drum loop, speech, codec and sample placement of one query."""
    duration = float(rng.uniform(*_QUERY_LEN_S))
    for s in samples:
        if s["family"] == "speed":
            s["strength"] = round(SAMPLE_RATE / round(SAMPLE_RATE / s["strength"]), 6)
        length = float(rng.uniform(*_SAMPLE_LEN_S))
        length = min(length, ref_durations[s["reference"]] - _TAIL_GUARD_S - 2.0)
        s["n_ref"] = round(length * SAMPLE_RATE)
        s["eq"] = _plan_eq(rng)

    def placed(s: dict[str, Any]) -> int:
        return s["loops"] * _rep_samples(s["family"], s["strength"], s["n_ref"])[0]

    margin = round(1.0 * SAMPLE_RATE)
    need = sum(placed(s) for s in samples) + margin * (len(samples) + 1)
    duration = min(_QUERY_LEN_S[1], max(duration, need / SAMPLE_RATE))
    n_total = round(duration * SAMPLE_RATE)
    while samples and sum(placed(s) for s in samples) + margin * (len(samples) + 1) > n_total:
        longest = max(samples, key=placed)
        shortest_ref = round(_SAMPLE_LEN_S[0] * SAMPLE_RATE)
        if longest["loops"] > 1:
            longest["loops"] -= 1
        elif longest["n_ref"] > shortest_ref:
            longest["n_ref"] = max(shortest_ref, round(longest["n_ref"] * 0.85))
        else:
            samples.remove(longest)
    slack = n_total - sum(placed(s) for s in samples) - margin * (len(samples) + 1)
    gaps = rng.dirichlet(np.ones(len(samples) + 1)) * max(0, slack)
    order = rng.permutation(len(samples))
    position = margin + round(gaps[0])
    for rank, k in enumerate(order):
        s = samples[k]
        s["query_start_sample"] = position
        position += placed(s) + margin + round(gaps[rank + 1])
    samples = [samples[k] for k in order]

    codec = str(rng.choice(sorted(_CODECS)))
    return {
        "index": index,
        "path": f"queries/q{index:04d}{_CODECS[codec][1]}",
        "n_samples": n_total,
        "duration": n_total / SAMPLE_RATE,
        "codec": codec,
        "bitrate_kbps": int(rng.choice(_BITRATES_KBPS)),
        "peak_db": round(float(rng.uniform(-3.0, -1.0)), 2),
        "host": _plan_host(rng, n_total, hosts),
        "drums": _plan_drums(rng, n_total, drums),
        "speech": _plan_speech(rng, n_total, speech),
        "samples": samples,
    }


def _plan_eq(rng: np.random.Generator) -> dict[str, Any] | None:
    kind = rng.choice(["none", "lowpass", "highpass"], p=[0.3, 0.35, 0.35])
    if kind == "lowpass":
        return {
            "type": "lowpass",
            "cutoff_hz": round(float(np.exp(rng.uniform(np.log(2000), np.log(8000)))), 1),
            "order": 4,
        }
    if kind == "highpass":
        return {
            "type": "highpass",
            "cutoff_hz": round(float(np.exp(rng.uniform(np.log(150), np.log(800)))), 1),
            "order": 2,
        }
    return None


def _plan_host(
    rng: np.random.Generator, n_total: int, hosts: Sequence[_Source]
) -> list[dict[str, Any]]:
    """1-3 excerpts of host tracks, back to back with short crossfades."""
    n_parts = int(rng.choice([1, 2, 3], p=[0.4, 0.4, 0.2]))
    min_len = round(8.0 * SAMPLE_RATE)
    n_parts = max(1, min(n_parts, n_total // min_len))
    cuts = (
        sorted(
            rng.choice(
                np.arange(min_len, n_total - min_len + 1, SAMPLE_RATE // 10),
                size=n_parts - 1,
                replace=False,
            ).tolist()
        )
        if n_parts > 1
        else []
    )
    bounds = [0, *cuts, n_total]
    parts = []
    for a, b in itertools.pairwise(bounds):
        length = (b - a) / SAMPLE_RATE + _CROSSFADE_S
        fitting = [t for t in hosts if t.duration >= length + 2.0] or list(hosts)
        track = fitting[int(rng.integers(len(fitting)))]
        latest = max(0.0, track.duration - length - 1.0)
        parts.append(
            {
                "source": track.key,
                "start": round(float(rng.uniform(min(1.0, latest), latest)), 6),
                "query_start_sample": a,
                "query_end_sample": b,
                "level_db": round(_HOST_RMS_DB + float(rng.uniform(-3.0, 3.0)), 2),
            }
        )
    return parts


def _plan_drums(
    rng: np.random.Generator, n_total: int, drums: dict[str, dict[str, list[_Source]]]
) -> dict[str, Any] | None:
    """A one-bar pattern at a random tempo, over the whole query or a stretch of bars."""
    if rng.random() >= 0.85:
        return None
    kit = sorted(drums)[int(rng.integers(len(drums)))]
    voices = drums[kit]
    sounds = {v: voices[v][int(rng.integers(len(voices[v])))].key for v in sorted(voices)}
    bpm = round(float(rng.uniform(80.0, 150.0)), 2)
    bar = 4 * 60.0 / bpm
    n_bars = math.ceil(n_total / SAMPLE_RATE / bar)
    if rng.random() < 0.6 or n_bars < 6:
        first, last = 0, n_bars
    else:
        first = int(rng.integers(0, n_bars // 2))
        last = int(rng.integers(first + 4, n_bars + 1))
    return {
        "kit": kit,
        "sounds": sounds,
        "bpm": bpm,
        "swing": float(rng.choice([0.0, 0.1, 0.2])),
        "first_bar": first,
        "last_bar": last,
        "pattern": {
            "kick": list(_KICK_PATTERNS[int(rng.integers(len(_KICK_PATTERNS)))]),
            "snare": list(_SNARE_PATTERNS[int(rng.integers(len(_SNARE_PATTERNS)))]),
            "hat": list(_HAT_PATTERNS[int(rng.integers(len(_HAT_PATTERNS)))]),
        },
        "level_db": round(_HOST_RMS_DB + float(rng.uniform(-9.0, -1.0)), 2),
        "humanize_seed": int(rng.integers(2**31)),
    }


def _plan_speech(
    rng: np.random.Generator, n_total: int, speech: Sequence[_Source]
) -> list[dict[str, Any]]:
    if rng.random() >= 0.5:
        return []
    count = int(rng.integers(1, 5))
    return [
        {
            "source": speech[int(rng.integers(len(speech)))].key,
            "query_start_sample": int(rng.integers(0, max(1, n_total - 3 * SAMPLE_RATE))),
            "level_db": round(_HOST_RMS_DB + float(rng.uniform(-12.0, -3.0)), 2),
        }
        for _ in range(count)
    ]


# ----------------------------------------------------------------------------- rendering


def _run(cmd: list[str], *, data: bytes | None = None, path: Path | str | None = None) -> bytes:
    proc = subprocess.run(cmd, input=data, capture_output=True, check=False)
    if proc.returncode != 0:
        tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["failed"]
        raise HomageError(f"{cmd[0]} failed: {tail[0]}", path=path)
    return proc.stdout


def _decode(
    path: Path | str, *, start: float = 0.0, duration: float | None = None, rate: int = SAMPLE_RATE
) -> np.ndarray:
    """Mono float samples at ``rate`` of ``path`` from ``start`` (s), sample-accurate.

    sox decodes Vorbis, WAV and FLAC: its seeks are exact, where ffmpeg's Ogg seeks land up
    to ~20 ms off one time in ten (checked against full decodes), which would shift the
    ground truth; it is also ~10× quicker to start.  ffmpeg decodes the rest (Opus): its
    first packet after a seek can also be off, so it seeks 1 s early and trims the rest by
    decoding, which is exact.  The 3 dB of headroom keeps sox's integer pipeline from
    clipping resampler overshoot; levels are set later anyway.
    """
    path = str(path)
    if path.endswith((".ogg", ".wav", ".flac")):
        trim = [] if start <= 0 and duration is None else ["trim", f"{start:.6f}"]
        if duration is not None:
            trim.append(f"{duration:.6f}")
        raw = ["-t", "raw", "-e", "floating-point", "-b", "32", "-c", "1", "-r", str(rate)]
        cmd = [
            "sox",
            "-V1",
            "-D",
            path,
            *raw,
            "-",
            *trim,
            "channels",
            "1",
            "gain",
            "-3",
            "rate",
            "-v",
            str(rate),
        ]
    else:
        coarse = max(0.0, start - 1.0)
        cmd = ["ffmpeg", "-nostdin", "-v", "error"]
        if coarse > 0:
            cmd += ["-ss", f"{coarse:.6f}"]
        cmd += ["-i", path]
        if start > coarse:
            cmd += ["-ss", f"{start - coarse:.6f}"]
        if duration is not None:
            cmd += ["-t", f"{duration:.6f}"]
        cmd += ["-map", "0:a:0", "-ac", "1", "-ar", str(rate), "-f", "f32le", "-"]
    return np.frombuffer(_run(cmd, path=path), dtype=np.float32).astype(np.float64)


@functools.lru_cache(maxsize=512)
def _decode_whole(path: str) -> np.ndarray:
    """Short files (one-shots, prompts) decoded once per process."""
    out = _decode(path)
    out.setflags(write=False)
    return out


def _sox(x: np.ndarray, *effect: str) -> np.ndarray:
    """Run a sox effect over mono float samples; scaled by ½ to stay clear of sox's clipping."""
    raw = ["-t", "raw", "-r", str(SAMPLE_RATE), "-e", "floating-point", "-b", "32", "-c", "1"]
    out = _run(
        ["sox", "-V1", "-D", *raw, "-", *raw, "-", *effect],
        data=(0.5 * x).astype(np.float32).tobytes(),
    )
    return 2.0 * np.frombuffer(out, dtype=np.float32).astype(np.float64)


def _fit(x: np.ndarray, n: int) -> np.ndarray:
    return x[:n] if len(x) >= n else np.pad(x, (0, n - len(x)))


def _rms_db(x: np.ndarray) -> float:
    return 10 * math.log10(float(np.mean(x * x)) + 1e-12) if len(x) else -120.0


def _scale_to(x: np.ndarray, level_db: float) -> np.ndarray:
    return x * 10 ** ((level_db - _rms_db(x)) / 20) if np.any(x) else x


def _fade(x: np.ndarray, n_fade: int) -> np.ndarray:
    n_fade = min(n_fade, len(x) // 2)
    if n_fade > 0:
        ramp = np.linspace(0.0, 1.0, n_fade, endpoint=False)
        x = x.copy()
        x[:n_fade] *= ramp
        x[-n_fade:] *= ramp[::-1]
    return x


def _activity(x: np.ndarray, rate: int) -> float:
    """Share of 50 ms frames above −45 dBFS, 0 when the whole is quieter than −35 dBFS.

    Samples must be audible: an excerpt of a fade-out or a pause would be ground truth that
    no detector could (or should) find.
    """
    frame = max(1, rate // 20)
    n = len(x) // frame
    if n == 0 or _rms_db(x) < -35.0:
        return 0.0
    energy = np.mean(x[: n * frame].reshape(n, frame) ** 2, axis=1)
    return float(np.mean(10 * np.log10(energy + 1e-12) > -45.0))


def _render_query(
    plan: dict[str, Any], *, root: Path, sources: dict[str, _Source], seed: int
) -> dict[str, Any]:
    """Render, mix and encode one query; return its manifest entry with the truth."""
    n = plan["n_samples"]
    bed = _render_host(plan["host"], n, sources)
    if plan["drums"] is not None:
        bed += _render_drums(plan["drums"], n, sources)
    for item in plan["speech"]:
        voice = _scale_to(
            np.asarray(_decode_whole(str(sources[item["source"]].path))), item["level_db"]
        )
        at = item["query_start_sample"]
        voice = voice[: n - at]
        bed[at : at + len(voice)] += voice

    mix = bed.copy()
    truth = []
    for k, spec in enumerate(plan["samples"]):
        krng = np.random.default_rng([seed, 3, plan["index"], k])
        track = sources[spec["reference"]]
        rep, ref_start, activity = _render_sample(spec, track, krng)
        spec["activity"] = round(activity, 3)
        spec["reference_start"] = round(ref_start, 6)
        spec["reference_end"] = round(ref_start + spec["n_ref"] / SAMPLE_RATE, 6)
        sample = np.tile(_fade(rep, round(_EDGE_FADE_S * SAMPLE_RATE)), spec["loops"])
        if spec["eq"] is not None:
            sos = butter(
                spec["eq"]["order"],
                spec["eq"]["cutoff_hz"],
                btype=spec["eq"]["type"],
                fs=SAMPLE_RATE,
                output="sos",
            )
            sample = sosfiltfilt(sos, sample)
        at = spec["query_start_sample"]
        host_db = max(_rms_db(bed[at : at + len(sample)]), _HOST_RMS_DB - 30.0)
        gain_db = host_db + spec["snr_db"] - _rms_db(sample)
        spec["gain_db"] = round(gain_db, 3)
        mix[at : at + len(sample)] += sample * 10 ** (gain_db / 20)
        for r in range(spec["loops"]):
            q0 = at + r * len(rep)
            truth.append(
                {
                    "query": plan["path"],
                    "reference": spec["reference"],
                    "query_start": round(q0 / SAMPLE_RATE, 6),
                    "query_end": round((q0 + len(rep)) / SAMPLE_RATE, 6),
                    "reference_start": spec["reference_start"],
                    "reference_end": spec["reference_end"],
                    "family": spec["family"],
                    "strength": spec["strength"],
                    "snr_db": spec["snr_db"],
                    "label": spec["label"],
                    "loop": r,
                    "loops": spec["loops"],
                }
            )

    peak = float(np.max(np.abs(mix))) or 1.0
    mix *= 10 ** (plan["peak_db"] / 20) / peak
    _encode(mix, root / plan["path"], plan["codec"], plan["bitrate_kbps"])
    logger.debug("wrote %s (%d samples inserted)", plan["path"], len(plan["samples"]))
    return {**plan, "duration": round(n / SAMPLE_RATE, 6), "truth": truth}


def _render_host(parts: list[dict[str, Any]], n: int, sources: dict[str, _Source]) -> np.ndarray:
    bed = np.zeros(n)
    half = round(_CROSSFADE_S * SAMPLE_RATE / 2)
    for part in parts:
        a = max(0, part["query_start_sample"] - half)
        b = min(n, part["query_end_sample"] + half)
        x = _decode(
            sources[part["source"]].path, start=part["start"], duration=(b - a) / SAMPLE_RATE + 0.05
        )
        x = _fade(_scale_to(_fit(x, b - a), part["level_db"]), 2 * half)
        bed[a:b] += x
    return bed


def _render_drums(spec: dict[str, Any], n: int, sources: dict[str, _Source]) -> np.ndarray:
    """Place one-shots on a 16-step grid: accents on beats, jittered velocities, swing."""
    rng = np.random.default_rng(spec["humanize_seed"])
    step = 60.0 / spec["bpm"] / 4
    sounds = {v: np.asarray(_decode_whole(str(sources[k].path))) for v, k in spec["sounds"].items()}
    hits: list[tuple[int, str, float]] = []
    for bar in range(spec["first_bar"], spec["last_bar"]):
        for voice, steps in spec["pattern"].items():
            hits.extend((bar * 16 + s, voice, 1.0 if s % 4 == 0 else 0.75) for s in steps)
        if "open_hat" in sounds and bar % 2 == 1:
            hits.append((bar * 16 + 14, "open_hat", 0.7))
        if "crash" in sounds and (bar - spec["first_bar"]) % 8 == 0:
            hits.append((bar * 16, "crash", 0.8))
    longest = max(len(s) for s in sounds.values())
    out = np.zeros(n + longest)
    for index, voice, velocity in sorted(hits):
        t = index * step + (spec["swing"] * step if index % 2 else 0.0)
        at = round(t * SAMPLE_RATE)
        if at >= n:
            continue
        gain = velocity * float(rng.uniform(0.85, 1.0))
        sound = sounds[voice]
        out[at : at + len(sound)] += gain * sound
    out = out[:n]
    return _scale_to(out, spec["level_db"]) if np.any(out) else out


def _render_sample(
    spec: dict[str, Any], track: _Source, rng: np.random.Generator
) -> tuple[np.ndarray, float, float]:
    """One repetition of a transformed excerpt, where in the reference it starts (s), and
    its activity (see :func:`_activity`).

    The excerpt start is drawn here, not at planning, because only decoding tells silence
    from music: up to 12 positions are tried and the most active one is kept.
    """
    n_ref = spec["n_ref"]
    length = n_ref / SAMPLE_RATE
    n_q, speed_rate = _rep_samples(spec["family"], spec["strength"], n_ref)
    latest = max(1.0, track.duration - length - _TAIL_GUARD_S)
    best: tuple[float, np.ndarray, float, float] | None = None
    for _ in range(12):
        start = round(float(rng.uniform(1.0, latest)) * SAMPLE_RATE) / SAMPLE_RATE
        if speed_rate is not None:
            pre = 0.0
            x = _fit(_decode(track.path, start=start, duration=length + 0.05, rate=speed_rate), n_q)
            activity = _activity(x, speed_rate)
        else:
            pre = min(_CONTEXT_S, start)
            x = _decode(track.path, start=start - pre, duration=length + pre + _CONTEXT_S)
            skip = round(pre * SAMPLE_RATE)
            activity = _activity(x[skip : skip + n_ref], SAMPLE_RATE)
        if best is None or activity > best[0]:
            best = (activity, x, start, pre)
        if activity >= 0.9:
            break
    assert best is not None
    activity, x, start, pre = best
    if activity < 0.9:
        logger.debug("%s: quiet excerpt kept (activity %.2f)", track.key, activity)
    if speed_rate is None:
        x = _transform(x, spec, pre, n_ref, n_q)
    return x, start, activity


def _transform(x: np.ndarray, spec: dict[str, Any], pre: float, n_ref: int, n_q: int) -> np.ndarray:
    """Apply the pitch or tempo change to an excerpt decoded with context, then cut it."""
    family, strength = spec["family"], spec["strength"]
    if family == "tempo":
        y = _sox(x, "tempo", "-m", f"{strength:.6f}")
        offset = round(pre * SAMPLE_RATE / strength)
        return _fit(y[offset:], n_q)
    if family == "pitch":
        y = _sox(x, "pitch", f"{100 * strength:.2f}")
        offset = round(pre * SAMPLE_RATE)
        return _fit(y[offset:], n_q)
    return _fit(x[round(pre * SAMPLE_RATE) :], n_ref)


def _encode(mix: np.ndarray, target: Path, codec: str, bitrate_kbps: int) -> None:
    """Lossy-encode a query, bit-exactly (no metadata, fixed stream ids), atomically."""
    encoder, _, muxer = _CODECS[codec]
    tmp = target.with_name(f".{target.name}.{os.getpid()}.part")
    _run(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-y",
            "-f",
            "f32le",
            "-ar",
            str(SAMPLE_RATE),
            "-ac",
            "1",
            "-i",
            "-",
            "-ar",
            str(ENCODE_RATE),
            "-c:a",
            encoder,
            "-b:a",
            f"{bitrate_kbps}k",
            "-map_metadata",
            "-1",
            "-fflags",
            "+bitexact",
            "-flags:a",
            "+bitexact",
            "-f",
            muxer,
            str(tmp),
        ],
        data=mix.astype(np.float32).tobytes(),
        path=target,
    )
    os.replace(tmp, target)


# ----------------------------------------------------------------------------- cache


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def _load_if_current(root: Path) -> AudioCorpus | None:
    """The cached corpus when its manifest is of this version and all its files exist."""
    if not (root / "manifest.json").is_file():
        return None
    try:
        corpus = load_audio_corpus(root)
    except (HomageError, KeyError, TypeError) as exc:
        logger.info("rebuilding audio corpus %s: %s", root, exc)
        return None
    missing = [p for p in (*corpus.references, *corpus.queries) if not p.is_file()]
    if missing:
        logger.info("rebuilding audio corpus %s: %d files missing", root, len(missing))
        return None
    return corpus
