"""Concurrency: several ``homage`` processes on one library at once.

Two ``index`` runs over overlapping folders and a ``scan`` start together; none may leak a lock
error, all exit 0, ``library check`` passes, the library ends as a sequential run leaves it,
and the scan reports one consistent state.  Writers queue on SQLite's write lock (``BEGIN
IMMEDIATE`` with a busy timeout); what a writer does while it waits, and when it gives up, is
tested here too.
"""

from __future__ import annotations

import json
import multiprocessing
import shutil
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from safety_support import (
    Finished,
    assert_clean_stderr,
    assert_no_crash,
    excerpt_query,
    invoke,
    library_state,
    start_homage,
    wait_until_open,
    write_works,
)

import homage.library.store as store
from homage.config import Settings
from homage.library import Library
from homage.library.schema import DATABASE_NAME
from homage.pipeline import ProgressEvent, index_paths, scan_paths

SECONDS = 6.0
SEED = 700
#: the known query borrows from this work of those already in the library; the moving query
#: from the first shared work, which the concurrent runs add
KNOWN = 0


@dataclass(frozen=True)
class Folders:
    root: Path
    before: Path  # what the library holds when the concurrent runs start
    shared: Path  # indexed by both runs
    first: Path  # only by the first run
    second: Path  # only by the second run
    known_query: Path
    known_reference: str
    moving_query: Path
    moving_reference: str


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> Folders:
    root = tmp_path_factory.mktemp("concurrency")
    before = write_works(root / "before", 2, seconds=SECONDS, seed=SEED)
    shared = write_works(root / "shared", 3, seconds=SECONDS, seed=SEED + 10)
    write_works(root / "first", 2, seconds=SECONDS, seed=SEED + 20)
    write_works(root / "second", 2, seconds=SECONDS, seed=SEED + 30)
    known = excerpt_query(root / "known.wav", SEED + KNOWN, SECONDS, start=1.0, length=4.0)
    moving = excerpt_query(root / "moving.wav", SEED + 10, SECONDS, start=1.0, length=4.0)
    return Folders(root, root / "before", root / "shared", root / "first", root / "second",
                   known, str(before[KNOWN].resolve()), moving, str(shared[0].resolve()))


