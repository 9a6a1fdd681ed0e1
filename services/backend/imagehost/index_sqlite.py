"""The index in SQLite: one file in DATA_DIR, with numbered migrations (the default engine).

The supervisor runs `migrate()` once before forking; each worker then opens its own
`SqliteIndex` (a connection must not cross a fork). WAL lets readers run beside the one
writer; the busy timeout makes writers from different workers queue instead of failing,
and a wait that still runs out becomes a 503 rather than a 500.

Only `migrate()` creates the file. A worker opens the existing file or fails to start:
were it to create an empty one, it would answer "no such table" while nginx sent it
traffic. A worker also remembers which file it opened (device and inode): when the
path no longer leads to that file (deleted, or replaced under it), its health check
says so and it refuses uploads, which would be acknowledged into a file nobody reads.
"""

from __future__ import annotations

import math
import os
import sqlite3
import threading
import time
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

from . import previews
from .errors import Unavailable
from .group_commit import Failed, GroupCommit
from .index import (
    ALBUM_COLUMNS,
    COLUMNS,
    IMAGE_COLUMNS,
    NO_CURSOR,
    ROWS_KEPT,
    AlbumRecord,
    ImageRecord,
    IndexFileError,
    ListingFilter,
    RowCache,
    SearchTerms,
    stats_days,
    utc_now,
)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
BUSY_TIMEOUT_MS = 5000
_INSERT = f"INSERT INTO images ({COLUMNS.removeprefix('id, ')}) VALUES ({', '.join('?' * 14)})"
_IMAGE_COLUMNS = IMAGE_COLUMNS
_TAG_INSERT = "INSERT OR IGNORE INTO image_tags (tag, image_id) VALUES (?, ?)"


def fts5_expression(terms: SearchTerms) -> str:
    """The FTS5 query of `terms`: each word quoted, all required, the last one a prefix
    when asked (`cat pic` -> '"cat" "pic"*'). Words hold letters and digits only, so
    no quote can end a quoted word early."""
    quoted = [f'"{word}"' for word in terms.words]
    if terms.last_is_prefix:
        quoted[-1] += "*"
    return " ".join(quoted)


def _listing_query(
    where: ListingFilter, before_id: int | None, limit: int, columns: str = _IMAGE_COLUMNS
) -> tuple[str, list[object]]:
    conditions: list[str] = []
    parameters: list[object] = []
    tags = list(where.tags)
    if where.search is not None:
        source, key = "images_search s JOIN images i ON i.id = s.rowid", "s.rowid"
        conditions.append("images_search MATCH ?")
        parameters.append(fts5_expression(where.search))
    elif tags:
        source, key = "image_tags t JOIN images i ON i.id = t.image_id", "t.image_id"
        conditions.append("t.tag = ?")
        parameters.append(tags.pop(0))
    else:
        source, key = "images i", "i.id"
    conditions.append(f"{key} < ?")
    parameters.append(before_id if before_id is not None else NO_CURSOR)
    for tag in tags:
        conditions.append("EXISTS (SELECT 1 FROM image_tags x WHERE x.tag = ? AND x.image_id = i.id)")
        parameters.append(tag)
    for column, operator, value in (
        ("type", "=", where.type),
        ("created_at", ">=", where.since),
        ("created_at", "<", where.until),
    ):
        if value is not None:
            conditions.append(f"i.{column} {operator} ?")
            parameters.append(value)
    sql = f"SELECT {columns} FROM {source} WHERE {' AND '.join(conditions)} ORDER BY {key} DESC LIMIT ?"
    return sql, [*parameters, limit]


def _connect(path: Path, create: bool = False) -> sqlite3.Connection:
    """A connection to the database at `path`; unless `create`, the file must exist."""
    # mode=rw: SQLite would otherwise create a missing file, empty.
    # isolation_level=None: we issue BEGIN ourselves, so a transaction spans exactly
    # what we mean it to. check_same_thread=False: the worker's threads share it under
    # Index._lock.
    uri = Path(path).absolute().as_uri() + ("?mode=rwc" if create else "?mode=rw")
    connection = sqlite3.connect(
        uri, uri=True, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
    )
    connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    # Tags and album entries go with their image (ON DELETE CASCADE).
    connection.execute("PRAGMA foreign_keys = ON")
    # FULL: a row that was acknowledged survives a power cut, as the fsynced file does.
    connection.execute("PRAGMA synchronous = FULL")
    return connection


