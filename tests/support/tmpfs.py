"""A small disk for the disk-full tests: a tmpfs mounted on a folder of the test's own.

    with tmpfs(tmp_path / "images", "size=1m") as folder:
        ...   # writes past 1 MiB fail with ENOSPC

Mounting needs root and, in a container, the right to mount (CAP_SYS_ADMIN), which a
plain `docker run` does not give. Where the mount is refused the calling test is skipped
with mount's own words, except in CI (`CI` set), where it fails: CI runs as root on a
machine that can mount (see support.stack.require).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from support.stack import require

MOUNT_SECONDS = 30


@contextmanager
def tmpfs(folder: Path, options: str) -> Iterator[Path]:
    """Mount a tmpfs with mount(8) `options` (e.g. "size=1m,nr_inodes=24") on `folder`,
    created if missing, and unmount it (lazily) on the way out. Skips the calling test, or
    fails it in CI, when the mount is refused or `mount` is missing."""
    folder.mkdir(parents=True, exist_ok=True)
    require(*_mount(folder, options))
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True, timeout=MOUNT_SECONDS, check=False)


def _mount(folder: Path, options: str) -> tuple[bool, str]:
    """(mounted, why not) for one mount of a tmpfs on `folder`."""
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
            capture_output=True,
            text=True,
            timeout=MOUNT_SECONDS,
            check=False,
        )
    except FileNotFoundError:
        return False, "this machine has no mount(8) to mount a tmpfs with"
    # The first line only: util-linux adds a line pointing at dmesg.
    said = ((done.stderr or done.stdout).strip() or f"exit status {done.returncode}").splitlines()[0]
    return done.returncode == 0, f"this machine does not let a test mount a tmpfs ({said})"
