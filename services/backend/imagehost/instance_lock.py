"""One instance per data folder: an exclusive lock on a file in DATA_DIR and in IMAGES_DIR.

A second instance on the same folders would run its start-up reconcile against the
live one: delete its temp files mid-upload and index files it is about to index itself.
So the supervisor takes `flock(LOCK_EX)` on `DATA_DIR/imagehost.lock` and
`IMAGES_DIR/.imagehost.lock` (a dotfile: nginx never serves it) before anything else
touches the folders, and never lets go. The workers inherit the descriptors, so workers
left running by a supervisor that was killed still hold the lock until they stop.
The kernel drops the lock when the last of them exits, however it exits: there is no
stale lock to clean up. The holder writes its pid, host and start time into the files,
so the instance that is refused can name it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from loguru import logger

DATA_LOCK_NAME = "imagehost.lock"
IMAGES_LOCK_NAME = ".imagehost.lock"
_POLL_SECONDS = 0.1


class InstanceLocked(Exception):
    """Another instance holds a folder; the message names the folder and the holder."""


def lock_folders(data_dir: Path, images_dir: Path, wait_seconds: float) -> list[int]:
    """Lock DATA_DIR, then IMAGES_DIR (creating them if need be); return the descriptors.

    A folder held by another instance is waited for, up to `wait_seconds` in all (a
    quick restart finds the previous instance's workers still finishing their
    requests); then InstanceLocked is raised and nothing stays locked. The descriptors
    must stay open for the life of the instance; they are inherited by forked workers
    (not by programs they exec: O_CLOEXEC).
    """
    deadline = time.monotonic() + wait_seconds
    held: list[int] = []
    try:
        for path in (data_dir / DATA_LOCK_NAME, images_dir / IMAGES_LOCK_NAME):
            held.append(_lock(path, deadline, wait_seconds))  # noqa: PERF401 (held at once, released on failure)
    except BaseException:
        for fd in held:
            os.close(fd)
        raise
    return held


def _lock(path: Path, deadline: float, wait_seconds: float) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:
        said = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise InstanceLocked(
                        f"another imagehost instance is using {path.parent} ({_holder(fd)}; lock file {path}): "
                        "stop it first, or give this instance other folders"
                    ) from None
                if not said:
                    logger.warning(
                        "{} is in use by {}; waiting up to {:g}s for it to stop", path.parent, _holder(fd), wait_seconds
                    )
                    said = True
                time.sleep(_POLL_SECONDS)
        _write_holder(fd)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _write_holder(fd: int) -> None:
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    text = f"pid {os.getpid()} on host {socket.gethostname()}, started {started}\n".encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, text, 0)


def _holder(fd: int) -> str:
    """What the holder wrote about itself, e.g. 'pid 42 on host web1, started ...'."""
    text = os.pread(fd, 512, 0).decode("utf-8", "replace").strip()
    return text or "an instance that has not written its pid yet"


@contextlib.contextmanager
def folders_held(data_dir: Path, images_dir: Path) -> Iterator[None]:
    """The folders locked for a one-off command (reconcile, restore) that must never run
    beside the service; raises InstanceLocked at once when the service holds them."""
    held = lock_folders(data_dir, images_dir, wait_seconds=0)
    try:
        yield
    finally:
        for fd in held:
            os.close(fd)
