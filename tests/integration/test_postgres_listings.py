"""Listings of a node on PostgreSQL through its real supervisor and workers: a worker
answers a page again from memory while nothing changed (the supervisor's listener and the
workers share the node's change token, listing_cache.py), and no longer once another
worker of the node, or another node, has written.

A change "behind the caches' back" fires no trigger (session_replication_role = replica,
so no notification) and goes through no worker (so no token): seeing it or not tells a
page read again from one answered from memory."""

from __future__ import annotations

import json
import time

import psycopg
import pytest
from support.backend import ADMIN_TOKEN, Backend
from support.client import bearer, request

pytestmark = pytest.mark.runs_once  # PostgreSQL by itself

WAIT_SECONDS = 10.0


def titles(node: Backend, worker: int) -> list[str]:
    reply = request("GET", node.url(worker) + "/api/images", headers=bearer(ADMIN_TOKEN))
    assert reply.status == 200, reply.body
    return [item["title"] for item in reply.json()["items"]]


def behind_the_caches_back(url: str, sql: str, *parameters: object) -> None:
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("SET session_replication_role = replica")
        db.execute(sql, parameters)


def insert_behind_the_caches_back(url: str, n: int, title: str) -> None:
    """A row of an image with no file, whose preview failed: nothing on the node acts on it."""
    behind_the_caches_back(
        url,
        "INSERT INTO images (name, type, size, width, height, sha256, original_name, created_at, preview, title)"
        " VALUES (%s, 'image/png', 10, 1, 1, %s, '', '2026-01-01T00:00:00.000Z', 'failed', %s)",
        f"Image{n:011d}.png",
        f"{n:064x}",
        title,
    )


def test_a_nodes_workers_answer_a_listing_from_memory_until_any_worker_or_another_node_writes(tmp_path, postgres_url):
    with Backend(tmp_path, workers=2, ADMIN_TOKEN=ADMIN_TOKEN, DATABASE_URL=postgres_url) as node:
        # Once the supervisor listens, worker 0 keeps its page: a row added behind its
        # back is not listed. Before, each page is read again (so a new row each try).
        insert_behind_the_caches_back(postgres_url, 0, "first")
        deadline = time.monotonic() + WAIT_SECONDS
        for n in range(1, 1000):
            before = titles(node, 0)
            insert_behind_the_caches_back(postgres_url, n, "hidden")
            if titles(node, 0) == before:
                break
            assert time.monotonic() < deadline, "worker 0 never answered a listing from memory"

        behind_the_caches_back(postgres_url, "UPDATE images SET title = 'seen', revision = revision + 1")
        assert titles(node, 0) == before  # still from memory
        name = request("GET", node.url(1) + "/api/images?limit=1", headers=bearer(ADMIN_TOKEN)).json()["items"][0][
            "name"
        ]
        # With the notifying triggers off, only worker 1's own token can make worker 0
        # read the page again (the listener hears nothing of this PATCH).
        behind_the_caches_back(postgres_url, "ALTER TABLE images DISABLE TRIGGER images_changed")
        behind_the_caches_back(postgres_url, "ALTER TABLE image_tags DISABLE TRIGGER image_tags_changed")
        changed = request(
            "PATCH",
            node.url(1) + f"/api/images/{name}",
            json.dumps({"title": "patched"}).encode(),
            {"Content-Type": "application/json", **bearer(ADMIN_TOKEN)},
        )
        assert changed.status == 200, changed.body
        listed = titles(node, 0)
        assert listed[0] == "patched" and set(listed[1:]) == {"seen"}  # read again, at once
        behind_the_caches_back(postgres_url, "ALTER TABLE images ENABLE TRIGGER images_changed")
        behind_the_caches_back(postgres_url, "ALTER TABLE image_tags ENABLE TRIGGER image_tags_changed")

        with psycopg.connect(postgres_url, autocommit=True) as other_node:
            other_node.execute("UPDATE images SET title = 'other node' WHERE name = %s", (name,))
        deadline = time.monotonic() + WAIT_SECONDS
        while titles(node, 0)[0] != "other node":
            assert time.monotonic() < deadline, "another node's change was not listed"
            time.sleep(0.01)
        assert "Traceback" not in node.output()
