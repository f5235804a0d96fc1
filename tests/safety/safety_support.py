"""Helpers shared by the safety tests (issue 6): real ``homage`` processes, small generated
works, and a library's content read back in a form two runs can be compared by.

A plain module rather than a ``conftest.py``: ``tests/`` has no ``__init__.py`` files and other
tests import the top-level ``conftest`` by name, which a second ``conftest`` would shadow.
"""

from __future__ import annotations

import hashlib
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from click.testing import CliRunner, Result

from homage.cli.main import cli
from homage.library import Library
from homage.library.schema import DATABASE_NAME
from synth_music import make_score, render, write_audio

#: every command runs with audio only: the audio library is what these tests guard
KINDS = ("--kinds", "audio")

#: one-thread numerics in child processes: two cores, and timings that do not depend on load
CHILD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
             "PYTHONFAULTHANDLER": "1"}

#: ways of encoding a work, cycled through so that every folder holds several formats
ENCODINGS = (
    (".wav", {"codec": "pcm_s16le"}),
    (".flac", {"codec": "flac"}),
    (".mp3", {"codec": "libmp3lame"}),
    (".ogg", {"codec": "libopus", "codec_rate": 48000}),
)


def homage_argv(library: Path, *args: str | Path) -> list[str]:
    """``python -m homage --library LIBRARY --kinds audio ARGS...`` for a real process."""
    return [sys.executable, "-m", "homage", "--library", str(library), *KINDS,
            *(str(a) for a in args)]


def child_env() -> dict[str, str]:
    return {**os.environ, **CHILD_ENV}


@dataclass(frozen=True)
class Finished:
    """A finished ``homage`` process: exit status, output, wall time and peak memory."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float
    max_rss_mb: float
    timed_out: bool


def run_homage(library: Path, *args: str | Path, timeout: float = 120.0,
               address_space_mb: int | None = None, cwd: Path | None = None) -> Finished:
    """Run ``homage`` in a child process; on ``timeout`` kill it and say so.

    ``address_space_mb`` caps the child's virtual memory (``RLIMIT_AS``), so a decoder that
    tried to allocate without bound fails inside the child instead of swamping the machine.
    Peak resident memory comes from ``wait4``, for this child alone.
    """

    def limit() -> None:
        if address_space_mb is not None:
            cap = address_space_mb * 2**20
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    out_path = _scratch_file("out")
    err_path = _scratch_file("err")
    with open(out_path, "w+b") as out, open(err_path, "w+b") as err:
        start = time.monotonic()
        proc = subprocess.Popen(homage_argv(library, *args), stdout=out, stderr=err,
                                env=child_env(), cwd=cwd, preexec_fn=limit)
        timed_out = threading.Event()

        def guard() -> None:
            timed_out.set()
            proc.kill()

        timer = threading.Timer(timeout, guard)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        seconds = time.monotonic() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
    out_path.unlink()
    err_path.unlink()
    return Finished(proc.returncode, stdout, stderr, seconds, usage.ru_maxrss / 1024,
                    timed_out.is_set())


def _scratch_file(kind: str) -> Path:
    import tempfile

    fd, name = tempfile.mkstemp(prefix=f"homage-safety-{kind}-")
    os.close(fd)
    return Path(name)


def start_homage(library: Path, *args: str | Path) -> subprocess.Popen[bytes]:
    """Start ``homage`` without waiting (for kills and concurrent runs)."""
    return subprocess.Popen(homage_argv(library, *args), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=child_env())


def wait_until_open(proc: subprocess.Popen[bytes], library: Path) -> bool:
    """Wait until ``proc`` holds the library's database open (its imports are done and its
    work begins); False if it ended first.  Watches ``/proc/PID/fd``."""
    target = str((library / DATABASE_NAME).resolve())
    fds = Path(f"/proc/{proc.pid}/fd")
    while proc.poll() is None:
        try:
            names = os.listdir(fds)
        except OSError:
            return False
        for name in names:
            try:
                if os.readlink(fds / name) == target:
                    return True
            except OSError:
                continue
        time.sleep(0.002)
    return False


def invoke(library: Path, *args: str | Path) -> Result:
    """Run ``homage`` in this process (the same CLI code, without an interpreter start-up)."""
    argv = ["--library", str(library), *KINDS, *(str(a) for a in args)]
    return CliRunner().invoke(cli, argv, catch_exceptions=True)


def assert_no_crash(result: Result) -> None:
    """An in-process run ended by ``sys.exit`` (or returning), never by an escaped exception."""
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        import traceback

        trace = "".join(traceback.format_exception(result.exception))
        raise AssertionError(f"homage raised instead of failing cleanly:\n{trace}")


def assert_clean_stderr(stderr: str) -> None:
    """No traceback and no raw SQLite lock error reached the user."""
    assert "Traceback" not in stderr, stderr
    assert "database is locked" not in stderr, stderr


def write_works(folder: Path, count: int, *, seconds: float, seed: int,
                names: list[str] | None = None) -> list[Path]:
    """``count`` unrelated pieces of music, cycling through wav/flac/mp3/ogg (or encoded as
    the suffixes of ``names`` say)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    by_suffix = dict(ENCODINGS)
    for i in range(count):
        suffix, encoding = ENCODINGS[i % len(ENCODINGS)]
        name = f"work_{i:02d}{suffix}"
        if names is not None:
            name = names[i]
            encoding = by_suffix.get(Path(name).suffix, by_suffix[".wav"])
        samples = render(make_score(seed + i, seconds))
        paths.append(write_audio(folder / name, samples, **encoding))
    return paths


def excerpt_query(path: Path, source_seed: int, seconds: float, *, start: float,
                  length: float) -> Path:
    """A wav holding ``length`` seconds of the work rendered from ``source_seed``, padded with
    a second of silence each side (what ``scan`` must find)."""
    samples = render(make_score(source_seed, seconds), start=start, end=start + length)
    pad = np.zeros(22050, dtype=np.float32)
    return write_audio(path, np.concatenate([pad, samples, pad]))


@dataclass(frozen=True)
class WorkState:
    """What identifies a catalogued work's content: its bytes and its fingerprints."""

    content_hash: str
    fingerprints: int
    prints_digest: str
    duration: float


def library_state(library: Path) -> dict[str, WorkState]:
    """Every work of the library by path, with a digest of its stored fingerprint arrays."""
    with Library.open(library, create=False) as lib:
        works = lib.works()
        digests = {
            work_id: hashlib.blake2b(
                b"".join(np.ascontiguousarray(a).tobytes()
                         for a in (prints.hashes, prints.time, prints.freq, prints.span)),
                digest_size=16,
            ).hexdigest()
            for work_id, prints in lib.iter_fingerprints()
        }
    assert len({w.content_hash for w in works}) == len(works), "a content catalogued twice"
    return {
        w.path: WorkState(w.content_hash, w.fingerprints, digests.get(w.id, ""),
                          round(w.duration, 3))
        for w in works
    }


def send(proc: subprocess.Popen[bytes], signum: int) -> bool:
    """Signal ``proc`` if it still runs; True when the signal was sent to a live process."""
    if proc.poll() is not None:
        return False
    try:
        os.kill(proc.pid, signum)
    except ProcessLookupError:
        return False
    return True


SIGNAL_NAMES = {signal.SIGKILL: "SIGKILL", signal.SIGINT: "SIGINT"}
