"""A full disk, through nginx: IMAGES_DIR on a small tmpfs. Uploads get the JSON 507
insufficient_storage, nothing partial remains, and once space is freed (by deleting images
through the API) uploads work again, with the same processes: no restart.

(tests/integration/test_backend_disk_full.py does this against the backend alone.)
"""

from __future__ import annotations

import random
import threading

import pytest
from support import images
from support.client import bearer

from .harness import (
    LOAD_SETTINGS,
    assert_nothing_left_behind,
    image_files,
    measure,
    send_upload,
)

pytestmark = pytest.mark.local_storage  # IMAGES_DIR on a small tmpfs

FIGURE_CLASS = "disk full"


def fill(stack, clients: int, limit: int) -> list:
    """`clients` threads upload until each has had a 507 (at most `limit` uploads each)."""
    results, lock = [], threading.Lock()

    def client(i: int) -> None:
        rng = random.Random(100 + i)
        for n in range(limit):
            data = images.png(2, 2, extra=f"fill {i} {n}".encode() + b"\0" * rng.randint(20_000, 200_000))
            sent = send_upload(stack, data, f"fill{i}-{n}")
            with lock:
                results.append(sent)
            if sent.status == 507:
                return

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return results


@pytest.mark.parametrize("limit", ["bytes", "inodes"])
def test_a_full_disk_gives_json_507_leaves_nothing_partial_and_recovers_when_space_is_freed(
    small_disk, stack_factory, tally, limit
):
    disk = small_disk("3m") if limit == "bytes" else small_disk("64m", nr_inodes=24)
    stack = stack_factory(IMAGES_DIR=str(disk), **LOAD_SETTINGS)
    workers = stack.worker_pids()

    results = fill(stack, clients=4, limit=200)
    tally.case(len(results))
    statuses = {s.status for s in results}
    assert statuses <= {201, 507}, [(s.status, s.failure) for s in results if s.status not in (201, 507)]
    assert all(s.error_code == "insufficient_storage" for s in results if s.status == 507)
    assert 507 in statuses and 201 in statuses
    assert_nothing_left_behind(stack)

    if limit == "bytes":  # one file bigger than all the space there is: refused whole
        big = send_upload(stack, images.png_of_size(4 * 1024 * 1024), "big")
        assert (big.status, big.error_code) == (507, "insufficient_storage")
        assert_nothing_left_behind(stack)

    # Space is freed through the API; the same processes take uploads again.
    stored = [s for s in results if s.status == 201]
    for s in stored[: len(stored) // 2]:
        reply = stack.request("DELETE", f"/api/images/{s.created['name']}", headers=bearer(s.created["delete_token"]))
        assert reply.status == 204
    again = [send_upload(stack, images.png(3, 3, extra=f"after {i}".encode()), f"after{i}") for i in range(3)]
    assert [s.status for s in again] == [201, 201, 201]
    assert stack.worker_pids() == workers
    assert len(image_files(stack)) == len(stored) - len(stored) // 2 + 3
    measure("507 answers on a full disk", sum(1 for s in results if s.status == 507))
    assert_nothing_left_behind(stack)
