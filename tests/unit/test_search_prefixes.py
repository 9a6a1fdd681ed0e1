"""Search while typing: the last word of `q` matches as a prefix, of any length, on an
index migrated from before the prefix indexes (0005) as on a new one."""

from __future__ import annotations

import sqlite3

import pytest
from imagehost import index_sqlite, search
from imagehost.index import ListingFilter

WORD = "sunsetsplendour"  # 15 letters: prefixes within and beyond the indexed lengths (1 to 10)


def add_rows(db: sqlite3.Connection) -> None:
    db.executemany(
        "INSERT INTO images (name, type, size, width, height, sha256, original_name, created_at,"
        " delete_token_hash, title) VALUES (?, 'image/png', 1, 1, 1, 'x', '', '2026-01-01T00:00:00.000Z', NULL, ?)",
        [("Old0000000000001.png", f"a {WORD}"), ("Old0000000000002.png", "other words")],
    )


@pytest.fixture(params=["migrated from 0004", "new"])
def opened(request, tmp_path):
    path = tmp_path / "index.sqlite3"
    if request.param == "new":
        index_sqlite.migrate(path)
        with sqlite3.connect(path) as db:
            add_rows(db)
    else:
        with sqlite3.connect(path) as db:
            for script in sorted(index_sqlite.MIGRATIONS_DIR.glob("000[1-4]_*.sql")):
                db.executescript(script.read_text())
            db.execute("PRAGMA user_version = 4")
            add_rows(db)
        assert index_sqlite.migrate(path) == index_sqlite.newest_version() >= 5
    db.close()
    searched = index_sqlite.SqliteIndex(path)
    yield searched
    searched.close()


@pytest.mark.parametrize("length", [1, 2, 6, 10, 11, 15])
def test_the_last_word_typed_finds_the_images_whose_words_begin_with_it(opened, length):
    records, _ = opened.page(10, None, ListingFilter(search=search.search_terms(WORD[:length])))
    assert [r.name for r in records] == ["Old0000000000001.png"]


def test_a_word_followed_by_a_space_matches_only_whole_words(opened):
    records, _ = opened.page(10, None, ListingFilter(search=search.search_terms(WORD[:6] + " ")))
    assert records == []
