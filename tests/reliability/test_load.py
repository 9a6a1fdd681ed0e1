"""Load through nginx: 16 concurrent clients uploading mixed sizes (mostly small, a few up
to exactly 5 MiB), alone and with deletes interleaved. Every 201 URL serves exactly the
uploaded bytes, names are unique, the listing holds exactly what was kept, nothing
answers 5xx, and the run ends within its time bound.
"""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from support.client import bearer, request

from .harness import (
    LOAD_SETTINGS,
    Sent,
    assert_nothing_left_behind,
    index_rows,
    leftovers,
    listed_names,
    measure,
    mixed_payload,
    send_upload,
    served_bytes_match,
    size,
)

FIGURE_CLASS = "load: 16 clients uploading"
CLIENTS = 16


def run_clients(stack, uploads_each: int, delete_every: int | None, deadline: float):
    """Each client uploads `uploads_each` images; with `delete_every`, it also deletes one of
    its earlier uploads (chosen at random) after every `delete_every`-th upload.
    Returns (everything sent, the uploads deleted, the delete answers)."""
    sent: list[Sent] = []
    deleted: list[Sent] = []
    delete_statuses: list[int] = []
    lock = threading.Lock()

    def client(i: int) -> None:
        rng = random.Random(1000 + i)
        mine: list[Sent] = []
        for n in range(uploads_each):
            if time.monotonic() > deadline:
                return
            result = send_upload(stack, mixed_payload(rng, f"load {i} {n}"), f"l{i}-{n}")
            with lock:
                sent.append(result)
            if result.status == 201:
                mine.append(result)
            if delete_every and n % delete_every == delete_every - 1 and mine:
                victim = mine.pop(rng.randrange(len(mine)))
                reply = request(
                    "DELETE",
                    f"{stack.base_url}/api/images/{victim.created['name']}",
                    headers=bearer(victim.created["delete_token"]),
                )
                with lock:
                    delete_statuses.append(reply.status)
                    if reply.status == 204:
                        deleted.append(victim)

    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(client, range(CLIENTS)))
    return sent, deleted, delete_statuses


@pytest.mark.parametrize("delete_every", [None, 3], ids=["uploads-only", "with-deletes-interleaved"])
def test_16_clients_x_200_uploads_of_mixed_sizes_keep_every_byte_and_every_name(stack_factory, tally, delete_every):
    stack = stack_factory(**LOAD_SETTINGS)
    uploads_each = size(40, 200)
    bound = size(120, 600)
    started = time.monotonic()
    sent, deleted, delete_statuses = run_clients(stack, uploads_each, delete_every, started + bound)
    elapsed = time.monotonic() - started
    tally.case(len(sent) + len(delete_statuses))
    measure("uploads under load", len(sent))
    measure(f"load: uploads per second ({CLIENTS} clients, mixed sizes)", len(sent) / elapsed, how="max")

    assert len(sent) == CLIENTS * uploads_each, f"only {len(sent)} uploads within {bound} s"
    server_errors = [s for s in sent if s.status is None or s.status >= 500] + [x for x in delete_statuses if x >= 500]
    assert server_errors == []
    assert [s for s in sent if s.status != 201] == []
    assert delete_statuses == [204] * len(delete_statuses)

    created = [s for s in sent if s.status == 201]
    names = [s.created["name"] for s in created]
    assert len(set(names)) == len(names)
    gone = {s.created["name"] for s in deleted}
    kept = [s for s in created if s.created["name"] not in gone]
    with ThreadPoolExecutor(4) as pool:
        exact = list(pool.map(lambda s: served_bytes_match(stack, s), kept))
    listing = listed_names(stack)
    rows = index_rows(stack)
    lost = (
        exact.count(False)
        + len({s.created["name"] for s in kept} - set(listing))
        + len({s.created["name"] for s in kept} - set(rows))
    )
    measure("lost uploads", lost)
    measure("leftover files", leftovers(stack).count)
    assert lost == 0
    assert len(listing) == len(kept) == len(rows)
    assert set(listing) == {s.created["name"] for s in kept}
    for s in deleted[:50]:
        stack.assert_not_served(f"/images/{s.created['name']}")
    assert_nothing_left_behind(stack)
