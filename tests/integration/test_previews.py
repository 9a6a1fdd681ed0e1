"""Previews through the real stack (nginx, the supervisor, its workers and its preview
makers): each upload gets a 400 px WebP served like the image; a file no preview can be
made of stays as it is, with thumbnail_url null; a hung, slow or memory-hungry file costs
its own preview, never a worker or another upload; old images get theirs at start-up."""

from __future__ import annotations

import fcntl
import io
import os
import signal
import struct
import termios
import time
import zlib
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest
from imagehost import previews
from PIL import Image
from support.client import bearer
from support.stack import start_stack

WAIT = 20.0  # the longest any preview, or its failure, may take to show here
SAME_HEADERS = [
    "Cache-Control",
    "Content-Security-Policy",
    "X-Content-Type-Options",
    "Referrer-Policy",
    "X-Frame-Options",
    "Last-Modified",
    "ETag",
]


def photo(width: int = 800, height: int = 600, colour: tuple[int, int, int] = (30, 120, 200)) -> bytes:
    """A real JPEG (the test images of support.images are headers only, not decodable)."""
    out = io.BytesIO()
    picture = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    Image.blend(picture, Image.new("RGB", (width, height), colour), 0.5).save(out, "JPEG", quality=85)
    return out.getvalue()


def broken_png() -> bytes:
    """A PNG whose header and chunk CRCs are right, and whose compressed pixels are not."""
    out = io.BytesIO()
    Image.linear_gradient("L").resize((300, 200)).save(out, "PNG")
    data = bytearray(out.getvalue())
    start = data.index(b"IDAT") + 4
    length = int.from_bytes(data[start - 8 : start - 4], "big")
    data[start + 2 : start + length] = bytes(length - 2)  # after the zlib header: no valid deflate stream
    data[start + length : start + length + 4] = zlib.crc32(bytes(data[start - 4 : start + length])).to_bytes(4, "big")
    return bytes(data)


@pytest.fixture(scope="module")
def big_png() -> bytes:
    """7000 x 7000 pixels (under MAX_IMAGE_PIXELS): over half a second to decode, and
    140 MiB as RGB, in 160 KiB."""
    out = io.BytesIO()
    Image.new("RGB", (7000, 7000), (20, 200, 40)).save(out, "PNG")
    return out.getvalue()


def uploaded(stack, data: bytes, filename: str = "photo.jpg") -> dict:
    reply = stack.upload(data, filename, "image/jpeg")
    assert reply.status == 201, reply.body
    return reply.json()


def path_of(url: str) -> str:
    return urlsplit(url).path


def until(condition: Callable[[], object], what: str, timeout: float = WAIT) -> object:
    """`condition()` once it is truthy, polled for at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout:g} s: {what}")
        time.sleep(0.1)


def preview_served(stack, image: dict):
    """The preview's reply once nginx serves it (200)."""
    url = path_of(image["thumbnail_url"])
    return until(lambda: (reply := stack.get(url)).status == 200 and reply, f"the preview of {image['name']}")


def described(stack, image: dict) -> dict:
    reply = stack.get(f"/api/images/{image['name']}", headers=bearer(image["delete_token"]))
    assert reply.status == 200, reply.body
    return reply.json()


def preview_given_up(stack, image: dict) -> dict:
    """The image's description once its thumbnail_url is null (no preview could be made)."""
    return until(
        lambda: (found := described(stack, image))["thumbnail_url"] is None and found,
        f"thumbnail_url of {image['name']} to become null",
    )


def listed(stack, image: dict) -> dict:
    items = stack.get("/api/images?limit=100", headers=stack.admin()).json()["items"]
    return next(item for item in items if item["name"] == image["name"])


def delete(stack, image: dict) -> None:
    reply = stack.request("DELETE", f"/api/images/{image['name']}", headers=bearer(image["delete_token"]))
    assert reply.status == 204, reply.body


