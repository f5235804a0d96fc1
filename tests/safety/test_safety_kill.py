"""Kill points: ``homage index`` killed (SIGKILL) or interrupted (SIGINT) at seeded random
moments, again and again; after every kill the library opens, ``homage library check``
passes, a completing run yields exactly what an uninterrupted run yields, and ``scan`` still
finds a known excerpt.

The kills run in real ``python -m homage`` processes, two at a time; what each kill left is
copied aside and verified afterwards, in this process, with the same CLI code.  Kills come in
chains: the second kill of a chain interrupts a run that resumes from what the first left
(or, when the first run finished before its kill, re-adds the half of the works it is made
to forget).
"""

from __future__ import annotations

import json
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from safety_support import (
    SIGNAL_NAMES,
    WorkState,
    assert_clean_stderr,
    assert_no_crash,
    excerpt_query,
    invoke,
    library_state,
    send,
    start_homage,
    wait_until_open,
    write_works,
)

from homage.errors import LibraryError
from homage.library import Library
from homage.library.schema import APPLICATION_ID, DATABASE_NAME

WORKS = 8
WORK_SECONDS = 8.0
SEED = 600
#: the query holds seconds 2–6 of this work
QUERY_WORK = 5
INTERRUPTED = "homage: interrupted; the library is consistent, re-run to resume"


@dataclass(frozen=True)
class Setup:
    music: Path
    query: Path
    query_reference: str
    expected: dict[str, WorkState]
    #: seconds from start until the run had the library open, and until it ended
    opened_at: float
    run_seconds: float


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Setup:
    """The works, a query, and what one uninterrupted run makes of them (timed)."""
    root = tmp_path_factory.mktemp("kill")
    works = write_works(root / "music", WORKS, seconds=WORK_SECONDS, seed=SEED)
    query = excerpt_query(root / "query.wav", SEED + QUERY_WORK, WORK_SECONDS, start=2.0,
                          length=4.0)
    # time two uninterrupted runs side by side, as the kills will run
    libraries = [root / "baseline-0", root / "baseline-1"]
    with ThreadPoolExecutor(max_workers=2) as pool:
        timings = list(pool.map(timed_run, libraries, [root / "music"] * 2))
    expected = library_state(libraries[0])
    assert expected == library_state(libraries[1])
    assert len(expected) == WORKS
    assert sorted(expected) == sorted(str(p.resolve()) for p in works)
    opened_at = max(t[0] for t in timings)
    run_seconds = max(t[1] for t in timings)
    return Setup(root / "music", query, str(works[QUERY_WORK].resolve()), expected,
                 opened_at, run_seconds)


def timed_run(library: Path, music: Path) -> tuple[float, float]:
    """Seconds until ``homage index`` had the library open, and until it finished."""
    proc = start_homage(library, "index", music)
    start = time.monotonic()
    assert wait_until_open(proc, library)
    opened_at = time.monotonic() - start
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()
    return opened_at, time.monotonic() - start


@dataclass
class Kill:
    """One planned kill: chain ``chain``, link ``link``, ``signum`` sent either ``delay`` times
    the start-up time after start (``early``: while Python starts and the library is made), or
    once the run has committed ``position`` of the works left to it, ``delay`` of the time one
    work takes later (so kills land on every phase of a work, whatever the machine's load)."""

    chain: int
    link: int
    signum: int
    early: bool
    delay: float
    position: float
    returncode: int | None = None
    stderr: str = ""
    delivered: bool = False
    snapshot: Path | None = None


