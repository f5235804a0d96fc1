"""Building the peers' private environments: interpreters, virtualenvs, pip, Debian files.

Each peer pins an old stack (pydejavu is Python 2.7 code, sample-id needs Python < 3.9 and
NumPy < 1.20), so none of it may touch homage's own environment.  Everything is installed
under the benchmark's cache directory, with the ordinary clients (``pip``, ``apt-get
download``), and reused while the recorded spec is unchanged.  Debian packages are unpacked
into the cache with ``dpkg-deb -x`` rather than installed, so set-up needs no root and leaves
the machine as it was.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

logger = logging.getLogger(__name__)

#: Variables that would leak homage's own environment into a peer's interpreter.
_LEAKY_VARIABLES = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "PYTHONNOUSERSITE")

#: A pip run that takes longer than this is stuck (a registry that never answers).
PIP_TIMEOUT_S = 1800.0


class SetupFailed(Exception):
    """A set-up step failed; ``str()`` is the one-line reason the peer reports."""


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The current environment minus anything that points Python at homage's own packages."""
    env = {k: v for k, v in os.environ.items() if k not in _LEAKY_VARIABLES}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_INPUT"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if extra:
        env.update(extra)
    return env


def last_line(text: str) -> str:
    """The most telling line of a tool's output: its last error line, else its last line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower()]
    return (errors or lines or ["no output"])[-1][:300]


def run_logged(
    cmd: Sequence[str | os.PathLike[str]],
    *,
    log: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = PIP_TIMEOUT_S,
) -> str:
    """Run a set-up command, append its output to ``log``, and raise ``SetupFailed`` on error.

    The output is kept because a failed install is diagnosed from it, but only its most
    telling line travels in the reason.
    """
    argv = [os.fspath(c) for c in cmd]
    logger.debug("peer set-up: %s", " ".join(argv))
    try:
        proc = subprocess.run(
            argv,
            env=dict(env) if env is not None else clean_env(),
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as exc:
        raise SetupFailed(f"{argv[0]} not found") from exc
    except subprocess.TimeoutExpired as exc:
        raise SetupFailed(f"{Path(argv[0]).name} timed out after {timeout:.0f} s") from exc
    with log.open("a", encoding="utf-8") as handle:
        handle.write(f"$ {' '.join(argv)}\n{proc.stdout}{proc.stderr}\n[exit {proc.returncode}]\n")
    if proc.returncode != 0:
        name = Path(argv[0]).name
        if name.startswith("python") and len(argv) > 2 and argv[1] == "-m":
            name = argv[2]
        raise SetupFailed(f"{name} failed: {last_line(proc.stderr or proc.stdout)}")
    return proc.stdout


def _python_version(python: Path) -> str | None:
    try:
        out = subprocess.run(
            [os.fspath(python), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            env=clean_env(),
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def find_python(versions: Sequence[str]) -> Path | None:
    """Find an interpreter of one of ``versions`` ("3.8", "2.7", ...), in order of preference.

    Looks on ``PATH`` (``python3.8``), then under pyenv's versions directory, since that is
    where old interpreters live on a machine whose system Python is current.
    """
    pyenv_roots = [Path(os.environ["PYENV_ROOT"])] if os.environ.get("PYENV_ROOT") else []
    pyenv_roots.append(Path.home() / ".pyenv")
    for version in versions:
        candidates: list[Path] = []
        found = shutil.which(f"python{version}")
        if found:
            candidates.append(Path(found))
        for root in pyenv_roots:
            candidates.extend(sorted((root / "versions").glob(f"{version}.*/bin/python{version}")))
        for candidate in candidates:
            if candidate.is_file() and _python_version(candidate) == version:
                return candidate
    return None


def current_python(minimum: tuple[int, int]) -> Path | None:
    """This interpreter, when it is new enough, else a newer one found on the machine."""
    if sys.version_info[:2] >= minimum:
        base = getattr(sys, "_base_executable", None) or sys.executable
        return Path(base)
    newer = [f"3.{minor}" for minor in range(minimum[1], 20)]
    return find_python(newer)


def venv_python(venv: Path) -> Path:
    """The interpreter inside a virtual environment."""
    return venv / "bin" / "python"


def create_venv(python: Path, venv: Path, *, log: Path) -> Path:
    """A fresh ``venv`` made by ``python``; any previous one at that path is removed."""
    if venv.exists():
        shutil.rmtree(venv)
    run_logged([python, "-m", "venv", venv], log=log)
    return venv_python(venv)


def pip_install(
    python: Path,
    args: Sequence[str | os.PathLike[str]],
    *,
    log: Path,
    env: Mapping[str, str] | None = None,
) -> None:
    """``python -m pip install ARGS`` in that interpreter's own environment."""
    run_logged([python, "-m", "pip", "install", *args], log=log, env=clean_env(env))


def debian_files(packages: Sequence[str], dest: Path, *, log: Path) -> Path:
    """Download Debian ``packages`` with ``apt-get download`` and unpack them under ``dest``.

    Returns the unpacked root (``dest/root``, holding ``usr/...``).  Package lists may be
    missing on a fresh machine, so one ``apt-get update`` is tried when the download fails
    and we are root.
    """
    debs = dest / "debs"
    root = dest / "root"
    for tool in ("apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise SetupFailed(f"{tool} not found (Debian packages {', '.join(packages)} needed)")
    if debs.exists():
        shutil.rmtree(debs)
    debs.mkdir(parents=True)
    try:
        run_logged(["apt-get", "download", *packages], log=log, cwd=debs, timeout=600)
    except SetupFailed:
        if os.geteuid() != 0:
            raise
        run_logged(["apt-get", "update", "-qq"], log=log, timeout=600)
        run_logged(["apt-get", "download", *packages], log=log, cwd=debs, timeout=600)
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    for deb in sorted(debs.glob("*.deb")):
        run_logged(["dpkg-deb", "-x", deb, root], log=log, timeout=600)
    return root


def library_dirs(root: Path) -> list[Path]:
    """Directories under an unpacked Debian root that hold shared libraries."""
    dirs = {p.parent for p in root.glob("**/*.so*") if "/doc/" not in p.as_posix()}
    return sorted(dirs)


def spec_matches(peer_dir: Path, spec: Mapping[str, object]) -> bool:
    """Whether ``peer_dir`` holds a finished install of exactly ``spec``."""
    stamp = peer_dir / "ready.json"
    try:
        return json.loads(stamp.read_text(encoding="utf-8")) == dict(spec)
    except (OSError, ValueError):
        return False


def mark_ready(peer_dir: Path, spec: Mapping[str, object]) -> None:
    """Record a finished install, so the next run reuses it."""
    (peer_dir / "ready.json").write_text(json.dumps(dict(spec), sort_keys=True), encoding="utf-8")


def forget_ready(peer_dir: Path) -> None:
    """Drop the record of a finished install before rebuilding it."""
    with contextlib.suppress(FileNotFoundError):
        (peer_dir / "ready.json").unlink()


@contextlib.contextmanager
def locked(peer_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``peer_dir``, so two runs never build one venv at once."""
    peer_dir.mkdir(parents=True, exist_ok=True)
    with (peer_dir / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def safe_name(text: str) -> str:
    """A file-name-safe rendering of ``text``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:60] or "x"
