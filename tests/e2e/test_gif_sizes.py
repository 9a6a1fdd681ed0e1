"""The size stored for a GIF is the size Chromium shows it at.

validation.py reads a GIF's width and height from its blocks, never by decoding it; this
is the check of that rule against the real browser: each crafted GIF is loaded from a
data: URL and its naturalWidth x naturalHeight compared with what `read_image_info` says.
"""

from __future__ import annotations

import base64
import io

import pytest
from imagehost.validation import read_image_info
from page_actions import natural_size
from support import images

pytestmark = pytest.mark.runs_once  # the browser alone; no app started

frame, GCE = images.gif_frame, images.GIF_GRAPHIC_CONTROL
GIFS = {
    "frame-larger-than-the-screen": images.gif_of_blocks(1, 1, [frame(0, 0, 100, 50)]),
    "frame-offset": images.gif_of_blocks(1, 1, [frame(10, 20, 100, 50)]),
    "frame-taller-only": images.gif_of_blocks(200, 10, [frame(0, 0, 100, 50)]),
    "frame-past-the-screen": images.gif_of_blocks(10, 10, [frame(20, 20, 5, 5)]),
    "second-frame-larger": images.gif_of_blocks(10, 10, [GCE + frame(0, 0, 5, 5), GCE + frame(0, 0, 100, 50)]),
    "zero-screen": images.gif_of_blocks(0, 0, [frame(0, 0, 30, 40)]),
    "zero-size-frame-past-the-screen": images.gif_of_blocks(10, 10, [frame(20, 20, 0, 0)]),
    "gif87a-smaller-frame": images.gif_of_blocks(10, 20, [frame(0, 0, 4, 3)], version=b"87a"),
    "gif87a-larger-frame": images.gif_of_blocks(10, 20, [frame(0, 0, 40, 3)], version=b"87a"),
    "truncated": images.gif_of_blocks(30, 40, [frame(0, 0, 30, 40)])[:-3],
    "zero-bytes-then-a-larger-frame": images.gif_of_blocks(10, 10, [frame(0, 0, 10, 10)], trailer=False)
    + b"\0\0"
    + frame(0, 0, 500, 500),
}


@pytest.mark.parametrize("name", GIFS)
def test_a_gif_is_stored_with_the_size_chromium_shows_it_at(blank_page, name):
    data = GIFS[name]
    info = read_image_info(io.BytesIO(data))
    shown = natural_size(blank_page, "data:image/gif;base64," + base64.b64encode(data).decode())
    assert shown == [info.width, info.height]
