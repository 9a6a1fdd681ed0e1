"""The storage floor: what an upload costs with no HTTP at all, only the durable steps.

Each of `processes` processes (standing for the workers) runs `threads` threads (the
bench's 16 connections spread over them) that do, over and over, exactly what a worker
does with an upload once its bytes are in hand, with the backend's own code:
`storage.TempUpload` (temp file, SHA-256, the body written in the worker's read-sized
pieces), `publish` (fchmod, fsync, link to a random name, directory fsync) and
`Index.add` (the row, committed). No socket, no multipart parsing, no logging.

Its rate bounds what the real upload path can reach on this machine: whatever the
HTTP side costs comes on top. The report sets it beside the ceiling. The bench runs it
first and deletes its files only when all sizes are done: after mass deletes, creating
files is slower for a while on some filesystems (at the end of a run, after S5, the
floor came out at half its value).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from imagehost import index_sqlite, storage, uploads

# Time for the spawned processes to start and import before they all begin together.
START_DELAY_S = 2.0


@dataclass(frozen=True)
class Floor:
    size: int
    processes: int
    threads: int
    uploads: int
    seconds: float
    cpu_seconds: float  # user + system of the processes (not the kernel's flusher threads)

    @property
    def rate(self) -> float:
        return self.uploads / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms_per_upload(self) -> float:
        return self.cpu_seconds * 1000 / max(self.uploads, 1)


def measure(folder: Path, size: int, seconds: float, processes: int = 2, threads: int = 8) -> Floor:
    """Run the storage steps for `seconds` in fresh directories under `folder`.

    Every process starts storing at the same moment, once all have started and imported
    what they need, and stops `seconds` later; a failure in any thread fails the run.
    """
    images_dir, tmp_dir = folder / "images", folder / "images" / ".tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    index_path = folder / "index.sqlite3"
    index_sqlite.migrate(index_path)
    body = os.urandom(size)
    spawn = multiprocessing.get_context("spawn")  # the bench has threads; no fork
    start_at = time.time() + START_DELAY_S + 0.5 * processes
    with spawn.Pool(processes) as pool:
        results = pool.starmap(
            _one_process,
            [(str(images_dir), str(tmp_dir), str(index_path), body, threads, start_at, seconds)] * processes,
        )
    return Floor(size, processes, threads, sum(r[0] for r in results), seconds, sum(r[1] for r in results))


def _one_process(
    images_dir: str, tmp_dir: str, index_path: str, body: bytes, threads: int, start_at: float, seconds: float
) -> tuple[int, float]:
    """(uploads done, CPU seconds used) by `threads` threads from `start_at` for `seconds`."""
    images = index_sqlite.SqliteIndex(Path(index_path))
    pieces = [body[i : i + uploads.READ_CHUNK] for i in range(0, len(body), uploads.READ_CHUNK)]
    done = [0] * threads
    failures: list[BaseException] = []
    time.sleep(max(0.0, start_at - time.time()))
    deadline = time.monotonic() + seconds
    cpu_before = os.times()

    def store_until_deadline(slot: int) -> None:
        try:
            while time.monotonic() < deadline:
                with storage.TempUpload(tmp_dir) as temp:
                    for piece in pieces:
                        temp.write(piece)
                    name = temp.publish(images_dir, ".jpg")
                images.add(
                    name=name,
                    type="image/jpeg",
                    size=temp.size,
                    width=1,
                    height=1,
                    sha256=temp.sha256,
                    original_name="floor.jpg",
                    delete_token_hash=None,
                )
                done[slot] += 1
        except BaseException as exc:  # noqa: BLE001 (re-raised below, in the process's main thread)
            failures.append(exc)

    workers = [threading.Thread(target=store_until_deadline, args=(slot,)) for slot in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    cpu_after = os.times()
    images.close()
    if failures:
        raise RuntimeError(f"the storage floor failed: {failures[0]!r}") from failures[0]
    cpu = (cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system)
    return sum(done), cpu
