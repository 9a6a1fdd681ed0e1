"""A listing reads the ids and revisions of its page and takes rows it has read before
from memory (index.RowCache): every change to a row must show in the next listing."""

from __future__ import annotations

import sqlite3

import pytest
from imagehost import index_sqlite
from imagehost.index import ImageRecord
from imagehost.index_sqlite import RowCache


@pytest.fixture
def opened(tmp_path):
    path = tmp_path / "index.sqlite3"
    index_sqlite.migrate(path)
    db = index_sqlite.SqliteIndex(path)
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
    yield db
    db.close()


def listed(db: index_sqlite.SqliteIndex) -> dict[str, ImageRecord]:
    records, _ = db.page(10)
    return {record.name: record for record in records}


def test_a_row_changed_after_it_was_listed_is_listed_as_it_is_now(opened):
    listed(opened)
    opened.update_labels("Row0000000000001.png", title="new title", tags=["cat"])
    opened.set_preview("Row0000000000002.png", "failed")
    rows = listed(opened)
    assert (rows["Row0000000000001.png"].title, rows["Row0000000000001.png"].tags) == ("new title", "cat")
    assert rows["Row0000000000002.png"].preview == "failed"
    assert rows["Row0000000000000.png"].preview == "pending"


def test_a_row_deleted_after_it_was_listed_is_no_longer_listed(opened):
    listed(opened)
    opened.delete("Row0000000000001.png")
    assert sorted(listed(opened)) == ["Row0000000000000.png", "Row0000000000002.png"]


def test_a_change_made_by_another_connection_is_listed_too(opened):
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
