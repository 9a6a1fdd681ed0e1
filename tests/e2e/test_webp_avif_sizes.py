"""The size stored for a WebP or an AVIF is the size Chromium shows it at.

validation.py reads these sizes from the files' headers (VP8/VP8L/VP8X, ispe and irot),
never by decoding them; here each file, made by Pillow, is loaded from a data: URL and
its naturalWidth x naturalHeight compared with what `read_image_info` says.
"""

from __future__ import annotations

import base64
import io

import pytest
from imagehost.validation import read_image_info
from page_actions import natural_size
from PIL import Image
from support.encoded import animated_webp, encoded

pytestmark = pytest.mark.runs_once  # the browser alone; no app started


def rotated_avif(orientation: int) -> bytes:
    """A 60x20 AVIF whose EXIF orientation Pillow writes as an irot (and imir) box."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encoded("AVIF", (60, 20), exif=exif.tobytes())


FILES = {
    "webp-lossy": encoded("WEBP", (37, 23), lossless=False),
    "webp-lossless": encoded("WEBP", (37, 23), lossless=True),
    "webp-lossy-with-alpha": encoded("WEBP", (37, 23), mode="RGBA", lossless=False),
    "webp-animated": animated_webp((40, 30)),
    "avif": encoded("AVIF", (37, 23)),
    "avif-with-alpha": encoded("AVIF", (37, 23), mode="RGBA"),
    "avif-rotated-90": rotated_avif(6),
    "avif-rotated-270": rotated_avif(8),
    "avif-rotated-180": rotated_avif(3),
}


@pytest.mark.parametrize("name", FILES)
def test_a_webp_or_avif_is_stored_with_the_size_chromium_shows_it_at(blank_page, name):
    data = FILES[name]
    info = read_image_info(io.BytesIO(data))
    shown = natural_size(blank_page, f"data:{info.type.mime};base64," + base64.b64encode(data).decode())
    assert shown == [info.width, info.height]
