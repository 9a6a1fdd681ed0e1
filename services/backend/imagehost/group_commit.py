"""Group commit: one fsync (or one transaction) for what several threads wait on.

A worker's threads each upload an image and must not answer before it is durable:
its directory entry fsynced and its index row committed. Done one by one, every
upload pays for its own directory fsync and its own SQLite commit, and waits in line
for the others' (the commit holds a lock). Instead each thread queues its item; the
first thread to get the flush lock flushes everything queued so far in one go, and
the others find their item done when their turn comes. Nobody answers earlier than
before; they only share the cost. (The same idea as a database's group commit.)
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class _Entry(Generic[Item, Result]):
    __slots__ = ("done", "error", "item", "result")

    def __init__(self, item: Item):
        self.item = item
        self.done = False
        self.result: Result | None = None
        self.error: BaseException | None = None


class GroupCommit(Generic[Item, Result]):
    """Calls `flush(items)` from whichever thread gets there first, for all items queued.

    `flush` returns one result per item, in order, or raises: then every item of that
    flush fails with the same exception. Flushes never overlap.
    """

    def __init__(self, flush: Callable[[Sequence[Item]], Sequence[Result]]):
        self._flush = flush
        self._queue: list[_Entry[Item, Result]] = []
        self._queue_lock = threading.Lock()
        self._flush_lock = threading.Lock()

    def submit(self, item: Item) -> Result:
        """Queue `item` and return its result once a flush that included it is over."""
        entry: _Entry[Item, Result] = _Entry(item)
        with self._queue_lock:
            self._queue.append(entry)
        with self._flush_lock:
            if not entry.done:
                self._flush_queue()
        if entry.error is not None:
            raise entry.error
        return entry.result  # type: ignore[return-value]

    def _flush_queue(self) -> None:
        # Everything queued before this point was complete when it was queued (a file
        # linked, a row ready), so a flush that starts now covers it.
        with self._queue_lock:
            batch, self._queue = self._queue, []
        try:
            results = self._flush([entry.item for entry in batch])
        except BaseException as exc:  # noqa: BLE001 (each waiting thread raises it)
            for entry in batch:
                entry.error, entry.done = exc, True
            return
        for entry, result in zip(batch, results, strict=True):
            entry.result, entry.done = result, True
