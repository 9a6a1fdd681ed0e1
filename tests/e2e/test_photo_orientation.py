"""A phone photo turned by its EXIF orientation still shows upright once its metadata is
removed, at the width and height the upload answer gives (issue 12).

Each camera-like file is uploaded through nginx and the served image loaded in Chromium:
its naturalWidth x naturalHeight, which apply the orientation, are the answer's.
"""

from __future__ import annotations

import pytest
from page_actions import natural_size
from support import camera

PHOTOS = {
    "jpeg, orientation 6": (lambda: camera.camera_jpeg(6, 48, 32), "image/jpeg"),
    "jpeg, orientation 8": (lambda: camera.camera_jpeg(8, 48, 32), "image/jpeg"),
    "png, orientation 6": (lambda: camera.camera_png(6, 40, 24), "image/png"),
    "jpeg, upright": (lambda: camera.camera_jpeg(1, 48, 32), "image/jpeg"),
    # An AVIF turns by its irot and imir properties, which stripping leaves as they are.
    "avif, orientation 6": (lambda: camera.camera_avif(6, 40, 24), "image/avif"),
    "avif, orientation 8": (lambda: camera.camera_avif(8, 40, 24), "image/avif"),
}


@pytest.mark.parametrize("photo", PHOTOS)
def test_a_served_photo_shows_upright_at_the_size_the_answer_gives(stack, blank_page, photo):
    make, content_type = PHOTOS[photo]
    reply = stack.upload(make(), "photo", content_type)
    assert reply.status == 201, reply.body
    answer = reply.json()

    shown = natural_size(blank_page, f"{stack.base_url}/images/{answer['name']}")

    assert shown == [answer["width"], answer["height"]]
