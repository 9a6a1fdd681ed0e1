"""Image files on disk: temp files, durable atomic publication, durable deletion.

An upload is written to `IMAGES_DIR/.tmp/` (same filesystem), fsynced, then hard-linked
to its final random name and the directory fsynced: the image appears whole or not at
all, and an existing name is never overwritten. If anything fails after the link, the
link is removed again before the error is raised. nginx serves `IMAGES_DIR` directly,
so only finished images ever sit there, with mode 0644 so nginx's user can read them.

Identical files are stored once: an upload whose bytes an image already published holds
becomes one more hard link to that image's inode, under its own fresh name (the caller
passes the index's rows with the same sha256 and size; `publish` checks the bytes
itself). A delete unlinks one name and the inode lives on through the others, so there
is nothing to collect: no blob folder, no reference counts, nothing for the start-up
reconcile to add. (A content-addressed `.blobs/<sha256>` folder was the alternative; it
needs a collector racing against publication, and a blob whose last name goes.)
An object store would do a server-side copy where this links.

Temp files are named `upload-<pid>-<random>.part` and carry an exclusive `flock` while
open: the supervisor removes a dead worker's files by its pid, and a clean-up never
removes a file some live process still holds.
"""

from __future__ import annotations

import errno
import fcntl
import functools
import hashlib
import os
import secrets
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import BinaryIO, Self

from loguru import logger

from . import previews
from .errors import InsufficientStorage
from .group_commit import GroupCommit
from .validation import is_image_name

# 12 random bytes = 96 bits, 16 URL-safe characters.
NAME_RANDOM_BYTES = 12
TEMP_PREFIX = "upload-"
TEMP_SUFFIX = ".part"
# Read size when comparing an upload with an image that may hold the same bytes.
COMPARE_CHUNK = 1 << 18


def new_image_name(extension: str) -> str:
    return secrets.token_urlsafe(NAME_RANDOM_BYTES) + extension


def is_disk_full(exc: OSError) -> bool:
    return exc.errno in (errno.ENOSPC, errno.EDQUOT)


