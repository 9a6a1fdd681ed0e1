"""`python -m imagehost`: read the settings, then run the supervisor and its workers.

`python -m imagehost reconcile [--forget-missing] [--index-files]`: the start-up
reconcile alone, with the operator's word for what start-up refuses to do by itself
(reconcile.py says when). Run it with the service stopped.
"""

import argparse
import os
import sys

from loguru import logger

from . import index
from .config import Config, ConfigError, load_config
from .instance_lock import InstanceLocked, lock_folders
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
    command.add_argument("--forget-missing", action="store_true",
                         help="drop the rows of every image whose file is gone, however many")
    command.add_argument("--index-files", action="store_true",
                         help="index image files the index does not know, even when it knows none of "
                              "IMAGES_DIR's files (they get no delete token: only the admin can delete them)")
    return parser.parse_args(argv)


def run_reconcile(config: Config, *, forget_missing: bool, index_files: bool) -> int:
    """Reconcile once; 0 when done, 1 (with the reason on stderr) when refused or when a
    folder, lock file or the index cannot be used."""
    logger.remove()
    logger.add(sys.stderr, format="imagehost: {message}", level="INFO")
    for name, folder in (("IMAGES_DIR", config.images_dir), ("DATA_DIR", config.data_dir)):
        if not folder.is_dir():
            logger.error("{} ({}) is not a folder: is the path right (and the volume mounted)?", name, folder)
            return 1
    try:
        # The running service holds these: never reconcile under it.
        locks = lock_folders(config.data_dir, config.images_dir, wait_seconds=0)
        try:
            index.migrate(config.index_path)
            reconcile(config, forget_missing=forget_missing, index_files=index_files)
        finally:
            for fd in locks:
                os.close(fd)
    except (ReconcileRefused, InstanceLocked, index.IndexFileError) as exc:
        logger.error("{}", exc)
        return 1
    except OSError as exc:  # a lock file or folder we cannot open or create
        logger.error("cannot reconcile: {}", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(run())
