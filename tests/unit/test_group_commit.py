"""Group commit: threads that wait at the same time share one flush, and each gets its own answer."""

from __future__ import annotations

import io
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from imagehost import index, storage
from imagehost.group_commit import GroupCommit
from imagehost.web import ClientGone, RequestBody


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
    index.migrate(path)
    images = index.Index(path)
    try:
        def add(n):
            return images.add(name=f"name{n:012d}.png", type="image/png", size=n, width=1, height=1,
                              sha256="0" * 64, original_name="", delete_token_hash=None)

        with ThreadPoolExecutor(16) as pool:
            records = list(pool.map(add, range(200)))
        assert len({r.id for r in records}) == 200
        for record in records:
            assert images.get(record.name) == record
    finally:
        images.close()
    reopened = index.Index(path)  # committed: another connection sees every row
    try:
        assert len(reopened.names()) == 200
    finally:
        reopened.close()


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
