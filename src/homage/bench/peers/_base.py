"""The peer interface, its result type, and the machinery shared by venv-hosted peers.

Driver protocol
---------------
A peer's driver script (``_drivers/drive_*.py``) runs under the peer's own interpreter as
``python DRIVER REQUEST.json RESULT.json``.  The request holds ``references`` and ``queries``
(for audio peers, paths of mono 16-bit wav files the runner made; for video peers, the
video files themselves, by absolute path), ``work_dir`` (scratch space) and ``options``
(peer specific); a video request also holds ``durations`` (seconds of each input, by path,
read from the container by homage so that every peer counts the same seconds).  The result
holds ``predictions`` (a list of objects with ``query``, ``reference``, ``query_start``,
``query_end``, ``reference_start``, ``reference_end`` in seconds, ``score`` in [0, 1] and
``raw_score``), ``index_cpu_seconds``, ``index_wall_seconds``, ``query_wall_seconds`` and
``query_cpu_seconds`` (one per query), ``peak_rss_bytes``, ``index_bytes``,
``reference_seconds`` and ``notes``.  Timing is taken inside the driver so that interpreter
start-up and imports count for no one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import subprocess
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from homage.bench.metrics import SegmentPair
from homage.bench.peers import _env
from homage.errors import HomageError
from homage.media.probe import probe

logger = logging.getLogger(__name__)

DRIVER_DIR = Path(__file__).resolve().parent / "_drivers"


class PeerError(HomageError):
    """A peer that was set up failed while indexing or querying."""


@dataclass(frozen=True)
class PeerResult:
    """What one peer produced on one benchmark run, with its costs.

    Attributes
    ----------
    predictions:
        Predicted segment pairs, paths as the caller passed them; ``score`` orders them
        within this peer only (each peer's scale differs).
    index_cpu_seconds:
        CPU time (user + system, all threads and helper processes) to index the references.
    query_seconds_per_query:
        Wall-clock seconds per query, in query order: the latency a user waits.
    peak_rss_bytes:
        Peak resident memory of the peer's process (plus its database server, if any).
    index_bytes:
        Size of the index as the peer persists it.
    reference_seconds:
        Total duration of the references indexed.
    notes:
        How the peer was driven: settings, and how segments and scores were derived.
    """

    predictions: list[SegmentPair]
    index_cpu_seconds: float
    query_seconds_per_query: list[float]
    peak_rss_bytes: int
    index_bytes: int
    reference_seconds: float
    notes: str
    peer: str = ""
    index_wall_seconds: float = 0.0
    query_cpu_seconds_per_query: list[float] = field(default_factory=list)

    @property
    def mean_query_seconds(self) -> float:
        """Mean wall-clock latency per query (0 when there were no queries)."""
        q = self.query_seconds_per_query
        return sum(q) / len(q) if q else 0.0

    @property
    def index_throughput(self) -> float:
        """Reference (audio or video) seconds indexed per CPU second."""
        return self.reference_seconds / self.index_cpu_seconds if self.index_cpu_seconds else 0.0

    @property
    def index_bytes_per_hour(self) -> float:
        """Index size per hour of reference media."""
        hours = self.reference_seconds / 3600.0
        return self.index_bytes / hours if hours else 0.0


class Peer(ABC):
    """Another matching system, run beside homage on the same references and queries.

    ``setup`` is separate from ``run`` because installing a peer can take minutes and can
    fail for reasons that are not the peer's fault (no network, no old interpreter); the
    benchmark then reports the peer as unavailable, with the reason, instead of failing.
    """

    name: ClassVar[str]

    @abstractmethod
    def setup(self, work_dir: Path) -> str | None:
        """Create or reuse the peer's environment under ``work_dir``.

        Returns ``None`` when the peer is ready, else a one-line reason it is unavailable.
        """

    @abstractmethod
    def run(self, references: Sequence[Path], queries: Sequence[Path]) -> PeerResult:
        """Index ``references``, query each of ``queries``, and report predictions and costs.

        Raises
        ------
        PeerError
            The peer was not set up, or failed on this input.
        """


class AudioPeer(Peer):
    """Another audio-matching system, run beside homage in ``bench audio``."""


class VideoPeer(Peer):
    """Another video copy-detection system, run beside homage in ``bench video``."""

    #: False for peers that only compare whole videos: their predictions then span the
    #: whole query and the whole reference, so segment metrics judge them as they are.
    localises: ClassVar[bool] = True


class VenvPeer(Peer):
    """A peer installed from PyPI into its own venv and driven by a script run inside it.

    Subclasses say which package, interpreter and driver; ``_install`` does the work, and
    ``_inputs`` says what files the driver is given.
    """

    #: Directory under ``work_dir`` holding the environment (variants may share one).
    env_name: ClassVar[str]
    #: Driver file name in ``_drivers``.
    driver: ClassVar[str]

    def __init__(self) -> None:
        self._work_dir: Path | None = None
        self._python: Path | None = None
        #: Seconds the last ``setup`` took (near zero when the environment was reused).
        self.setup_seconds = 0.0

    # -- set-up ------------------------------------------------------------------------

    @property
    def peer_dir(self) -> Path:
        """This peer's directory under the work dir (``setup`` must have been called)."""
        if self._work_dir is None:
            raise PeerError(f"{self.name}: setup() has not been called")
        return self._work_dir / self.env_name

    @abstractmethod
    def _spec(self) -> dict[str, object]:
        """What is installed; a change forces a rebuild of the environment."""

    @abstractmethod
    def _install(self, peer_dir: Path, log: Path) -> Path:
        """Build the environment in ``peer_dir``; return its interpreter.

        Raises ``_env.SetupFailed`` with a one-line reason when that is impossible here.
        """

    def _prerequisites(self) -> str | None:
        """A one-line reason the peer cannot run on this machine at all, else ``None``."""
        return None

    def setup(self, work_dir: Path) -> str | None:
        start = time.monotonic()
        self._work_dir = Path(work_dir).resolve()
        missing = self._prerequisites()
        if missing is not None:
            return f"{self.name}: {missing}"
        peer_dir = self.peer_dir
        spec = self._spec()
        try:
            with _env.locked(peer_dir):
                python = _env.venv_python(peer_dir / "venv")
                if not (_env.spec_matches(peer_dir, spec) and python.exists()):
                    _env.forget_ready(peer_dir)
                    log = peer_dir / "setup.log"
                    log.write_text("", encoding="utf-8")
                    python = self._install(peer_dir, log)
                    _env.mark_ready(peer_dir, spec)
        except _env.SetupFailed as exc:
            self._python = None
            return f"{self.name}: {exc}"
        except OSError as exc:
            self._python = None
            return f"{self.name}: set-up failed: {exc}"
        self._python = python
        self.setup_seconds = time.monotonic() - start
        return None

    # -- running -----------------------------------------------------------------------

    @contextlib.contextmanager
    def _session(self, run_dir: Path) -> Iterator[dict[str, Any]]:
        """Services the driver needs while it runs; yields extra request options."""
        yield {}

    def _amend(self, raw: dict[str, Any], run_dir: Path) -> None:
        """Adjust the driver's result while the session is still open (server stats...)."""

    def _options(self) -> dict[str, Any]:
        """Peer-specific request options."""
        return {}

    def _driver_env(self) -> dict[str, str]:
        """Extra environment for the driver process (e.g. where unpacked libraries live)."""
        return {}

    @abstractmethod
    def _inputs(self, paths: Sequence[Path]) -> list[Path]:
        """The files the driver reads in place of ``paths`` (same order)."""

    def _request_fields(self, inputs: Sequence[Path]) -> dict[str, Any]:
        """Extra top-level request fields about the driver's input files."""
        return {}

    def run(self, references: Sequence[Path], queries: Sequence[Path]) -> PeerResult:
        if self._python is None or self._work_dir is None:
            raise PeerError(f"{self.name}: setup() has not succeeded")
        if not references:
            raise PeerError(f"{self.name}: no references to index")
        ref_inputs = self._inputs(references)
        query_inputs = self._inputs(queries)
        originals = {os.fspath(w): str(p) for w, p in zip(ref_inputs, references, strict=True)}
        originals.update({os.fspath(w): str(p) for w, p in zip(query_inputs, queries, strict=True)})

        runs = self.peer_dir / "runs"
        runs.mkdir(parents=True, exist_ok=True)
        run_dir = Path(tempfile.mkdtemp(prefix=f"{_env.safe_name(self.name)}-", dir=runs))
        try:
            with self._session(run_dir) as session_options:
                request = {
                    "references": [os.fspath(p) for p in ref_inputs],
                    "queries": [os.fspath(p) for p in query_inputs],
                    "work_dir": os.fspath(run_dir),
                    "options": {**self._options(), **session_options},
                    **self._request_fields([*ref_inputs, *query_inputs]),
                }
                raw = self._call_driver(request, run_dir)
                self._amend(raw, run_dir)
        finally:
            shutil.rmtree(run_dir, ignore_errors=True)
        return self._result(raw, originals)

    def _call_driver(self, request: dict[str, Any], run_dir: Path) -> dict[str, Any]:
        assert self._python is not None
        request_path = run_dir / "request.json"
        result_path = run_dir / "result.json"
        request_path.write_text(json.dumps(request), encoding="utf-8")
        log_path = self.peer_dir / f"last-run-{_env.safe_name(self.name)}.log"
        with log_path.open("w", encoding="utf-8") as log:
            proc = subprocess.run(
                [
                    os.fspath(self._python),
                    os.fspath(DRIVER_DIR / self.driver),
                    os.fspath(request_path),
                    os.fspath(result_path),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**_env.clean_env(), **self._driver_env()},
                cwd=run_dir,
                check=False,
            )
        if proc.returncode != 0 or not result_path.exists():
            tail = log_path.read_text(encoding="utf-8", errors="replace")
            raise PeerError(
                f"{self.name}: driver exited with {proc.returncode}: {_env.last_line(tail)} "
                f"(log: {log_path})"
            )
        return json.loads(result_path.read_text(encoding="utf-8"))

    def _result(self, raw: dict[str, Any], originals: dict[str, str]) -> PeerResult:
        predictions = []
        for p in raw["predictions"]:
            q0, q1 = float(p["query_start"]), float(p["query_end"])
            r0, r1 = float(p["reference_start"]), float(p["reference_end"])
            if not (q0 <= q1 and r0 <= r1):
                logger.debug("%s: dropping malformed prediction %s", self.name, p)
                continue
            predictions.append(
                SegmentPair(
                    query=originals.get(p["query"], p["query"]),
                    reference=originals.get(p["reference"], p["reference"]),
                    query_start=q0,
                    query_end=q1,
                    reference_start=r0,
                    reference_end=r1,
                    score=float(p["score"]),
                )
            )
        return PeerResult(
            predictions=predictions,
            index_cpu_seconds=float(raw["index_cpu_seconds"]),
            query_seconds_per_query=[float(s) for s in raw["query_wall_seconds"]],
            peak_rss_bytes=int(raw["peak_rss_bytes"]),
            index_bytes=int(raw["index_bytes"]),
            reference_seconds=float(raw["reference_seconds"]),
            notes=str(raw["notes"]),
            peer=self.name,
            index_wall_seconds=float(raw.get("index_wall_seconds", 0.0)),
            query_cpu_seconds_per_query=[float(s) for s in raw.get("query_cpu_seconds", [])],
        )


class VenvAudioPeer(VenvPeer, AudioPeer):
    """An audio peer in its own venv; its driver reads mono wav files at its native rate."""

    #: Sample rate of the mono wav files the driver is given (the peer's native rate).
    sample_rate: ClassVar[int]

    def _prerequisites(self) -> str | None:
        if shutil.which("ffmpeg") is None:
            return "needs the ffmpeg command to convert inputs to wav"
        return None

    def _inputs(self, paths: Sequence[Path]) -> list[Path]:
        assert self._work_dir is not None
        cache = self._work_dir / "wav-cache" / str(self.sample_rate)
        return [to_wav(p, self.sample_rate, cache) for p in paths]


class VenvVideoPeer(VenvPeer, VideoPeer):
    """A video peer in its own venv; its driver reads the video files themselves.

    Decoding stays inside each peer (vPDQ links FFmpeg's libraries, the others run the
    ``ffmpeg`` command), as a user of that peer would run it; homage only reads each file's
    duration from its container and passes it in the request's ``durations``.
    """

    def _inputs(self, paths: Sequence[Path]) -> list[Path]:
        out = []
        for path in paths:
            src = Path(path).resolve()
            if not src.is_file():
                raise PeerError("no such file", path=src)
            out.append(src)
        return out

    def _request_fields(self, inputs: Sequence[Path]) -> dict[str, Any]:
        durations = {}
        for path in inputs:
            try:
                durations[os.fspath(path)] = probe(path).duration
            except HomageError as exc:
                raise PeerError(f"{self.name}: {exc}") from exc
        return {"durations": durations}


def to_wav(path: Path, sample_rate: int, cache_dir: Path) -> Path:
    """Mono 16-bit wav of ``path`` at ``sample_rate``, converted once by the ffmpeg CLI.

    Peers read wav reliably (their own decoders vary from pydub to librosa's audioread), and
    converting up front keeps compressed-audio decoding out of every peer's timings alike.
    The cache key covers the path, size and modification time, so edited inputs reconvert.
    """
    src = Path(path).resolve()
    try:
        st = src.stat()
    except OSError as exc:
        raise PeerError(f"cannot read input: {exc.strerror}", path=src) from exc
    key = hashlib.sha1(f"{src}|{st.st_size}|{st.st_mtime_ns}|{sample_rate}".encode()).hexdigest()
    out = cache_dir / f"{_env.safe_name(src.stem)}-{key[:16]}.wav"
    if out.exists():
        return out
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + f".{os.getpid()}.tmp.wav")
    proc = subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-y",
            "-i",
            os.fspath(src),
            "-vn",
            "-ac",
            "1",
            "-ar",
            str(sample_rate),
            "-c:a",
            "pcm_s16le",
            os.fspath(tmp),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise PeerError(f"ffmpeg could not convert: {_env.last_line(proc.stderr)}", path=src)
    tmp.replace(out)
    return out