def plan(n_kills: int, signum: int, seed: int) -> list[list[Kill]]:
    """Chains of two kills; one kill in six lands during start-up, the rest while indexing."""
    rng = random.Random(seed)
    chains = []
    for chain in range((n_kills + 1) // 2):
        links = min(2, n_kills - 2 * chain)
        kills = []
        for link in range(links):
            early = rng.random() < 1 / 6
            delay = rng.uniform(0.2, 1.0) if early else rng.uniform(0.0, 1.0)
            kills.append(Kill(chain, link, signum, early, delay, rng.random()))
        chains.append(kills)
    return chains


def run_chain(chain: list[Kill], root: Path, setup: Setup) -> None:
    """Run each link against the library the previous link left, killing it on time, and
    copy aside what each kill left."""
    library = root / f"chain-{chain[0].chain}"
    per_work = (setup.run_seconds - setup.opened_at) / WORKS
    for kill in chain:
        if works_in(library) == WORKS:  # the last run finished: give this one work to do
            with Library.open(library, create=False) as lib:
                for work in lib.works()[WORKS // 2:]:
                    lib.remove_work(work.id)
        before = works_in(library)
        proc = start_homage(library, "index", setup.music)
        if kill.early:
            time.sleep(kill.delay * setup.opened_at)
        elif wait_until_open(proc, library):
            target = before + int(kill.position * (WORKS - before))
            if target > before:
                # read only once the database is in WAL mode: a reader in the old journal
                # mode could make the run's switch to WAL fail, which is not what this tests
                wal = library / f"{DATABASE_NAME}-wal"
                while proc.poll() is None and not (wal.exists() and works_in(library) >= target):
                    time.sleep(0.005)
            time.sleep(kill.delay * per_work)
        kill.delivered = send(proc, kill.signum)
        try:
            _, err = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise AssertionError(f"homage did not stop after {SIGNAL_NAMES[kill.signum]}"
                                 ) from None
        kill.returncode = proc.returncode
        kill.stderr = err.decode("utf-8", "replace")
        kill.snapshot = root / f"after-{kill.chain}-{kill.link}"
        if library.exists():
            shutil.copytree(library, kill.snapshot)


def works_in(library: Path) -> int:
    """Works committed so far (a reader beside the writer, as a concurrent scan would be)."""
    if not (library / DATABASE_NAME).exists():
        return 0
    db = sqlite3.connect(library / DATABASE_NAME, timeout=10)
    try:
        return db.execute("SELECT COUNT(*) FROM works").fetchone()[0]
    except sqlite3.DatabaseError:
        return 0
    finally:
        db.close()


def took_effect(kill: Kill) -> bool:
    """Did the signal stop a running ``homage`` (rather than arrive after it finished)?"""
    if kill.signum == signal.SIGKILL:
        return kill.returncode == -signal.SIGKILL
    # 130: homage's handler; 1: click's "Aborted!"; -2 with a traceback: during start-up.
    # A -2 without one is Python dying of the signal at exit, after the run was done.
    return kill.returncode in (130, 1) or (kill.returncode == -signal.SIGINT
                                           and "Traceback" in kill.stderr)


#: CPython's own report of a SIGINT that landed while an import lock's weakref callback ran:
#: there it can only print the KeyboardInterrupt and drop it, and the run goes on (about one
#: kill in a few hundred during start-up).  Nothing homage runs can catch it; what the run
#: then leaves is checked like any other.
_DROPPED_BY_PYTHON = re.compile(
    r"Exception ignored in: <function _get_module_lock\.<locals>\.cb at 0x[0-9a-f]+>\n"
    r"Traceback \(most recent call last\):\n(?:  .*\n)*KeyboardInterrupt:? *\n?")


def check_exit(kill: Kill) -> None:
    """What the user sees after an interruption."""
    if kill.signum == signal.SIGKILL:
        assert kill.returncode in (0, -signal.SIGKILL)
        return
    kill.stderr = _DROPPED_BY_PYTHON.sub("", kill.stderr)
    # SIGINT: homage's handler says the library is consistent (130); before homage's
    # handler is in place, click says "Aborted!" (1) or Python dies of the signal (-2)
    assert kill.returncode in (0, 1, 130, -signal.SIGINT), (kill.returncode, kill.stderr)
    if kill.returncode == 130:
        assert kill.stderr.strip().splitlines()[-1] == INTERRUPTED, kill.stderr
        assert "Traceback" not in kill.stderr, kill.stderr
    elif kill.returncode == 1:
        assert kill.stderr.strip().splitlines()[-1] == "Aborted!", kill.stderr
    elif kill.returncode == 0:
        assert_clean_stderr(kill.stderr)


def mid_creation(snapshot: Path) -> bool:
    """The known bug's state: homage's tables exist but the library was never stamped."""
    db = sqlite3.connect(snapshot / DATABASE_NAME)
    try:
        app_id = db.execute("PRAGMA application_id").fetchone()[0]
        meta = db.execute("SELECT COUNT(*) FROM meta").fetchone()[0]
    except sqlite3.DatabaseError:
        return False
    finally:
        db.close()
    return app_id != APPLICATION_ID and meta == 0


def verify(kill: Kill, setup: Setup) -> int | None:
    """Everything the library must still be after ``kill``; returns how many works it held
    (None when the kill came before the library existed)."""
    snapshot = kill.snapshot
    if snapshot is None or not (snapshot / DATABASE_NAME).exists():
        return None
    with Library.open(snapshot, create=False) as lib:
        held = len(lib.works())
        assert lib.integrity_problems() == []
    check = invoke(snapshot, "library", "check")
    assert_no_crash(check)
    assert check.exit_code == 0, check.output
    assert check.stdout.strip().endswith("library ok")
    done = invoke(snapshot, "index", setup.music)
    assert_no_crash(done)
    assert done.exit_code == 0, done.output
    assert library_state(snapshot) == setup.expected
    out = snapshot / "scan.json"
    scan = invoke(snapshot, "scan", setup.query, "--json", out)
    assert_no_crash(scan)
    assert scan.exit_code == 0, scan.output
    matches = json.loads(out.read_text("utf-8"))["matches"]
    assert matches and max(matches, key=lambda m: m["score"])["reference"] \
        == setup.query_reference
    again = invoke(snapshot, "library", "check")
    assert again.exit_code == 0, again.output
    return held


def run_kill_points(n_kills: int, signum: int, setup: Setup, root: Path, seed: int
                    ) -> dict[str, object]:
    chains = plan(n_kills, signum, seed)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=2) as pool:
        for future in [pool.submit(run_chain, chain, root, setup) for chain in chains]:
            future.result()
    kills = [kill for chain in chains for kill in chain]
    killing = time.monotonic() - started
    held: Counter[str] = Counter()
    stuck_mid_creation = []
    for kill in kills:
        check_exit(kill)
        try:
            works = verify(kill, setup)
        except LibraryError as exc:
            if kill.snapshot is not None and "not a homage library" in str(exc) \
                    and mid_creation(kill.snapshot):
                stuck_mid_creation.append(kill)
                continue
            raise
        held["no library yet" if works is None else f"{works} works"] += 1
    effective = sum(took_effect(k) for k in kills)
    summary = {
        "signal": SIGNAL_NAMES[signum], "kills": len(kills), "took effect": effective,
        "exit codes": dict(Counter(k.returncode for k in kills)), "left": dict(held),
        "baseline seconds": (round(setup.opened_at, 2), round(setup.run_seconds, 2)),
        "seconds killing": round(killing, 1),
        "seconds verifying": round(time.monotonic() - started - killing, 1),
    }
    print(summary)
    if stuck_mid_creation:
        pytest.xfail(f"{len(stuck_mid_creation)} kill(s) landed while the library was being "
                     "created and left it unopenable: see "
                     "test_library_killed_while_being_created_still_opens")
    # the delays must really spread over the run: some kills caught it part-way through
    assert effective >= 0.5 * len(kills), summary
    partial = sum(n for key, n in held.items() if key not in ("no library yet",
                                                                f"{WORKS} works"))
    assert partial >= 0.2 * len(kills), summary
    return summary


# ------------------------------------------------------------------------------ kill points


def test_sigkill_at_random_moments(setup: Setup, tmp_path: Path) -> None:
    """16 SIGKILLs (8 chains of two) spread over the run."""
    run_kill_points(16, signal.SIGKILL, setup, tmp_path, seed=1)


def test_sigint_at_random_moments(setup: Setup, tmp_path: Path) -> None:
    """10 Ctrl-Cs (5 chains of two) spread over the run."""
    run_kill_points(10, signal.SIGINT, setup, tmp_path, seed=2)


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "n_kills", "seed"), [
    (signal.SIGKILL, 60, 11),
    (signal.SIGINT, 40, 12),
], ids=["sigkill", "sigint"])
def test_many_kill_points(setup: Setup, tmp_path: Path, signum: int, n_kills: int,
                          seed: int) -> None:
    """100 more kill points: 60 SIGKILLs and 40 Ctrl-Cs."""
    run_kill_points(n_kills, signum, setup, tmp_path, seed=seed)


