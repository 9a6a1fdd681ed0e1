"""Snapshots of the index in DATA_DIR/backups, made while uploads go on.

A snapshot is one self-contained file (0600, in a 0700 folder), of one of two kinds:

- with the index in SQLite, `index-YYYYmmddTHHMMSSZ-<random>.sqlite3`, a copy made with
  SQLite's online backup API from a read-only connection:
  https://www.sqlite.org/backup.html;
- with the index in PostgreSQL (DATABASE_URL), `index-YYYYmmddTHHMMSSZ-<random>.pgdump`,
  pg_dump's custom format (one transaction's consistent view of the database), which
  pg_restore puts back: https://www.postgresql.org/docs/15/app-pgdump.html.

Either is written into a temp file made first (0600, O_EXCL), fsynced and renamed, so a
name in the folder is always a whole snapshot; the newest KEPT, of either kind, are
kept, older ones removed. `run_pg_tool` is the one way this package runs pg_dump and
pg_restore (archives.py uses it too): the password goes in the environment, never on a
command line where `ps` shows it, and the tool has a time limit.
"""

from __future__ import annotations

import os
import re
import secrets
import sqlite3
import subprocess
import time
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from .storage import fsync_dir, is_disk_full

# How many snapshots DATA_DIR/backups keeps: each is a whole copy of the index.
KEPT = 5
FOLDER_NAME = "backups"
SQLITE_SUFFIX = ".sqlite3"
DUMP_SUFFIX = ".pgdump"
_NAME = re.compile(r"index-(\d{8}T\d{6}Z)-[0-9a-f]{8}\.(?:sqlite3|pgdump)")
_TEMP_SUFFIX = ".partial"
# A temp file this old is a snapshot whose maker died; younger ones may be in progress.
_STALE_TEMP_SECONDS = 3600
# pg_dump and pg_restore of a small index take seconds; a hung server must not hang us.
PG_TOOL_TIMEOUT = 600
# What pg_dump says (from strerror) when a write fails with ENOSPC.
_DISK_FULL_WORDS = "No space left on device"


class SnapshotError(Exception):
    """The index could not be read or the snapshot not written; the message says which.
    `disk_full` is True when the disk (or quota) was full."""

    def __init__(self, message: str, disk_full: bool = False):
        super().__init__(message)
        self.disk_full = disk_full


def snapshot_name(now: float, random_hex: str, suffix: str = SQLITE_SUFFIX) -> str:
    """'index-20261127T101500Z-0a1b2c3d.sqlite3' for `now` (a Unix time) in UTC; with
    `suffix` DUMP_SUFFIX, '....pgdump'."""
    return f"index-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(now))}-{random_hex}{suffix}"


def is_snapshot_name(name: str) -> bool:
    return _NAME.fullmatch(name) is not None


def make_snapshot(index_path: Path, folder: Path, keep: int = KEPT, database_url: str = "") -> Path:
    """Copy the index at `index_path` into `folder` (made 0700 if missing) as a new
    snapshot, remove all but the newest `keep` (of either kind), and return the new
    snapshot's path. With a `database_url`, the index is that PostgreSQL database, and
    the snapshot its pg_dump (`index_path` is not read).

    Consistent while other processes write: the copy is one read transaction. Raises
    SnapshotError (`disk_full` set when the disk was full) when the index cannot be
    opened or read (missing, damaged, locked; pg_dump missing, failing or too slow) or
    the snapshot cannot be written; nothing is left behind then.
    """
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise SnapshotError(f"cannot make the folder {folder}: {exc}", is_disk_full(exc)) from exc
    suffix = DUMP_SUFFIX if database_url else SQLITE_SUFFIX
    path = folder / snapshot_name(time.time(), secrets.token_hex(4), suffix)
    temp = path.with_name("." + path.name + _TEMP_SUFFIX)
    try:
        if database_url:
            dump_database(database_url, temp)
        else:
            copy_index(index_path, temp)
        os.replace(temp, path)
        fsync_dir(folder)
    except OSError as exc:
        _unlink_quietly(temp)
        raise SnapshotError(f"cannot write {path}: {exc}", is_disk_full(exc)) from exc
    except BaseException:
        _unlink_quietly(temp)
        raise
    prune(folder, keep)
    return path


