"""The index in PostgreSQL (DATABASE_URL), for more than one app node or more writers
than one SQLite file takes. The same interface, records and errors as the SQLite index
(index.Index); migrations of the same numbers in migrations/postgresql/.

Each process opens a small connection pool (a worker's requests are threads); every
method is one transaction on one connection. The server orders concurrent writers
itself, so there is no group commit: one transaction per insert. Listing pages are
kept in memory between writes (listing_cache.py): every method that writes does so in
`_writing()`, which tells the node's other processes once its transaction has ended.

Errors: a database that cannot be reached (refused, restarting, no connection free
within POOL_TIMEOUT seconds) is `Unavailable`, a JSON 503 whose message says so; a full
disk is `InsufficientStorage`. The pool replaces a broken connection at its next use.
"""

from __future__ import annotations

import hashlib
import math
import unicodedata
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import psycopg.errors
from loguru import logger
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool, PoolTimeout

from . import labels, listing_cache, previews
from .errors import InsufficientStorage, Unavailable
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

MIGRATIONS_DIR = Path(__file__).parent / "migrations" / "postgresql"
# Any fixed number of ours: the lock every node takes to migrate, so exactly one does.
MIGRATION_LOCK = 0x696D616765686F73  # "imagehos"
CONNECT_TIMEOUT = 5
POOL_TIMEOUT = 5.0
POOL_SIZE = 8
_INSERT = (
    f"INSERT INTO images ({COLUMNS.removeprefix('id, ')}, search_text) VALUES ({', '.join(['%s'] * 15)}) RETURNING id"
)
_TAG_INSERT = "INSERT INTO image_tags (tag, image_id) VALUES (%s, %s) ON CONFLICT DO NOTHING"
_UNREACHABLE = "The image index (its database) cannot be reached just now. Try again in a moment."


def without_accents(text: str) -> str:
    """`text` lower-cased, accents on Latin letters removed (Café -> cafe), as SQLite's
    unicode61 tokenizer (remove_diacritics) folds what it indexes and what it is asked."""
    decomposed = unicodedata.normalize("NFD", text.lower())
    kept: list[str] = []
    for char in decomposed:
        if unicodedata.category(char) == "Mn" and kept and kept[-1] < "\u0250":
            continue  # a mark on a Latin letter; marks of other scripts are part of their letters
        kept.append(char)
    return unicodedata.normalize("NFC", "".join(kept))


def searchable_text(*texts: str) -> str:
    """The words of `texts` as the search column holds them: folded by `without_accents`,
    separated by one space, nothing else (so `cat.png` is the words cat and png)."""
    return " ".join(word for text in texts for word in labels.words(without_accents(text)))


def tsquery_expression(terms: SearchTerms) -> str:
    """The to_tsquery text of `terms`: each word a quoted lexeme, all required (&), the
    last one a prefix (:*) when asked. Words hold only letters, digits and marks, so a
    quote cannot end a lexeme early; doubling quotes and backslashes keeps it so anyway."""
    lexemes = [
        "'" + word.replace("\\", "\\\\").replace("'", "''") + "'"
        for word in (without_accents(word) for word in terms.words)
    ]
    if terms.last_is_prefix:
        lexemes[-1] += ":*"
    return " & ".join(lexemes)


def _listing_query(
    where: ListingFilter, before_id: int | None, limit: int, columns: str = IMAGE_COLUMNS
) -> tuple[str, list[object]]:
    """The page's SELECT of `columns`: keyset by id as in SQLite. A tag filter walks the
    tag's rows newest first; a search matches through the GIN index, then sorts its few
    matches."""
    conditions: list[str] = []
    parameters: list[object] = []
    tags = list(where.tags)
    if tags:
        source, key = "image_tags t JOIN images i ON i.id = t.image_id", "t.image_id"
        conditions.append("t.tag = %s")
        parameters.append(tags.pop(0))
    else:
        source, key = "images i", "i.id"
    conditions.append(f"{key} < %s")
    parameters.append(before_id if before_id is not None else NO_CURSOR)
    if where.search is not None:
        conditions.append("i.search @@ to_tsquery('simple', %s)")
        parameters.append(tsquery_expression(where.search))
    for tag in tags:
        conditions.append("EXISTS (SELECT 1 FROM image_tags x WHERE x.tag = %s AND x.image_id = i.id)")
        parameters.append(tag)
    for column, operator, value in (
        ("type", "=", where.type),
        ("created_at", ">=", where.since),
        ("created_at", "<", where.until),
    ):
        if value is not None:
            conditions.append(f"i.{column} {operator} %s")
            parameters.append(value)
    sql = f"SELECT {columns} FROM {source} WHERE {' AND '.join(conditions)} ORDER BY {key} DESC LIMIT %s"
    return sql, [*parameters, limit]


