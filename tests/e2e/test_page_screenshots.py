"""Makes the screenshots of docs/screenshots/ from a real stack. Every run checks that the
scene can still be staged (into test-output/e2e/docs/); to replace the files in docs/:

    UPDATE_SCREENSHOTS=1 .venv/bin/python -m pytest tests/e2e/test_page_screenshots.py

upload.png: the Upload view with an upload in progress, one the server refused and some
finished ones. images.png: the Images view unlocked with the admin token: the owner's
overview, this browser's uploads and all images: camera-sized photos (3000x2000) with
titles and tags, shown by their previews, and the placeholder of an image whose preview
could not be made. album.png: an album's page (/a/<id>). image-page.png: an image's page
(/i/<name>) with its title, description and tags.
"""

from __future__ import annotations

import json
import os
import re
import struct
import zlib
from pathlib import Path

from page_actions import a_file, choose_files, picture, upload_row
from playwright.sync_api import expect
from support import images
from support.client import bearer
from support.gallery import wait_for_failed_preview, wait_for_previews
from support.pictures import landscape, photo

REPO = Path(__file__).resolve().parents[2]


def expect_every_image_loaded(page) -> None:
    """Every <img> of the page has been drawn (a preview still being made is asked for again)."""
    pictures = page.locator("img")
    for index in range(pictures.count()):
        expect(pictures.nth(index)).not_to_have_js_property("naturalWidth", 0)


DOCS = (
    REPO / "docs" / "screenshots"
    if os.environ.get("UPDATE_SCREENSHOTS") == "1"
    else REPO / "test-output" / "e2e" / "docs"
)
DESKTOP = {"width": 1280, "height": 900}


def padded(png: bytes, extra_bytes: int) -> bytes:
    """`png` made bigger with a private ancillary chunk of random bytes (decoders skip it)."""
    data = os.urandom(extra_bytes)
    chunk = struct.pack(">I", len(data)) + b"prVt" + data + struct.pack(">I", zlib.crc32(b"prVt" + data))
    return png[:-12] + chunk + png[-12:]  # before IEND


def test_the_docs_screenshots_show_a_finished_a_refused_and_an_uploading_file(stack_factory, open_page):
    stack = stack_factory()
    DOCS.mkdir(parents=True, exist_ok=True)
    page = open_page(stack.base_url, viewport=DESKTOP, color_scheme="light")
    page.goto("/#upload")

    # Finished uploads, one after another so the list reads in a steady order.
    for seed, name in enumerate(["harbour-at-dusk.png", "green-valley.png"]):
        choose_files(page, [picture(name, seed)])
        expect(upload_row(page, name).get_by_text("Uploaded")).to_be_visible()
    page.get_by_role("button", name="Clear finished").click()
    choose_files(page, [picture("meadow-in-june.png", 5)])
    expect(upload_row(page, "meadow-in-june.png").get_by_text("Uploaded")).to_be_visible()

    # One the server refuses: text with an image's name.
    choose_files(page, [a_file("scan-0042.png", b"%PDF-1.7 not really a picture\n" * 20)])
    expect(upload_row(page, "scan-0042.png").locator(".upload__status")).not_to_have_text("Waiting…")
    expect(upload_row(page, "scan-0042.png")).to_have_attribute("data-state", "failed")

    # One in progress: a slow connection, emulated by Chromium, so progress is real.
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 40, "downloadThroughput": -1, "uploadThroughput": 256 * 1024},
    )
    choose_files(page, [a_file("panorama.png", padded(landscape(2, 480, 320), 3 * 1024 * 1024))])
    expect(upload_row(page, "panorama.png").locator(".upload__status")).to_have_text(
        re.compile(r"Uploading… (3[5-9]|4\d|5\d)% ·"), timeout=30_000
    )
    page.mouse.move(0, 0)
    screenshot(page, DOCS / "upload.png")

    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    expect(upload_row(page, "panorama.png").get_by_text("Uploaded")).to_be_visible(timeout=30_000)

    # Images from other people, for "All images": one whose preview cannot be made (a frame
    # header over no picture data), then camera photos with titles and tags, shown by their
    # previews.
    broken = stack.upload(images.jpeg_of_size(180_000, 4000, 3000), "old-scan.jpg", "image/jpeg").json()
    others = {
        "teal-bay.jpg": ("Teal bay", ["sea", "summer"]),
        "pink-hour.jpg": ("The pink hour", ["evening"]),
        "golden-dunes.jpg": ("Golden dunes", ["desert", "summer"]),
    }
    photos = []
    for seed, (name, (title, tags)) in enumerate(others.items(), start=6):
        answer = stack.upload(photo(seed), name, "image/jpeg")
        assert answer.status == 201
        labels = json.dumps({"title": title, "tags": tags}).encode()
        headers = {**stack.admin(), "Content-Type": "application/json"}
        assert stack.request("PATCH", f"/api/images/{answer.json()['name']}", labels, headers).status == 200
        photos.append(answer.json())
    wait_for_previews(stack, photos)
    wait_for_failed_preview(stack, broken["name"])

    page.get_by_role("link", name="Images", exact=True).click()
    page.get_by_placeholder("Admin token").fill(stack.admin_token)
    page.get_by_role("button", name="Show all images").click()
    expect(page.locator("#all-grid .card")).to_have_count(8)
    expect(page.locator("#overview rect.chart__bar")).to_have_count(30)
    expect(page.locator("#all-grid .card__placeholder")).to_have_text(["No preview"])
    previews = page.locator(".card img")
    expect(previews).to_have_count(11)  # 4 in My uploads, 7 in All images
    for index in range(previews.count()):  # a preview still being made is asked for again
        expect(previews.nth(index)).not_to_have_js_property("naturalWidth", 0)
    screenshot(page, DOCS / "images.png")


