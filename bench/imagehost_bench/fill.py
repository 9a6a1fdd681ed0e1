"""A fast way to a big index: rows written straight into SQLite with the backend's own
schema (imagehost.index.migrate), and, when asked, the small image files they describe.

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

from imagehost.index import migrate, utc_now
from imagehost.validation import JPEG
from support import images

# 16 characters then the number: a valid image name (docs/api.md), apart from uploads'.
NAME_FORMAT = "bench{:011d}" + JPEG.extension
BATCH = 10_000


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
            db.execute("BEGIN IMMEDIATE")
            db.executemany(
                "INSERT INTO images (name, type, size, width, height, sha256, original_name, created_at,"
                " delete_token_hash) VALUES (?, ?, ?, 4, 3, ?, '', ?, NULL)",
                ((name, JPEG.mime, len(data), digest, created_at) for name in names),
            )
            db.execute("COMMIT")
        return wanted
    finally:
        db.close()


def _write(path: Path, data: bytes) -> None:
    # Mode 0644, as the backend publishes images (nginx reads them).
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
