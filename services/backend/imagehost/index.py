"""The metadata index: what every engine shares, and the choice of engine.

Two engines implement one interface (`Index`) with the same records and the same errors:
SQLite in DATA_DIR (index_sqlite.py, the default: nothing to set up) and PostgreSQL
when DATABASE_URL is set (index_postgres.py: for several app nodes, or more writers
than one file takes). Each has its own numbered migrations, of the same numbers.

`engine(config)` is the supervisor's handle: it migrates once before forking, watches
the store while serving, and says why a worker could not open it. Each worker, and each
of the supervisor's side jobs, then calls `open_index(config)` for its own connection
(a connection must not cross a fork).

Errors, whatever the engine: IndexFileError when the index cannot be used at all (at
start-up: the message says what to do); Unavailable (a JSON 503) when it cannot be
reached or is busy just now; InsufficientStorage (507) when its disk is full.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import OrderedDict
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

if TYPE_CHECKING:
    from .config import Config

COLUMNS = (
    "id, name, type, size, width, height, sha256, original_name, created_at, delete_token_hash, preview, "
    "title, description, tags, expires_at"
)
# COLUMNS of the images table aliased `i`, for the queries that join it.
IMAGE_COLUMNS = ", ".join(f"i.{column}" for column in COLUMNS.split(", "))
ALBUM_COLUMNS = "id, public_id, title, description, token_hash, created_at"
# The listing's cursor when there is none: older than every id.
NO_CURSOR = 2**63 - 1


class IndexFileError(Exception):
    """The index cannot be used (a file missing or not this service's, a database at
    another schema version); the message says which and what to do."""


class SearchTerms(NamedTuple):
    """A search as words (letters and digits only, lower case), all required; the last
    one also matches as the start of a word when `last_is_prefix`. Each engine makes
    its own expression of it, so nothing a person types is read as query syntax."""

    words: tuple[str, ...]
    last_is_prefix: bool


class ListingFilter(NamedTuple):
    """The listing's conditions, all of which an image must meet. `since`/`until` are
    compared with created_at (`since` <= created_at < `until`)."""

    search: SearchTerms | None = None
    tags: tuple[str, ...] = ()
    type: str | None = None
    since: str | None = None
    until: str | None = None


class AlbumRecord(NamedTuple):
    id: int
    public_id: str
    title: str
    description: str
    token_hash: str
    created_at: str


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
    preview: str
    title: str = ""
    description: str = ""
    tags: str = ""  # space-separated, in order (a tag holds no space)
    expires_at: str | None = None

    @property
    def tag_list(self) -> list[str]:
        return self.tags.split()


# Rows a worker keeps for its listings (RowCache): 160 pages of 50, a few MB.
ROWS_KEPT = 8192


class RowCache:
    """Rows by (id, revision), the most recently used `size` of them, safe to share
    between threads. A row that changes gets a new revision, and so a new key: what is
    here is never stale, and what is no longer asked for ages out. Both engines' page()
    read a page's ids and revisions first and only the rows missing here: reading and
    converting 15 columns of 50 rows was a third of a listing's CPU, and the records
    kept are the same objects each time, so the handlers' cache of their JSON finds
    them by hashes already computed."""

    def __init__(self, size: int):
        self._size = size
        self._rows: OrderedDict[tuple[int, int], ImageRecord] = OrderedDict()
        self._lock = threading.Lock()

    def get_all(self, keys: Sequence[tuple[int, int]]) -> list[ImageRecord | None]:
        found = []
        with self._lock:
            rows = self._rows
            for key in keys:
                record = rows.get(key)
                if record is not None:
                    rows.move_to_end(key)
                found.append(record)
        return found

    def put(self, key: tuple[int, int], record: ImageRecord) -> None:
        with self._lock:
            self._rows[key] = record
            if len(self._rows) > self._size:
                self._rows.popitem(last=False)

    def keep(self, row: Sequence[Any]) -> ImageRecord:
        """Keep a row read as its columns (COLUMNS) and then its revision; its record."""
        record = ImageRecord._make(row[:-1])
        self.put((record.id, row[-1]), record)
        return record


def utc_now() -> str:
    """ISO 8601 in UTC with milliseconds, e.g. 2026-11-21T05:41:58.123Z."""
    return iso_utc(time.time())


def stats_days(days: int) -> tuple[str, list[str]]:
    """For the stats of the last `days` UTC days, today included: the first day's date
    (compared with created_at) and every day's date, oldest first."""
    first = time.time() - (days - 1) * 86400
    all_days = [time.strftime("%Y-%m-%d", time.gmtime(first + n * 86400)) for n in range(days)]
    return all_days[0], all_days


def iso_utc(timestamp: float) -> str:
    seconds = int(timestamp)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{int((timestamp - seconds) * 1000):03d}Z"