# --------------------------------------------------------------- the window a kill can hit


def test_library_killed_while_being_created_still_opens(tmp_path: Path) -> None:
    """What a kill between the two commits of library creation leaves must still open."""
    from homage.library.schema import SCHEMA

    library = tmp_path / "library"
    library.mkdir()
    db = sqlite3.connect(library / DATABASE_NAME, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.executescript(SCHEMA)  # the first commit of Library.open's creation
    db.close()
    with Library.open(library) as lib:
        assert lib.works() == [] and lib.integrity_problems() == []


@pytest.mark.slow
def test_kill_while_scan_builds_the_hash_index(setup: Setup, tmp_path: Path) -> None:
    """``scan`` writes the derived hash index: killing it there leaves a library whose next
    scan and check still work."""
    library = tmp_path / "library"
    assert invoke(library, "index", setup.music).exit_code == 0
    rng = random.Random(3)
    for attempt in range(4):
        with Library.open(library, create=False) as lib:  # a new generation to build
            work = lib.works()[attempt % WORKS]
            lib.remove_work(work.id)
        assert invoke(library, "index", setup.music).exit_code == 0
        proc = start_homage(library, "scan", setup.query)
        time.sleep(rng.uniform(0.6, 1.1) * setup.opened_at + rng.uniform(0.0, 0.4))
        send(proc, signal.SIGKILL)
        proc.communicate(timeout=60)
        out = tmp_path / f"scan-{attempt}.json"
        scan = invoke(library, "scan", setup.query, "--json", out)
        assert_no_crash(scan)
        assert scan.exit_code == 0, scan.output
        best = max(json.loads(out.read_text("utf-8"))["matches"], key=lambda m: m["score"])
        assert best["reference"] == setup.query_reference
        check = invoke(library, "library", "check")
        assert check.exit_code == 0, check.output


def test_scratch_index_folders_of_dead_processes_are_cleaned(setup: Setup,
                                                             tmp_path: Path) -> None:
    library = tmp_path / "library"
    assert invoke(library, "index", setup.query).exit_code == 0
    assert invoke(library, "library", "check").exit_code == 0
    folder = library / "hashindex"
    dead = subprocess.Popen(["true"])
    dead.wait()  # a pid that no longer runs
    with Library.open(library, create=False) as lib:
        generation = lib.generation
    left = folder / f".gen-{generation + 1}.{dead.pid}.tmp"
    left.mkdir()
    (left / "hashes.npy").write_bytes(b"\x93NUMPY half a file")
    assert invoke(library, "index", setup.music).exit_code == 0  # moves the generation on
    assert invoke(library, "scan", setup.query).exit_code == 0
    assert not left.exists()