def task_lock_key(task: str) -> int:
    """The advisory lock of `task` (`leading`): a signed 64-bit number of ours, apart
    from MIGRATION_LOCK."""
    digest = hashlib.blake2b(f"imagehost leads {task}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def migration_scripts() -> list[tuple[int, Path]]:
    return sorted((int(path.name[:4]), path) for path in MIGRATIONS_DIR.glob("[0-9][0-9][0-9][0-9]_*.sql"))


def newest_version() -> int:
    return migration_scripts()[-1][0]


def migrate(url: str) -> int:
    """Bring the database at `url` to the newest schema; returns the schema version.

    Every node may call this at once: each takes one advisory lock first, so exactly one
    applies a migration and the others then find it done. `schema_version` records the
    last one applied; each runs in a transaction of its own with its version row.
    IndexFileError when the database cannot be reached or a migration fails (rolled back).
    """
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT) as connection:
            connection.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
            try:
                return _migrate(connection)
            finally:
                connection.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
    except psycopg.Error as exc:
        raise IndexFileError(f"cannot use the index database ({_where(url)}): {exc}".strip()) from exc


def _migrate(connection: psycopg.Connection[Any]) -> int:
    connection.execute("CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)")
    version = _version(connection)
    for number, script in migration_scripts():
        if number <= version:
            continue
        with connection.transaction():
            connection.execute(script.read_text())  # without parameters: several statements in one
            connection.execute("DELETE FROM schema_version")
            connection.execute("INSERT INTO schema_version (version) VALUES (%s)", (number,))
        version = number
    return version


def _version(connection: psycopg.Connection[Any]) -> int:
    row = connection.execute("SELECT max(version) FROM schema_version").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _where(url: str) -> str:
    """The database's host and name from `url`, without its password (for messages)."""
    info = conninfo_to_dict(url)
    return f"{info.get('dbname', '?')} on {info.get('host', 'localhost')}:{info.get('port', 5432)}"


