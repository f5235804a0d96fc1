"""pydejavu: Will Drevo's Dejavu (PyPI ``pydejavu`` 0.1.3, 2015), landmark hashes in MySQL.

It is Python 2 code (``print`` statements, ``xrange``) that stores fingerprints in MySQL.
Set-up builds a Python 2.7 virtualenv (``virtualenv`` < 20.22 is the last that makes one)
with the 2015-era NumPy it needs (it subtracts boolean arrays, which NumPy >= 1.13 refuses)
and PyMySQL in place of MySQL-python.  The database is a private MariaDB server: the
machine's ``mariadbd`` if it has one, else Debian's ``mariadb-server-core`` unpacked into
the cache; each run starts it on a Unix socket in a fresh data directory and stops it after.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from homage.bench.peers import _env
from homage.bench.peers._base import PeerError, VenvAudioPeer

PACKAGE = "pydejavu==0.1.3"

#: The newest releases that still support Python 2.7 and Dejavu's 2015 code.
PY27_REQUIREMENTS = (
    "numpy==1.12.1",
    "scipy==1.2.3",
    "matplotlib==2.2.5",
    "pydub==0.25.1",
    "PyMySQL==0.10.1",
)

#: Debian packages that make up a runnable ``mariadbd`` besides what a slim image has.
MARIADB_PACKAGES = ("mariadb-server-core", "libaio1", "liburing2", "libnuma1")

#: How long a fresh server may take to open its socket.
SERVER_START_TIMEOUT_S = 60.0


class PyDejavuPeer(VenvAudioPeer):
    """Dejavu as shipped: default fingerprint settings, one best match per query."""

    name: ClassVar[str] = "pydejavu"
    env_name: ClassVar[str] = "pydejavu"
    driver: ClassVar[str] = "drive_dejavu.py"
    sample_rate: ClassVar[int] = 44100

    def __init__(self) -> None:
        super().__init__()
        self._server: Path | None = None
        self._server_env: dict[str, str] = {}
        self._server_args: list[str] = []
        self._server_pid = 0
        self._data_dir: Path | None = None

    def _spec(self) -> dict[str, object]:
        return {
            "package": PACKAGE,
            "requirements": list(PY27_REQUIREMENTS),
            "virtualenv": "<20.22",
            "mariadb": list(MARIADB_PACKAGES),
        }

    def setup(self, work_dir: Path) -> str | None:
        reason = super().setup(work_dir)
        if reason is None:
            try:
                log = self.peer_dir / "server-check.log"
                log.write_text("", encoding="utf-8")
                self._find_server(log=log)
            except _env.SetupFailed as exc:
                self._python = None
                return f"{self.name}: {exc}"
        return reason

    def _install(self, peer_dir: Path, log: Path) -> Path:
        py27 = _env.find_python(["2.7"])
        if py27 is None:
            raise _env.SetupFailed("needs a Python 2.7 interpreter (Dejavu is Python 2 code)")
        base = _env.current_python((3, 8))
        if base is None:
            raise _env.SetupFailed("needs Python 3 to run virtualenv")
        tools = _env.create_venv(base, peer_dir / "tools", log=log)
        _env.pip_install(tools, ["virtualenv<20.22"], log=log)
        venv = peer_dir / "venv"
        if venv.exists():
            shutil.rmtree(venv)
        _env.run_logged([tools, "-m", "virtualenv", "-p", py27, venv], log=log)
        python = _env.venv_python(venv)
        _env.pip_install(python, list(PY27_REQUIREMENTS), log=log)
        # Its declared dependencies (MySQL-python, PyAudio) no longer build; the driver
        # supplies PyMySQL and a stub instead.
        _env.pip_install(python, ["--no-deps", PACKAGE], log=log)
        check = "import pymysql; pymysql.install_as_MySQLdb(); import dejavu.database_sql"
        _env.run_logged([python, "-c", check], log=log)
        if shutil.which("mariadbd") is None:
            _env.debian_files(MARIADB_PACKAGES, peer_dir / "mariadb", log=log)
        return python

    def _find_server(self, *, log: Path) -> None:
        """Locate ``mariadbd`` and check that it starts far enough to print its version."""
        system = shutil.which("mariadbd")
        env = _env.clean_env()
        args: list[str] = []
        if system:
            server = Path(system)
        else:
            root = self.peer_dir / "mariadb" / "root"
            server = root / "usr" / "sbin" / "mariadbd"
            if not server.exists():
                raise _env.SetupFailed("no mariadbd (install mariadb-server or re-run set-up)")
            libs = [os.fspath(d) for d in _env.library_dirs(root)]
            env["LD_LIBRARY_PATH"] = os.pathsep.join(
                [*libs, *filter(None, [os.environ.get("LD_LIBRARY_PATH")])]
            )
            args = [
                f"--basedir={root / 'usr'}",
                f"--lc-messages-dir={root / 'usr' / 'share' / 'mysql'}",
            ]
        _env.run_logged([server, "--no-defaults", "--version"], log=log, env=env, timeout=60)
        self._server, self._server_env, self._server_args = server, env, args

    def _options(self) -> dict[str, Any]:
        return {"database": "dejavu", "user": "root"}

    @contextlib.contextmanager
    def _session(self, run_dir: Path) -> Iterator[dict[str, Any]]:
        """A private MariaDB server for one run: fresh data directory, Unix socket only."""
        if self._server is None:
            raise PeerError(f"{self.name}: no database server (setup() has not succeeded)")
        data_dir = run_dir / "mysql-data"
        data_dir.mkdir()
        # Unix socket paths are limited to ~108 bytes, so the socket lives in a short dir.
        sock_dir = Path(tempfile.mkdtemp(prefix="hmdb-"))
        socket = sock_dir / "mysqld.sock"
        argv = [
            os.fspath(self._server),
            "--no-defaults",
            f"--datadir={data_dir}",
            f"--socket={socket}",
            f"--pid-file={sock_dir / 'mysqld.pid'}",
            f"--log-error={run_dir / 'mariadb.err'}",
            "--skip-networking",
            "--skip-grant-tables",
            *self._server_args,
        ]
        if os.geteuid() == 0:
            argv.append("--user=root")
        server = subprocess.Popen(
            argv,
            env=self._server_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + SERVER_START_TIMEOUT_S
            while not socket.exists():
                if server.poll() is not None or time.monotonic() > deadline:
                    err = run_dir / "mariadb.err"
                    detail = err.read_text(errors="replace") if err.exists() else ""
                    raise PeerError(f"{self.name}: MariaDB did not start: {_env.last_line(detail)}")
                time.sleep(0.2)
            self._server_pid = server.pid
            self._data_dir = data_dir
            yield {"socket": os.fspath(socket), "server_pid": server.pid}
        finally:
            if server.poll() is None:
                server.send_signal(signal.SIGTERM)
                try:
                    server.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait()
            shutil.rmtree(sock_dir, ignore_errors=True)

    def _amend(self, raw: dict[str, Any], run_dir: Path) -> None:
        """Add the server's memory to the peak and size the index as MariaDB stores it."""
        raw["peak_rss_bytes"] = int(raw["peak_rss_bytes"]) + _vm_hwm_bytes(self._server_pid)
        assert self._data_dir is not None
        db_dir = self._data_dir / str(self._options()["database"])
        raw["index_bytes"] = sum(p.stat().st_size for p in db_dir.rglob("*") if p.is_file())
        raw["notes"] = str(raw["notes"]) + "; index bytes = the database's InnoDB files"


def _vm_hwm_bytes(pid: int) -> int:
    """Peak resident memory of a running process, from ``/proc`` (0 if unavailable)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0
