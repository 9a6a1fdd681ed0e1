"""Identical uploads are stored once, through the real nginx: each keeps its own name,
delete token and row, deleting one leaves the others served, and nothing in an answer
(the upload's, or the served image's headers) tells a duplicate from a first upload.
Their previews are stored once too (previews.share)."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from imagehost import previews
from imagehost.instance_lock import IMAGES_LOCK_NAME
from support import images
from support.client import bearer

COPIES = 100
THREADS = 16


PREVIEWS_WAIT = 20.0


def inodes_under(folder: Path, *, previews_too: bool = False) -> dict[tuple[int, int], int]:
    """Every file's inode under `folder` (.tmp included, the instance lock not), with its
    st_blocks; the previews folder only with `previews_too` (its files come and go as
    the preview makers work, a moment after each upload)."""
    found: dict[tuple[int, int], int] = {}
    for root, dirs, files in os.walk(folder):
        if not previews_too and Path(root) == Path(folder):
            dirs[:] = [name for name in dirs if name != previews.FOLDER]
        for file in files:
            if file == IMAGES_LOCK_NAME:
                continue
            st = os.lstat(os.path.join(root, file))
            found[(st.st_dev, st.st_ino)] = st.st_blocks
    return found


def upload_ok(stack, data: bytes) -> dict:
    reply = stack.upload(data)
    assert reply.status == 201, reply.body
    return reply.json()


def delete_ok(stack, uploaded: dict) -> None:
    reply = stack.request("DELETE", f"/api/images/{uploaded['name']}", headers=bearer(uploaded["delete_token"]))
    assert reply.status == 204, reply.body


def served(stack, name: str) -> bytes | None:
    reply = stack.get(f"/images/{name}")
    return reply.body if reply.status == 200 else None


def preview_of(stack, uploaded: dict) -> bytes | None:
    reply = stack.get(urlsplit(uploaded["thumbnail_url"]).path)
    return reply.body if reply.status == 200 else None


def previews_of_all(stack, uploads: list[dict]) -> list[bytes]:
    """Each upload's preview, once all are served; fails after PREVIEWS_WAIT seconds."""
    deadline = time.monotonic() + PREVIEWS_WAIT
    found: dict[str, bytes] = {}
    while len(found) < len(uploads):
        for uploaded in uploads:
            if uploaded["name"] not in found and (preview := preview_of(stack, uploaded)) is not None:
                found[uploaded["name"]] = preview
        if len(found) < len(uploads):
            assert time.monotonic() < deadline, f"{len(found)} of {len(uploads)} previews after {PREVIEWS_WAIT:g} s"
            time.sleep(0.1)
    return [found[uploaded["name"]] for uploaded in uploads]


def previews_folder_empty(stack) -> bool:
    """Whether no preview is left, waiting PREVIEWS_WAIT seconds at most (one being made
    while its image was deleted is removed once its maker is done)."""
    deadline = time.monotonic() + PREVIEWS_WAIT
    while stack.stored_previews():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@pytest.fixture
def fresh_stack(stack_factory):
    return stack_factory()


@pytest.mark.local_storage  # a bucket keeps a server-side copy per name instead
def test_a_hundred_identical_uploads_have_their_own_names_and_tokens_and_the_disk_space_of_one(fresh_stack):
    data = images.png(40, 30, extra=b"one of a kind" * 300)
    uploads = [upload_ok(fresh_stack, data) for _ in range(COPIES)]
    assert len({u["name"] for u in uploads}) == COPIES
    assert len({u["delete_token"] for u in uploads}) == COPIES
    assert all(served(fresh_stack, u["name"]) == data for u in uploads)
    on_disk = inodes_under(fresh_stack.images_dir)
    one_file = os.stat(fresh_stack.images_dir / uploads[0]["name"])
    assert list(on_disk) == [(one_file.st_dev, one_file.st_ino)]
    assert sum(on_disk.values()) == one_file.st_blocks > 0
    assert one_file.st_mode & 0o777 == 0o644
    # Their previews too: made once, then shared by hard links.
    assert len(set(previews_of_all(fresh_stack, uploads))) == 1
    preview_files = inodes_under(fresh_stack.images_dir / previews.FOLDER, previews_too=True)
    one_preview = os.stat(fresh_stack.images_dir / previews.FOLDER / f"{uploads[0]['name']}.webp")
    assert list(preview_files) == [(one_preview.st_dev, one_preview.st_ino)]
    assert one_preview.st_nlink == COPIES


def test_deleting_some_identical_uploads_leaves_the_others_previews_served(fresh_stack):
    data = images.png(30, 20, extra=b"shared preview" * 100)
    uploads = [upload_ok(fresh_stack, data) for _ in range(10)]
    preview = previews_of_all(fresh_stack, uploads)[0]
    # One of them was decoded, the others link to its preview: all but one go, so that
    # one most likely among them.
    *gone, kept = uploads[:5] + uploads[6:] + uploads[5:6]
    for uploaded in gone:
        delete_ok(fresh_stack, uploaded)
        fresh_stack.assert_not_served(urlsplit(uploaded["thumbnail_url"]).path)
    assert preview_of(fresh_stack, kept) == preview


