"""Index rows for tests that need rows, not images: one place that knows Index.add's fields."""

from __future__ import annotations

from imagehost import index


def add_row(
    db: index.Index,
    name: str = "AbCdEfGhIjKlMnOp.png",
    *,
    size: int = 1,
    original_name: str = "",
    delete_token_hash: str | None = None,
) -> index.ImageRecord:
    """A 1x1 PNG's row under `name`, committed."""
    return db.add(
        name=name,
        type="image/png",
        size=size,
        width=1,
        height=1,
        sha256="0" * 64,
        original_name=original_name,
        delete_token_hash=delete_token_hash,
    )
