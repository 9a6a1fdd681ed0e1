"""Start-up time: from starting `python -m imagehost` until every worker's /api/health
answers 200, with IMAGES_DIR and the index holding the same N images.

The supervisor migrates, then reconciles (a directory scan of IMAGES_DIR against every
name in the index) before it forks a worker, so this is the time a restart keeps the
service away. The files are written just before, so they are in the page cache: a
restart after a reboot reads the directory from disk and takes longer.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from support.backend import Backend
from support.client import request

from . import fill

POLL_S = 0.01
_RECONCILE = re.compile(r"reconcile: (\d+) rows without a file removed, (\d+) files indexed")


class StartupError(Exception):
    """The backend did not become healthy, or the reconcile changed the prepared data."""


def prepare(root: Path, images: int) -> None:
    """Write `images` small image files into root/images and their rows into the index."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "data").mkdir(parents=True, exist_ok=True)
    fill.fill_to(root / "data" / "index.sqlite3", images, images_dir=root / "images")


def measure(root: Path, workers: int, timeout: float = 120) -> float:
    """Seconds from spawning the supervisor until all `workers` answer /api/health.

    Stops the backend before returning, also on failure. Raises StartupError when it is
    not healthy within `timeout` or when its reconcile removed or added anything (the
    prepared index and files did not match).
    """
    backend = Backend(root, workers, LOG_LEVEL="INFO")
    log_before = _log_size(backend)
    started = time.monotonic()
    backend.start(wait=False)
    try:
        waiting = set(range(workers))
        while waiting:
            if backend.process.poll() is not None:
                raise StartupError(f"the backend exited with {backend.process.returncode}:\n{backend.output()[-2000:]}")
            if time.monotonic() - started > timeout:
                raise StartupError(f"workers {sorted(waiting)} not healthy after {timeout:g} s")
            for worker in sorted(waiting):
                if _healthy(backend.url(worker)):
                    waiting.discard(worker)
            if waiting:
                time.sleep(POLL_S)
        elapsed = time.monotonic() - started
    finally:
        backend.stop()
    _check_reconcile(backend, log_before)
    return elapsed


def _healthy(base_url: str) -> bool:
    try:
        return request("GET", base_url + "/api/health", timeout=2).status == 200
    except OSError:
        return False


def _log_size(backend: Backend) -> int:
    path = backend.log_dir / "app.log"
    return path.stat().st_size if path.exists() else 0


def _check_reconcile(backend: Backend, since: int) -> None:
    with open(backend.log_dir / "app.log", "rb") as log:
        log.seek(since)
        found = _RECONCILE.findall(log.read().decode(errors="replace"))
    if not found:
        raise StartupError("no reconcile line in app.log")
    removed, indexed = map(int, found[-1])
    if removed or indexed:
        raise StartupError(
            f"the reconcile removed {removed} rows and indexed {indexed} files: "
            "the prepared files and index did not match"
        )
