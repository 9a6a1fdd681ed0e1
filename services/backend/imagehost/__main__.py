"""`python -m imagehost`: read the settings, then run the supervisor and its workers.

`python -m imagehost reconcile [--forget-missing] [--index-files]`: the start-up
reconcile alone, with the operator's word for what start-up refuses to do by itself
(reconcile.py says when). Run it with the service stopped.

`python -m imagehost backup [--output DIR]`: the images and a snapshot of the index in
one archive (archives.py), while the service runs. `python -m imagehost restore ARCHIVE`:
put them back, with the service stopped.
"""

import argparse
import sys
from pathlib import Path

from loguru import logger

from . import archives, index, storage
from .config import Config, ConfigError, load_config
from .errors import InsufficientStorage, Unavailable
from .instance_lock import InstanceLocked, folders_held
from .reconcile import ReconcileRefused, reconcile
from .supervisor import main


def run(argv: list[str] | None = None) -> int:
    args = _parse_arguments(sys.argv[1:] if argv is None else argv)
    try:
        config = load_config()
    except ConfigError as exc:
        print(f"imagehost: configuration error: {exc}", file=sys.stderr)
        return 2
    if args.command == "reconcile":
        return run_reconcile(config, forget_missing=args.forget_missing, index_files=args.index_files)
    if args.command == "backup":
        return run_backup(config, Path(args.output))
    if args.command == "restore":
        return run_restore(config, Path(args.archive))
    return main(config)


def _parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m imagehost", description="Serve imagehost (no command).")
    commands = parser.add_subparsers(dest="command")
    command = commands.add_parser(
        "reconcile",
        help="make the index agree with IMAGES_DIR now, accepting the losses named by the options",
        description="Make the index agree with IMAGES_DIR, as start-up does, and accept what start-up refuses "
        "when the options say so. Stop the service first.",
    )
    command.add_argument(
        "--forget-missing", action="store_true", help="drop the rows of every image whose file is gone, however many"
    )
    command.add_argument(
        "--index-files",
        action="store_true",
        help="index image files the index does not know, even when it knows none of "
        "IMAGES_DIR's files (they get no delete token: only the admin can delete them)",
    )
    command = commands.add_parser(
        "backup",
        help="write the images and a snapshot of the index to one .tar.gz (the service may run)",
        description="Write OUTPUT/imagehost-<UTC time>.tar.gz holding a consistent snapshot of the index and "
        "every image. Safe while the service runs; restore it with the restore command.",
    )
    command.add_argument("--output", default="backup", help="the folder for the archive (default: ./backup)")
    command = commands.add_parser(
        "restore",
        help="put an archive's images and index back (stop the service first)",
        description="Put the images and the index of an archive made by the backup command into IMAGES_DIR and "
        "DATA_DIR. An index already there is kept beside it (index.sqlite3.before-restore-<time>). "
        "Stop the service first; start it afterwards.",
    )
    command.add_argument("archive", help="the .tar.gz written by the backup command")
    return parser.parse_args(argv)


def _log_to_stderr() -> None:
    logger.remove()
    logger.add(sys.stderr, format="imagehost: {message}", level="INFO")


# An archive of the index alone would look like a backup without being one.
NO_ARCHIVE_OF_A_BUCKET = (
    "STORAGE=s3: the images are in the bucket {bucket}, which this command does not copy, so it "
    "makes no archive. Back the bucket up with its own means (versioning, replication, rclone sync) "
    "and the index with POST /api/backup (a snapshot in DATA_DIR/backups)."
)


def run_backup(config: Config, output: Path) -> int:
    """Write the archive; 0 (its path on stdout) or 1 (the reason on stderr, also when
    the images are in a bucket)."""
    _log_to_stderr()
    if config.storage == "s3":
        logger.error("no backup made: " + NO_ARCHIVE_OF_A_BUCKET, bucket=config.s3_bucket)
        return 1
    try:
        path, count = archives.write_archive(config.index_path, config.images_dir, output, config.database_url)
    except (archives.ArchiveError, OSError) as exc:
        logger.error("no backup made: {}", exc)
        return 1
    logger.info("{} images and the index in {} ({} bytes)", count, path, path.stat().st_size)
    print(path)
    return 0


def run_restore(config: Config, archive: Path) -> int:
    """Restore under the instance lock; 0 when done, 1 (the reason on stderr) when the
    service runs or the archive cannot be used, or the images are in a bucket."""
    _log_to_stderr()
    if config.storage == "s3":
        logger.error("not restored: " + NO_ARCHIVE_OF_A_BUCKET, bucket=config.s3_bucket)
        return 1
    try:
        storage.make_public_folder(config.images_dir)
        with folders_held(config.data_dir, config.images_dir):
            count = archives.restore_archive(archive, config.index_path, config.images_dir, config.database_url)
    except (archives.ArchiveError, InstanceLocked, OSError) as exc:
        logger.error("not restored: {}", exc)
        return 1
    logger.info("restored the index and {} images from {}; start the service", count, archive)
    return 0


def run_reconcile(config: Config, *, forget_missing: bool, index_files: bool) -> int:
    """Reconcile once; 0 when done, 1 (with the reason on stderr) when refused or when a
    folder, lock file or the index cannot be used."""
    _log_to_stderr()
    for name, folder in (("IMAGES_DIR", config.images_dir), ("DATA_DIR", config.data_dir)):
        if not folder.is_dir():
            logger.error("{} ({}) is not a folder: is the path right (and the volume mounted)?", name, folder)
            return 1
    try:
        with folders_held(config.data_dir, config.images_dir):
            index.engine(config).migrate()
            reconcile(config, forget_missing=forget_missing, index_files=index_files)
    except (ReconcileRefused, InstanceLocked, index.IndexFileError, Unavailable, InsufficientStorage) as exc:
        logger.error("{}", exc)
        return 1
    except OSError as exc:  # a lock file or folder we cannot open or create
        logger.error("cannot reconcile: {}", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(run())