class Index(Protocol):
    """One process's connection to the index, safe to share between its threads.

    Every method may raise Unavailable (the index is unreachable, busy, or no longer
    the one this process opened), and a write InsufficientStorage (its disk is full).
    """

    def state(self) -> str:
        """'ok' while changes reach the index this process opened; else a word for
        what is wrong ('missing', 'replaced' for SQLite's file, 'unreachable')."""
        ...

    def require_usable(self) -> None:
        """Raise Unavailable unless a change made now would reach the index this
        process opened (before a change that must not be half-done, like a delete)."""
        ...

    def is_readable(self) -> bool: ...

    def close(self) -> None: ...

    def leading(self, task: str) -> contextlib.AbstractContextManager[bool]:
        """For the block: True when this process leads `task` (an expiry sweep, the
        start-up reconcile), which then runs on one node at a time however many share the
        index; False when another holds it, and the caller skips that turn. Let go when
        the block ends, or when the process dies (it cannot be left held). Unavailable
        when the index cannot be reached."""
        ...

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
        """Insert a row and return it once it is committed."""
        ...

    def get(self, name: str) -> ImageRecord | None: ...

    def names_with_content(self, sha256: str, size: int, limit: int = 3) -> list[str]:
        """Up to `limit` names whose rows say they hold these bytes, newest first."""
        ...

    def page(
        self, limit: int, before_id: int | None = None, where: ListingFilter | None = None
    ) -> tuple[list[ImageRecord], int | None]:
        """Up to `limit` images newest first, older than `before_id` when given, that
        match every condition of `where`; and the id to pass as `before_id` for the next
        page (None on the last). Keyset paging by id: stable while images come and go."""
        ...

    def update_labels(
        self,
        name: str,
        *,
        title: str | None = None,
        description: str | None = None,
        tags: Sequence[str] | None = None,
    ) -> ImageRecord | None:
        """Change what is given; the row as it is now, or None when there is no such image."""
        ...

    def claim_previews(self, limit: int, lease_seconds: float) -> list[ImageRecord]:
        """Up to `limit` images whose preview is still to be made and that no one has
        claimed (or whose claim has lapsed), newest first (someone may be waiting for it
        on the page), each now claimed for `lease_seconds`: no other caller, on this node
        or another, gets them until then. Setting a preview state ends the claim."""
        ...

    def names_with_preview(self, sha256: str, size: int, limit: int = 3) -> list[str]: ...

    def set_preview(self, name: str, state: str) -> bool: ...

    def preview_states(self) -> dict[str, str]: ...

    def set_previews(self, names: Collection[str], state: str) -> None: ...

    def delete(self, name: str) -> bool:
        """Remove the row; False when there was none."""
        ...

    def names(self) -> set[str]: ...

    def stats(self, days: int) -> dict[str, object]: ...

    def gauges(self) -> tuple[int, int, int]:
        """(images, bytes stored, previews pending)."""
        ...

    def add_album(
        self, public_id: str, title: str, description: str, token_hash: str, images: Sequence[tuple[str, bool]]
    ) -> AlbumRecord:
        """A new album of `images` ((name, owned) in order). Raises LookupError naming
        the first image that has no row, and nothing is added then."""
        ...

    def album(self, public_id: str) -> tuple[AlbumRecord, list[ImageRecord]] | None: ...

    def album_ownership(self, album_id: int) -> dict[str, bool]: ...

    def update_album(
        self,
        album_id: int,
        *,
        title: str | None = None,
        description: str | None = None,
        images: Sequence[tuple[str, bool]] | None = None,
    ) -> None: ...

    def delete_album(self, album_id: int) -> bool: ...

    def expired(self, moment: str, limit: int) -> list[str]: ...

    def delete_many(self, names: set[str]) -> None: ...


class Engine(Protocol):
    """The supervisor's handle on the index: migrations, and the store it watches."""

    def migrate(self) -> int:
        """Bring the index to the newest schema once (however many nodes start at once);
        returns the schema version. IndexFileError when the index cannot be used."""
        ...

    def open(self) -> Index:
        """A connection of this process's own. IndexFileError when the index is not this
        service's (another schema version, a missing file)."""
        ...

    def state(self) -> str:
        """Cheap enough for every tick of the supervisor: 'ok', or what is wrong."""
        ...

    def describe(self, state: str) -> str:
        """A sentence for the log about a `state` other than 'ok'."""
        ...


def engine(config: Config) -> Engine:
    """PostgreSQL when DATABASE_URL is set, else the SQLite file in DATA_DIR."""
    # Imported here: each engine's module imports this one, and a SQLite instance never
    # loads the PostgreSQL driver.
    if config.database_url:
        from .index_postgres import PostgresEngine  # noqa: PLC0415

        return PostgresEngine(config.database_url)
    from .index_sqlite import SqliteEngine  # noqa: PLC0415

    return SqliteEngine(config.index_path)


def open_index(config: Config) -> Index:
    """This process's own connection to the index that `config` names (see Engine.open)."""
    return engine(config).open()
