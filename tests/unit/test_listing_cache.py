"""The PostgreSQL index's listing pages kept in memory (imagehost/listing_cache.py), on the
session's throwaway cluster: served again while nothing changed, never after this node's
writes, soon after another node's, and never while the change listener is not connected.

A change "behind the cache's back" is made with session_replication_role = replica: no
trigger fires (so no notification), and it goes through no PostgresIndex (so no token),
which is how a page served from memory is told from one read again."""

from __future__ import annotations

import itertools
import time

import psycopg
import pytest
from imagehost import index_postgres, listing_cache
from imagehost.index import ListingFilter
from imagehost.index_postgres import PostgresEngine
from loguru import logger

WAIT_SECONDS = 5.0


def add(index, n: int, title: str = ""):
    return index.add(
        name=f"Image{n:011d}.png",
        type="image/png",
        size=10,
        width=1,
        height=1,
        sha256=f"{n:064x}",
        original_name="",
        delete_token_hash=None,
        title=title,
    )


def titles(index) -> list[str]:
    return [record.title for record in index.page(10)[0]]


def heard(listener, write):
    """`write()`'s result, once the listener has heard of it: its own notification would
    otherwise drop the page a test reads next, a moment later."""
    before = listener.heard
    result = write()
    wait_for(lambda: listener.heard > before, "the listener hears of the write")
    return result


def change_behind_the_caches_back(url: str, assignment: str) -> None:
    """UPDATE every image with `assignment`, firing no trigger; it moves the revision on
    itself (that is a trigger too), or the row cache would still hold the rows."""
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("SET session_replication_role = replica")
        db.execute(f"UPDATE images SET {assignment}, revision = revision + 1")


def change_as_another_node(url: str, sql: str, *parameters: object) -> None:
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(sql, parameters)


def wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {WAIT_SECONDS} s: {what}")
        time.sleep(0.01)


def epoch() -> int:
    return listing_cache.stamp()[0]


@pytest.fixture
def index_engine(postgres_url):
    """conftest.py's, on PostgreSQL only (its `index` fixture opens this one)."""
    engine = PostgresEngine(postgres_url)
    engine.migrate()
    return engine


@pytest.fixture
def listener(index_engine):
    """The supervisor's change listener on the test's database, connected."""
    listening = listing_cache.ChangeListener(index_engine.url)
    listening.start()
    try:
        wait_for(lambda: epoch() != 0, "the listener connects")
        yield listening
    finally:
        listening.stop()


@pytest.fixture
def listener_deaf_to_notifications():
    """An epoch set as a connected listener sets it, but no listener: only this process's
    own tokens can change what is served."""
    listing_cache._set_epoch(12345)
    yield
    listing_cache._set_epoch(0)


def test_a_page_asked_again_with_nothing_changed_is_answered_from_memory(index_engine, index, listener):
    heard(listener, lambda: add(index, 1, title="before"))
    assert titles(index) == ["before"]
    change_behind_the_caches_back(index_engine.url, "title = 'behind'")
    assert titles(index) == ["before"]
    assert titles(index) == ["before"]


def test_a_page_is_kept_for_its_own_limit_cursor_and_filter(index_engine, index, listener):
    for n in (1, 2, 3):
        heard(listener, lambda n=n: add(index, n, title="before"))
    _, cursor = index.page(2)
    change_behind_the_caches_back(index_engine.url, "title = 'behind'")
    assert [record.title for record in index.page(2)[0]] == ["before", "before"]
    assert [record.title for record in index.page(3)[0]] == ["behind"] * 3
    assert [record.title for record in index.page(2, cursor)[0]] == ["behind"]
    assert [record.title for record in index.page(2, where=ListingFilter(type="image/png"))[0]] == ["behind"] * 2


