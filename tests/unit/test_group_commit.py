"""Group commit: threads that wait at the same time share one flush, and each gets its own answer."""

from __future__ import annotations

import io
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from imagehost import index_sqlite, storage
from imagehost.group_commit import Failed, GroupCommit
from imagehost.web import ClientGone, RequestBody
from support.rows import add_row


class SlowFlush:
    """Records each flush; the first one blocks until released, so others queue up behind it."""

    def __init__(self):
        self.batches: list[list[int]] = []
        self.first_started = threading.Event()
        self.release_first = threading.Event()

    def __call__(self, items):
        self.batches.append(list(items))
        if len(self.batches) == 1:
            self.first_started.set()
            assert self.release_first.wait(10)
        return [item * 10 for item in items]


def test_items_queued_during_a_flush_share_the_next_one():
    flush = SlowFlush()
    group = GroupCommit(flush)
    with ThreadPoolExecutor(9) as pool:
        first = pool.submit(group.submit, 0)
        assert flush.first_started.wait(10)
        others = [pool.submit(group.submit, n) for n in range(1, 9)]
        while len(group._queue) < 8:  # all eight are queued behind the running flush
            threading.Event().wait(0.01)
        flush.release_first.set()
        results = [first.result(10)] + [f.result(10) for f in others]
    assert results == [n * 10 for n in range(9)]
    assert flush.batches == [[0], list(range(1, 9))]


class GatedFlush:
    """Flush number n (from 0) blocks until `open(n)`; records each flush's items."""

    def __init__(self, flushes: int):
        self.batches: list[list[int]] = []
        self.started = [threading.Event() for _ in range(flushes)]
        self.gates = [threading.Event() for _ in range(flushes)]

    def __call__(self, items):
        number = len(self.batches)
        self.batches.append(list(items))
        self.started[number].set()
        assert self.gates[number].wait(10)
        return list(items)

    def open(self, number: int) -> None:
        self.gates[number].set()


def wait_until(condition) -> None:
    for _ in range(1000):
        if condition():
            return
        threading.Event().wait(0.01)
    raise AssertionError("timed out")


def test_an_item_returns_when_its_flush_ends_not_after_the_next_one():
    flush = GatedFlush(3)
    group = GroupCommit(flush)
    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(group.submit, 0)
        assert flush.started[0].wait(10)
        pair = [pool.submit(group.submit, n) for n in (1, 2)]
        wait_until(lambda: len(group._queue) == 2)
        flush.open(0)
        assert flush.started[1].wait(10)  # 1 and 2, flushed together
        late = pool.submit(group.submit, 3)
        wait_until(lambda: len(group._queue) == 1)
        flush.open(1)
        assert flush.started[2].wait(10)  # 3 alone, still running...
        assert [f.result(10) for f in pair] == [1, 2]  # ...and 1 and 2 are answered already
        flush.open(2)
        assert (first.result(10), late.result(10)) == (0, 3)
    assert flush.batches == [[0], [1, 2], [3]]


def test_a_failed_flush_fails_every_item_in_it_each_thread_with_its_own_exception():
    flush = GatedFlush(2)

    def failing(items):
        flush(items)
        raise OSError(28, "No space left on device")

    group = GroupCommit(failing)
    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(group.submit, 0)
        assert flush.started[0].wait(10)
        together = [pool.submit(group.submit, n) for n in (1, 2, 3)]
        wait_until(lambda: len(group._queue) == 3)
        flush.open(0)
        assert flush.started[1].wait(10)
        flush.open(1)
        errors = [f.exception(10) for f in together]
        assert isinstance(first.exception(10), OSError)
    assert flush.batches == [[0], [1, 2, 3]]
    assert all(isinstance(e, OSError) and e.errno == 28 for e in errors)
    assert len({id(e) for e in errors}) == 3  # no traceback shared between threads


def test_a_failed_flush_fails_every_item_in_it_and_the_next_flush_starts_clean():
    calls = []

    def flush(items):
        calls.append(list(items))
        if len(calls) == 1:
            raise OSError("disk on fire")
        return list(items)

    group = GroupCommit(flush)
    with pytest.raises(OSError, match="disk on fire"):
        group.submit("a")
    assert group.submit("b") == "b"
    assert calls == [["a"], ["b"]]


def test_rows_added_from_many_threads_each_get_their_own_committed_id(tmp_path):
    path = tmp_path / "index.sqlite3"
    index_sqlite.migrate(path)
    images = index_sqlite.SqliteIndex(path)
    try:

        def add(n):
            return add_row(images, f"name{n:012d}.png", size=n)

        with ThreadPoolExecutor(16) as pool:
            records = list(pool.map(add, range(200)))
        assert len({r.id for r in records}) == 200
        for record in records:
            assert images.get(record.name) == record
    finally:
        images.close()
    reopened = index_sqlite.SqliteIndex(path)  # committed: another connection sees every row
    try:
        assert len(reopened.names()) == 200
    finally:
        reopened.close()


def test_an_item_that_fails_on_its_own_fails_alone_and_the_rest_of_its_flush_succeeds():
    group = GroupCommit(lambda items: [Failed(ValueError(item)) if item == 2 else item * 10 for item in items])
    with pytest.raises(ValueError, match="2"):
        group.submit(2)
    assert group.submit(3) == 30


def test_16_threads_in_one_flush_with_one_name_clash_get_one_integrity_error_and_15_committed_rows(tmp_path):
    path = tmp_path / "index.sqlite3"
    index_sqlite.migrate(path)
    images = index_sqlite.SqliteIndex(path)
    names = [f"name{n:012d}.png" for n in range(15)] + ["taken0000000000.png"]
    try:
        add_row(images, "taken0000000000.png")
        with ThreadPoolExecutor(17) as pool:
            # Hold the connection so that a first flush blocks and all 16 rows queue behind it.
            with images._lock:
                first = pool.submit(add_row, images, "first0000000000.png")
                wait_until(lambda: images._adding._flushing)
                futures = [pool.submit(add_row, images, name) for name in names]
                wait_until(lambda: len(images._adding._queue) == 16)
            first.result(10)
            errors = [f.exception(10) for f in futures]
    finally:
        images.close()
    failed = [name for name, error in zip(names, errors, strict=True) if error is not None]
    assert failed == ["taken0000000000.png"]
    assert isinstance(errors[-1], sqlite3.IntegrityError)
    with sqlite3.connect(path) as db:
        stored = {row[0] for row in db.execute("SELECT name FROM images")}
    assert stored == {"taken0000000000.png", "first0000000000.png", *names}


def test_a_directory_sync_asked_from_many_threads_returns_in_each(tmp_path):
    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(lambda _: storage.sync_directory(str(tmp_path)), range(50))) == [None] * 50


def test_a_directory_that_cannot_be_synced_raises_in_the_thread_that_asked(tmp_path):
    with pytest.raises(FileNotFoundError):
        storage.sync_directory(str(tmp_path / "missing"))


def test_the_body_comes_in_pieces_of_the_buffer_size_then_one_shorter_piece():
    body = RequestBody(io.BufferedReader(io.BytesIO(b"abcdefghij" + b"next request")), 10)
    pieces = [bytes(piece) for piece in body.pieces(bytearray(4))]
    assert pieces == [b"abcd", b"efgh", b"ij"]
    assert body.remaining == 0


def test_a_body_that_ends_early_means_the_client_went_away():
    body = RequestBody(io.BufferedReader(io.BytesIO(b"abc")), 10)
    with pytest.raises(ClientGone):
        list(body.pieces(bytearray(4)))
