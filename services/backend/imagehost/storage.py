"""Image files on disk: temp files, durable atomic publication, deletion.

An upload is written to `IMAGES_DIR/.tmp/` (same filesystem), fsynced, then hard-linked
to its final random name and the temp name unlinked: the image appears whole or not at
all, and an existing name is never overwritten. nginx serves `IMAGES_DIR` directly, so
only finished images ever sit there, with mode 0644 so nginx's user can read them.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import os
import secrets
import time
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO, Self

from .errors import InsufficientStorage
from .group_commit import GroupCommit
from .validation import is_image_name

# 12 random bytes = 96 bits, 16 URL-safe characters.
NAME_RANDOM_BYTES = 12
TEMP_PREFIX = "upload-"
# A temp file older than this at start-up belongs to no live request.
STALE_TEMP_SECONDS = 0


def new_image_name(extension: str) -> str:
    return secrets.token_urlsafe(NAME_RANDOM_BYTES) + extension


def is_disk_full(exc: OSError) -> bool:
    return exc.errno in (errno.ENOSPC, errno.EDQUOT)


class TempUpload:
    """A temp file in `tmp_dir` that becomes an image or disappears.

    Use as a context manager: on leaving it, the temp file is removed unless `publish()`
    succeeded. Writes that fail because the disk is full raise InsufficientStorage.
    """

    def __init__(self, tmp_dir: str | Path):
        self.size = 0
        self._sha256 = hashlib.sha256()
        self._fd, self.path = _create_temp_file(str(tmp_dir))
        self._published = False

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
        if not self._published:
            _unlink_quietly(self.path)

    def write(self, data) -> None:
        view = memoryview(data)
        self._sha256.update(view)
        self.size += len(view)
        try:
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
        except OSError as exc:
            raise InsufficientStorage() if is_disk_full(exc) else exc

    @property
    def sha256(self) -> str:
        return self._sha256.hexdigest()

    def open_for_reading(self) -> BinaryIO:
        """The bytes written so far, from the start, through the same descriptor.

        For once the upload is complete: reading moves the descriptor's offset, so
        nothing may be written after this."""
        os.lseek(self._fd, 0, os.SEEK_SET)
        return open(self._fd, "rb", closefd=False)

    def publish(self, images_dir: str | Path, extension: str) -> str:
        """fsync, then atomically give the file a fresh random name in `images_dir`.

        Returns the new name. The directory is fsynced too, so a crash after this
        returns cannot lose the image.
        """
        try:
            os.fchmod(self._fd, 0o644)
            os.fsync(self._fd)
            self.close()
            while True:
                name = new_image_name(extension)
                try:
                    os.link(self.path, os.path.join(images_dir, name))
                    break
                except FileExistsError:  # 2**-96 odds, but never overwrite an image
                    continue
            self._published = True
            _unlink_quietly(self.path)
            sync_directory(str(images_dir))
        except OSError as exc:
            raise InsufficientStorage() if is_disk_full(exc) else exc
        return name

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _create_temp_file(tmp_dir: str) -> tuple[int, str]:
    """A new, empty, private file in `tmp_dir` (tempfile.mkstemp, minus its overhead)."""
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    while True:
        path = os.path.join(tmp_dir, f"{TEMP_PREFIX}{secrets.token_hex(8)}.part")
        try:
            return os.open(path, flags, 0o600), path
        except FileExistsError:
            continue
        except OSError as exc:
            raise InsufficientStorage() if is_disk_full(exc) else exc


def sync_directory(directory: str) -> None:
    """fsync `directory`; threads asking at the same time share one fsync."""
    _directory_group(directory).submit(None)


@functools.cache
def _directory_group(directory: str) -> GroupCommit[None, None]:
    # Two threads racing on the first call may each get a group: two fsyncs, both correct.
    return GroupCommit(lambda waiting: _fsync_for_all(directory, waiting))


def _fsync_for_all(directory: str, waiting: Sequence[None]) -> list[None]:
    fsync_dir(directory)
    return [None] * len(waiting)


def fsync_dir(directory: str | Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_image(images_dir: str | Path, name: str) -> None:
    """Delete a published image; a name that is already gone is not an error."""
    _unlink_quietly(os.path.join(images_dir, name))


def _unlink_quietly(path: str | Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def image_files(images_dir: Path) -> set[str]:
    """Names of the published images (files matching the name pattern)."""
    with os.scandir(images_dir) as entries:
        return {e.name for e in entries if is_image_name(e.name) and e.is_file(follow_symlinks=False)}


def remove_stale_temp_files(tmp_dir: Path, older_than: float = STALE_TEMP_SECONDS) -> int:
    """Remove temp files left by requests that died; returns how many were removed."""
    removed = 0
    cutoff = time.time() - older_than
    with os.scandir(tmp_dir) as entries:
        for entry in entries:
            if entry.is_file(follow_symlinks=False) and entry.stat().st_mtime <= cutoff:
                _unlink_quietly(entry.path)
                removed += 1
    return removed


def prepare_directories(images_dir: Path, tmp_dir: Path, data_dir: Path, log_dir: Path) -> None:
    """Create the folders if need be and give them, new or old, the modes they need.

    IMAGES_DIR 0755: nginx, maybe another user, serves it (images are 0644, see
    publish). Its .tmp 0700, DATA_DIR 0700 and LOG_DIR 0750 are private: the index
    holds the private gallery's names and the original file names, and the log the
    names of every request. LOG_DIR is 0750, not 0700, for an operator's group; nginx
    writes LOG_DIR/nginx as its master process (root in Docker, or the same user under
    `make run`). Raises OSError when a folder cannot be created or changed.
    """
    for directory, mode in ((images_dir, 0o755), (tmp_dir, 0o700), (data_dir, 0o700), (log_dir, 0o750)):
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(directory, mode)