def in_previews(stack) -> list[str]:
    return sorted(stack.stored_previews())


def bytes_waiting_for(pid: int) -> int:
    """How many bytes wait in process `pid`'s stdin pipe (a job handed to a stopped maker)."""
    fd = os.open(f"/proc/{pid}/fd/0", os.O_RDONLY | os.O_NONBLOCK)
    try:
        return struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0" * 4))[0]
    finally:
        os.close(fd)


def one_maker(stack) -> int:
    pids = until(stack.preview_maker_pids, "a preview maker running")
    assert len(pids) == 1, pids
    return pids[0]


def ready_maker(stack) -> int:
    """The one preview maker, once it has made a preview (so it takes jobs)."""
    preview_served(stack, uploaded(stack, photo(64, 48, (9, 9, 9))))
    return one_maker(stack)


# --- a preview for each upload ---------------------------------------------------------------


def test_an_uploaded_photo_gets_a_400_px_webp_preview_served_by_nginx(stack):
    image = uploaded(stack, photo(800, 600))
    assert image["thumbnail_url"].endswith(f"/images/previews/{image['name']}.webp")
    reply = preview_served(stack, image)
    assert reply.headers.get("Content-Type") == "image/webp"
    with Image.open(io.BytesIO(reply.body)) as preview:
        assert (preview.format, preview.size) == ("WEBP", (400, 300))
    assert described(stack, image)["thumbnail_url"] == image["thumbnail_url"]


def test_a_preview_is_served_with_the_same_safe_headers_as_its_image(stack):
    image = uploaded(stack, photo(640, 480))
    preview = preview_served(stack, image)
    original = stack.get(path_of(image["url"]))
    assert original.status == 200
    for header in SAME_HEADERS:
        assert preview.headers.get_all(header) == original.headers.get_all(header), header
    assert "sandbox" in preview.headers["Content-Security-Policy"]
    assert preview.headers["X-Content-Type-Options"] == "nosniff"
    assert "Last-Modified" not in preview.headers and "ETag" not in preview.headers
    since = {"If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"}
    assert stack.get(path_of(image["thumbnail_url"]), headers=since).status == 200


@pytest.mark.parametrize(
    "file_name",
    [
        ".4242-0123456789abcdef.part",  # a maker's unfinished file
        ".hidden.png.webp",
        "notes.txt",
        "AbCdEfGhIjKlMnOp.png",  # an image's name, not a preview's
        "AbCdEfGhIjKlMnOp.svg.webp",
        "AbCdEfGhIjKlMnOp.png.webp.part",
    ],
)
def test_nothing_but_previews_names_is_served_under_images_previews(stack, file_name):
    stack.put_stored(f"{previews.FOLDER}/{file_name}", b"RIFF not for anyone")
    try:
        reply = stack.get(f"/images/previews/{file_name}")
        assert reply.status == 404, (file_name, reply.status)
    finally:
        stack.remove_stored(f"{previews.FOLDER}/{file_name}")


@pytest.mark.parametrize(
    "path",
    ["/images/previews/", "/images/previews", "/images/previews/%2e%2e/", "/images/previews/..%2f.tmp/"],
)
def test_the_previews_folder_itself_is_not_listed(stack, path):
    assert stack.get(path).status == 404


def test_a_preview_not_made_yet_is_a_404_never_the_full_file(stack_factory):
    stack = stack_factory(PREVIEW_WORKERS="0")
    image = uploaded(stack, photo(500, 400))
    assert image["thumbnail_url"] is not None  # pending: the page asks again later
    reply = stack.get(path_of(image["thumbnail_url"]))
    assert reply.status == 404
    assert reply.headers.get("Cache-Control") != "public, max-age=31536000, immutable"