@pytest.fixture(scope="module")
def sequential(folders: Folders, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The library the same work leaves when done one run after the other."""
    library = tmp_path_factory.mktemp("sequential") / "library"
    for args in ([folders.before], [folders.shared, folders.first],
                 [folders.shared, folders.second]):
        assert invoke(library, "index", *args).exit_code == 0
    return library_state(library)


def prepared_library(folders: Folders, where: Path) -> Path:
    library = where / "library"
    result = invoke(library, "index", folders.before)
    assert result.exit_code == 0, result.output
    return library


def collision(stderr: str) -> bool:
    """The known bug: two runs add the same file and the second trips over the first."""
    return "UNIQUE constraint failed" in stderr


def run_together(folders: Folders, library: Path, scan_json: Path
                 ) -> list[tuple[int, str, str]]:
    procs = [
        start_homage(library, "index", folders.shared, folders.first),
        start_homage(library, "index", folders.shared, folders.second),
        start_homage(library, "scan", folders.known_query, folders.moving_query,
                     "--json", scan_json),
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        results.append((proc.returncode, out.decode("utf-8", "replace"),
                        err.decode("utf-8", "replace")))
    return results


def check_scan(folders: Folders, scan_json: Path, state_after: dict) -> None:
    """The scan's answer is one the library could give before or after the runs: the known
    query finds its work; the moving one finds its work or nothing, never anything else."""
    data = json.loads(scan_json.read_text("utf-8"))
    assert [d["query"] for d in data] == [str(folders.known_query), str(folders.moving_query)]
    known, moving = data
    assert max(known["matches"], key=lambda m: m["score"])["reference"] \
        == folders.known_reference
    assert {m["reference"] for m in known["matches"]} <= set(state_after)
    assert {m["reference"] for m in moving["matches"]} <= {folders.moving_reference}


def test_two_index_runs_and_a_scan_at_once(folders: Folders, sequential: dict,
                                           tmp_path: Path) -> None:
    library = prepared_library(folders, tmp_path)
    scan_json = tmp_path / "scan.json"
    results = run_together(folders, library, scan_json)
    for _, _, stderr in results:
        assert_clean_stderr(stderr)
    check = invoke(library, "library", "check")
    assert_no_crash(check)
    assert check.exit_code == 0, check.output
    scan_rc, _, scan_err = results[2]
    assert scan_rc == 0, scan_err
    if any(rc != 0 and collision(err) for rc, _, err in results[:2]):
        # what the failed run left is still whole, and finishing the job mends the rest
        for args in ([folders.shared, folders.first], [folders.shared, folders.second]):
            assert invoke(library, "index", *args).exit_code == 0
        assert library_state(library) == sequential
        check_scan(folders, scan_json, sequential)
        pytest.xfail("known bug: two runs indexing the same new file at once; the second "
                     "fails on a UNIQUE constraint (see "
                     "test_a_file_added_meanwhile_by_another_run_is_not_an_error)")
    for rc, out, err in results[:2]:
        assert rc == 0, err
        assert "0 failed" in out
    assert library_state(library) == sequential
    check_scan(folders, scan_json, sequential)


ROUNDS_SLOW = 4


@pytest.mark.slow
def test_many_rounds_of_concurrent_runs(folders: Folders, sequential: dict,
                                        tmp_path: Path) -> None:
    """Four more rounds (12 processes); every round ends in the sequential library."""
    collisions = 0
    for round_ in range(ROUNDS_SLOW):
        where = tmp_path / f"round-{round_}"
        where.mkdir()
        library = prepared_library(folders, where)
        results = run_together(folders, library, where / "scan.json")
        for _, _, stderr in results:
            assert_clean_stderr(stderr)
        assert results[2][0] == 0, results[2][2]
        if any(rc != 0 and collision(err) for rc, _, err in results[:2]):
            collisions += 1
            for args in ([folders.shared, folders.first], [folders.shared, folders.second]):
                assert invoke(library, "index", *args).exit_code == 0
        else:
            assert all(rc == 0 for rc, _, _ in results[:2])
        assert invoke(library, "library", "check").exit_code == 0
        assert library_state(library) == sequential
        check_scan(folders, where / "scan.json", sequential)
    if collisions:
        pytest.xfail(f"known bug hit in {collisions} of {ROUNDS_SLOW} rounds (UNIQUE "
                     "constraint)")


def test_a_file_added_meanwhile_by_another_run_is_not_an_error(folders: Folders,
                                                               tmp_path: Path) -> None:
    """Deterministic form of the race: while this run fingerprints a file, another
    connection (another ``homage index``) catalogues the same file."""
    settings = Settings(library=tmp_path / "library", kinds=("audio",))
    target = sorted(folders.shared.iterdir())[0]
    with Library.open(settings.library, settings=settings.audio) as mine, \
            Library.open(settings.library, settings=settings.audio) as other:
        def meanwhile(event: ProgressEvent) -> None:
            if event.stage == "start" and Path(event.path) == target.resolve():
                assert index_paths(other, [target], settings=settings).added

        report = index_paths(mine, [folders.shared], settings=settings, progress=meanwhile)
        assert report.failed == []
        assert str(target.resolve()) in report.unchanged + [d for d, _ in report.duplicates]
        assert len(mine.works()) == 3
        assert mine.integrity_problems() == []


def test_scan_while_a_work_is_removed(folders: Folders, tmp_path: Path) -> None:
    settings = Settings(library=tmp_path / "library", kinds=("audio",))
    with Library.open(settings.library, settings=settings.audio) as writer:
        index_paths(writer, [folders.before], settings=settings)
        with Library.open(settings.library, settings=settings.audio) as reader:
            def meanwhile(event: ProgressEvent) -> None:
                if event.stage == "start":
                    work = writer.work_by_path(folders.known_reference)
                    assert work is not None
                    writer.remove_work(work.id)

            results, failures = scan_paths(reader, [folders.known_query], settings=settings,
                                           progress=meanwhile)
    assert failures == []
    assert {m.reference for m in results[0].matches} <= {folders.known_reference}


# ---------------------------------------------------------------------------- creation race

ROUNDS = 16


def _open_together(directory: str, barrier, queue: multiprocessing.Queue) -> None:
    barrier.wait()
    try:
        with Library.open(directory) as lib:
            queue.put(("ok", lib.generation))
    except Exception as exc:  # report every failure, typed or not
        queue.put((type(exc).__name__, str(exc)))


CREATION_FAILURES = ("not a homage library", "folder is not empty", "database is locked")


def test_processes_creating_one_library_at_once(tmp_path: Path) -> None:
    """Four processes open the same new library at the same instant, ROUNDS times: all must
    succeed and agree on one library."""
    context = multiprocessing.get_context("fork")
    failures = []
    for round_ in range(ROUNDS):
        directory = tmp_path / f"library-{round_}"
        queue = context.Queue()
        barrier = context.Barrier(4)
        procs = [context.Process(target=_open_together, args=(str(directory), barrier, queue))
                 for _ in range(4)]
        for proc in procs:
            proc.start()
        outcomes = [queue.get(timeout=60) for _ in procs]
        for proc in procs:
            proc.join(timeout=60)
        failures.extend(o for o in outcomes if o[0] != "ok")
        if not any(o[0] == "ok" for o in outcomes):
            continue
        with Library.open(directory, create=False) as lib:
            assert lib.integrity_problems() == [] and lib.generation == 0
    unexplained = [f for f in failures if f[0] != "LibraryError"
                   or not any(known in f[1] for known in CREATION_FAILURES)]
    assert unexplained == []
    if failures:
        pytest.xfail(f"known bug: {len(failures)} of {4 * ROUNDS} opens failed while the "
                     "library was being created (see test_library_opened_while_another_"
                     "process_creates_it)")


def test_library_opened_while_another_process_creates_it(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    """Deterministic form of the creation race: a second opener runs right after the first
    one's schema script, before the first one stamps the library."""
    directory = tmp_path / "library"
    real_connect = store._connect
    seen: list[object] = []

    class Creating:
        """The first connection, which lets the second opener in after its schema script."""

        def __init__(self, db: sqlite3.Connection) -> None:
            self._db = db

        def executescript(self, script: str) -> object:
            result = self._db.executescript(script)
            with Library.open(directory) as other:
                seen.append(other.generation)
            return result

        def __getattr__(self, name: str) -> object:
            return getattr(self._db, name)

    wrapped: list[sqlite3.Connection] = []

    def connect(db_path: Path) -> object:
        db = real_connect(db_path)
        if wrapped:
            return db
        wrapped.append(db)
        return Creating(db)

    monkeypatch.setattr(store, "_connect", connect)
    with Library.open(directory) as first:
        assert first.integrity_problems() == []
    assert seen in ([], [0])  # [] when creation no longer runs a schema script in place


# --------------------------------------------------------------------------- waiting on a lock


def hold_write_lock(library: Path, seconds: float, ready: threading.Event) -> None:
    db = sqlite3.connect(library / DATABASE_NAME, isolation_level=None, timeout=30)
    try:
        db.execute("BEGIN IMMEDIATE")
        ready.set()
        time.sleep(seconds)
        db.execute("COMMIT")
    finally:
        db.close()


HOLD_SECONDS = 2.5


@pytest.fixture(scope="module")
def waited(folders: Folders, tmp_path_factory: pytest.TempPathFactory
           ) -> tuple[Path, Finished, float]:
    """``homage index`` started while another connection takes the write lock as soon as
    the run has the library open, and keeps it for HOLD_SECONDS."""
    library = prepared_library(folders, tmp_path_factory.mktemp("lock-wait"))
    ready = threading.Event()
    holder = threading.Thread(target=hold_write_lock, args=(library, HOLD_SECONDS, ready))
    proc = start_homage(library, "index", folders.shared)
    assert wait_until_open(proc, library)
    opened = time.monotonic()
    holder.start()
    assert ready.wait(30)
    out, err = proc.communicate(timeout=120)
    after_open = time.monotonic() - opened
    holder.join()
    return library, Finished(proc.returncode, out.decode(), err.decode(), 0.0, 0.0, False), \
        after_open


def test_index_waits_for_another_writer_and_succeeds(waited) -> None:
    """The run waits for the lock, then finishes (exit 0, nothing leaked)."""
    library, done, after_open = waited
    assert done.returncode == 0, done.stderr
    assert_clean_stderr(done.stderr)
    assert after_open >= HOLD_SECONDS - 0.2  # it did wait for the lock
    assert "indexed 3 new" in done.stdout
    assert invoke(library, "library", "check").exit_code == 0


def test_waiting_for_the_lock_is_said(waited) -> None:
    _, done, _ = waited
    assert done.returncode == 0
    lines = [line for line in done.stderr.splitlines() if "wait" in line.lower()]
    assert lines and "lock" in lines[0].lower()


def test_giving_up_on_the_lock_is_one_clean_line(folders: Folders, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """When the lock stays taken past the busy timeout, the run stops with one line naming
    the library (exit 1), and the library is as it was."""
    library = prepared_library(folders, tmp_path)
    before = library_state(library)
    monkeypatch.setattr(store, "BUSY_TIMEOUT_S", 0.3)
    ready = threading.Event()
    holder = threading.Thread(target=hold_write_lock, args=(library, 1.5, ready))
    holder.start()
    assert ready.wait(10)
    result = invoke(library, "index", folders.shared)
    holder.join()
    assert_no_crash(result)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("homage: error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], lines  # at most a waiting notice before
    assert str(library) in errors[0] and "locked" in errors[0], lines
    assert all(line.isprintable() for line in lines)
    assert library_state(library) == before


def test_concurrent_scans_share_one_index_generation(folders: Folders, tmp_path: Path
                                                     ) -> None:
    """Three scans at once on a library whose hash index is not built yet: each builds or
    reuses the same generation; all succeed with the same answer."""
    library = prepared_library(folders, tmp_path)
    shutil.rmtree(library / "hashindex", ignore_errors=True)
    outs = [tmp_path / f"scan-{i}.json" for i in range(3)]
    procs = [start_homage(library, "scan", folders.known_query, "--json", out) for out in outs]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()
        assert_clean_stderr(err.decode())
    answers = [json.loads(out.read_text("utf-8"))["matches"] for out in outs]
    assert answers[0] == answers[1] == answers[2] and answers[0]
    with Library.open(library, create=False) as lib:
        generation = lib.generation
    assert [p.name for p in (library / "hashindex").iterdir()] == [f"gen-{generation}"]
    assert invoke(library, "library", "check").exit_code == 0

