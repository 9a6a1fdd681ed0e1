"""A fast way to a big index: rows written straight into SQLite or PostgreSQL with the
backend's own schema (the engine's `migrate`), and, for SQLite when asked, the small
image files they describe.

Uploading 100,000 images through the API would take minutes; this takes seconds. The
rows are what an upload would write, except that they have no delete token (as images
the start-up reconcile found). Without their files they are fine for listing, but the
next start-up reconcile would drop them: write the files when the backend will start
again on this index (the start-up measurement does).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

import psycopg
from imagehost import index_postgres
from imagehost.index import utc_now
from imagehost.index_sqlite import migrate
from imagehost.validation import JPEG
from support import images

# 16 characters then the number: a valid image name (docs/api.md), apart from uploads'.
NAME_FORMAT = "bench{:011d}" + JPEG.extension
BATCH = 10_000
# Each row gets a title of two words and TAGS_PER_IMAGE tags, picked by its number from
# these lists, so that a word or a tag matches a known share of the rows: the filtered
# listing and search scenarios (S7, S8) ask for SEARCHED_TAG and SEARCHED_WORD, each on
# about one row in ten, whatever the size.
WORDS = ("beach", "sunset", "mountain", "city", "forest", "river", "portrait", "street", "garden", "winter")
TAGS = tuple(f"tag-{n:02d}" for n in range(30))
TAGS_PER_IMAGE = 3
SEARCHED_WORD = "sunset"
SEARCHED_TAG = "tag-07"


def fill_index(env: dict[str, str], total: int) -> int:
    """Fill the index of the stack whose settings are `env` (its DATABASE_URL, or the
    SQLite file in its DATA_DIR) to `total` images; returns how many were added."""
    if env.get("DATABASE_URL"):
        return fill_postgres_to(env["DATABASE_URL"], total)
    return fill_to(Path(env["DATA_DIR"]) / "index.sqlite3", total)


def fill_to(index_path: Path, total: int, images_dir: Path | None = None) -> int:
    """Add rows until the index at `index_path` holds `total` images; returns how many
    were added. With `images_dir`, also write each new row's file there.

    Safe beside running workers (SQLite WAL, one transaction per batch of rows).
    """
    migrate(index_path)
    data = images.jpeg()
    digest = hashlib.sha256(data).hexdigest()
    created_at = utc_now()
    db = sqlite3.connect(index_path, timeout=30, isolation_level=None)
    try:
        have = db.execute("SELECT count(*) FROM images").fetchone()[0]
        first = db.execute("SELECT coalesce(max(id), 0) FROM images").fetchone()[0] + 1
        wanted = max(0, total - have)
        for start in range(first, first + wanted, BATCH):
            names = [NAME_FORMAT.format(n) for n in range(start, min(start + BATCH, first + wanted))]
            if images_dir is not None:
                for name in names:
                    _write(images_dir / name, data)
            numbers = range(start, start + len(names))
            db.execute("BEGIN IMMEDIATE")
            db.executemany(
                "INSERT INTO images (id, name, type, size, width, height, sha256, original_name, created_at,"
                " delete_token_hash, title, tags, preview) VALUES (?, ?, ?, ?, 4, 3, ?, '', ?, NULL, ?, ?, 'ready')",
                (
                    (n, name, JPEG.mime, len(data), digest, created_at, _title(n), " ".join(_tags(n)))
                    for n, name in zip(numbers, names, strict=True)
                ),
            )
            db.executemany(
                "INSERT INTO image_tags (tag, image_id) VALUES (?, ?)", ((tag, n) for n in numbers for tag in _tags(n))
            )
            db.execute("COMMIT")
        return wanted
    finally:
        db.close()


def fill_postgres_to(url: str, total: int) -> int:
    """Add rows until the PostgreSQL index at `url` holds `total` images, as fill_to does
    for SQLite (the same names, titles and tags); returns how many were added.

    One COPY, one INSERT of the tags and an ANALYZE, in one transaction: safe beside running workers.
    The ids are the table's own identity; each row's tags are read back from its `tags`.
    """
    index_postgres.migrate(url)
    data = images.jpeg()
    digest = hashlib.sha256(data).hexdigest()
    created_at = utc_now()
    columns = "name, type, size, width, height, sha256, original_name, created_at, preview, title, tags, search_text"
    with psycopg.connect(url, connect_timeout=10) as db:
        have, last = db.execute("SELECT count(*), coalesce(max(id), 0) FROM images").fetchone()
        wanted = max(0, total - have)
        with db.cursor().copy(f"COPY images ({columns}) FROM STDIN") as copy:
            for n in range(last + 1, last + 1 + wanted):
                title, tags = _title(n), " ".join(_tags(n))
                row = (NAME_FORMAT.format(n), JPEG.mime, len(data), 4, 3, digest, "", created_at, "ready", title, tags)
                copy.write_row((*row, index_postgres.searchable_text(title, "", tags, "")))
        db.execute(
            "INSERT INTO image_tags (tag, image_id)"
            " SELECT unnest(string_to_array(tags, ' ')), id FROM images WHERE id > %s AND tags <> ''",
            (last,),
        )
        # As autovacuum would a moment later: the listing's plans need the new rows' statistics.
        db.execute("ANALYZE images, image_tags")
    return wanted


def _title(number: int) -> str:
    return f"{WORDS[number % len(WORDS)]} {WORDS[(number // len(WORDS)) % len(WORDS)]} {number}"


def _tags(number: int) -> list[str]:
    # 3 distinct tags of 30, a tenth of the rows each: number % 10 picks one of 10 triples.
    triple = number % 10
    return [TAGS[triple], TAGS[10 + triple], TAGS[20 + (number // 10) % 10]]


def _write(path: Path, data: bytes) -> None:
    # Mode 0644, as the backend publishes images (nginx reads them).
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