def test_deleting_an_image_deletes_its_preview(stack):
    image = uploaded(stack, photo(600, 500, (200, 10, 10)))
    preview_served(stack, image)
    assert f"{image['name']}.webp" in in_previews(stack)
    delete(stack, image)
    assert f"{image['name']}.webp" not in in_previews(stack)
    stack.assert_not_served(path_of(image["thumbnail_url"]))


# --- files no preview can be made of ------------------------------------------------------------


def test_an_undecodable_upload_is_kept_served_intact_and_its_thumbnail_url_becomes_null(stack):
    data = broken_png()
    reply = stack.upload(data, "broken.png", "image/png")
    assert reply.status == 201, reply.body
    image = reply.json()
    found = preview_given_up(stack, image)
    assert {key: value for key, value in found.items() if key != "thumbnail_url"} == {
        key: value
        for key, value in image.items()
        if key not in ("thumbnail_url", "delete_token", "delete_url", "delete_page_url")
    }
    assert listed(stack, image)["thumbnail_url"] is None
    assert stack.get(path_of(image["url"])).body == data
    stack.assert_not_served(f"/images/previews/{image['name']}.webp")
    assert not [name for name in in_previews(stack) if image["name"] in name or name.startswith(".")]


def test_a_preview_past_preview_timeout_is_given_up_its_maker_replaced_and_the_next_is_made(stack_factory, big_png):
    stack = stack_factory(PREVIEW_TIMEOUT="0.3")
    first_maker = one_maker(stack)
    slow = uploaded(stack, big_png, "big.png")
    preview_given_up(stack, slow)
    until(lambda: stack.preview_maker_pids() not in ([], [first_maker]), "another preview maker")
    assert first_maker not in stack.preview_maker_pids()
    small = uploaded(stack, photo(60, 40))  # a few milliseconds' work
    preview_served(stack, small)
    assert "took longer than PREVIEW_TIMEOUT" in stack.app_log()
    assert stack.get(path_of(slow["url"])).status == 200


def test_an_image_needing_more_than_preview_memory_mb_costs_its_preview_and_nothing_else(stack_factory, big_png):
    stack = stack_factory(PREVIEW_MEMORY_MB="100")
    workers = sorted(stack.worker_pids())
    before = uploaded(stack, photo(400, 300))
    preview_served(stack, before)
    big = uploaded(stack, big_png, "big.png")
    preview_given_up(stack, big)
    after = uploaded(stack, photo(420, 300))
    preview_served(stack, after)
    assert sorted(stack.worker_pids()) == workers
    assert stack.get("/api/health").status == 200
    assert "needs more memory than allowed" in stack.app_log()
    assert described(stack, before)["thumbnail_url"] is not None


def test_uploads_keep_answering_while_the_preview_maker_is_stuck(stack_factory):
    stack = stack_factory(PREVIEW_TIMEOUT="60")
    maker = ready_maker(stack)
    os.kill(maker, signal.SIGSTOP)  # stuck on its next file, as on a very slow one
    try:
        started = time.monotonic()
        stuck_on = uploaded(stack, photo(300, 300))
        until(lambda: bytes_waiting_for(maker) > 0, "the job handed to the stopped maker")
        others = [uploaded(stack, photo(200, 150, (i * 20, 0, 0))) for i in range(10)]
        assert time.monotonic() - started < 15  # generous: each upload alone takes milliseconds
        assert stack.get(path_of(stuck_on["thumbnail_url"])).status == 404
    finally:
        os.kill(maker, signal.SIGCONT)
    for image in [stuck_on, *others]:
        preview_served(stack, image)


def test_a_hung_preview_maker_is_killed_after_preview_timeout_and_the_workers_are_untouched(stack_factory):
    stack = stack_factory(PREVIEW_TIMEOUT="1")
    workers = sorted(stack.worker_pids())
    maker = ready_maker(stack)
    os.kill(maker, signal.SIGSTOP)
    hung = uploaded(stack, photo(300, 300))
    until(lambda: bytes_waiting_for(maker) > 0, "the job handed to the stopped maker")
    preview_given_up(stack, hung)
    until(lambda: maker not in stack.preview_maker_pids() and stack.preview_maker_pids(), "another preview maker")
    later = uploaded(stack, photo(320, 300))
    preview_served(stack, later)
    assert sorted(stack.worker_pids()) == workers


