"""A throwaway PostgreSQL 15 cluster for the tests: Debian's `postgresql` package, started
in a temp folder of its own, listening on 127.0.0.1 on a free port only.

    with Cluster.start() as cluster:
        url = cluster.new_database()     # postgresql://postgres@127.0.0.1:PORT/test_1

initdb refuses to run as root, so as root the cluster is made and run by the `postgres`
user that Debian's package creates (through runuser). fsync is off: a test cluster needs
speed, not durability. `tests/conftest.py` starts one per pytest session, on first use,
and gives each test that asks a fresh database (`postgres_url`).

Where PostgreSQL cannot start (the package is missing, no `postgres` user), `require`
skips the calling test with the reason, or fails it when CI is set (see support.stack).
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg

from .folders import let_nginx_workers_through

BIN_DIR = Path("/usr/lib/postgresql/15/bin")
USER = "postgres"
START_SECONDS = 30
# Speed over durability, and nothing reachable but 127.0.0.1 (no Unix socket elsewhere
# than the cluster's own folder).
SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "shared_buffers": "32MB",
    "logging_collector": "off",
}


def restore_dump(dump: Path, url: str) -> None:
    """Put pg_dump's custom-format `dump` into the (empty) database at `url` with
    pg_restore, as an operator restoring a backup would; AssertionError with pg_restore's
    words when it fails."""
    tool = BIN_DIR / "pg_restore"
    done = subprocess.run(
        [str(tool) if tool.exists() else "pg_restore", "--no-owner", "--no-privileges", f"--dbname={url}", str(dump)],
        capture_output=True,
        text=True,
        timeout=START_SECONDS * 4,
        check=False,
    )
    assert done.returncode == 0, f"pg_restore failed: {done.stderr}"


class ClusterError(Exception):
    """PostgreSQL could not be started here; the message says why (for a skip)."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Cluster:
    """One running cluster; `stop()` stops it and removes its folder."""

    def __init__(self, folder: Path, port: int, as_user: str | None):
        self.folder = folder
        self.port = port
        self._as_user = as_user
        self._databases = itertools.count(1)

    @classmethod
    def start(cls) -> Cluster:
        """initdb and start a cluster on a free port; ClusterError (nothing left behind)
        when this machine cannot run one."""
        if not (BIN_DIR / "initdb").exists():
            raise ClusterError(f"PostgreSQL 15 is not installed ({BIN_DIR}/initdb; make test installs it)")
        as_user = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam(USER)
            except KeyError:
                raise ClusterError(f"initdb refuses root and there is no '{USER}' user to run it as") from None
            as_user = USER
        # Not under pytest's temp folder: as root that is 0700, closed to the postgres user.
        folder = Path(tempfile.mkdtemp(prefix="imagehost-postgres-"))
        if as_user is not None:
            shutil.chown(folder, as_user, as_user)
            # TMPDIR may still be a 0700 folder of root's (the bench smoke test points it
            # at its tmp_path): let the postgres user pass through, as nginx's workers do.
            let_nginx_workers_through(folder)
        cluster = cls(folder, free_port(), as_user)
        try:
            cluster._initdb()
            cluster._pg_ctl_start()
        except BaseException:
            cluster.stop()
            raise
        return cluster

    @property
    def data_dir(self) -> Path:
        return self.folder / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """The URL of a new empty database of this cluster."""
        name = f"test_{next(self._databases)}"
        with psycopg.connect(self.url(), autocommit=True, connect_timeout=10) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop the database of `url` (made by new_database), cutting off anyone still
        connected. Gone already is fine."""
        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.url(), autocommit=True, connect_timeout=10) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        """Stop the server (fast: it disconnects every client) and remove the folder."""
        if (self.data_dir / "postmaster.pid").exists():
            self._run(str(BIN_DIR / "pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "immediate", "-w", check=False)
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _initdb(self) -> None:
        # trust: only 127.0.0.1 and the folder's own socket reach it, for the tests' run.
        self._run(
            str(BIN_DIR / "initdb"),
            "-D",
            str(self.data_dir),
            "-U",
            USER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )
        settings = {**SETTINGS, "port": str(self.port), "unix_socket_directories": f"'{self.folder}'"}
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())

    def _pg_ctl_start(self) -> None:
        self._run(
            str(BIN_DIR / "pg_ctl"),
            "start",
            "-D",
            str(self.data_dir),
            "-l",
            str(self.folder / "server.log"),
            "-w",
            "-t",
            str(START_SECONDS),
        )

    def _run(self, *command: str, check: bool = True) -> None:
        what = f"{Path(command[0]).name} {command[1]}"
        if self._as_user is not None:
            command = ("runuser", "-u", self._as_user, "--", *command)
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=START_SECONDS + 10, check=False, cwd=self.folder
        )
        if check and done.returncode != 0:
            log = self.folder / "server.log"
            said = (done.stderr or done.stdout).strip()
            if log.exists():
                said += "\n" + log.read_text(errors="replace")[-2000:]
            raise ClusterError(f"PostgreSQL could not start here ({what} failed): {said}")