class TempUpload:
    """A temp file in `tmp_dir` that becomes an image or disappears.

    Use as a context manager: on leaving it, the temp name is removed (a published image
    keeps its own link) and the file closed, which releases its lock. Writes that fail
    because the disk is full raise InsufficientStorage.
    """

    def __init__(self, tmp_dir: str | Path):
        self.size = 0
        self._sha256 = hashlib.sha256()
        self._fd, self.path = _create_temp_file(str(tmp_dir))

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        # Unlinked before the close: while the name exists, its lock is held.
        _unlink_quietly(self.path)
        self.close()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data)
        self._sha256.update(view)
        self.size += len(view)
        try:
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
        except OSError as exc:
            if is_disk_full(exc):
                raise InsufficientStorage() from exc
            raise

    @property
    def sha256(self) -> str:
        return self._sha256.hexdigest()

    def open_for_reading(self) -> BinaryIO:
        """The bytes written so far, from the start, through the same descriptor.

        For once the upload is complete: reading moves the descriptor's offset, so
        nothing may be written after this."""
        os.lseek(self._fd, 0, os.SEEK_SET)
        return open(self._fd, "rb", closefd=False)

    def publish(self, images_dir: str | Path, extension: str, same_content: Iterable[str] = ()) -> str:
        """fsync, then atomically give the file a fresh random name in `images_dir`.

        `same_content` names published images that may hold the same bytes (the index's
        rows with this sha256 and size). The first whose file really does (see
        `_link_identical_image`) gets the new name as a second hard link, and this temp
        file is dropped: identical uploads share one inode, stored once. Otherwise the
        temp file itself is linked. Either way the name is fresh and the file 0644.

        Returns the new name once the directory is fsynced too, so a crash after this
        returns cannot lose the image. All or nothing: on any failure the new name is
        removed again (and the directory fsynced, best effort) before the error is
        raised; InsufficientStorage when the disk is full, else the OSError itself.
        Other names of a shared inode are never touched.
        """
        try:
            os.fchmod(self._fd, 0o644)
            os.fsync(self._fd)
            name = self._link_identical_image(str(images_dir), extension, same_content)
            if name is None:
                name = link_under_new_name(self.path, str(images_dir), extension)
        except OSError as exc:
            if is_disk_full(exc):
                raise InsufficientStorage() from exc
            raise
        try:
            sync_directory(str(images_dir))
        except BaseException as exc:
            withdraw_image(images_dir, name)
            if isinstance(exc, OSError) and is_disk_full(exc):
                raise InsufficientStorage() from exc
            raise
        return name

    def _link_identical_image(self, images_dir: str, extension: str, candidates: Iterable[str]) -> str | None:
        """Link the first candidate whose file holds exactly these bytes to a fresh name.

        Returns that name, or None when no candidate can be shared; the caller then
        links the temp file. The index only suggests: a row may outlive its file (a
        delete between the lookup and here) or disagree with it (an operator's edit, a
        file written before metadata stripping), so each candidate is opened and
        checked: a regular file, mode 0644, the same size, the same bytes. The link is
        made by name, so the new name's inode is checked to be the one compared (and
        removed if not). A candidate that cannot be linked is skipped: deleted meanwhile
        (ENOENT), another user's file under fs.protected_hardlinks (EPERM), or at the
        filesystem's link limit (EMLINK: the next upload starts a new inode). A full disk
        raises, as linking the temp file would.

        A duplicate costs a read of the shared file; its answer is otherwise the same.
        """
        for candidate in candidates:
            path = os.path.join(images_dir, candidate)
            try:
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                if not self._holds_same_bytes_as(fd):
                    continue
                try:
                    name = link_under_new_name(path, images_dir, extension)
                except OSError as exc:
                    if is_disk_full(exc):
                        raise
                    continue
                if _is_same_file(os.path.join(images_dir, name), fd):
                    return name
                _unlink_quietly(os.path.join(images_dir, name))  # the candidate was replaced after the check
            finally:
                os.close(fd)
        return None

    def _holds_same_bytes_as(self, fd: int) -> bool:
        """Whether `fd` is a public (0644) regular file with exactly this file's bytes."""
        theirs, mine = os.fstat(fd), os.fstat(self._fd)
        if not stat.S_ISREG(theirs.st_mode) or stat.S_IMODE(theirs.st_mode) != 0o644:
            return False
        if theirs.st_size != mine.st_size:
            return False
        offset = 0
        while offset < mine.st_size:
            chunk = os.pread(self._fd, COMPARE_CHUNK, offset)
            if not chunk or os.pread(fd, len(chunk), offset) != chunk:
                return False
            offset += len(chunk)
        return True

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def link_under_new_name(path: str, images_dir: str, extension: str) -> str:
    """Hard-link `path` under a fresh random name in `images_dir`; the name (not yet
    durable: fsync the folder). Never overwrites, never follows a symlink."""
    while True:
        name = new_image_name(extension)
        try:
            # Never through a symlink: the file compared, or the temp file, is what we link.
            os.link(path, os.path.join(images_dir, name), follow_symlinks=False)
            return name
        except FileExistsError:  # 2**-96 odds, but never overwrite an image
            continue


def _is_same_file(path: str, fd: int) -> bool:
    try:
        named = os.lstat(path)
    except FileNotFoundError:
        return False
    opened = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)


def _create_temp_file(tmp_dir: str) -> tuple[int, str]:
    """A new, empty, private file in `tmp_dir`, locked (flock LOCK_EX) by this process.

    Named after this process's pid, so the supervisor can remove what a dead worker left.
    A `tmp_dir` that has vanished (a clean-up script removed hidden folders) is made
    again, mode 0700, once; IMAGES_DIR itself is never made here.
    """
    made_again = False
    while True:
        path = os.path.join(tmp_dir, f"{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(8)}{TEMP_SUFFIX}")
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        except FileExistsError:
            continue
        except FileNotFoundError:
            if made_again:
                raise
            _make_temp_dir_again(tmp_dir)
            made_again = True
            continue
        except OSError as exc:
            if is_disk_full(exc):
                raise InsufficientStorage() from exc
            raise
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            linked = os.fstat(fd).st_nlink > 0
        except BaseException:
            os.close(fd)
            _unlink_quietly(path)
            raise
        if linked:
            return fd, path
        os.close(fd)  # a clean-up locked and unlinked the name between our open and our flock


