"""A listing reads the ids and revisions of its page and takes rows it has read before
from memory (index.RowCache): every change to a row must show in the next listing."""

from __future__ import annotations

import sqlite3

import pytest
from imagehost import index_sqlite
from imagehost.index import ImageRecord, RowCache


def add_rows(db) -> None:
    for number in range(3):
        db.add(
            name=f"Row{number:013d}.png",
            type="image/png",
            size=1,
            width=1,
            height=1,
            sha256="x" * 64,
            original_name="",
            delete_token_hash=None,
        )


@pytest.fixture
def opened(tmp_path):
    """An SQLite index with three rows."""
    path = tmp_path / "index.sqlite3"
    index_sqlite.migrate(path)
    db = index_sqlite.SqliteIndex(path)
    add_rows(db)
    yield db
    db.close()


@pytest.fixture
def rows_of_each_engine(index):
    """The `index` of either engine (conftest.py), with three rows."""
    add_rows(index)
    return index


def listed(db) -> dict[str, ImageRecord]:
    records, _ = db.page(10)
    return {record.name: record for record in records}


def test_a_row_changed_after_it_was_listed_is_listed_as_it_is_now(rows_of_each_engine):
    db = rows_of_each_engine
    listed(db)
    db.update_labels("Row0000000000001.png", title="new title", tags=["cat"])
    db.set_preview("Row0000000000002.png", "failed")
    rows = listed(db)
    assert (rows["Row0000000000001.png"].title, rows["Row0000000000001.png"].tags) == ("new title", "cat")
    assert rows["Row0000000000002.png"].preview == "failed"
    assert rows["Row0000000000000.png"].preview == "pending"


def test_a_row_deleted_after_it_was_listed_is_no_longer_listed(rows_of_each_engine):
    db = rows_of_each_engine
    listed(db)
    db.delete("Row0000000000001.png")
    assert sorted(listed(db)) == ["Row0000000000000.png", "Row0000000000002.png"]


def test_a_change_made_by_another_process_is_listed_too(rows_of_each_engine, index_engine):
    db = rows_of_each_engine
    listed(db)
    other = index_engine.open()  # another worker's (or node's) connections
    try:
        other.update_labels("Row0000000000000.png", title="from elsewhere")
        other.delete("Row0000000000002.png")
    finally:
        other.close()
    rows = listed(db)
    assert rows["Row0000000000000.png"].title == "from elsewhere"
    assert "Row0000000000002.png" not in rows


def test_a_page_mostly_read_before_reads_only_the_rows_it_lacks_and_keeps_the_order(rows_of_each_engine):
    db = rows_of_each_engine
    first = listed(db)
    db.add(
        name="Row0000000000009.png",
        type="image/png",
        size=1,
        width=1,
        height=1,
        sha256="x" * 64,
        original_name="",
        delete_token_hash=None,
    )
    records, _ = db.page(10)
    assert [record.name for record in records] == ["Row0000000000009.png", *sorted(first, reverse=True)]
    assert all(record is first[record.name] for record in records[1:])  # the same objects, from memory


def test_a_change_made_by_another_sqlite_connection_is_listed_too(opened):
    listed(opened)
    with sqlite3.connect(opened.path) as other:
        other.execute("UPDATE images SET title = 'from elsewhere' WHERE name = 'Row0000000000000.png'")
    other.close()
    assert listed(opened)["Row0000000000000.png"].title == "from elsewhere"


def test_every_change_to_a_row_gives_it_a_new_revision(opened):
    def revision() -> int:
        with sqlite3.connect(opened.path) as other:
            (value,) = other.execute("SELECT revision FROM images WHERE name = 'Row0000000000000.png'").fetchone()
        other.close()
        return value

    assert revision() == 0
    opened.set_preview("Row0000000000000.png", "ready")
    opened.update_labels("Row0000000000000.png", description="d")
    assert revision() == 2


def test_the_row_cache_keeps_the_most_recently_used_rows():
    cache = RowCache(2)
    a, b, c = (ImageRecord(n, f"n{n}", "t", 1, 1, 1, "s", "", "c", None, "ready") for n in range(3))
    cache.put((0, 0), a)
    cache.put((1, 0), b)
    assert cache.get_all([(0, 0)]) == [a]  # used: now the newest
    cache.put((2, 0), c)
    assert cache.get_all([(0, 0), (1, 0), (2, 0), (0, 1)]) == [a, None, c, None]