def test_deleting_identical_uploads_one_by_one_leaves_the_rest_served_and_at_last_no_file(fresh_stack):
    data = images.png(7, 7)
    uploads = [upload_ok(fresh_stack, data) for _ in range(COPIES)]
    *first, last = uploads
    for uploaded in first:
        delete_ok(fresh_stack, uploaded)
        fresh_stack.assert_not_served(f"/images/{uploaded['name']}")
    assert served(fresh_stack, last["name"]) == data
    assert fresh_stack.get(f"/api/images/{last['name']}", headers=bearer(last["delete_token"])).status == 200
    delete_ok(fresh_stack, last)
    fresh_stack.assert_not_served(f"/images/{last['name']}")
    assert fresh_stack.stored_names() == set()
    assert previews_folder_empty(fresh_stack)


@pytest.mark.local_storage
def test_identical_uploads_at_once_after_a_first_all_share_its_file(fresh_stack):
    data = images.png(9, 9, rgb=(1, 2, 3))
    first = upload_ok(fresh_stack, data)
    with ThreadPoolExecutor(THREADS) as pool:
        uploads = list(pool.map(lambda _: upload_ok(fresh_stack, data), range(COPIES)))
    assert len({u["name"] for u in [first, *uploads]}) == COPIES + 1
    assert len(inodes_under(fresh_stack.images_dir)) == 1
    assert all(served(fresh_stack, u["name"]) == data for u in uploads)


@pytest.mark.local_storage
def test_identical_uploads_racing_from_scratch_are_all_kept_and_all_deletable(fresh_stack):
    # Uploads that look before any of them has a row each keep their own file (at most
    # one per upload in flight); the next upload shares one of them.
    data = images.png(11, 11, rgb=(4, 5, 6))
    with ThreadPoolExecutor(THREADS) as pool:
        uploads = list(pool.map(lambda _: upload_ok(fresh_stack, data), range(THREADS * 2)))
    assert len({u["name"] for u in uploads}) == len(uploads)
    assert 1 <= len(inodes_under(fresh_stack.images_dir)) <= THREADS
    before = set(inodes_under(fresh_stack.images_dir))
    later = upload_ok(fresh_stack, data)
    assert set(inodes_under(fresh_stack.images_dir)) == before
    for uploaded in [*uploads, later]:
        assert served(fresh_stack, uploaded["name"]) == data
        delete_ok(fresh_stack, uploaded)
    assert inodes_under(fresh_stack.images_dir) == {}


@pytest.mark.local_storage
def test_a_different_image_is_not_linked_to_another(fresh_stack):
    one = upload_ok(fresh_stack, images.png(5, 5, rgb=(10, 20, 30)))
    other = upload_ok(fresh_stack, images.png(5, 5, rgb=(10, 20, 31)))
    assert one["size"] == other["size"]
    assert len(inodes_under(fresh_stack.images_dir)) == 2
    assert os.stat(fresh_stack.images_dir / one["name"]).st_nlink == 1


def test_a_duplicates_answer_has_a_first_uploads_shape_with_its_own_name_token_and_time(fresh_stack):
    data = images.png(6, 4)
    first = upload_ok(fresh_stack, data)
    duplicate = upload_ok(fresh_stack, data)
    own = ("name", "url", "thumbnail_url", "delete_token", "delete_url", "delete_page_url", "created_at")
    assert duplicate.keys() == first.keys()
    assert all(duplicate[key] != first[key] for key in own if key != "created_at")
    assert duplicate["created_at"] >= first["created_at"]
    assert {k: v for k, v in duplicate.items() if k not in own} == {k: v for k, v in first.items() if k not in own}
    described = fresh_stack.get(f"/api/images/{duplicate['name']}", headers=bearer(duplicate["delete_token"]))
    secrets = ("delete_token", "delete_url", "delete_page_url")
    assert described.json() == {k: v for k, v in duplicate.items() if k not in secrets}


def test_a_served_image_carries_no_time_of_its_file_so_a_shared_file_shows_no_earlier_upload(fresh_stack):
    data = images.png(6, 5)
    first = upload_ok(fresh_stack, data)
    duplicate = upload_ok(fresh_stack, data)
    first_served = fresh_stack.get(f"/images/{first['name']}")
    duplicate_served = fresh_stack.get(f"/images/{duplicate['name']}")
    assert set(first_served.headers) == set(duplicate_served.headers)
    # Both names are one inode: its modification time, in Last-Modified or an ETag,
    # would tell the second uploader when someone else uploaded the same image.
    for reply in (first_served, duplicate_served):
        assert "Last-Modified" not in reply.headers and "ETag" not in reply.headers
    # Nor by probing: a date after the file's time would get a 304 otherwise.
    since = {"If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"}
    assert fresh_stack.get(f"/images/{duplicate['name']}", headers=since).status == 200
