"""Expiry (expires_in, DEFAULT_EXPIRY, MAX_EXPIRY, the supervisor's sweep) and the
owner's stats, through nginx."""

from __future__ import annotations

import re
import time
from datetime import UTC, date, datetime, timedelta

import pytest
from support import labelled
from support.stack import nginx_binary, require, start_stack

SWEEP_WAIT = 30  # the sweep runs every 15 s; the image expires 2 s after its upload


@pytest.fixture(scope="module")
def expiring(tmp_path_factory):
    """A stack that keeps images an hour unless asked, and a day at most."""
    require(nginx_binary() is not None, "nginx is not installed (make test installs it)")
    with start_stack(tmp_path_factory.mktemp("expiry"), DEFAULT_EXPIRY="1h", MAX_EXPIRY="1d") as running:
        yield running


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def rows_named(stack, name: str) -> int:
    assert re.fullmatch(r"[\w.-]+", name)  # safe to write into the query (names are URL-safe base64)
    return stack.index_rows(f"SELECT COUNT(*) FROM images WHERE name = '{name}'")[0][0]


def published_files(stack) -> set[str]:
    return stack.stored_names()


def test_an_image_past_its_expiry_is_gone_with_its_preview_and_row_within_the_sweep(expiring):
    stack = expiring
    keeper = labelled.uploaded(stack, expires_in="1h")
    doomed = labelled.uploaded(stack, expires_in="2s")
    assert moment(doomed["expires_at"]) - moment(doomed["created_at"]) == pytest.approx(
        timedelta(seconds=2), abs=timedelta(seconds=1)
    )
    album = labelled.send_json(stack, "POST", "/api/albums", {"images": [doomed["name"], keeper["name"]]}).json()
    preview = f"{doomed['name']}.webp"
    for _ in range(30):  # made within a second or so, before the image expires
        if preview in stack.stored_previews():
            break
        time.sleep(0.05)
    assert preview in stack.stored_previews(), "no preview within 1.5 s: nothing to see removed"

    deadline = time.monotonic() + SWEEP_WAIT
    while stack.get(f"/api/images/{doomed['name']}", stack.admin()).status != 404:
        assert time.monotonic() < deadline, f"still there {SWEEP_WAIT} s after its upload"
        time.sleep(0.5)

    assert stack.stored_bytes(doomed["name"]) is None
    assert preview not in stack.stored_previews()
    assert rows_named(stack, doomed["name"]) == 0
    stack.assert_not_served(f"/images/{doomed['name']}")
    stack.assert_not_served(f"/images/previews/{doomed['name']}.webp")
    assert [image["name"] for image in stack.get(f"/api/albums/{album['id']}").json()["images"]] == [keeper["name"]]
    assert stack.get(f"/images/{keeper['name']}").status == 200
    assert "expiry: removed 1 images" in stack.app_log()


def test_default_expiry_applies_when_the_upload_asks_nothing(expiring):
    created = labelled.uploaded(expiring)
    lasts = moment(created["expires_at"]) - moment(created["created_at"])
    assert lasts == pytest.approx(timedelta(hours=1), abs=timedelta(seconds=2))


@pytest.mark.parametrize(
    "asked, says",
    [
        ("2d", "at most 1d"),
        ("never", "at most 1d"),
        ("soon", "'expires_in' must be a number and a unit"),
        ("1.5h", "'expires_in' must be a number and a unit"),
        ("-1h", "'expires_in' must be a number and a unit"),
        ("36501d", "'expires_in' must be a number and a unit"),
    ],
)
def test_an_expiry_past_max_expiry_or_unreadable_is_a_400_and_nothing_is_kept(expiring, asked, says):
    before = published_files(expiring)
    reply = labelled.upload(expiring, expires_in=asked)
    assert reply.status == 400 and reply.error_code == "bad_request"
    assert says in reply.json()["error"]["message"]
    assert published_files(expiring) == before


def test_without_max_expiry_an_image_may_never_expire(stack):
    assert labelled.uploaded(stack, expires_in="never")["expires_at"] is None


# --- stats ----------------------------------------------------------------------------------


def test_the_stats_are_for_the_admin_only(stack):
    assert stack.get("/api/stats").error_code == "unauthorized"
    reply = stack.get("/api/stats", {"Authorization": "Bearer not-the-admin-token"})
    assert (reply.status, reply.error_code) == (403, "forbidden")


def test_the_stats_count_images_bytes_once_per_file_and_uploads_per_day(stack_factory):
    stack = stack_factory()
    empty = stack.get("/api/stats", stack.admin()).json()
    assert (empty["images"], empty["bytes_stored"]) == (0, 0)
    days = [entry["date"] for entry in empty["uploads_per_day"]]
    assert len(days) == 30 and days[-1] == datetime.now(UTC).date().isoformat()
    assert [date.fromisoformat(day) - date.fromisoformat(days[0]) for day in days] == [timedelta(n) for n in range(30)]
    assert all(entry["uploads"] == 0 for entry in empty["uploads_per_day"])

    same = labelled.unique_png("same")
    first = labelled.uploaded(stack, same)
    labelled.uploaded(stack, same)  # identical: the same file on disk
    other = labelled.uploaded(stack)
    stats = stack.get("/api/stats", stack.admin()).json()
    assert stats["images"] == 3
    assert stats["bytes_stored"] == first["size"] + other["size"]
    assert stats["uploads_per_day"][-1] == {"date": days[-1], "uploads": 3}
    assert sum(entry["uploads"] for entry in stats["uploads_per_day"]) == 3
    assert 0 < stats["disk_free_bytes"] <= stats["disk_total_bytes"]
