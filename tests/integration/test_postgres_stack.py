"""The whole stack (nginx, supervisor, workers) with DATABASE_URL pointing at the tests'
PostgreSQL cluster: what a person does with the site answers as it does on SQLite, and
the rows are in PostgreSQL, not in DATA_DIR."""

from __future__ import annotations

import time
from urllib.parse import urlencode

import psycopg
import pytest
from support import labelled
from support.client import bearer

pytestmark = pytest.mark.runs_once  # PostgreSQL by itself

SWEEP_WAIT = 30  # the sweep runs every 15 s; the image expires 2 s after its upload


def listed(stack, **query) -> list[str]:
    reply = stack.get("/api/images?" + urlencode(query, doseq=True), stack.admin())
    assert reply.status == 200, reply.body
    return [item["name"] for item in reply.json()["items"]]


def test_a_site_on_postgresql_uploads_lists_filters_searches_edits_groups_deletes_and_expires(
    stack_factory, postgres_url
):
    stack = stack_factory(DATABASE_URL=postgres_url)
    doomed = labelled.uploaded(stack, expires_in="2s")  # first: the sweep has the longest to find it
    cat = labelled.uploaded(stack, title="Black cat", tags=["cat", "night"], filename="kitten.png")
    sky = labelled.uploaded(stack, title="Blue sky", tags=["sky"])

    assert listed(stack)[:2] == [sky["name"], cat["name"]]
    assert listed(stack, tag="cat") == [cat["name"]]
    assert listed(stack, q="blac") == [cat["name"]]
    assert listed(stack, q="kitten") == [cat["name"]]  # the original file name's words
    first = stack.get("/api/images?limit=1", stack.admin()).json()
    assert [item["name"] for item in first["items"]] == [sky["name"]]
    rest = stack.get(f"/api/images?limit=5&cursor={first['next_cursor']}", stack.admin()).json()
    assert [item["name"] for item in rest["items"]] == [cat["name"], doomed["name"]]

    changed = labelled.send_json(
        stack, "PATCH", f"/api/images/{cat['name']}", {"title": "Grey cat", "tags": ["grey"]}, cat["delete_token"]
    )
    assert changed.status == 200, changed.body
    assert changed.json()["title"] == "Grey cat"
    assert listed(stack, q="grey") == [cat["name"]] and listed(stack, tag="night") == []

    album = labelled.send_json(stack, "POST", "/api/albums", {"images": [cat["name"], sky["name"]]})
    assert album.status == 201, album.body
    shown = stack.get(f"/api/albums/{album.json()['id']}").json()
    assert [image["name"] for image in shown["images"]] == [cat["name"], sky["name"]]

    gone = stack.request("DELETE", f"/api/images/{sky['name']}", None, bearer(sky["delete_token"]))
    assert gone.status == 204, gone.body
    assert stack.get(f"/images/{sky['name']}").status == 404
    shown = stack.get(f"/api/albums/{album.json()['id']}").json()
    assert [image["name"] for image in shown["images"]] == [cat["name"]]

    deadline = time.monotonic() + SWEEP_WAIT
    while stack.get(f"/images/{doomed['name']}").status != 404:
        assert time.monotonic() < deadline, f"still served {SWEEP_WAIT} s after its upload"
        time.sleep(0.5)

    with psycopg.connect(postgres_url) as db:
        rows = {row[0] for row in db.execute("SELECT name FROM images").fetchall()}
    assert rows == {cat["name"]}
    assert not (stack.data_dir / "index.sqlite3").exists()
    assert "Traceback" not in stack.app_log()


def test_connections_to_the_database_cut_under_the_site_give_json_503s_then_service_again(stack_factory, postgres_url):
    stack = stack_factory(DATABASE_URL=postgres_url)
    kept = labelled.uploaded(stack)
    with psycopg.connect(postgres_url, autocommit=True) as admin:  # as when the server restarts
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    answers = []
    for _ in range(40):  # each broken pooled connection fails one request, then is replaced
        listing = stack.get("/api/images", stack.admin())
        upload = labelled.upload(stack)
        answers.append((listing.status, upload.status))
        for reply in (listing, upload):
            assert reply.status in (200, 201) or reply.error_code == "unavailable", reply.body
        if (listing.status, upload.status) == (200, 201):
            break
    assert answers[-1] == (200, 201), answers
    names = set(listed(stack, limit=200))
    assert kept["name"] in names
    stored = {path.name for path in stack.images_dir.iterdir() if path.is_file() and not path.name.startswith(".")}
    assert stored == names, "an upload refused with a 503 left its file behind, or a listed one has none"