class PostgresIndex:
    """One process's pool of connections to the index database (an `index.Index`)."""

    def __init__(self, url: str):
        """Open a pool on `url`. IndexFileError when the database is reachable but not at
        this version's schema. A database unreachable now is not an error here: each
        request then answers 503 until it is back."""
        self._rows = RowCache(ROWS_KEPT)
        self._pages = listing_cache.PageCache(ROWS_KEPT)  # as many records as rows kept, mostly the same
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=POOL_SIZE,
            timeout=POOL_TIMEOUT,
            kwargs={"connect_timeout": CONNECT_TIMEOUT},
            open=True,
            name="index",
        )
        try:
            with self._connection() as db:
                version = _version(db)
        except Unavailable as exc:
            logger.warning("the index database is unreachable for now ({})", exc.__cause__)
            return
        except psycopg.errors.UndefinedTable:
            version = 0
        if version != newest_version():
            self.close()
            raise IndexFileError(
                f"the index database ({_where(url)}) is at schema version {version}; this version of the service "
                f"needs {newest_version()}: start-up migrates it, or it belongs to a newer version"
            )

    def state(self) -> str:
        """Always 'ok': nothing can replace the database under us as a file can be; the
        health check's `is_readable` says whether it is reachable."""
        return "ok"

    def require_usable(self) -> None:
        """Raise Unavailable unless the database answers now (one round trip)."""
        with self._connection() as db:
            db.execute("SELECT 1")

    def is_readable(self) -> bool:
        try:
            with self._connection() as db:
                db.execute("SELECT 1 FROM images LIMIT 1").fetchall()
            return True
        except (psycopg.Error, Unavailable):
            return False

    def close(self) -> None:
        self._pool.close()

    @contextmanager
    def leading(self, task: str) -> Iterator[bool]:
        """See index.Index.leading: a session advisory lock (pg_try_advisory_lock, never
        waiting) on one of the pool's connections, kept out of the pool for the block.
        The server lets go of it when that session ends, so a node killed while leading
        leaves nothing held."""
        key = task_lock_key(task)
        with self._connection() as db:
            row = db.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
            db.commit()  # the lock is the session's: no transaction stays open meanwhile
            held = bool(row and row[0])
            try:
                yield held
            finally:
                if held:
                    _let_go(db, key)

    @contextmanager
    def _reading(self) -> Iterator[psycopg.Connection[Any]]:
        """_connection for reads that need no transaction: autocommit, so each statement
        is one round trip to the server instead of BEGIN, the statement and COMMIT."""
        with self._connection() as db:
            db.autocommit = True
            try:
                yield db
            finally:
                if not db.closed:
                    db.autocommit = False

    @contextmanager
    def _writing(self) -> Iterator[psycopg.Connection[Any]]:
        """_connection for a transaction that writes: once it has ended, committed or
        not, the node's listing pages kept in memory are not served again
        (listing_cache.note_change). Reads must not use it: each would drop them."""
        try:
            with self._connection() as db:
                yield db
        finally:
            listing_cache.note_change()

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection for one transaction (committed on the way out, rolled back on an
        error), with the database's failures turned into the contract's errors."""
        try:
            with self._pool.connection() as db:
                yield db
        except PoolTimeout as exc:
            raise Unavailable(_UNREACHABLE) from exc
        except psycopg.errors.DiskFull as exc:
            raise InsufficientStorage("The index database's disk is full, so nothing was saved.") from exc
        except psycopg.OperationalError as exc:
            raise Unavailable(_UNREACHABLE) from exc

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
        """Insert a row and its tags in one transaction; the row once committed."""
        joined_tags = " ".join(tags)
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
            joined_tags,
            expires_at,
        )
        with self._writing() as db:
            fetched = db.execute(
                _INSERT, (*row, searchable_text(title, description, joined_tags, original_name))
            ).fetchone()
            assert fetched is not None  # RETURNING gives the row
            record = ImageRecord(fetched[0], *row)
            if record.tag_list:
                db.cursor().executemany(_TAG_INSERT, [(tag, record.id) for tag in record.tag_list])
        return record

    def get(self, name: str) -> ImageRecord | None:
        with self._connection() as db:
            row = db.execute(f"SELECT {COLUMNS} FROM images WHERE name = %s", (name,)).fetchone()
        return ImageRecord._make(row) if row else None

    def names_with_content(self, sha256: str, size: int, limit: int = 3) -> list[str]:
        with self._connection() as db:
            rows = db.execute(
                "SELECT name FROM images WHERE sha256 = %s AND size = %s ORDER BY id DESC LIMIT %s",
                (sha256, size, limit),
            ).fetchall()
        return [row[0] for row in rows]

    def page(
        self, limit: int, before_id: int | None = None, where: ListingFilter | None = None
    ) -> tuple[list[ImageRecord], int | None]:
        """See SqliteIndex.page, which this answers as: the page's ids and revisions
        first, then only the rows not in the row cache (the whole page when most are
        not). Both reads outside a transaction (one round trip each, not three): a row
        deleted in between is left out, one changed in between is shown as it is now.
        A page asked again before any write is answered from memory, with no round trip
        (listing_cache.py says when, and why it is never stale on this node)."""
        where = where or ListingFilter()
        key, now = (limit, before_id, where), listing_cache.stamp()  # the stamp before the query
        kept = self._pages.get(key, now)
        if kept is not None:
            return list(kept[0]), kept[1]
        records, next_id = self._read_page(limit, before_id, where)
        self._pages.put(key, now, (tuple(records), next_id))
        return records, next_id

    def _read_page(
        self, limit: int, before_id: int | None, where: ListingFilter
    ) -> tuple[list[ImageRecord], int | None]:
        sql, parameters = _listing_query(where, before_id, limit + 1, "i.id, i.revision")
        with self._reading() as db:
            keys = db.execute(sql, parameters).fetchall()
            found = self._rows.get_all(keys[:limit])
            missing = [key[0] for key, record in zip(keys, found, strict=False) if record is None]
            if len(missing) > limit // 2:  # mostly unread: reading the page whole is quicker
                sql, parameters = _listing_query(where, before_id, limit + 1, f"{IMAGE_COLUMNS}, i.revision")
                rows = db.execute(sql, parameters).fetchall()
                records = [self._rows.keep(row) for row in rows[:limit]]
                return records, (records[-1].id if len(rows) > limit else None)
            if missing:
                read = db.execute(f"SELECT {COLUMNS}, revision FROM images WHERE id = ANY(%s)", (missing,)).fetchall()
                by_id = {record.id: record for record in map(self._rows.keep, read)}
                found = [record or by_id.get(key[0]) for key, record in zip(keys, found, strict=False)]
        records = [record for record in found if record is not None]
        next_id = keys[limit - 1][0] if len(keys) > limit else None
        return records, next_id

    def update_labels(
        self,
        name: str,
        *,
        title: str | None = None,
        description: str | None = None,
        tags: Sequence[str] | None = None,
    ) -> ImageRecord | None:
        with self._writing() as db:
            row = db.execute(f"SELECT {COLUMNS} FROM images WHERE name = %s FOR UPDATE", (name,)).fetchone()
            if row is None:
                return None
            record = ImageRecord._make(row)
            changed = record._replace(
                title=record.title if title is None else title,
                description=record.description if description is None else description,
                tags=record.tags if tags is None else " ".join(tags),
            )
            db.execute(
                "UPDATE images SET title = %s, description = %s, tags = %s, search_text = %s WHERE id = %s",
                (
                    changed.title,
                    changed.description,
                    changed.tags,
                    searchable_text(changed.title, changed.description, changed.tags, changed.original_name),
                    record.id,
                ),
            )
            if tags is not None:
                db.execute("DELETE FROM image_tags WHERE image_id = %s", (record.id,))
                if changed.tag_list:
                    db.cursor().executemany(_TAG_INSERT, [(tag, record.id) for tag in changed.tag_list])
        return changed

    def claim_previews(self, limit: int, lease_seconds: float) -> list[ImageRecord]:
        """See Index.claim_previews. SKIP LOCKED: two nodes claiming at once each take
        rows the other is not taking, and neither waits for the other. A claim changes no
        column a listing shows, so it keeps the node's listing pages (the preview queue
        claims every few seconds, mostly nothing)."""
        with self._connection() as db:
            rows = db.execute(
                "UPDATE images SET preview_claimed_until = now() + make_interval(secs => %s) WHERE id IN ("
                " SELECT id FROM images WHERE preview = %s"
                " AND (preview_claimed_until IS NULL OR preview_claimed_until <= now())"
                f" ORDER BY id DESC LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING {COLUMNS}",
                (math.ceil(lease_seconds), previews.PENDING, limit),
            ).fetchall()
        return sorted(map(ImageRecord._make, rows), key=lambda record: -record.id)

    def names_with_preview(self, sha256: str, size: int, limit: int = 3) -> list[str]:
        with self._connection() as db:
            rows = db.execute(
                "SELECT name FROM images WHERE sha256 = %s AND size = %s AND preview = %s ORDER BY id DESC LIMIT %s",
                (sha256, size, previews.READY, limit),
            ).fetchall()
        return [row[0] for row in rows]

    def set_preview(self, name: str, state: str) -> bool:
        with self._writing() as db:
            return (
                db.execute(
                    "UPDATE images SET preview = %s, preview_claimed_until = NULL WHERE name = %s", (state, name)
                ).rowcount
                > 0
            )

    def preview_states(self) -> dict[str, str]:
        with self._connection() as db:
            return dict(db.execute("SELECT name, preview FROM images").fetchall())

    def set_previews(self, names: Collection[str], state: str) -> None:
        with self._writing() as db:
            db.execute(
                "UPDATE images SET preview = %s, preview_claimed_until = NULL WHERE name = ANY(%s)",
                (state, list(names)),
            )

    def delete(self, name: str) -> bool:
        with self._writing() as db:
            return db.execute("DELETE FROM images WHERE name = %s", (name,)).rowcount > 0

    def names(self) -> set[str]:
        with self._connection() as db:
            return {row[0] for row in db.execute("SELECT name FROM images").fetchall()}

    def stats(self, days: int) -> dict[str, object]:
        since, all_days = stats_days(days)
        with self._connection() as db:
            images, stored = _stored(db)
            per_day = dict(
                db.execute(
                    "SELECT substr(created_at, 1, 10) AS day, COUNT(*) FROM images WHERE created_at >= %s GROUP BY day",
                    (since,),
                ).fetchall()
            )
        return {
            "images": images,
            "bytes_stored": stored,
            "uploads_per_day": [{"date": day, "uploads": per_day.get(day, 0)} for day in all_days],
        }

    def gauges(self) -> tuple[int, int, int]:
        with self._connection() as db:
            images, stored = _stored(db)
            row = db.execute("SELECT COUNT(*) FROM images WHERE preview = %s", (previews.PENDING,)).fetchone()
        return images, stored, int(row[0]) if row else 0

    def add_album(
        self, public_id: str, title: str, description: str, token_hash: str, images: Sequence[tuple[str, bool]]
    ) -> AlbumRecord:
        with self._writing() as db:
            created = utc_now()
            row = db.execute(
                "INSERT INTO albums (public_id, title, description, token_hash, created_at) "
                "VALUES (%s, %s, %s, %s, %s) RETURNING id",
                (public_id, title, description, token_hash, created),
            ).fetchone()
            assert row is not None
            album = AlbumRecord(row[0], public_id, title, description, token_hash, created)
            self._put_album_images(db, album.id, images)
        return album

    @staticmethod
    def _put_album_images(db: psycopg.Connection[Any], album_id: int, images: Sequence[tuple[str, bool]]) -> None:
        """Raises LookupError naming the first image without a row; the caller's
        transaction is then rolled back."""
        db.execute("DELETE FROM album_images WHERE album_id = %s", (album_id,))
        for position, (name, owned) in enumerate(images):
            row = db.execute("SELECT id FROM images WHERE name = %s", (name,)).fetchone()
            if row is None:
                raise LookupError(name)
            db.execute(
                "INSERT INTO album_images (album_id, position, image_id, owned) VALUES (%s, %s, %s, %s)",
                (album_id, position, row[0], int(owned)),
            )

    def album(self, public_id: str) -> tuple[AlbumRecord, list[ImageRecord]] | None:
        with self._connection() as db:
            row = db.execute(f"SELECT {ALBUM_COLUMNS} FROM albums WHERE public_id = %s", (public_id,)).fetchone()
            if row is None:
                return None
            album = AlbumRecord._make(row)
            rows = db.execute(
                f"SELECT {IMAGE_COLUMNS} FROM album_images a JOIN images i ON i.id = a.image_id "
                "WHERE a.album_id = %s ORDER BY a.position",
                (album.id,),
            ).fetchall()
        return album, list(map(ImageRecord._make, rows))

    def album_ownership(self, album_id: int) -> dict[str, bool]:
        with self._connection() as db:
            rows = db.execute(
                "SELECT i.name, a.owned FROM album_images a JOIN images i ON i.id = a.image_id WHERE a.album_id = %s",
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
        with self._writing() as db:
            if title is not None:
                db.execute("UPDATE albums SET title = %s WHERE id = %s", (title, album_id))
            if description is not None:
                db.execute("UPDATE albums SET description = %s WHERE id = %s", (description, album_id))
            if images is not None:
                self._put_album_images(db, album_id, images)

    def delete_album(self, album_id: int) -> bool:
        with self._writing() as db:
            return db.execute("DELETE FROM albums WHERE id = %s", (album_id,)).rowcount > 0

    def expired(self, moment: str, limit: int) -> list[str]:
        with self._connection() as db:
            rows = db.execute(
                "SELECT name FROM images WHERE expires_at IS NOT NULL AND expires_at <= %s "
                "ORDER BY expires_at LIMIT %s",
                (moment, limit),
            ).fetchall()
        return [row[0] for row in rows]

    def delete_many(self, names: set[str]) -> None:
        with self._writing() as db:
            db.execute("DELETE FROM images WHERE name = ANY(%s)", (list(names),))


def _let_go(db: psycopg.Connection[Any], key: int) -> None:
    """Unlock `key` on `db`. A connection lost meanwhile took the lock with it; that is
    logged, not raised (it would hide the block's own error)."""
    try:
        db.rollback()  # a failed statement of the block's must not stop the unlock
        db.execute("SELECT pg_advisory_unlock(%s)", (key,))
        db.commit()
    except psycopg.Error as exc:
        logger.warning("the index connection was lost while leading; the lock went with it ({})", exc)


def _stored(db: psycopg.Connection[Any]) -> tuple[int, int]:
    """(images, bytes stored), bytes counted once per file: identical images share one."""
    row = db.execute(
        "SELECT (SELECT COUNT(*) FROM images), "
        "(SELECT COALESCE(SUM(size), 0)::bigint FROM (SELECT DISTINCT sha256, size FROM images) AS files)"
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


class PostgresEngine:
    """The supervisor's handle on the index database at `url` (an `index.Engine`)."""

    def __init__(self, url: str):
        self.url = url

    def migrate(self) -> int:
        return migrate(self.url)

    def open(self) -> PostgresIndex:
        return PostgresIndex(self.url)

    def state(self) -> str:
        return "ok"

    def describe(self, state: str) -> str:
        return f"the index database ({_where(self.url)}) is {state}"
