"""The start-up reconcile: make the index and IMAGES_DIR agree, once, before workers start.

- a row whose file is gone is removed, when only a few are (a crash between a delete's
  unlink and its row leaves one); more than that stops start-up instead;
- an image file without a row is indexed, without a delete token (only the admin can
  delete it); a file that is not a valid image is left alone and logged;
- temp files no live process holds are removed;
- previews follow their images: one without an image row is removed, and a row whose
  preview is 'ready' but has no file (a restore without previews, a crash before the
  preview's folder was fsynced) is made 'pending' again, so the preview is made again.

What looks like the wrong folder is never repaired: rows next to an IMAGES_DIR that
holds none of their files (a volume not mounted, a typo in the path), or more than a few
images next to an index that has none of them (a DATA_DIR typo, a lost index). Then ReconcileRefused
says what is wrong, nothing is changed, and the operator accepts the loss explicitly
with `python -m imagehost reconcile --forget-missing` and/or `--index-files`.

Many nodes may share one index (PostgreSQL) and one bucket: one at a time repairs them
(Index.leading("reconcile")); the others only clean up their own temp files.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass

from loguru import logger

from . import previews, storage
from .config import Config
from .index import Index, iso_utc, open_index
from .object_store import ObjectStore, open_store
from .validation import NotAnImage, read_image_info

# Rows without a file dropped without asking: at most this many, and at most 1 % of the
# rows (but always one, so a small index survives one interrupted delete).
MAX_MISSING_DROPPED = 10
EXAMPLES_SHOWN = 10
# With a shared index (PostgreSQL), another node may be between putting an image in the
# store and writing its row: an image without a row is only an orphan once it is older
# than this. An upload takes seconds; a node's clock off by minutes is a broken setup.
ORPHAN_GRACE_SECONDS = 600.0


class ReconcileRefused(Exception):
    """The index and IMAGES_DIR disagree more than a crash explains; nothing was changed.

    The message names the folders, the counts, and the command that accepts the loss."""


@dataclass(frozen=True)
class ReconcileReport:
    rows_removed: int
    files_indexed: int
    files_skipped: int
    temp_files_removed: int
    previews_removed: int
    previews_to_make_again: int
    files_too_new: int = 0  # images without a row, left for now: maybe another node's upload


def reconcile(
    config: Config, *, forget_missing: bool = False, index_files: bool = False, store: ObjectStore | None = None
) -> ReconcileReport:
    """Repair the index against the store (default: the config's; IMAGES_DIR, or the
    bucket listed under its prefix); raises ReconcileRefused (changing nothing) when that
    would drop many rows or index an unknown folder, unless the matching flag says the
    operator accepts it. A store that cannot be listed raises its error (Unavailable).

    Of many nodes sharing one index, one at a time repairs it (Index.leading): a node
    that finds another at it leaves the index and store alone (its report counts
    nothing there) and only removes its own stale temp files."""
    store = store if store is not None else open_store(config)
    previews.remove_temp_files(config.images_dir)  # this node's; no maker runs yet
    index = open_index(config)
    try:
        with index.leading("reconcile") as leader:
            if leader:
                repaired = _repair(index, config, store, forget_missing=forget_missing, index_files=index_files)
            else:
                logger.info("reconcile: another node is reconciling the shared index; this one leaves it be")
                repaired = (0, 0, 0, 0, 0, 0)
    finally:
        index.close()
    rows_removed, indexed, skipped, previews_removed, previews_again, too_new = repaired
    temp_removed = storage.remove_stale_temp_files(config.tmp_dir)
    report = ReconcileReport(rows_removed, indexed, skipped, temp_removed, previews_removed, previews_again, too_new)
    logger.info(
        "reconcile: {} rows without a file removed, {} files indexed, {} files skipped, {} temp files removed, "
        "{} previews without an image removed, {} missing previews to make again, "
        "{} files without a row left as maybe still being uploaded",
        *vars(report).values(),
    )
    return report


def _repair(
    index: Index, config: Config, store: ObjectStore, *, forget_missing: bool, index_files: bool
) -> tuple[int, int, int, int, int, int]:
    """The index and the store made to agree (see reconcile); returns (rows removed,
    files indexed, files skipped, previews removed, previews to make again, files too
    new to call orphans).

    Safe while other nodes upload, publish and delete: an upload puts its image, then
    writes its row, and a delete removes the image, then the row. So the rows are read
    before the store is listed (a row read had its image put before the listing began,
    unless it is being deleted), and an image without a row younger than the grace is
    left alone (its row may be on its way); with a shared index the rows are read again
    after the listing, so an image another node deleted meanwhile is no loss."""
    in_index = index.names()
    on_disk = store.names()
    if config.database_url:
        # Rows another node deleted while the store was listed (the image goes first)
        # are not losses: only rows still there once the listing is done are.
        in_index &= index.names()
    too_new = _too_new(store, on_disk - in_index, _orphan_grace(config))
    on_disk -= too_new
    refusal = _refusal(config, in_index, on_disk, forget_missing=forget_missing, index_files=index_files)
    if refusal:
        raise ReconcileRefused(refusal)
    gone = in_index - on_disk
    if gone:
        _log_dropped(gone)
        index.delete_many(gone)
    indexed, skipped = _index_orphans(index, config, store, on_disk - in_index)
    previews_removed, previews_again = _reconcile_previews(index, store)
    if too_new:
        logger.info("reconcile: {} new images without a row left for now: {}", len(too_new), _examples(too_new))
    return len(gone), indexed, skipped, previews_removed, previews_again, len(too_new)


def _orphan_grace(config: Config) -> float:
    """How old an image without a row must be to be an orphan: no age with SQLite (its
    instance is alone with its folders: instance_lock.py), ORPHAN_GRACE_SECONDS with a
    shared index."""
    return ORPHAN_GRACE_SECONDS if config.database_url else 0.0


def _too_new(store: ObjectStore, names: set[str], grace: float) -> set[str]:
    """Those of `names` written less than `grace` seconds ago (none asked when `grace` is
    0: no request per image then)."""
    if not grace:
        return set()
    since = time.time() - grace
    return {name for name in names if (store.modified(name) or 0.0) > since}


def missing_allowed(rows: int) -> int:
    """How many rows without a file are dropped without the operator's word."""
    return min(MAX_MISSING_DROPPED, max(1, rows // 100))


def _refusal(
    config: Config, in_index: set[str], on_disk: set[str], *, forget_missing: bool, index_files: bool
) -> str | None:
    """Why reconciling these two sets needs the operator's word, or None."""
    images, index_path = _where_images_are(config), f"the index ({config.index_location})"
    shared = in_index & on_disk
    missing = in_index - on_disk
    # A crash explains a few strays (one interrupted delete, a few uploads cut off
    # between file and row, even in an empty index); a whole folder's worth it does not.
    too_many_missing = len(missing) > missing_allowed(len(in_index))
    too_many_unknown = len(on_disk) > MAX_MISSING_DROPPED
    if in_index and not shared and too_many_missing and not forget_missing:
        if not on_disk:
            return (
                f"{images} holds no images, but {index_path} lists {len(in_index)}: is the volume mounted, "
                f"and is IMAGES_DIR right? Nothing was changed. If the images are really gone, "
                f"{_command('--forget-missing')} drops their rows."
            )
        return (
            f"{images} holds {len(on_disk)} images, none of the {len(in_index)} that {index_path} lists: "
            f"is IMAGES_DIR or DATA_DIR another instance's folder? Nothing was changed. If the index's images "
            f"are really gone and these are to be kept, {_command('--forget-missing --index-files')} drops "
            f"the rows and indexes the files."
        )
    if on_disk and not shared and too_many_unknown and not index_files:
        return (
            f"{index_path} has no row for any of the {len(on_disk)} images in {images}: is DATA_DIR right, "
            f"or was the index lost? Indexed now, they would have no delete tokens and no original names "
            f"(only the admin could delete them). Nothing was changed. To index them anyway, "
            f"{_command('--index-files')}."
        )
    if too_many_missing and not forget_missing:
        return (
            f"{len(missing)} of the {len(in_index)} images that {index_path} lists are missing from {images} "
            f"(e.g. {_examples(missing)}); at most {missing_allowed(len(in_index))} are dropped without asking. "
            f"Is IMAGES_DIR complete (a restore half done)? Nothing was changed. If those files are really "
            f"gone, {_command('--forget-missing')} drops their rows."
        )
    return None


def _where_images_are(config: Config) -> str:
    if config.storage == "s3":
        return f"the bucket {config.s3_bucket} (S3_KEY_PREFIX {config.s3_key_prefix!r})"
    return f"IMAGES_DIR ({config.images_dir})"


def _command(flags: str) -> str:
    return (
        f"run `python -m imagehost reconcile {flags}` with the service stopped (Docker Compose: "
        f"`docker compose run --rm app python -m imagehost reconcile {flags}`)"
    )


def _examples(names: set[str]) -> str:
    shown = sorted(names)[:EXAMPLES_SHOWN]
    return ", ".join(shown) + (", ..." if len(names) > len(shown) else "")


def _log_dropped(gone: set[str]) -> None:
    logger.warning("reconcile: {} rows whose file is gone are dropped: {}", len(gone), _examples(gone))


def _reconcile_previews(index: Index, store: ObjectStore) -> tuple[int, int]:
    """Remove previews whose image has no row; make 'ready' rows without a preview file
    'pending'. Returns both counts.

    The previews are listed before the rows are read: a preview is made for a row that
    exists, so one listed whose row is not read has really lost its image (another
    node's new preview is not taken for an orphan). The cost of the other order's race,
    a new preview missed by the listing, is making it again."""
    on_disk = store.preview_names()
    states = index.preview_states()
    orphans = on_disk - states.keys()
    for name in orphans:
        store.delete_preview(name)
    lost = {name for name, state in states.items() if state == previews.READY and name not in on_disk}
    if lost:
        index.set_previews(lost, previews.PENDING)
    return len(orphans), len(lost)


def _index_orphans(index: Index, config: Config, store: ObjectStore, names: set[str]) -> tuple[int, int]:
    """Index the images in `names` (in the store, without a row), oldest first, each
    created when it was written; one that is not a valid image of its extension, or is
    gone meanwhile, is left and logged."""
    indexed = skipped = 0
    written = {name: store.modified(name) for name in names}
    for name in sorted(names, key=lambda name: written[name] or 0.0):
        try:
            with store.local_copy(name, config.tmp_dir, config.max_upload_bytes) as path:
                with open(path, "rb") as f:
                    info = read_image_info(f)
                    f.seek(0)
                    digest = hashlib.file_digest(f, "sha256").hexdigest()
                size = os.stat(path).st_size
        except (NotAnImage, OSError, ValueError) as exc:
            logger.warning("reconcile: {} is not an image we can index ({}); left as it is", name, exc)
            skipped += 1
            continue
        if info.type.extension != os.path.splitext(name)[1]:
            logger.warning("reconcile: {} holds a {}, not what its extension says; left as it is", name, info.type.mime)
            skipped += 1
            continue
        index.add(
            name=name,
            type=info.type.mime,
            size=size,
            width=info.width,
            height=info.height,
            sha256=digest,
            original_name="",
            delete_token_hash=None,
            created_at=iso_utc(written[name] or time.time()),
        )
        indexed += 1
    return indexed, skipped
