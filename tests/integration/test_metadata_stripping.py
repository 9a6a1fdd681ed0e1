"""Location and camera data never leave the server (issue 12): camera-like files made in
tests/support/camera.py are uploaded through nginx, and the file nginx serves is read
with Pillow and with exiftool (not our parser) and decoded to compare its pixels with
the upload's."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess

import pytest
from imagehost.validation import ACCEPTED_TYPES
from PIL import Image
from support import camera
from support.stack import require

CAMERA_FILES = {
    "jpeg, orientation 6": (lambda: camera.camera_jpeg(6), "image/jpeg", 6),
    "jpeg, orientation 8": (lambda: camera.camera_jpeg(8), "image/jpeg", 8),
    "jpeg, upright": (lambda: camera.camera_jpeg(1), "image/jpeg", 1),
    "png, orientation 6": (lambda: camera.camera_png(6), "image/png", 6),
    "png, upright": (lambda: camera.camera_png(1), "image/png", 1),
    "gif, animated": (camera.camera_gif, "image/gif", 1),
    # Chromium does not apply a WebP's EXIF orientation: none is kept, the size is as stored.
    "webp, lossy": (lambda: camera.camera_webp("lossy"), "image/webp", 1),
    "webp, animated": (lambda: camera.camera_webp("animated"), "image/webp", 1),
    # An AVIF turns by its irot and imir properties (kept), not by EXIF (all of it goes);
    # Pillow reports them as an orientation, exiftool as QuickTime:Rotation.
    "avif, orientation 6": (lambda: camera.camera_avif(6), "image/avif", 6),
    "avif, orientation 8": (lambda: camera.camera_avif(8), "image/avif", 8),
    "avif, upright": (lambda: camera.camera_avif(1), "image/avif", 1),
}
ACCEPTED = {image_type.mime for image_type in ACCEPTED_TYPES}


def upload_and_fetch(stack, data: bytes, content_type: str) -> tuple[dict, bytes]:
    if content_type not in ACCEPTED:  # WebP, on a branch where validation does not accept it yet
        pytest.skip(f"{content_type} is not an accepted type in this version")
    reply = stack.upload(data, "photo", content_type)
    assert reply.status == 201, reply.body
    answer = reply.json()
    served = stack.get(f"/images/{answer['name']}")
    assert served.status == 200
    return answer, served.body


@pytest.mark.parametrize("case", CAMERA_FILES)
def test_served_file_has_no_location_camera_owner_or_text_metadata(stack, case):
    make, content_type, _ = CAMERA_FILES[case]
    _, served = upload_and_fetch(stack, make(), content_type)

    with Image.open(io.BytesIO(served)) as image:
        exif = image.getexif()
        assert set(exif) <= {camera.ORIENTATION_TAG}
        assert not exif.get_ifd(camera.GPS_IFD)
        assert not {"xmp", "XML:com.adobe.xmp", "photoshop", "comment", "Author", "Comment"} & set(image.info)
        assert not getattr(image, "text", {})
        if content_type == "image/jpeg":
            assert {name for name, _ in image.applist} <= {"APP0", "APP1", "APP2"}
    assert [text for text in camera.PRIVATE if text.encode() in served] == []


# exiftool's groups (-G1) that hold only metadata; IFD0 may keep its Orientation alone.
METADATA_GROUPS = ("GPS", "ExifIFD", "IFD1", "IPTC", "Photoshop", "XMP", "MakerNotes")
METADATA_TAGS = {"File:Comment", "PNG:Author", "PNG:Comment", "PNG:ModifyDate", "Composite:GPSPosition"}


def exiftool_tags(data: bytes, tmp_path) -> dict[str, object]:
    """Every tag exiftool (Debian's libimage-exiftool-perl) finds in `data`, by group:name."""
    require(shutil.which("exiftool") is not None, "exiftool is not installed (make test installs it)")
    path = tmp_path / "served"
    path.write_bytes(data)
    result = subprocess.run(
        ["exiftool", "-j", "-G1", "-a", "-n", str(path)], capture_output=True, check=True, timeout=60
    )
    return json.loads(result.stdout)[0]


@pytest.mark.parametrize("case", CAMERA_FILES)
def test_exiftool_finds_no_location_camera_owner_or_text_metadata_in_the_served_file(stack, case, tmp_path):
    make, content_type, orientation = CAMERA_FILES[case]
    _, served = upload_and_fetch(stack, make(), content_type)

    tags = exiftool_tags(served, tmp_path)

    found = {
        name
        for name in tags
        if name.split(":")[0].startswith(METADATA_GROUPS)
        or name in METADATA_TAGS
        or (name.startswith("IFD0:") and name != "IFD0:Orientation")
    }
    assert found == set()
    assert tags.get("IFD0:Orientation", 1) == (1 if content_type == "image/avif" else orientation)
    assert [text for text in camera.PRIVATE if text in json.dumps(tags)] == []


@pytest.mark.parametrize("case", CAMERA_FILES)
def test_served_file_decodes_to_the_uploads_pixels_with_its_colour_profile(stack, case):
    make, content_type, _ = CAMERA_FILES[case]
    data = make()
    _, served = upload_and_fetch(stack, data, content_type)

    assert camera.pixels(served) == camera.pixels(data)
    with Image.open(io.BytesIO(data)) as original, Image.open(io.BytesIO(served)) as image:
        assert image.info.get("icc_profile") == original.info.get("icc_profile")
        assert image.info.get("loop") == original.info.get("loop")


@pytest.mark.parametrize("case", CAMERA_FILES)
def test_orientation_is_kept_and_the_answer_gives_the_size_as_displayed(stack, case):
    make, content_type, orientation = CAMERA_FILES[case]
    data = make()
    answer, served = upload_and_fetch(stack, data, content_type)

    with Image.open(io.BytesIO(served)) as image:
        assert image.getexif().get(camera.ORIENTATION_TAG, 1) == orientation
        stored_width, stored_height = image.size
    turned = orientation in (5, 6, 7, 8)
    assert (answer["width"], answer["height"]) == (
        (stored_height, stored_width) if turned else (stored_width, stored_height)
    )


def test_the_answers_size_and_sha256_are_the_served_files(stack):
    answer, served = upload_and_fetch(stack, camera.camera_jpeg(6), "image/jpeg")

    assert answer["size"] == len(served)
    assert answer["sha256"] == hashlib.sha256(served).hexdigest()


def test_with_strip_metadata_false_the_file_is_served_as_uploaded(stack_factory):
    stack = stack_factory(STRIP_METADATA="false")
    data = camera.camera_jpeg(6)

    answer, served = upload_and_fetch(stack, data, "image/jpeg")

    assert served == data
    with Image.open(io.BytesIO(data)) as image:
        assert (answer["width"], answer["height"]) == (image.height, image.width)


@pytest.mark.parametrize("orientation", [6, 8, 5])
def test_an_avif_keeps_its_rotation_and_mirroring_and_loses_its_exif_and_xmp_items(stack, tmp_path, orientation):
    data = camera.camera_avif(orientation)
    _, served = upload_and_fetch(stack, data, "image/avif")

    tags, uploaded = exiftool_tags(served, tmp_path), exiftool_tags(data, tmp_path)

    assert len(served) == len(data)
    assert tags.get("QuickTime:Rotation") == uploaded.get("QuickTime:Rotation")
    with Image.open(io.BytesIO(served)) as image:  # Pillow reads irot and imir as an orientation
        assert image.getexif().get(camera.ORIENTATION_TAG) == orientation
    assert "IFD0:Make" in uploaded and "XMP-dc:Creator" in uploaded
    assert not [name for name in tags if name.startswith(("IFD0", "GPS", "ExifIFD", "XMP"))]
