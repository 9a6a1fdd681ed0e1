"""The start-up reconcile: make the index and IMAGES_DIR agree, once, before workers start.

- a row whose file is gone is removed;
- an image file without a row is indexed, without a delete token (only the admin can
  delete it); a file that is not a valid image is left alone and logged;
- temp files left by requests that died are removed.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from loguru import logger

from . import storage
from .config import Config
from .index import Index, iso_utc
from .validation import NotAnImage, read_image_info


@dataclass(frozen=True)
class ReconcileReport:
    rows_removed: int
    files_indexed: int
    files_skipped: int
    temp_files_removed: int


def reconcile(config: Config) -> ReconcileReport:
    temp_removed = storage.remove_stale_temp_files(config.tmp_dir)
    index = Index(config.index_path)
    try:
        on_disk = storage.image_files(config.images_dir)
        in_index = index.names()
        gone = in_index - on_disk
        if gone:
            index.delete_many(gone)
        indexed, skipped = _index_orphans(index, config, on_disk - in_index)
    finally:
        index.close()
    report = ReconcileReport(len(gone), indexed, skipped, temp_removed)
    logger.info(
        "reconcile: {} rows without a file removed, {} files indexed, {} files skipped, {} temp files removed",
        *vars(report).values(),
    )
    return report


def _index_orphans(index: Index, config: Config, names: set[str]) -> tuple[int, int]:
    indexed = skipped = 0
    paths = sorted((config.images_dir / name for name in names), key=lambda p: p.stat().st_mtime)
    for path in paths:
        try:
            with open(path, "rb") as f:
                info = read_image_info(f)
                f.seek(0)
                digest = hashlib.file_digest(f, "sha256").hexdigest()
        except (NotAnImage, OSError) as exc:
            logger.warning("reconcile: {} is not an image we can index ({}); left as it is", path.name, exc)
            skipped += 1
            continue
        if info.type.extension != path.suffix:
            logger.warning("reconcile: {} holds a {}, not what its extension says; left as it is", path.name, info.type.mime)
            skipped += 1
            continue
        stat = os.stat(path)
        index.add(
            name=path.name,
            type=info.type.mime,
            size=stat.st_size,
            width=info.width,
            height=info.height,
            sha256=digest,
            original_name="",
            delete_token_hash=None,
            created_at=iso_utc(stat.st_mtime),
        )
        indexed += 1
    return indexed, skipped
