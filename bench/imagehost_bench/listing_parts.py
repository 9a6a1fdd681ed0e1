"""bench/listing-parts: what the pieces of one listing cost, in one process, one thread.

Fills an index in a temporary folder as bench/run does (fill.py), then times each piece
of `GET /api/images?limit=50` as the worker runs it, the median of REPEATS runs of
ROUNDS calls each: the query reading whole rows (what a page costs on its first
listing) and reading only ids and revisions (what it costs once its rows are in the
worker's RowCache), describing and encoding 50 images, Index.page cold and warm, and
searches for a whole word and for a prefix, with the prefix indexes of migration 0005
and without them (the FTS5 table made again as migration 0004 had it). No HTTP, no
threads: the figures are the work itself, not the wait under load (bench/run's S4,
S7, S8 measure that). A Markdown table on stdout; progress on stderr.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import orjson
from imagehost import handlers, index, index_sqlite, search
from imagehost.index import ListingFilter

from . import fill
from .scenarios import say

PAGE = 50
ROUNDS = 200
REPEATS = 5
BASE = "http://127.0.0.1:8080"
OLD_SEARCH_TABLE = (
    "CREATE VIRTUAL TABLE images_search USING fts5 (title, description, tags, original_name,"
    " content = 'images', content_rowid = 'id', tokenize = 'unicode61 remove_diacritics 2')"
)


def microseconds(call: Callable[[], object]) -> float:
    """The median over REPEATS of the mean time of one call, in microseconds."""
    call()
    means = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        for _ in range(ROUNDS):
            call()
        means.append((time.perf_counter() - started) / ROUNDS * 1e6)
    return statistics.median(means)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/listing-parts", description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100_000, help="rows in the index (default 100,000)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="imagehost-listing-parts-") as folder:
        path = Path(folder) / "index.sqlite3"
        index_sqlite.migrate(path)
        say(f"filling the index to {args.images:,} images")
        fill.fill_to(path, args.images)
        rows = measure(path)
    print(f"## bench/listing-parts, {args.images:,} images, one thread\n")
    print("| piece | µs per call |\n|---|---|")
    for piece, value in rows:
        print(f"| {piece} | {value:,.0f} |")
    return 0


def measure(path: Path) -> list[tuple[str, float]]:
    opened = index_sqlite.SqliteIndex(path)
    db = opened._connection  # the queries alone, without the row cache
    everything = ListingFilter()
    full_rows, _ = index_sqlite._listing_query(everything, None, PAGE + 1)
    keys_only, _ = index_sqlite._listing_query(everything, None, PAGE + 1, "i.id, i.revision")
    top = [2**63 - 1, PAGE + 1]
    records, _ = opened.page(PAGE)
    rows = [
        (
            "query, 15 columns of 51 rows (a page's first listing)",
            microseconds(lambda: db.execute(full_rows, top).fetchall()),
        ),
        ("query, ids and revisions of 51 rows", microseconds(lambda: db.execute(keys_only, top).fetchall())),
        (
            "describe 50 images (describe_image)",
            microseconds(lambda: [handlers.describe_image(r, BASE) for r in records]),
        ),
        (
            "describe and encode 50 images (orjson)",
            microseconds(lambda: orjson.dumps([handlers.describe_image(r, BASE) for r in records])),
        ),
        (
            "50 listed images, kept as JSON (handlers.listed_image)",
            microseconds(lambda: [handlers.listed_image(r, BASE) for r in records]),
        ),
        ("Index.page, rows cached (warm)", microseconds(lambda: opened.page(PAGE))),
        ("Index.page, no rows cached (cold)", microseconds(lambda: cold_page(opened))),
    ]
    say("searches, with the prefix indexes")
    rows += searches(opened, db, "with prefix indexes")
    db.execute("DROP TABLE images_search")
    db.execute(OLD_SEARCH_TABLE)
    db.execute("INSERT INTO images_search (images_search) VALUES ('rebuild')")
    say("searches, without them")
    rows += searches(opened, db, "without prefix indexes")
    opened.close()
    return rows


def cold_page(opened: index_sqlite.SqliteIndex) -> object:
    opened._rows = index.RowCache(index.ROWS_KEPT)  # empty, as a fresh worker's
    return opened.page(PAGE)


def searches(opened: index_sqlite.SqliteIndex, db: object, label: str) -> list[tuple[str, float]]:
    found = []
    for query in (f"{fill.SEARCHED_WORD} ", fill.SEARCHED_WORD, fill.SEARCHED_WORD[:2]):
        where = ListingFilter(search=search.search_terms(query))
        shown = f"q={query.strip()}" + (" (whole word)" if query.endswith(" ") else " (prefix)")
        found.append((f"Index.page, {shown}, {label}", microseconds(lambda w=where: opened.page(PAGE, None, w))))
    return found


if __name__ == "__main__":
    sys.exit(main())
