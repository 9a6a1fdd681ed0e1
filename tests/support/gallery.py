"""The All images view measured in a real browser: how many image bytes it downloads and
how soon its visible tiles are drawn. Shared by the browser tests
(tests/e2e/test_page_previews.py) and the bench (bench/imagehost_bench/gallery.py), so
both measure the same thing the same way.

    put_photos(stack, 24)                    # 24 photos of 3000x2000, their previews made
    page = browser.new_context(base_url=stack.base_url).new_page()  # nothing cached
    weight = open_gallery(page, stack.admin_token, tiles=24)
    weight.image_bytes, weight.drawn_ms, weight.full_files

Everything is read in the page: byte counts from Resource Timing (encodedBodySize: the
bytes on the wire before any content decoding, same-origin so always given), times from
performance.now() (milliseconds since the navigation started), an image's "drawn" moment
from its load event (complete, and naturalWidth > 0), recorded by a script the page runs
before its own.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from .pictures import photo
from .stack import Stack

# What the page keeps the admin token under (services/frontend/js/storage.js).
ADMIN_TOKEN_KEY = "imagehost.admin-token"
# An image's full file, as opposed to its preview under /images/previews/.
FULL_FILE = re.compile(r"^/images/(?!previews/)[^/]+$")

PREVIEWS_WAIT_S = 90

# Runs in every document before the page's scripts: notes when each <img> loaded, and
# hands the tab the admin token as the Images view's form would have stored it.
_BEFORE_THE_PAGE = """
window.__imageLoadedAt = new WeakMap();
document.addEventListener('load', (event) => {
  if (event.target instanceof HTMLImageElement && event.target.naturalWidth > 0) {
    window.__imageLoadedAt.set(event.target, performance.now());
  }
}, true);
"""

# Waits (a frame at a time, until `deadline` ms after navigation) until `tiles` cards are
# there and every card in the window has its preview drawn; answers when the last of
# those was drawn, or null for drawnMs if they were not all drawn by the deadline.
_VISIBLE_TILES_DRAWN = """
async ([tiles, deadline]) => {
  const inWindow = (element) => {
    const box = element.getBoundingClientRect();
    return box.bottom > 0 && box.right > 0 && box.top < innerHeight && box.left < innerWidth;
  };
  const drawnAt = (card) => {
    const image = card.querySelector('img');
    if (!image || !image.complete || image.naturalWidth === 0) return null;
    return window.__imageLoadedAt.get(image) ?? null;
  };
  for (;;) {
    const cards = [...document.querySelectorAll('#all-grid .card')];
    const visible = cards.filter(inWindow);
    const times = visible.map(drawnAt);
    if (cards.length >= tiles && visible.length > 0 && times.every((time) => time !== null)) {
      return { drawnMs: Math.max(...times), tiles: cards.length, visible: visible.length };
    }
    if (performance.now() > deadline) {
      return { drawnMs: null, tiles: cards.length, visible: visible.length,
               drawn: times.filter((time) => time !== null).length };
    }
    await new Promise((resolve) => requestAnimationFrame(resolve));
  }
}
"""

# Scrolls the grid's end into view and waits (bounded) until every card's image has
# loaded or failed, so the bytes counted are the whole view's, not only the first rows'.
_EVERY_TILE_SETTLED = """
async (deadline) => {
  window.scrollTo(0, document.body.scrollHeight);
  const until = performance.now() + deadline;
  while (performance.now() < until) {
    const images = [...document.querySelectorAll('#all-grid .card img')];
    if (images.every((image) => image.complete)) return images.length;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return -1;
}
"""

_IMAGE_RESOURCES = """
() => performance.getEntriesByType('resource')
  .filter((entry) => entry.initiatorType === 'img' || new URL(entry.name).pathname.startsWith('/images/'))
  .map((entry) => [entry.name, entry.encodedBodySize])
"""


def put_photos(stack: Stack, count: int) -> list[dict]:
    """Upload `count` camera-sized photos (pictures.photo: 3000x2000 JPEGs of 2-3 MB),
    named photo-00.jpg and on, and wait until their previews are made; their upload
    answers. Raises RuntimeError if an upload is refused, TimeoutError (wait_for_previews)."""
    answers = []
    for seed in range(count):
        reply = stack.upload(photo(seed), f"photo-{seed:02d}.jpg", "image/jpeg")
        if reply.status != 201:
            raise RuntimeError(f"uploading photo-{seed:02d}.jpg answered {reply.status}: {reply.body[:300]!r}")
        answers.append(reply.json())
    wait_for_previews(stack, answers)
    return answers


def wait_for_previews(stack: Stack, answers: list[dict], timeout: float = PREVIEWS_WAIT_S) -> None:
    """Until every upload answer's thumbnail_url answers 200 through nginx; TimeoutError
    naming the missing ones after `timeout` seconds."""
    waiting = {urlsplit(answer["thumbnail_url"]).path for answer in answers}
    deadline = time.monotonic() + timeout
    while waiting and time.monotonic() < deadline:
        waiting = {path for path in waiting if stack.get(path).status != 200}
        if waiting:
            time.sleep(0.2)
    if waiting:
        raise TimeoutError(f"no preview within {timeout:g} s for {sorted(waiting)}")


def wait_for_failed_preview(stack: Stack, name: str, timeout: float = PREVIEWS_WAIT_S) -> None:
    """Until the listing gives image `name` no thumbnail_url (its preview could not be
    made); TimeoutError after `timeout` seconds. Looks at the newest 100 images."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        items = stack.get("/api/images?limit=100", headers=stack.admin()).json()["items"]
        if any(item["name"] == name and item["thumbnail_url"] is None for item in items):
            return
        time.sleep(0.2)
    raise TimeoutError(f"{name}'s preview was not given up on within {timeout:g} s")


@dataclass(frozen=True)
class GalleryWeight:
    """What opening the All images view cost, in one fresh browser context."""

    image_bytes: int  # encoded body bytes of every image response
    image_requests: int  # image responses (Resource Timing entries)
    full_files: list[str]  # paths of full image files requested (previews are not)
    tiles: int  # cards in the grid
    visible_tiles: int  # cards in the window
    drawn_tiles: int  # of those, how many were drawn by the deadline
    drawn_ms: float | None  # navigation start -> last visible tile drawn; None: not all by the deadline


def open_gallery(page, admin_token: str, tiles: int, deadline_ms: float = 15_000) -> GalleryWeight:
    """Open /#images in `page` (a fresh page whose context has the stack's base_url, and
    an empty cache) with `admin_token` already in the tab, wait until `tiles` cards are
    shown and the ones in the window are drawn, then until every card's image has
    settled, and say what it cost. Waits at most about twice `deadline_ms`; a view that
    does not get there is reported (drawn_ms None), not raised."""
    requested: list[str] = []
    page.on("request", lambda request: requested.append(urlsplit(request.url).path))
    token = f"sessionStorage.setItem({json.dumps(ADMIN_TOKEN_KEY)}, {json.dumps(admin_token)});"
    page.add_init_script(_BEFORE_THE_PAGE + token)
    page.goto("/#images")
    drawn = page.evaluate(_VISIBLE_TILES_DRAWN, [tiles, deadline_ms])
    page.evaluate(_EVERY_TILE_SETTLED, deadline_ms)
    resources = page.evaluate(_IMAGE_RESOURCES)
    return GalleryWeight(
        image_bytes=sum(size for _, size in resources),
        image_requests=len(resources),
        full_files=[path for path in requested if FULL_FILE.match(path)],
        tiles=drawn["tiles"],
        visible_tiles=drawn["visible"],
        drawn_tiles=drawn["visible"] if drawn["drawnMs"] is not None else drawn["drawn"],
        drawn_ms=drawn["drawnMs"],
    )
