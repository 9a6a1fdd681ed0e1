"""Expiry: images that remove themselves after a while.

An upload may ask for `expires_in` (`30s`, `15m`, `1h`, `7d`, ... or `never`); without
it DEFAULT_EXPIRY applies, and nothing may outlive MAX_EXPIRY. The row keeps the moment
(`expires_at`, ISO 8601 UTC). The supervisor sweeps every SWEEP_EVERY seconds: each
image past its moment loses its file (durably, as a DELETE does), its row and its
preview, so within a minute of expiry nginx answers 404. Request workers never sweep,
and of many nodes sharing one index, one at a time does (Index.leading). The same sweep
removes direct uploads staged in the bucket and never completed (object_store.
STAGED_KEPT after they were written).
"""

from __future__ import annotations

import sqlite3
import time

from loguru import logger

from .config import Config
from .durations import LONGEST, describe, seconds_of
from .errors import BadRequest, InsufficientStorage, Unavailable
from .index import Index, IndexFileError, iso_utc, open_index
from .object_store import STAGED_KEPT, ObjectStore, S3Store, open_store

SWEEP_EVERY = 15.0
# Staged uploads are kept an hour past their POST's expiry (STAGED_KEPT), so listing the
# staging folder at every turn would mostly find nothing new to remove.
STAGED_SWEEP_EVERY = 300.0
SWEEP_BATCH = 200


def expires_at(requested: str | None, config: Config, now: float | None = None) -> str | None:
    """The moment an upload asking for `requested` (None: nothing asked) expires, or None
    for never. BadRequest for an unreadable value or one past MAX_EXPIRY."""
    if requested is None or not requested.strip():
        seconds = config.default_expiry
    else:
        try:
            seconds = seconds_of(requested)
        except ValueError:
            raise BadRequest(
                f"'expires_in' must be a number and a unit (s, m, h or d), like 1h or 7d, at most {describe(LONGEST)}, "
                f"or 'never'; got {requested[:40]!r}."
            ) from None
    longest = config.max_expiry
    if longest is not None and (seconds is None or seconds > longest):
        raise BadRequest(f"This server keeps images at most {describe(longest)}: ask for that or less in 'expires_in'.")
    return None if seconds is None else iso_utc((now if now is not None else time.time()) + seconds)


def sweep(config: Config, index: Index, now: float | None = None, store: ObjectStore | None = None) -> int:
    """Remove every image past its expiry from `store` (default: the config's): the
    image (a folder fsynced once per batch), row, preview. Returns how many. The order is
    a DELETE's, so a crash leaves at worst rows without images, which the start-up
    reconcile removes. A store that fails raises its error (Unavailable, OSError) with
    the batch's rows still there: the next sweep tries them again."""
    store = store if store is not None else open_store(config)
    moment = iso_utc(now if now is not None else time.time())
    removed = 0
    while True:
        names = index.expired(moment, SWEEP_BATCH)
        if not names:
            return removed
        store.delete_many(names)
        index.delete_many(set(names))
        for name in names:
            store.delete_preview(name)
        removed += len(names)
        logger.info(
            "expiry: removed {} images ({}{})", len(names), ", ".join(names[:5]), ", ..." if len(names) > 5 else ""
        )
        if len(names) < SWEEP_BATCH:
            return removed


def sweep_staged_uploads(store: ObjectStore, now: float | None = None) -> int:
    """Remove the direct uploads staged in `store` more than STAGED_KEPT seconds before
    `now` (their presigned POST long expired, nobody completed them); returns how many.
    A local store has none. The store's errors go on (Unavailable)."""
    if not isinstance(store, S3Store):
        return 0
    removed = store.remove_stale_uploads((now if now is not None else time.time()) - STAGED_KEPT)
    if removed:
        logger.info("expiry: removed {} direct uploads never completed", removed)
    return removed


class Sweeper:
    """The supervisor's sweeps: `tick()` in its loop sweeps when SWEEP_EVERY has passed,
    with its own connection to the index (opened again after a failure, which is logged:
    the sweep waits for the next turn). With many nodes on one index, the node leading
    "expiry" (Index.leading) sweeps that turn and the others skip it."""

    def __init__(self, config: Config, store: ObjectStore | None = None):
        self.config = config
        self.store = store if store is not None else open_store(config)
        self._index: Index | None = None
        self._due = time.monotonic() + 1.0
        self._staged_due = self._due

    def next_timeout(self, longest: float) -> float:
        return max(0.0, min(longest, self._due - time.monotonic()))

    def tick(self) -> None:
        if time.monotonic() < self._due:
            return
        self._due = time.monotonic() + SWEEP_EVERY
        try:
            if self._index is None or self._index.state() != "ok":
                self.close()
                self._index = open_index(self.config)
            with self._index.leading("expiry") as leader:
                if leader:
                    sweep(self.config, self._index, store=self.store)
                    if self.config.s3_direct_uploads and time.monotonic() >= self._staged_due:
                        self._staged_due = time.monotonic() + STAGED_SWEEP_EVERY
                        sweep_staged_uploads(self.store)
                else:
                    logger.debug("expiry: another node is sweeping; this one skips its turn")
        except (IndexFileError, sqlite3.Error, Unavailable, InsufficientStorage, OSError) as exc:
            logger.error("expiry: this sweep failed ({}); the next is in {:g}s", exc, SWEEP_EVERY)
            self.close()

    def close(self) -> None:
        if self._index is not None:
            self._index.close()
            self._index = None