def migrate(path: Path) -> int:
    """Bring the database at `path` to the newest schema; returns the schema version.

    Migrations are `migrations/NNNN_*.sql`, applied in order inside one transaction
    each; `PRAGMA user_version` records the last one applied. Raises IndexFileError
    when SQLite cannot use the file at `path` (not a database, damaged, unreadable,
    locked past the busy timeout); a migration that fails is rolled back first.
    """
    try:
        return _migrate(path)
    except sqlite3.Error as exc:
        raise IndexFileError(
            f"cannot use the index file {path}: {exc}. Is DATA_DIR right? If the file is damaged, restore it "
            "from a backup (or move it away: start-up then makes a new one and asks before indexing the images)"
        ) from exc


def _migrate(path: Path) -> int:
    connection = _connect(path, create=True)
    try:
        connection.execute("PRAGMA journal_mode = WAL")
        version: int = connection.execute("PRAGMA user_version").fetchone()[0]
        for script in sorted(MIGRATIONS_DIR.glob("[0-9][0-9][0-9][0-9]_*.sql")):
            number = int(script.name[:4])
            if number <= version:
                continue
            connection.execute("BEGIN IMMEDIATE")
            try:
                for statement in sql_statements(script.read_text()):
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


def sql_statements(script: str) -> Iterator[str]:
    """The statements of `script`, whole: a trigger's body holds semicolons of its own."""
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            yield pending
            pending = ""
    if pending.strip() and not all(part.strip().startswith("--") or not part.strip() for part in pending.splitlines()):
        yield pending


def newest_version() -> int:
    return max(int(script.name[:4]) for script in MIGRATIONS_DIR.glob("[0-9][0-9][0-9][0-9]_*.sql"))