def test_a_write_by_another_process_of_the_node_shows_in_the_next_page_at_once(
    index_engine, index, listener_deaf_to_notifications
):
    add(index, 1, title="before")
    assert titles(index) == ["before"]
    change_behind_the_caches_back(index_engine.url, "description = 'behind'")
    assert [record.description for record in index.page(10)[0]] == [""]  # from memory
    other_worker = index_engine.open()
    try:
        other_worker.update_labels("Image00000000001.png", title="after")
        assert [(record.title, record.description) for record in index.page(10)[0]] == [("after", "behind")]
        add(other_worker, 2, title="new")
        assert titles(index) == ["new", "after"]
        other_worker.delete("Image00000000002.png")
        assert titles(index) == ["after"]
    finally:
        other_worker.close()


def test_another_nodes_change_shows_in_a_page_once_its_notification_arrives(index_engine, index, listener):
    heard(listener, lambda: add(index, 1, title="before"))
    assert titles(index) == ["before"]
    change_behind_the_caches_back(index_engine.url, "description = 'behind'")
    assert [record.description for record in index.page(10)[0]] == [""]  # from memory
    change_as_another_node(index_engine.url, "UPDATE images SET title = 'other node'")
    wait_for(lambda: titles(index) == ["other node"], "the other node's change is listed")
    assert [record.description for record in index.page(10)[0]] == ["behind"]


def test_another_nodes_new_tag_shows_in_the_tag_filter_once_its_notification_arrives(index_engine, index, listener):
    heard(listener, lambda: add(index, 1))
    cats, dogs = ListingFilter(tags=("cat",)), ListingFilter(tags=("dog",))
    assert index.page(10, None, cats)[0] == []
    with psycopg.connect(index_engine.url, autocommit=True) as db:
        db.execute("SET session_replication_role = replica")
        db.execute("INSERT INTO image_tags (tag, image_id) SELECT 'cat', id FROM images")
    assert index.page(10, None, cats)[0] == []  # from memory
    change_as_another_node(index_engine.url, "INSERT INTO image_tags (tag, image_id) SELECT 'dog', id FROM images")
    wait_for(lambda: len(index.page(10, None, cats)[0]) == 1, "the page is read again")
    assert len(index.page(10, None, dogs)[0]) == 1


def test_once_the_listener_stops_every_page_is_read_from_the_database(index_engine, index, listener):
    heard(listener, lambda: add(index, 1, title="before"))
    assert titles(index) == ["before"]
    change_behind_the_caches_back(index_engine.url, "title = 'behind'")
    assert titles(index) == ["before"]  # from memory
    listener.stop()
    assert epoch() == 0
    assert titles(index) == ["behind"]
    change_behind_the_caches_back(index_engine.url, "title = 'again'")
    assert titles(index) == ["again"]


def test_a_listener_cut_off_serves_nothing_from_memory_until_it_listens_again_on_a_new_epoch(
    index_engine, index, monkeypatch
):
    monkeypatch.setattr(listing_cache, "RETRY_FIRST", 3.0)  # time to look while it is cut off
    listening = listing_cache.ChangeListener(index_engine.url)
    listening.start()
    try:
        wait_for(lambda: epoch() != 0, "the listener connects")
        first_epoch = epoch()
        heard(listening, lambda: add(index, 1, title="before"))
        assert titles(index) == ["before"]
        change_behind_the_caches_back(index_engine.url, "title = 'during'")
        assert titles(index) == ["before"]  # from memory while it listens
        with psycopg.connect(index_engine.url, autocommit=True) as admin:
            killed = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND query = %s",
                (f"LISTEN {listing_cache.CHANNEL}",),
            ).fetchall()
        assert killed == [(True,)]
        wait_for(lambda: epoch() == 0, "the listener notices it is cut off")
        assert titles(index) == ["during"]
        change_behind_the_caches_back(index_engine.url, "title = 'missed'")
        assert titles(index) == ["missed"]
        # A change no notification told of, kept in no page: what was kept under the
        # first epoch must not come back under the next.
        wait_for(lambda: epoch() != 0, "the listener connects again")
        assert epoch() != first_epoch
        assert titles(index) == ["missed"]
    finally:
        listening.stop()
    assert epoch() == 0


