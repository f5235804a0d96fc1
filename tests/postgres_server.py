"""A throwaway PostgreSQL cluster for the library tests, on a loopback port.

``initdb`` and ``postgres`` refuse to run as root (as CI does): then the cluster runs as the
``postgres`` user, which Debian's ``postgresql`` package creates.  The superuser has a
password and TCP connections must give it (``scram-sha-256``), so the tests can check that a
password never reaches a message.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

#: An admin URL (may create and drop databases) of a server to use instead of starting one.
SERVER_ENV = "HOMAGE_TEST_POSTGRES_URL"
USER = "homage_test"
PASSWORD = "pw-never-printed-7c1e"


class NoPostgres(RuntimeError):
    """No PostgreSQL server binaries here, or the cluster would not start."""


@dataclass(frozen=True)
class Server:
    """A running server and an admin URL for it."""

    admin_url: str

    def url_for(self, database: str, *, password: str | None = None) -> str:
        """The admin URL pointing at ``database`` (with another password, if given)."""
        parts = urlsplit(self.admin_url)
        netloc = parts.netloc
        if password is not None:
            user_part, _, host = netloc.rpartition("@")
            netloc = f"{user_part.partition(':')[0]}:{password}@{host}"
        return urlunsplit((parts.scheme, netloc, f"/{database}", parts.query, ""))

    @contextlib.contextmanager
    def database(self) -> Iterator[str]:
        """A fresh, empty database for one test (dropped afterwards); yields its URL."""
        import psycopg

        name = f"homage_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_url, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield self.url_for(name)
        finally:
            with psycopg.connect(self.admin_url, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def binaries() -> Path:
    """The folder of ``initdb``, ``pg_ctl`` and ``postgres``: on ``PATH``, else Debian's
    newest ``/usr/lib/postgresql/<version>/bin``."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                      key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if not versions:
        raise NoPostgres("no initdb on PATH or in /usr/lib/postgresql/*/bin "
                         "(apt-get install postgresql)")
    return Path(versions[-1]).parent


@contextlib.contextmanager
def throwaway_cluster() -> Iterator[Server]:
    """Start a cluster in a temporary folder on a free loopback port; stop and delete it on
    exit."""
    bin_dir = binaries()
    owner = _cluster_owner()
    # under /tmp when another user runs the server: $TMPDIR may be closed to it
    root = Path(tempfile.mkdtemp(prefix="homage-pg-", dir="/tmp" if owner else None))
    try:
        if owner is not None:
            os.chown(root, owner.pw_uid, owner.pw_gid)
        (root / "pw").write_text(PASSWORD + "\n")
        if owner is not None:
            os.chown(root / "pw", owner.pw_uid, owner.pw_gid)
        _run(owner, [str(bin_dir / "initdb"), "-D", str(root / "data"), "-U", USER,
                     "--pwfile", str(root / "pw"), "--auth-local=trust",
                     "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C"])
        port = _start(owner, bin_dir, root)
        try:
            yield Server(f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{port}/postgres")
        finally:
            _run(owner, [str(bin_dir / "pg_ctl"), "-D", str(root / "data"), "-m", "immediate",
                         "-w", "stop"], check=False)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _start(owner: pwd.struct_passwd | None, bin_dir: Path, root: Path) -> int:
    """Start the server on a free port (trying again if another process took it first)."""
    log = root / "server.log"
    for _ in range(3):
        port = _free_port()
        options = (f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        done = _run(owner, [str(bin_dir / "pg_ctl"), "-D", str(root / "data"), "-l", str(log),
                            "-o", options, "-w", "-t", "60", "start"], check=False)
        if done.returncode == 0:
            return port
        time.sleep(0.2)
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    raise NoPostgres(f"the throwaway PostgreSQL cluster would not start:\n{tail}")


def _cluster_owner() -> pwd.struct_passwd | None:
    """Who runs the cluster: this user, or ``postgres`` when this is root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError as exc:
        raise NoPostgres("running as root and there is no postgres user to run the cluster "
                         "as (apt-get install postgresql creates one)") from exc


def _run(owner: pwd.struct_passwd | None, command: list[str], *,
         check: bool = True) -> subprocess.CompletedProcess[str]:
    extra: dict[str, object] = {}
    if owner is not None:
        extra = {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": [],
                 "env": {**os.environ, "HOME": owner.pw_dir, "USER": owner.pw_name}}
    done = subprocess.run(command, capture_output=True, text=True, cwd="/", check=False,
                          **extra)  # type: ignore[call-overload]
    if check and done.returncode != 0:
        raise NoPostgres(f"{Path(command[0]).name} failed: {done.stderr.strip()[-2000:]}")
    return done


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