def _make_temp_dir_again(tmp_dir: str) -> None:
    logger.warning("the temp folder {} had vanished; making it again", tmp_dir)
    try:
        os.mkdir(tmp_dir, 0o700)
    except FileExistsError:  # another thread or worker made it first
        return
    except OSError as exc:
        if is_disk_full(exc):
            raise InsufficientStorage() from exc
        raise
    os.chmod(tmp_dir, 0o700)  # whatever the umask


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
    """Delete a published image durably: unlink, then fsync the directory.

    A name that is already gone is not an error (it is still fsynced: a concurrent
    delete may not be durable yet). Raises OSError when the fsync fails; then the file is
    gone but its removal may not survive a crash, so the caller must not report success.
    """
    _unlink_quietly(os.path.join(images_dir, name))
    sync_directory(str(images_dir))


def unlink_image(images_dir: str | Path, name: str) -> None:
    """Unlink a published image, not yet durably: the caller fsyncs the folder once for
    a batch (fsync_dir) before it removes the rows. Gone already is not an error."""
    _unlink_quietly(os.path.join(images_dir, name))


def withdraw_image(images_dir: str | Path, name: str) -> None:
    """Remove an image whose publication failed: unlink, fsync the directory.

    Best effort, for callers already failing with an error of their own: an OSError here
    is logged, not raised.
    """
    try:
        _unlink_quietly(os.path.join(images_dir, name))
        fsync_dir(images_dir)
    except OSError as exc:
        logger.warning("could not withdraw {} after a failed upload: {}", name, exc)


def _unlink_quietly(path: str | Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def image_files(images_dir: Path) -> set[str]:
    """Names of the published images (files matching the name pattern)."""
    with os.scandir(images_dir) as entries:
        return {e.name for e in entries if is_image_name(e.name) and e.is_file(follow_symlinks=False)}


def remove_stale_temp_files(tmp_dir: Path) -> int:
    """Remove the temp files no live process holds; returns how many were removed.

    A missing `tmp_dir` holds none."""
    try:
        with os.scandir(tmp_dir) as entries:
            paths = [entry.path for entry in entries if entry.is_file(follow_symlinks=False)]
    except FileNotFoundError:
        return 0
    return _remove_unlocked(paths)


def remove_temp_files_of(tmp_dir: Path, pid: int) -> int:
    """Remove the temp files of worker `pid` (which has exited); returns how many."""
    return _remove_unlocked(map(str, Path(tmp_dir).glob(f"{TEMP_PREFIX}{pid}-*{TEMP_SUFFIX}")))


def _remove_unlocked(paths: Iterable[str]) -> int:
    """Unlink each path no process holds a lock on (LOCK_EX|LOCK_NB), under our lock.

    Never raises OSError: a file that cannot be removed is logged and left."""
    removed = 0
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            continue  # gone already, or not a file we should touch
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            _unlink_quietly(path)
            removed += 1
        except BlockingIOError:
            pass  # a live process is still writing it
        except OSError as exc:
            logger.warning("could not remove the temp file {}: {}", path, exc)
        finally:
            os.close(fd)
    return removed


def prepare_directories(images_dir: Path, tmp_dir: Path, data_dir: Path, log_dir: Path) -> None:
    """Create the folders if need be and give them, new or old, the modes they need.

    IMAGES_DIR and its previews folder 0755: nginx, maybe another user, serves them
    (images and previews are 0644, see publish and preview_maker). Its .tmp 0700,
    DATA_DIR 0700 and LOG_DIR 0750 are private: the index
    holds the private gallery's names and the original file names, and the log the
    names of every request. LOG_DIR is 0750, not 0700, for an operator's group; nginx
    writes LOG_DIR/nginx as its master process (root in Docker, or the same user under
    `make run`). Raises OSError when a folder cannot be created or changed.
    """
    make_public_folder(images_dir)
    previews_dir = images_dir / previews.FOLDER
    for directory, mode in (
        (images_dir, 0o755),
        (previews_dir, 0o755),
        (tmp_dir, 0o700),
        (data_dir, 0o700),
        (log_dir, 0o750),
    ):
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(directory, mode)


def make_public_folder(path: Path) -> None:
    """Create `path` and whichever of its parents are missing, each mode 0755.

    For IMAGES_DIR: nginx's workers, maybe another user, must enter every folder on the
    way to it, and the supervisor's umask (077) would make new ones private.
    """
    for folder in reversed([p for p in (path, *path.parents) if not p.exists()]):
        try:
            folder.mkdir()
        except FileExistsError:  # made meanwhile by someone else: leave its mode alone
            continue
        os.chmod(folder, 0o755)
