"""Folders the tests make, and who may pass through them (no imports of the other
support modules: stack.py, postgres.py and the bench all use it)."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path


def let_nginx_workers_through(folder: Path) -> None:
    """Let nginx's workers pass through `folder` and its parents, as far as they are in
    the system's temp folder; nothing above it (never / or /root) is touched.

    Started as root (tests and the bench usually are), nginx runs its workers as an
    unprivileged user (render-config.sh), who must reach the folders a test made, and
    temp folders are made 0700 (tests/conftest.py says why a session as root gets one of
    its own). Adds search permission for others (o+x: passing through, not listing).
    Does nothing when not root.
    """
    if os.geteuid() != 0:
        return
    # /tmp too: a test may point TMPDIR at its own tmp_path (the bench smoke test does).
    tops = {Path(tempfile.gettempdir()).resolve(), Path("/tmp").resolve()}
    folder = Path(folder).resolve()
    for path in [folder, *folder.parents]:
        if not tops.intersection(path.parents):
            break
        mode = stat.S_IMODE(path.stat().st_mode)
        if not mode & stat.S_IXOTH:
            path.chmod(mode | stat.S_IXOTH)
