"""Throwaway databases for the registry tests: SQLite files and a real PostgreSQL 15 cluster.

The cluster is created on first use in a temporary directory (initdb, trust authentication, a
Unix socket in that directory and no TCP listener), shared by the whole test process and
removed at exit. As root, initdb and postgres run as the `postgres` user (they refuse to run as
root). Without PostgreSQL binaries the PostgreSQL tests fail with a message saying what to
install: they never skip, so CI cannot pass without having run them.

fsync is off in the cluster: the tests kill client processes, never the server, and a server
crash is PostgreSQL's own business; syncing would only slow the suite down.

Each test gets its own database, copied from a template that is migrated once (CREATE DATABASE
... TEMPLATE on PostgreSQL, a file copy on SQLite), and dropped afterwards.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from calcinosis.registry import database, migrate

KINDS = ("sqlite", "postgresql")
PG_MAJOR = "15"
PORT = 5432  # names the socket file only: the cluster listens on no TCP port
SUPERUSER = "postgres"
SETTINGS = {
    "listen_addresses": "''",
    "port": str(PORT),
    "fsync": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "shared_buffers": "32MB",
}
MISSING = (
    "PostgreSQL {major} server binaries were not found (looked in $CALCINOSIS_PG_BINDIR, "
    "/usr/lib/postgresql/{major}/bin and beside pg_config/initdb on PATH). The registry tests run "
    "on PostgreSQL too: install Debian's `postgresql` package (apt-get install postgresql)."
)


@dataclass
class Cluster:
    root: Path
    bindir: Path
    run_as: list[str]

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, name: str) -> str:
        return f"postgresql+psycopg://{SUPERUSER}@/{name}?host={self.root}&port={PORT}"

    def admin(self, sql: str) -> None:
        with psycopg.connect(
            host=str(self.root), port=PORT, user=SUPERUSER, dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(sql.encode())

    def pg_ctl(self, *args: str) -> None:
        command = [*self.run_as, str(self.bindir / "pg_ctl"), "-D", str(self.data), *args]
        _run(command, f"pg_ctl {args[-1]}")

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.pg_ctl("-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


def _run(command: list[str], what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        pytest.fail(f"{what} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")


def find_bindir() -> Path | None:
    candidates = [os.environ.get("CALCINOSIS_PG_BINDIR"), f"/usr/lib/postgresql/{PG_MAJOR}/bin"]
    pg_config = shutil.which("pg_config")
    if pg_config:
        done = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        candidates.append(done.stdout.strip())
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(str(Path(initdb).parent))
    for candidate in candidates:
        if candidate and all((Path(candidate) / b).is_file() for b in ("initdb", "pg_ctl")):
            return Path(candidate)
    return None


def _run_as() -> tuple[list[str], int | None, int | None]:
    """How to run the server binaries: directly, or as `postgres` when we are root."""
    if os.geteuid() != 0:
        return [], None, None
    try:
        user = pwd.getpwnam(SUPERUSER)
    except KeyError:
        pytest.fail("running as root, but there is no `postgres` user to run PostgreSQL as")
    runuser = shutil.which("runuser", path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin")
    if runuser is None:
        pytest.fail("running as root, but `runuser` is missing to run PostgreSQL as `postgres`")
    return [runuser, "-u", SUPERUSER, "--"], user.pw_uid, user.pw_gid


_cluster: list[Cluster] = []


def cluster() -> Cluster:
    """The process's PostgreSQL cluster, started on first use."""
    if _cluster:
        return _cluster[0]
    bindir = find_bindir()
    if bindir is None:
        pytest.fail(MISSING.format(major=PG_MAJOR), pytrace=False)
    run_as, uid, gid = _run_as()
    root = Path(tempfile.mkdtemp(prefix="calcinosis-pg-"))
    if uid is not None and gid is not None:
        os.chown(root, uid, gid)
    made = Cluster(root, bindir, run_as)
    atexit.register(made.stop)
    _run(
        [
            *run_as,
            str(bindir / "initdb"),
            "-D",
            str(made.data),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        ],
        "initdb",
    )
    with (made.data / "postgresql.conf").open("a") as conf:
        conf.write(f"unix_socket_directories = '{root}'\n")
        conf.writelines(f"{key} = {value}\n" for key, value in SETTINGS.items())
    made.pg_ctl("-l", str(root / "server.log"), "-w", "start")
    _cluster.append(made)
    return made


_numbers = itertools.count(1)
_templates: dict[str, str] = {}


def _postgres_template() -> str:
    if "postgresql" not in _templates:
        server = cluster()
        server.admin("CREATE DATABASE registry_template")
        engine = database.make_engine(database.database_url(server.url("registry_template")))
        try:
            migrate.upgrade(engine)
        finally:
            engine.dispose()
        _templates["postgresql"] = "registry_template"
    return _templates["postgresql"]


def _sqlite_template() -> Path:
    if "sqlite" not in _templates:
        folder = Path(tempfile.mkdtemp(prefix="calcinosis-sqlite-"))
        atexit.register(shutil.rmtree, folder, True)
        path = folder / "template.sqlite3"
        engine = database.make_engine(database.database_url(f"sqlite:///{path}"))
        try:
            migrate.upgrade(engine)
        finally:
            engine.dispose()  # closing the last connection checkpoints the WAL into the file
        _templates["sqlite"] = str(path)
    return Path(_templates["sqlite"])


@contextlib.contextmanager
def fresh_database(kind: str, folder: Path, *, initialised: bool = True) -> Iterator[str]:
    """The URL of a new database of `kind`, migrated to head unless `initialised` is False."""
    if kind not in KINDS:
        raise ValueError(f"database kind {kind!r} is not one of {KINDS}")
    if kind == "sqlite":
        path = folder / f"registry-{next(_numbers)}.sqlite3"
        if initialised:
            shutil.copyfile(_sqlite_template(), path)
        yield f"sqlite:///{path}"
        return
    server = cluster()
    name = f"test_{next(_numbers)}"
    template = f" TEMPLATE {_postgres_template()} STRATEGY FILE_COPY" if initialised else ""
    server.admin(f"CREATE DATABASE {name}{template}")
    try:
        yield server.url(name)
    finally:
        server.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
