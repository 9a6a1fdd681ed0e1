"""Group commit: one fsync (or one transaction) for what several threads wait on.

A worker's threads each upload an image and must not answer before it is durable:
its directory entry fsynced and its index row committed. Done one by one, every
upload pays for its own directory fsync and its own SQLite commit, and waits in line
for the others' (the commit holds a lock). Instead each thread queues its item. When no
flush is running, the thread finds its item not yet flushed and flushes everything
queued so far in one go; threads whose items were in that flush return as soon as it
ends. Nobody answers earlier than before; they only share the cost. (The same idea as
a database's group commit.)
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Sequence
from typing import Generic, NamedTuple, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class Failed(NamedTuple):
    """What a flush returns in place of a result for an item that failed on its own:
    that item's thread raises `error`; the others in the flush get their results."""

    error: BaseException


class _Entry(Generic[Item, Result]):
    __slots__ = ("done", "error", "error_is_shared", "item", "result")

    def __init__(self, item: Item):
        self.item = item
        self.done = False
        self.result: Result | None = None
        self.error: BaseException | None = None
        self.error_is_shared = False


class GroupCommit(Generic[Item, Result]):
    """Calls `flush(items)` from one of the waiting threads, for all items queued.

    `flush` returns one result per item, in order; a `Failed(error)` in place of a
    result fails that item alone. When `flush` raises, every item of that flush fails
    with that exception (nothing of it was done). Flushes never overlap, and an item is only ever
    answered by a flush that started after it was queued.
    """

    def __init__(self, flush: Callable[[Sequence[Item]], Sequence[Result | Failed]]):
        self._flush = flush
        self._queue: list[_Entry[Item, Result]] = []
        self._changed = threading.Condition()
        self._flushing = False

    def submit(self, item: Item) -> Result:
        """Queue `item` and return its result once a flush that included it is over."""
        entry: _Entry[Item, Result] = _Entry(item)
        with self._changed:
            self._queue.append(entry)
            while self._flushing and not entry.done:
                self._changed.wait()
            leading = not entry.done
            if leading:
                batch, self._queue = self._queue, []
                self._flushing = True
        if leading:
            self._flush_batch(batch)
        if entry.error is not None:
            if leading or not entry.error_is_shared:
                raise entry.error
            # The others get a copy: one exception raised in many threads would collect
            # all their frames in one traceback, and log each request's with the others'.
            raise _copy_of(entry.error) from None
        return entry.result  # type: ignore[return-value]  # done without an error: the flush set it

    def _flush_batch(self, batch: list[_Entry[Item, Result]]) -> None:
        results: list[Result | Failed] = []
        error: BaseException | None = None
        try:
            results = list(self._flush([entry.item for entry in batch]))
            if len(results) != len(batch):
                raise RuntimeError(f"a flush of {len(batch)} items returned {len(results)} results")
        except BaseException as exc:  # noqa: BLE001 (each waiting thread raises it)
            error = exc
        with self._changed:
            for number, entry in enumerate(batch):
                if error is not None:
                    entry.error, entry.error_is_shared = error, True
                elif isinstance(result := results[number], Failed):
                    entry.error = result.error
                else:
                    entry.result = result
                entry.done = True
            self._flushing = False
            self._changed.notify_all()


def _copy_of(error: BaseException) -> BaseException:
    try:
        return copy.copy(error)
    except Exception:  # noqa: BLE001 (an exception type that cannot be rebuilt)
        return RuntimeError(f"the shared flush failed: {error!r}")