def test_a_crashed_preview_maker_costs_only_the_preview_it_was_making(stack_factory):
    stack = stack_factory(PREVIEW_TIMEOUT="60")
    maker = ready_maker(stack)
    os.kill(maker, signal.SIGSTOP)
    lost = uploaded(stack, photo(300, 300))
    until(lambda: bytes_waiting_for(maker) > 0, "the job handed to the stopped maker")
    os.kill(maker, signal.SIGKILL)
    found = preview_given_up(stack, lost)
    assert found["name"] == lost["name"]
    later = uploaded(stack, photo(320, 300))
    preview_served(stack, later)
    assert "the preview maker died (signal SIGKILL)" in stack.app_log()


# --- images from before, and start-up -------------------------------------------------------------


def test_images_uploaded_while_no_maker_ran_get_their_previews_at_the_next_start(tmp_path):
    stack = start_stack(tmp_path / "stack", PREVIEW_WORKERS="0")
    with stack:
        old = [uploaded(stack, photo(300 + i, 200)) for i in range(3)]
        assert in_previews(stack) == []
    with start_stack(tmp_path / "stack", PREVIEW_WORKERS="1") as restarted:
        for image in old:
            reply = preview_served(restarted, image)
            assert reply.headers.get("Content-Type") == "image/webp"


def test_start_up_removes_orphan_previews_and_dot_files_and_makes_a_lost_preview_again(tmp_path):
    with start_stack(tmp_path / "stack") as stack:
        kept, lost = uploaded(stack, photo(310, 200)), uploaded(stack, photo(320, 200))
        gone = uploaded(stack, photo(330, 200))
        for image in (kept, lost, gone):
            preview_served(stack, image)
    stack.remove_stored(f"{previews.FOLDER}/{lost['name']}.webp")
    stack.remove_stored(gone["name"])  # its row goes at start-up: its preview follows
    stack.put_stored(f"{previews.FOLDER}/Orphan0000000001.png.webp", b"RIFF nobody's")
    # A maker's unfinished file is in the local folder (with a bucket too: its scratch space).
    unfinished = stack.images_dir / previews.FOLDER / previews.temp_name(4242, "0123456789abcdef")
    unfinished.parent.mkdir(exist_ok=True)
    unfinished.write_bytes(b"half a preview")
    with start_stack(tmp_path / "stack") as restarted:
        # In the store, not just served: nginx may still have it from before (a bucket's cache).
        until(lambda: f"{lost['name']}.webp" in in_previews(restarted), "the lost preview made again")
        preview_served(restarted, lost)
        assert in_previews(restarted) == sorted([f"{kept['name']}.webp", f"{lost['name']}.webp"])
        restarted.assert_not_served(path_of(gone["thumbnail_url"]))
        assert not unfinished.exists()


def test_the_images_after_one_that_needs_too_much_memory_still_get_their_previews(tmp_path, big_png):
    # Newest first: the big one's maker ends after answering, and the next job must not
    # go down with it (nor, after MAX_JOBS, with a maker that ends on its own).
    with start_stack(tmp_path / "stack", PREVIEW_WORKERS="0") as stack:
        small = [uploaded(stack, photo(300 + i, 200)) for i in range(3)]
        big = uploaded(stack, big_png, "big.png")
    with start_stack(tmp_path / "stack", PREVIEW_WORKERS="1", PREVIEW_MEMORY_MB="100") as restarted:
        preview_given_up(restarted, big)
        for image in small:
            preview_served(restarted, image)
            assert described(restarted, image)["thumbnail_url"] is not None