# (file name, title, description, tags) of the album's images, in order.
ALBUM = [
    ("harbour.png", "Harbour at dusk", "Fishing boats coming in as the sun goes down.", ["sea", "evening"]),
    ("valley.png", "Green valley", "", ["hills"]),
    ("violet.png", "Violet hour", "", []),
    ("dunes.png", "Golden dunes", "", ["desert"]),
    ("snow.png", "First snow", "", ["winter"]),
    ("bay.png", "Teal bay", "", ["sea"]),
]


def test_the_docs_screenshots_show_an_album_and_an_image_page(stack_factory, open_page):
    stack = stack_factory()
    DOCS.mkdir(parents=True, exist_ok=True)
    images = []
    for seed, (file_name, title, description, tags) in enumerate(ALBUM):
        image = stack.upload(landscape(seed, 480, 320), file_name).json()
        labels = json.dumps({"title": title, "description": description, "tags": tags}).encode()
        headers = {"Content-Type": "application/json", **bearer(image["delete_token"])}
        assert stack.request("PATCH", f"/api/images/{image['name']}", labels, headers).status == 200
        images.append(image)
    body = {
        "title": "A week by the sea",
        "description": "Six pictures from the coast and the hills behind it.",
        "images": [{"name": image["name"], "delete_token": image["delete_token"]} for image in images],
    }
    album = stack.request("POST", "/api/albums", json.dumps(body).encode(), {"Content-Type": "application/json"})
    assert album.status == 201
    page = open_page(stack.base_url, viewport=DESKTOP, color_scheme="light")

    page.goto(f"/a/{album.json()['id']}")
    expect(page.locator("#album-body .card")).to_have_count(len(ALBUM))
    expect_every_image_loaded(page)
    screenshot(page, DOCS / "album.png")

    page.goto(f"/i/{images[0]['name']}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Harbour at dusk")
    expect_every_image_loaded(page)
    screenshot(page, DOCS / "image-page.png")


def screenshot(page, path: Path) -> None:
    """The whole page from the top, with no focus ring (the sticky bar must be at the top)."""
    page.evaluate("document.activeElement.blur(); window.scrollTo(0, 0)")
    page.screenshot(path=path, full_page=True)