def test_a_database_at_0007_is_migrated_to_notify_every_change_to_the_listed_rows(postgres_url, monkeypatch):
    earlier = [script for script in index_postgres.migration_scripts() if script[0] <= 7]
    monkeypatch.setattr(index_postgres, "migration_scripts", lambda: earlier)
    assert PostgresEngine(postgres_url).migrate() == 7
    monkeypatch.undo()
    assert PostgresEngine(postgres_url).migrate() == index_postgres.newest_version() >= 8
    with psycopg.connect(postgres_url, autocommit=True) as listening:
        listening.execute(f"LISTEN {listing_cache.CHANNEL}")
        index = PostgresEngine(postgres_url).open()
        try:
            add(index, 1)
            index.update_labels("Image00000000001.png", tags=["cat"])
            index.delete("Image00000000001.png")
        finally:
            index.close()
        heard = list(listening.notifies(timeout=WAIT_SECONDS, stop_after=3))
    assert [notify.channel for notify in heard] == [listing_cache.CHANNEL] * 3


def test_pages_kept_hold_at_most_their_count_of_records_the_least_recently_used_going_first():
    pages = listing_cache.PageCache(rows=5)
    now = (1, 1)
    records = tuple(range(2))  # the cache counts records, whatever they are
    for key in "abc":
        pages.put(key, now, (records, None))  # 6 records: "a" goes
    assert pages.get("a", now) is None
    assert pages.get("b", now) == (records, None)  # "b" is now the most recently used
    pages.put("d", now, ((), None))  # an empty page counts as one: 5 in all
    pages.put("e", now, ((), None))  # 6: "c" goes, the least recently used
    assert [key for key in "abcde" if pages.get(key, now) is not None] == ["b", "d", "e"]
    pages.put("b", now, ((0,), None))  # kept again under its key, counted once: 3 in all
    pages.put("f", now, (records, None))
    assert [key for key in "bdef" if pages.get(key, now) is not None] == ["b", "d", "e", "f"]


def test_pages_kept_are_at_most_max_pages_however_few_records_they_hold():
    pages = listing_cache.PageCache(rows=listing_cache.MAX_PAGES * 10)
    now = (1, 1)
    for key in range(listing_cache.MAX_PAGES + 1):  # empty pages, as searches that find nothing
        pages.put(key, now, ((), None))
    assert pages.get(0, now) is None  # the least recently used went
    assert pages.get(listing_cache.MAX_PAGES, now) == ((), None)


def test_a_page_is_neither_kept_nor_served_under_epoch_0_or_another_stamp():
    pages = listing_cache.PageCache(rows=5)
    pages.put("a", (0, 1), ((), None))
    assert pages.get("a", (0, 1)) is None
    pages.put("a", (1, 1), ((), None))
    assert pages.get("a", (0, 1)) is None
    assert pages.get("a", (1, 2)) is None
    assert pages.get("a", (2, 1)) is None
    assert pages.get("a", (1, 1)) == ((), None)


def test_a_listener_that_cannot_connect_keeps_trying_logs_the_outage_once_and_keeps_epoch_0(monkeypatch):
    attempts = []

    def refused(*args, **kwargs):
        attempts.append(time.monotonic())
        raise psycopg.OperationalError("connection refused")

    monkeypatch.setattr(listing_cache.psycopg, "connect", refused)
    monkeypatch.setattr(listing_cache, "RETRY_FIRST", 0.01)
    monkeypatch.setattr(listing_cache, "RETRY_MOST", 0.04)
    lines: list[str] = []
    sink = logger.add(lines.append, format="{message}", level="INFO")
    listening = listing_cache.ChangeListener("postgresql://nobody@127.0.0.1:1/none")
    listening.start()
    try:
        wait_for(lambda: len(attempts) >= 5, "five attempts")
        assert epoch() == 0
    finally:
        listening.stop()
        logger.remove(sink)
    assert len(lines) == 1 and "cannot listen for the index's changes (connection refused)" in lines[0]
    gaps = [later - earlier for earlier, later in itertools.pairwise(attempts)]
    assert min(gaps[2:]) >= 0.04 * 0.9  # backed off: RETRY_MOST apart from the third wait on
