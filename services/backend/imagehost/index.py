"""The metadata index: SQLite in DATA_DIR, with numbered migrations.

The supervisor runs `migrate()` once before forking; each worker then opens its own
`Index` (a connection must not cross a fork). WAL lets readers run beside the one
writer; the busy timeout makes writers from different workers queue instead of failing,
and a wait that still runs out becomes a 503 rather than a 500.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

from .errors import Unavailable
from .group_commit import Failed, GroupCommit

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
BUSY_TIMEOUT_MS = 5000
COLUMNS = "id, name, type, size, width, height, sha256, original_name, created_at, delete_token_hash"
_INSERT = f"INSERT INTO images ({COLUMNS.removeprefix('id, ')}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"


class ImageRecord(NamedTuple):
    """One row. A named tuple: a listing builds 50 of them per request, and a tuple is
    built several times faster than a frozen dataclass."""

    id: int
    name: str
    type: str
    size: int
    width: int
    height: int
    sha256: str
    original_name: str
    created_at: str
    delete_token_hash: str | None


def utc_now() -> str:
    """ISO 8601 in UTC with milliseconds, e.g. 2026-11-21T05:41:58.123Z."""
    return iso_utc(time.time())


def iso_utc(timestamp: float) -> str:
    seconds = int(timestamp)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{int((timestamp - seconds) * 1000):03d}Z"


def _connect(path: Path) -> sqlite3.Connection:
    # isolation_level=None: we issue BEGIN ourselves, so a transaction spans exactly
    # what we mean it to. check_same_thread=False: the worker's threads share it under
    # Index._lock.
    connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False)
    connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    # FULL: a row that was acknowledged survives a power cut, as the fsynced file does.
    connection.execute("PRAGMA synchronous = FULL")
    return connection


def migrate(path: Path) -> int:
    """Bring the database at `path` to the newest schema; returns the schema version.

    Migrations are `migrations/NNNN_*.sql`, applied in order inside one transaction
    each; `PRAGMA user_version` records the last one applied.
    """
    connection = _connect(path)
    try:
        connection.execute("PRAGMA journal_mode = WAL")
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        for script in sorted(MIGRATIONS_DIR.glob("[0-9][0-9][0-9][0-9]_*.sql")):
            number = int(script.name[:4])
            if number <= version:
                continue
            connection.execute("BEGIN IMMEDIATE")
            try:
                for statement in script.read_text().split(";\n"):
                    if statement.strip():
                        connection.execute(statement)
                connection.execute(f"PRAGMA user_version = {number}")
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            version = number
        return version
    finally:
        connection.close()


class Index:
    """One worker's connection to the index, safe to share between its threads."""

    def __init__(self, path: Path):
        self._connection = _connect(path)
        self._lock = threading.Lock()
        self._adding = GroupCommit(self._insert_rows)

    def close(self) -> None:
        self._connection.close()

    @contextmanager
    def _locked(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._connection
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc) or "busy" in str(exc):
                    raise Unavailable("The image index is busy. Try again in a moment.") from exc
                raise

    def add(
        self,
        *,
        name: str,
        type: str,
        size: int,
        width: int,
        height: int,
        sha256: str,
        original_name: str,
        delete_token_hash: str | None,
        created_at: str | None = None,
    ) -> ImageRecord:
        """Insert a row and return it once it is committed (with the rows of any
        threads adding at the same time: one transaction, one WAL sync)."""
        row = (name, type, size, width, height, sha256, original_name, created_at or utc_now(), delete_token_hash)
        return self._adding.submit(row)

    def _insert_rows(self, rows: Sequence[tuple]) -> list[ImageRecord | Failed]:
        """Insert `rows` in one transaction; a row that fails on its own fails alone.

        Each row has a savepoint: a row the database refuses for what it holds (a name
        that is taken: IntegrityError) is rolled back to it and returned as `Failed`,
        and the others are committed. An OperationalError (locked, disk I/O, disk full)
        is the database's, not the row's: it rolls back everything and is raised, so
        every row of the flush fails.
        """
        with self._locked() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                records = [self._insert_row(db, row) for row in rows]
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        return records

    @staticmethod
    def _insert_row(db: sqlite3.Connection, row: tuple) -> ImageRecord | Failed:
        db.execute("SAVEPOINT row")
        try:
            record = ImageRecord(db.execute(_INSERT, row).lastrowid, *row)
        except sqlite3.OperationalError:
            raise
        except Exception as exc:  # noqa: BLE001 (the row's own failure, returned for its thread)
            db.execute("ROLLBACK TO row")
            db.execute("RELEASE row")
            return Failed(exc)
        db.execute("RELEASE row")
        return record

    def get(self, name: str) -> ImageRecord | None:
        with self._locked() as db:
            row = db.execute(f"SELECT {COLUMNS} FROM images WHERE name = ?", (name,)).fetchone()
        return ImageRecord(*row) if row else None

    def page(self, limit: int, before_id: int | None = None) -> tuple[list[ImageRecord], int | None]:
        """Up to `limit` images newest first, older than `before_id` when given.

        Returns the records and the id to pass as `before_id` for the next page (None on
        the last page). Keyset paging: stable while images are added or deleted.
        """
        with self._locked() as db:
            rows = db.execute(
                f"SELECT {COLUMNS} FROM images WHERE id < ? ORDER BY id DESC LIMIT ?",
                (before_id if before_id is not None else 2**63 - 1, limit + 1),
            ).fetchall()
        records = list(map(ImageRecord._make, rows[:limit]))
        next_id = records[-1].id if len(rows) > limit else None
        return records, next_id

    def delete(self, name: str) -> bool:
        """Remove the row; False when there was none (someone else deleted it first)."""
        with self._locked() as db:
            return db.execute("DELETE FROM images WHERE name = ?", (name,)).rowcount > 0

    def names(self) -> set[str]:
        with self._locked() as db:
            return {row[0] for row in db.execute("SELECT name FROM images")}

    def delete_many(self, names: set[str]) -> None:
        with self._locked() as db:
            db.execute("BEGIN IMMEDIATE")
            db.executemany("DELETE FROM images WHERE name = ?", ((n,) for n in names))
            db.execute("COMMIT")

    def is_readable(self) -> bool:
        try:
            with self._locked() as db:
                db.execute("SELECT 1 FROM images LIMIT 1").fetchall()
            return True
        except (sqlite3.Error, Unavailable):
            return False
