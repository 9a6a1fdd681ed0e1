"""G1: the gallery's page weight (issue 12), in headless Chromium.

A fresh stack holds 24 camera-sized photos (3000x2000 JPEGs of 2-3 MB, made by
support.pictures.photo) with their previews made. Each round opens the All images view
in a fresh browser context (nothing cached) with the admin token, and measures, in the
page, the bytes of every image it downloads (Resource Timing's encodedBodySize) and the
time from the start of the navigation until every tile in the 1280x800 window is drawn
(support.gallery, which the browser tests use as well). Issue 12's targets: at most
1.5 MB of image bytes, visible tiles drawn within 1 s.

Needs Playwright (in the tests' lock, which `make setup` installs) and Debian's Chromium;
without Chromium, the report says the scenario was not measured and why.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import sync_playwright
from support.browser import CHROMIUM_ARGS, VIEWPORT, chromium_binary
from support.gallery import GalleryWeight, open_gallery, put_photos
from support.stack import start_stack

from .scenarios import STACK_SETTINGS, say

PHOTOS = 24  # one page of All images (services/frontend/js/views/all-images.js)


@dataclass
class Gallery:
    """Each round's figures, or why there are none."""

    workers: int
    photos: int = PHOTOS
    rounds: list[GalleryWeight] = field(default_factory=list)
    not_measured: str | None = None


def measure(folder: Path, workers: int, rounds: int) -> Gallery:
    """`rounds` fresh openings of All images on a stack with `workers` workers in `folder`."""
    gallery = Gallery(workers)
    executable = chromium_binary()
    if executable is None:
        gallery.not_measured = "Chromium is not installed (Debian: apt-get install chromium)"
        return gallery
    stack_dir = folder / "gallery"
    with start_stack(stack_dir, timeout=60, WEB_SERVER_WORKERS=str(workers), **STACK_SETTINGS) as stack:
        say(f"gallery: uploading {PHOTOS} photos of 3000x2000 and waiting for their previews")
        put_photos(stack, PHOTOS)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
            try:
                for number in range(rounds):
                    context = browser.new_context(base_url=stack.base_url, viewport=VIEWPORT)
                    try:
                        weight = open_gallery(context.new_page(), stack.admin_token, PHOTOS)
                    finally:
                        context.close()
                    gallery.rounds.append(weight)
                    drawn = "not all drawn" if weight.drawn_ms is None else f"drawn in {weight.drawn_ms:.0f} ms"
                    say(
                        f"gallery, round {number + 1}/{rounds}: {weight.image_bytes:,} bytes of images, "
                        f"{weight.visible_tiles} visible tiles {drawn}"
                    )
            finally:
                browser.close()
    shutil.rmtree(stack_dir, ignore_errors=True)
    return gallery