def file_identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of the file at `path`; None when there is none."""
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return stat.st_dev, stat.st_ino


def file_state(path: Path, opened: tuple[int, int] | None) -> str:
    """'ok' while `path` leads to the file whose `file_identity` was `opened`, else
    'missing' or 'replaced'."""
    identity = file_identity(path)
    if identity is None:
        return "missing"
    return "ok" if identity == opened else "replaced"


def describe_file_state(state: str, path: Path) -> str:
    """A sentence for the log about an index file that is 'missing' or 'replaced'."""
    return {
        "missing": f"the index file {path} is missing (deleted while the service runs?)",
        "replaced": f"the index file {path} was replaced by another file while the service runs",
    }[state]


class SqliteIndex:
    """One process's connection to the index file, safe to share between its threads
    (an `index.Index`)."""

    def __init__(self, path: Path):
        """Open the index at `path`, made by `migrate()`.

        Raises IndexFileError when there is no file there, or one at another schema
        version (not this service's index, or not migrated).
        """
        self.path = path
        try:
            self._connection = _connect(path)
        except sqlite3.OperationalError as exc:
            if file_identity(path) is None:
                raise IndexFileError(
                    f"the index file {path} is missing; only start-up creates one: restore it from a "
                    "backup, or restart the service (which makes a new one and indexes the images it finds, "
                    "without their delete tokens)"
                ) from None
            raise IndexFileError(f"cannot open the index file {path}: {exc}") from exc
        self._identity = file_identity(path)
        version = self._connection.execute("PRAGMA user_version").fetchone()[0]
        if version != newest_version():
            self._connection.close()
            raise IndexFileError(
                f"the index file {path} is at schema version {version}; this version of the service "
                f"needs {newest_version()}: it is not this service's index (replaced?), or one from a newer version"
            )
        self._lock = threading.Lock()
        self._adding = GroupCommit(self._insert_rows)
        self._rows = RowCache(ROWS_KEPT)

    def state(self) -> str:
        """'ok' while `path` leads to the file this index opened, else 'missing' or 'replaced'."""
        return file_state(self.path, self._identity)

    def close(self) -> None:
        self._connection.close()

    @contextmanager
    def leading(self, task: str) -> Iterator[bool]:
        """Always True: one instance per data folder already (instance_lock.py), so no
        other node shares this index."""
        yield True

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
        title: str = "",
        description: str = "",
        tags: Sequence[str] = (),
        expires_at: str | None = None,
    ) -> ImageRecord:
        """Insert a row and return it once it is committed (with the rows of any
        threads adding at the same time: one transaction, one WAL sync).

        Raises Unavailable when the index file was removed or replaced: the row would
        be committed into a file nobody will read.
        """
        row = (
            name,
            type,
            size,
            width,
            height,
            sha256,
            original_name,
            created_at or utc_now(),
            delete_token_hash,
            previews.PENDING,
            title,
            description,
            " ".join(tags),
            expires_at,
        )
        return self._adding.submit(row)

    def _insert_rows(self, rows: Sequence[tuple[Any, ...]]) -> list[ImageRecord | Failed]:
        """Insert `rows` in one transaction; a row that fails on its own fails alone.

        Each row has a savepoint: a row the database refuses for what it holds (a name
        that is taken: IntegrityError) is rolled back to it and returned as `Failed`,
        and the others are committed. An OperationalError (locked, disk I/O, disk full)
        is the database's, not the row's: it rolls back everything and is raised, so
        every row of the flush fails.

        The file is checked before: the -wal file is found by name, so writing for a
        replaced file would write into the new file's WAL. And after the commit, so no
        row is acknowledged unless it went into the file at `path` (a file deleted or
        replaced later is the operator's doing).
        """
        self.require_usable()
        with self._locked() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                records = [self._insert_row(db, row) for row in rows]
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        self.require_usable()
        return records

    def require_usable(self) -> None:
        """Raise Unavailable unless `path` still leads to the file this index opened."""
        state = self.state()
        if state != "ok":
            raise Unavailable(
                f"The image index file was {'removed' if state == 'missing' else 'replaced'} on the server, "
                "so this change was not saved. The site owner must put it back and restart the service."
            )

    @staticmethod
    def _insert_row(db: sqlite3.Connection, row: tuple[Any, ...]) -> ImageRecord | Failed:
        db.execute("SAVEPOINT row")
        try:
            record = ImageRecord(cast(int, db.execute(_INSERT, row).lastrowid), *row)  # set by every INSERT
            db.executemany(_TAG_INSERT, ((tag, record.id) for tag in record.tag_list))
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

    def names_with_content(self, sha256: str, size: int, limit: int = 3) -> list[str]:
        """Up to `limit` names whose rows say they hold these bytes, newest first (the
        newest is the likeliest still on disk). A hint for storage: files are checked."""
        with self._locked() as db:
            rows = db.execute(
                "SELECT name FROM images WHERE sha256 = ? AND size = ? ORDER BY id DESC LIMIT ?", (sha256, size, limit)
            ).fetchall()
        return [row[0] for row in rows]

    def page(
        self, limit: int, before_id: int | None = None, where: ListingFilter | None = None
    ) -> tuple[list[ImageRecord], int | None]:
        """Up to `limit` images newest first, older than `before_id` when given, that
        match every condition of `where`.

        Returns the records and the id to pass as `before_id` for the next page (None on
        the last page). Keyset paging by id, filtered or not: stable while images are
        added or deleted. The query walks one index newest first and stops after a page:
        the full-text index for a search, the tag's rows for a tag filter, else the table
        (or its type index); the other conditions are checked on the way.
        """
        where = where or ListingFilter()
        sql, parameters = _listing_query(where, before_id, limit + 1, "i.id, i.revision")
        with self._locked() as db:
            keys = db.execute(sql, parameters).fetchall()
            found = self._rows.get_all(keys[:limit])
            missing = [key[0] for key, record in zip(keys, found, strict=False) if record is None]
            if len(missing) > limit // 2:  # mostly unread: reading the page whole is quicker
                return self._read_page(db, where, before_id, limit)
            if missing:
                read = self._read_rows(db, missing)
                # A row deleted since its key was read is left out; one changed since
                # is shown as it is now.
                found = [record or read.get(key[0]) for key, record in zip(keys, found, strict=False)]
        records = [record for record in found if record is not None]
        next_id = keys[limit - 1][0] if len(keys) > limit else None
        return records, next_id

    def _read_page(
        self, db: sqlite3.Connection, where: ListingFilter, before_id: int | None, limit: int
    ) -> tuple[list[ImageRecord], int | None]:
        """page() with every row read whole (and kept in the row cache)."""
        sql, parameters = _listing_query(where, before_id, limit + 1, f"{_IMAGE_COLUMNS}, i.revision")
        rows = db.execute(sql, parameters).fetchall()
        records = [self._rows.keep(row) for row in rows[:limit]]
        return records, (records[-1].id if len(rows) > limit else None)

    def _read_rows(self, db: sqlite3.Connection, ids: list[int]) -> dict[int, ImageRecord]:
        """The rows with these ids (at most a page), kept in the row cache; by id."""
        marks = ", ".join("?" * len(ids))
        rows = db.execute(f"SELECT {COLUMNS}, revision FROM images WHERE id IN ({marks})", ids).fetchall()
        return {record.id: record for record in map(self._rows.keep, rows)}

    def update_labels(
        self,
        name: str,
        *,
        title: str | None = None,
        description: str | None = None,
        tags: Sequence[str] | None = None,
    ) -> ImageRecord | None:
        """Change what is given of an image's title, description and tags; the row as it
        is now, or None when there is no such image."""
        self.require_usable()
        with self._locked() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute(f"SELECT {COLUMNS} FROM images WHERE name = ?", (name,)).fetchone()
                if row is None:
                    db.execute("ROLLBACK")
                    return None
                record = ImageRecord._make(row)
                changed = record._replace(
                    title=record.title if title is None else title,
                    description=record.description if description is None else description,
                    tags=record.tags if tags is None else " ".join(tags),
                )
                db.execute(
                    "UPDATE images SET title = ?, description = ?, tags = ? WHERE id = ?",
                    (changed.title, changed.description, changed.tags, record.id),
                )
                if tags is not None:
                    db.execute("DELETE FROM image_tags WHERE image_id = ?", (record.id,))
                    db.executemany(_TAG_INSERT, ((tag, record.id) for tag in changed.tag_list))
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        return changed

    def claim_previews(self, limit: int, lease_seconds: float) -> list[ImageRecord]:
        """See Index.claim_previews. One instance per data folder, so its clock decides."""
        now = int(time.time())
        with self._locked() as db:
            rows = db.execute(
                "UPDATE images SET preview_claimed_until = ? WHERE id IN ("
                " SELECT id FROM images WHERE preview = ?"
                " AND (preview_claimed_until IS NULL OR preview_claimed_until <= ?)"
                f" ORDER BY id DESC LIMIT ?) RETURNING {COLUMNS}",
                (now + math.ceil(lease_seconds), previews.PENDING, now, limit),
            ).fetchall()
        return sorted(map(ImageRecord._make, rows), key=lambda record: -record.id)

    def names_with_preview(self, sha256: str, size: int, limit: int = 3) -> list[str]:
        """Up to `limit` names of images with these bytes whose preview is made, newest first."""
        with self._locked() as db:
            rows = db.execute(
                "SELECT name FROM images WHERE sha256 = ? AND size = ? AND preview = ? ORDER BY id DESC LIMIT ?",
                (sha256, size, previews.READY, limit),
            ).fetchall()
        return [row[0] for row in rows]

    def set_preview(self, name: str, state: str) -> bool:
        """Record where image `name`'s preview stands; False when the image has no row
        (deleted meanwhile)."""
        with self._locked() as db:
            return (
                db.execute(
                    "UPDATE images SET preview = ?, preview_claimed_until = NULL WHERE name = ?", (state, name)
                ).rowcount
                > 0
            )

    def preview_states(self) -> dict[str, str]:
        """Every image's preview state, by name (for the start-up reconcile)."""
        with self._locked() as db:
            return dict(db.execute("SELECT name, preview FROM images"))

    def set_previews(self, names: Collection[str], state: str) -> None:
        with self._locked() as db:
            db.execute("BEGIN IMMEDIATE")
            db.executemany(
                "UPDATE images SET preview = ?, preview_claimed_until = NULL WHERE name = ?",
                ((state, n) for n in names),
            )
            db.execute("COMMIT")

    def delete(self, name: str) -> bool:
        """Remove the row; False when there was none (someone else deleted it first).

        Raises Unavailable when the index file was removed or replaced (see _insert_rows)."""
        self.require_usable()
        with self._locked() as db:
            return db.execute("DELETE FROM images WHERE name = ?", (name,)).rowcount > 0

    def names(self) -> set[str]:
        with self._locked() as db:
            return {row[0] for row in db.execute("SELECT name FROM images")}

    def stats(self, days: int) -> dict[str, object]:
        """Images and bytes stored (bytes counted once per file: identical images share
        one), and uploads per UTC day over the last `days` days, oldest first, zeros included."""
        since, all_days = stats_days(days)
        with self._locked() as db:
            images, stored = _stored(db)
            per_day = dict(
                db.execute(
                    "SELECT substr(created_at, 1, 10) AS day, COUNT(*) FROM images WHERE created_at >= ? GROUP BY day",
                    (since,),
                ).fetchall()
            )
        return {
            "images": images,
            "bytes_stored": stored,
            "uploads_per_day": [{"date": day, "uploads": per_day.get(day, 0)} for day in all_days],
        }

    def gauges(self) -> tuple[int, int, int]:
        """(images, bytes stored, previews pending), for the metrics page; bytes counted
        once per file, as in `stats`. Raises sqlite3.Error when the index cannot be read."""
        with self._locked() as db:
            images, stored = _stored(db)
            # Counted through the partial index images_preview_pending (migration 0003).
            pending = db.execute("SELECT COUNT(*) FROM images WHERE preview = ?", (previews.PENDING,)).fetchone()[0]
        return images, stored, pending

    def add_album(
        self, public_id: str, title: str, description: str, token_hash: str, images: Sequence[tuple[str, bool]]
    ) -> AlbumRecord:
        """A new album of `images` ((name, owned) in order). Raises LookupError naming
        the first image that has no row, and nothing is added then."""
        self.require_usable()
        with self._locked() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                created = utc_now()
                cursor = db.execute(
                    "INSERT INTO albums (public_id, title, description, token_hash, created_at) VALUES (?, ?, ?, ?, ?)",
                    (public_id, title, description, token_hash, created),
                )
                album = AlbumRecord(cast(int, cursor.lastrowid), public_id, title, description, token_hash, created)
                self._put_album_images(db, album.id, images)
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        return album

    @staticmethod
    def _put_album_images(db: sqlite3.Connection, album_id: int, images: Sequence[tuple[str, bool]]) -> None:
        db.execute("DELETE FROM album_images WHERE album_id = ?", (album_id,))
        for position, (name, owned) in enumerate(images):
            row = db.execute("SELECT id FROM images WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise LookupError(name)
            db.execute(
                "INSERT INTO album_images (album_id, position, image_id, owned) VALUES (?, ?, ?, ?)",
                (album_id, position, row[0], int(owned)),
            )

    def album(self, public_id: str) -> tuple[AlbumRecord, list[ImageRecord]] | None:
        """The album and its images in order (deleted or expired images are gone from it)."""
        with self._locked() as db:
            row = db.execute(f"SELECT {ALBUM_COLUMNS} FROM albums WHERE public_id = ?", (public_id,)).fetchone()
            if row is None:
                return None
            album = AlbumRecord._make(row)
            rows = db.execute(
                f"SELECT {_IMAGE_COLUMNS} FROM album_images a JOIN images i ON i.id = a.image_id "
                "WHERE a.album_id = ? ORDER BY a.position",
                (album.id,),
            ).fetchall()
        return album, list(map(ImageRecord._make, rows))

    def album_ownership(self, album_id: int) -> dict[str, bool]:
        """Each image of the album by name: whether its delete token was shown when it was added."""
        with self._locked() as db:
            rows = db.execute(
                "SELECT i.name, a.owned FROM album_images a JOIN images i ON i.id = a.image_id WHERE a.album_id = ?",
                (album_id,),
            ).fetchall()
        return {name: bool(owned) for name, owned in rows}

    def update_album(
        self,
        album_id: int,
        *,
        title: str | None = None,
        description: str | None = None,
        images: Sequence[tuple[str, bool]] | None = None,
    ) -> None:
        """Change what is given; `images` replaces the list. LookupError as add_album."""
        self.require_usable()
        with self._locked() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                if title is not None:
                    db.execute("UPDATE albums SET title = ? WHERE id = ?", (title, album_id))
                if description is not None:
                    db.execute("UPDATE albums SET description = ? WHERE id = ?", (description, album_id))
                if images is not None:
                    self._put_album_images(db, album_id, images)
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise

    def delete_album(self, album_id: int) -> bool:
        self.require_usable()
        with self._locked() as db:
            return db.execute("DELETE FROM albums WHERE id = ?", (album_id,)).rowcount > 0

    def expired(self, moment: str, limit: int) -> list[str]:
        """Up to `limit` names of images whose expires_at is at or before `moment`."""
        with self._locked() as db:
            rows = db.execute(
                "SELECT name FROM images WHERE expires_at IS NOT NULL AND expires_at <= ? ORDER BY expires_at LIMIT ?",
                (moment, limit),
            ).fetchall()
        return [row[0] for row in rows]

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


def _stored(db: sqlite3.Connection) -> tuple[int, int]:
    """(images, bytes stored), bytes counted once per file: identical images share one."""
    images = db.execute("SELECT COUNT(*) FROM images").fetchone()[0]
    stored = db.execute("SELECT COALESCE(SUM(size), 0) FROM (SELECT DISTINCT sha256, size FROM images)").fetchone()[0]
    return images, stored


class SqliteEngine:
    """The supervisor's handle on the index file at `path` (an `index.Engine`)."""

    def __init__(self, path: Path):
        self.path = path
        self._identity: tuple[int, int] | None = None

    def migrate(self) -> int:
        """See `migrate`; remembers the file it made, for `state`."""
        version = migrate(self.path)
        self._identity = file_identity(self.path)
        return version

    def open(self) -> SqliteIndex:
        return SqliteIndex(self.path)

    def state(self) -> str:
        """'ok' while the path leads to the file `migrate` made; else 'missing' or 'replaced' (a stat)."""
        return file_state(self.path, self._identity)

    def describe(self, state: str) -> str:
        return describe_file_state(state, self.path)
