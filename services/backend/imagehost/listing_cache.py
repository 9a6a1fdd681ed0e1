"""Listing pages kept in memory between writes, for the index in PostgreSQL.

A listing on PostgreSQL is a round trip to the server, about as much CPU there as in
the worker; most listings between two writes ask the same few pages. So each
PostgresIndex keeps the pages it has answered (`PageCache`), each stamped with the
node's change token as it was read BEFORE the page's query, and answers from memory
while the token is still the same.

The token lives in 16 bytes of shared memory made when this module is imported, which
the supervisor does before it forks its workers (index.engine), so the supervisor and
every worker of one node see the same two numbers:
- `token`, set to a fresh random value after every write of any process of the node
  (PostgresIndex's writes, once their transaction has ended). A write committed before
  a reader read the token is in the reader's result; one committed after sets a new
  token afterwards, so the page stamped with the old one is not served again. So on one
  node a page from memory is never stale.
- `epoch`: 0 unless the supervisor's `ChangeListener` is connected, and then a fresh
  random value for each connection. With 0, no page is kept or served.
Other nodes' writes come by PostgreSQL's LISTEN/NOTIFY: every change to `images` or
`image_tags` notifies the channel `imagehost_images` (migration 0008), and the listener
sets a fresh token for each notification. So a node may serve a page missing another
node's write only until that notification arrives (milliseconds). While the listener is
not connected (the database restarting, the connection lost), the epoch is 0 and every
page is read from the database; each new connection gets a new epoch, so nothing
stamped before a gap, when notifications may have been missed, is served after it.
The listener needs one more connection per node, straight to PostgreSQL or through a
pooler in session mode (LISTEN does not survive a pooler in transaction mode).

Two 8-byte fields at aligned offsets are written and read whole on the platforms we
run on; a torn read would only give a value no page is stamped with (a miss).

Imported by the PostgreSQL index only (and the supervisor with one), so a SQLite
instance never loads the driver.
"""

from __future__ import annotations

import mmap
import secrets
import struct
import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

import psycopg
from loguru import logger

from .index import ImageRecord

CHANNEL = "imagehost_images"
# How often the listener looks up from waiting, to see whether it is asked to stop.
WAKE_EVERY = 0.5
# Pages kept at most, whatever they hold: an empty page is small, but its key (a search
# of up to 200 characters and 20 tags) need not be, and anyone can ask for many.
MAX_PAGES = 1024
RETRY_FIRST, RETRY_MOST = 1.0, 10.0
# A connection cut without a word (a network failure, no RST) is noticed by TCP
# keepalives within 5 + 3 x 2 = 11 s of quiet; until then the listener believes it is
# connected and other nodes' writes go unheard (README, "PostgreSQL").
KEEPALIVES: dict[str, Any] = {"keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 3}
CONNECT_TIMEOUT = 5

_FIELD = struct.Struct("=Q")
_EPOCH, _TOKEN = 0, 8
_SHARED = mmap.mmap(-1, 16)  # anonymous and MAP_SHARED: the same pages in every forked child

Stamp = tuple[int, int]
Page = tuple[tuple[ImageRecord, ...], int | None]


def _fresh() -> int:
    """A random 64-bit value, never 0."""
    return secrets.randbits(64) or 1


def stamp() -> Stamp:
    """(epoch, token) now; read it before the query whose result it stamps."""
    return _FIELD.unpack_from(_SHARED, _EPOCH)[0], _FIELD.unpack_from(_SHARED, _TOKEN)[0]


def note_change() -> None:
    """After a write has ended (committed or not): pages stamped before are not served."""
    _FIELD.pack_into(_SHARED, _TOKEN, _fresh())


def _set_epoch(epoch: int) -> None:
    _FIELD.pack_into(_SHARED, _EPOCH, epoch)


class PageCache:
    """Pages (records, next cursor) by key, each with the stamp read before its query;
    the most recently used of them, holding `rows` records at most in all (an empty page
    counts as one) and MAX_PAGES pages at most, safe to share between threads. The records are mostly the row
    cache's own objects (index.RowCache), so the memory a page adds is a tuple."""

    def __init__(self, rows: int):
        self._rows = rows
        self._held = 0
        self._pages: OrderedDict[Hashable, tuple[Stamp, Page]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, now: Stamp) -> Page | None:
        """The page kept under `key` if it was stamped `now` and the listener is
        connected (epoch not 0); else None."""
        if now[0] == 0:
            return None
        with self._lock:
            kept = self._pages.get(key)
            if kept is None or kept[0] != now:
                return None
            self._pages.move_to_end(key)
            return kept[1]

    def put(self, key: Hashable, stamped: Stamp, page: Page) -> None:
        """Keep `page`, read after `stamped` was read; nothing while epoch is 0."""
        if stamped[0] == 0:
            return
        with self._lock:
            old = self._pages.pop(key, None)
            if old is not None:
                self._held -= _weight(old[1])
            self._pages[key] = (stamped, page)
            self._held += _weight(page)
            while self._held > self._rows or len(self._pages) > MAX_PAGES:
                _, (_, dropped) = self._pages.popitem(last=False)
                self._held -= _weight(dropped)


def _weight(page: Page) -> int:
    return max(1, len(page[0]))


class ChangeListener:
    """The supervisor's thread that LISTENs on CHANNEL at `url` and sets a fresh token
    for each notification (see the module's docstring). It connects again after any
    failure, waiting RETRY_FIRST seconds, twice as long each time up to RETRY_MOST,
    until `stop()`; an outage is logged once when it starts and once when it ends."""

    def __init__(self, url: str):
        self._url = url
        self.heard = 0  # notifications so far (for the tests: one per transaction that changed rows)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="index-changes", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 2 * WAKE_EVERY) -> None:
        """Ask the thread to end and wait up to `timeout` for it (one still connecting
        is a daemon thread: it does not hold up the process's exit); the epoch is 0
        after."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        _set_epoch(0)

    def _run(self) -> None:
        delay, failing = RETRY_FIRST, False
        while not self._stopping.is_set():
            try:
                with psycopg.connect(
                    self._url, autocommit=True, connect_timeout=CONNECT_TIMEOUT, **KEEPALIVES
                ) as connection:
                    connection.execute(f"LISTEN {CHANNEL}")
                    _set_epoch(_fresh())  # after LISTEN: every later commit is notified
                    if failing:
                        logger.info("listening for the index's changes again")
                    delay, failing = RETRY_FIRST, False
                    self._relay(connection)
            except psycopg.Error as exc:
                _set_epoch(0)
                if not failing:
                    logger.warning(
                        "cannot listen for the index's changes ({}); listings are read from the database "
                        "until it is back, trying every {:.0f} s at most",
                        " ".join(str(exc).split()),
                        RETRY_MOST,
                    )
                failing = True
                self._stopping.wait(delay)
                delay = min(RETRY_MOST, delay * 2)
            finally:
                _set_epoch(0)

    def _relay(self, connection: psycopg.Connection[Any]) -> None:
        """A fresh token per notification until asked to stop; psycopg.Error when the
        connection is lost."""
        while not self._stopping.is_set():
            for _ in connection.notifies(timeout=WAKE_EVERY):
                note_change()
                self.heard += 1