def copy_index(index_path: Path, destination: Path) -> None:
    """Write a consistent copy of the index at `index_path` to `destination` (0600,
    fsynced), in rollback-journal mode so the copy is one file with no -wal beside it.

    One backup step for the whole file (pages=-1): the index is in WAL mode, where a
    reader never blocks writers, and a copy made in several steps restarts whenever
    another connection writes in between, which under steady uploads may be forever.
    Raises SnapshotError.
    """
    source_uri = index_path.absolute().as_uri() + "?mode=ro"
    try:
        os.close(_create_private(destination))
        source = sqlite3.connect(source_uri, uri=True, timeout=5)
        try:
            target = sqlite3.connect(destination, isolation_level=None)
            try:
                source.backup(target)
                target.execute("PRAGMA journal_mode = DELETE")
            finally:
                target.close()
        finally:
            source.close()
        _fsync_file(destination)
    except sqlite3.Error as exc:
        disk_full = getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
        raise SnapshotError(f"cannot copy the index {index_path}: {exc}", disk_full) from exc
    except OSError as exc:
        raise SnapshotError(f"cannot write {destination}: {exc}", is_disk_full(exc)) from exc


def dump_database(database_url: str, destination: Path) -> None:
    """Write pg_dump's custom-format dump of the database at `database_url` to
    `destination`, a new file (0600 from the start: pg_dump truncates and fills the file
    made here, keeping its mode), fsynced. Raises SnapshotError; the caller removes
    `destination` then."""
    try:
        os.close(_create_private(destination))
        run_pg_tool(
            "pg_dump", database_url, "--format=custom", "--no-owner", "--no-privileges", f"--file={destination}"
        )
        _fsync_file(destination)
    except OSError as exc:
        raise SnapshotError(f"cannot write {destination}: {exc}", is_disk_full(exc)) from exc


def run_pg_tool(tool: str, database_url: str, *arguments: str) -> None:
    """Run PostgreSQL's `tool` (pg_dump, pg_restore) with `arguments`, on the database at
    `database_url` (none: ""), its password passed in the environment, never on the
    command line where `ps` shows it; the tool is killed after PG_TOOL_TIMEOUT seconds.

    SnapshotError with the tool's own last words when it fails (`disk_full` set when they
    say the disk is full), is too slow or is not installed (the message says so and
    what to install).
    """
    command = [tool, *arguments]
    environment = dict(os.environ, LC_ALL="C")  # its words in English, which _DISK_FULL_WORDS reads
    if database_url:
        settings = conninfo_to_dict(database_url)
        password = settings.pop("password", None)
        if password is not None:
            environment["PGPASSWORD"] = str(password)
        command.append(f"--dbname={make_conninfo('', **settings)}")
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            errors="replace",  # its words in whatever encoding its locale gives, never a crash of ours
            env=environment,
            timeout=PG_TOOL_TIMEOUT,
            check=False,
        )
    except FileNotFoundError:
        raise SnapshotError(
            f"{tool} is not installed: the index is in PostgreSQL, and its backups are made and put back "
            "with PostgreSQL's own tools (Debian: apt-get install postgresql-client)"
        ) from None
    except subprocess.TimeoutExpired:  # subprocess.run has killed it
        raise SnapshotError(f"{tool} did not finish within {PG_TOOL_TIMEOUT} s") from None
    if done.returncode != 0:
        said = done.stderr.strip().splitlines()
        last = said[-1] if said else f"exit status {done.returncode}"
        raise SnapshotError(f"{tool} failed: {last}", _DISK_FULL_WORDS in done.stderr)


def snapshots(folder: Path) -> list[Path]:
    """The snapshots in `folder`, oldest first (by the time in the name, then the file's
    modification time); [] when the folder does not exist."""
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return []
    found = []
    for entry in entries:
        match = _NAME.fullmatch(entry.name)
        if match and entry.is_file(follow_symlinks=False):
            try:
                found.append((match.group(1), entry.stat(follow_symlinks=False).st_mtime_ns, entry.name))
            except FileNotFoundError:  # removed by another worker's prune meanwhile
                continue
    return [folder / name for _, _, name in sorted(found)]


def newest(folder: Path) -> Path | None:
    found = snapshots(folder)
    return found[-1] if found else None


def prune(folder: Path, keep: int) -> list[Path]:
    """Remove all snapshots but the newest `keep`, and temp files left by a maker that
    died; returns the snapshots removed. Another worker pruning at the same time is fine."""
    found = snapshots(folder)
    removed = found[: max(len(found) - keep, 0)]
    for path in removed:
        _unlink_quietly(path)
    for path in folder.glob(".index-*" + _TEMP_SUFFIX):
        try:
            if time.time() - path.lstat().st_mtime > _STALE_TEMP_SECONDS:
                _unlink_quietly(path)
        except FileNotFoundError:
            continue
    return removed


def _create_private(path: Path) -> int:
    """A new file at `path`, 0600, open for writing; FileExistsError if anything is there."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
