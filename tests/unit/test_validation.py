"""Type detection and dimension parsing on crafted bytes, names and original names."""

from __future__ import annotations

import io
import struct

import pytest
from imagehost.validation import (
    GIF,
    JPEG,
    PNG,
    NotAnImage,
    could_still_be_image,
    detect_type,
    is_image_name,
    read_image_info,
    sanitize_original_name,
)
from support import images


def info_of(data: bytes):
    return read_image_info(io.BytesIO(data))


@pytest.mark.parametrize(
    "data, expected",
    [
        (images.png(), PNG),
        (images.jpeg(), JPEG),
        (images.gif(), GIF),
        (images.gif(version=b"87a"), GIF),
        (b"\xff\xd8\xff", JPEG),
        (b"GIF88a", None),
        (b"\x89PNG\r\n\x1a", None),
        (b"\x89PNG\r\n\x1a\x0b", None),
        (b"<svg>", None),
        (b"BM\x00\x00", None),
        (b"RIFF\x00\x00\x00\x00WEBP", None),
        (b"", None),
        (b"%PDF-1.4", None),
        (b"\x00\x00\x00\x0cjP  ", None),
    ],
)
def test_the_type_comes_from_the_magic_bytes(data, expected):
    assert detect_type(data[:8]) is expected


@pytest.mark.parametrize(
    "data, mime, width, height",
    [
        (images.png(1, 1), "image/png", 1, 1),
        (images.png(300, 2), "image/png", 300, 2),
        (images.png_header_only(100_000, 3), "image/png", 100_000, 3),
        (images.gif(65535, 1), "image/gif", 65535, 1),
        (images.gif(10, 20, version=b"87a"), "image/gif", 10, 20),
        (images.jpeg(640, 480), "image/jpeg", 640, 480),
        (images.jpeg(1, 65535, app_segments=5), "image/jpeg", 1, 65535),
        (images.jpeg(33, 44, sof_marker=0xC2), "image/jpeg", 33, 44),  # progressive
        (images.jpeg(33, 44, sof_marker=0xC1), "image/jpeg", 33, 44),
        (images.jpeg(33, 44, sof_marker=0xCF), "image/jpeg", 33, 44),
    ],
)
def test_dimensions_come_from_the_format_header(data, mime, width, height):
    info = info_of(data)
    assert (info.type.mime, info.width, info.height) == (mime, width, height)


def test_jpeg_fill_bytes_before_a_marker_are_skipped():
    data = images.jpeg(7, 9)
    sof = data.index(b"\xff\xc0")
    assert info_of(data[:sof] + b"\xff\xff\xff" + data[sof:]).width == 7


def test_a_jpeg_dht_segment_is_not_mistaken_for_a_frame_header():
    dht = b"\xff\xc4" + struct.pack(">H", 7) + b"\x00\x00\x01\x02\x03"
    data = images.jpeg(7, 9)
    sof = data.index(b"\xff\xc0")
    assert info_of(data[:sof] + dht + data[sof:]).height == 9


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"hello world", id="text"),
        pytest.param(images.PNG_SIGNATURE, id="png-signature-only"),
        pytest.param(images.png()[:20], id="png-truncated-ihdr"),
        pytest.param(images.PNG_SIGNATURE + images.png()[16:40], id="png-without-ihdr"),
        pytest.param(images.png_header_only(0, 5), id="png-zero-width"),
        pytest.param(images.png_header_only(5, 0), id="png-zero-height"),
        pytest.param(images.png()[:12] + b"IDAT" + images.png()[16:], id="png-first-chunk-not-ihdr"),
        pytest.param(b"GIF89a\x01\x00", id="gif-truncated"),
        pytest.param(images.gif(0, 5), id="gif-zero-width"),
        pytest.param(b"\xff\xd8\xff", id="jpeg-magic-only"),
        pytest.param(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", id="jpeg-truncated-app0"),
        pytest.param(images.jpeg()[:-40], id="jpeg-cut-in-frame-header"),
        pytest.param(images.jpeg(0, 5), id="jpeg-zero-width"),
        pytest.param(b"\xff\xd8\xff\xda\x00\x08" + bytes(6), id="jpeg-scan-before-frame"),
        pytest.param(b"\xff\xd8\xff\xe0\x00\x01", id="jpeg-segment-length-below-2"),
        pytest.param(b"\xff\xd8\xff\xe0\xff\xff" + bytes(10), id="jpeg-segment-past-the-end"),
        pytest.param(b"\xff\xd8\xff\xe0\x00\x04\x00\x00XX", id="jpeg-garbage-where-a-marker-belongs"),
        pytest.param(b"\xff\xd8" + (b"\xff\xe1\x00\x02" * 5000), id="jpeg-endless-empty-segments"),
        pytest.param(b"<html>\x89PNG\r\n\x1a\n", id="html-then-png-signature"),
    ],
)
def test_truncated_malformed_or_zero_sized_headers_are_not_images(data):
    with pytest.raises(NotAnImage):
        info_of(data)


def test_a_png_html_polyglot_is_a_png_by_its_first_bytes():
    polyglot = images.png(extra=b"<html><script>alert(1)</script></html>")
    assert info_of(polyglot).type is PNG


def test_a_gif_with_a_script_comment_is_still_only_a_gif():
    assert info_of(images.gif() + b"/*<script>alert(1)</script>*/").type is GIF


@pytest.mark.parametrize(
    "head, possible",
    [(b"", True), (b"\xff", True), (b"\xff\xd8\xff\x00", True), (b"\x89PN", True), (b"GIF8", True),
     (b"GIF87", True), (b"GIF86", False), (b"\x89PNX", False), (b"<", False), (b"\xff\xd9", False)],
)
def test_uploads_stop_being_written_as_soon_as_the_first_bytes_rule_out_an_image(head, possible):
    assert could_still_be_image(head) is possible


@pytest.mark.parametrize(
    "name, valid",
    [
        ("AbCdEfGhIjKlMnOp.png", True),
        ("abc-def_ghi123.jpg", True),
        ("a" * 12 + ".gif", True),
        ("a" * 11 + ".gif", False),
        ("AbCdEfGhIjKlMnOp.jpeg", False),
        ("AbCdEfGhIjKlMnOp.PNG", False),
        ("AbCdEfGhIjKlMnOp.png\n", False),
        ("../AbCdEfGhIjKl.png", False),
        (".AbCdEfGhIjKlMnOp.png", False),
        ("AbCdEfGhIjKlMnOp.png.txt", False),
        ("index.sqlite3", False),
        ("AbCdEfGh%2fIjKlMnOp.png", False),
    ],
)
def test_image_names_follow_the_pattern(name, valid):
    assert is_image_name(name) is valid


@pytest.mark.parametrize(
    "raw, expected",
    [
        (None, ""),
        ("cat.png", "cat.png"),
        ("/etc/passwd", "passwd"),
        ("../../x.png", "x.png"),
        ("C:\\fakepath\\cat.png", "cat.png"),
        ("dir/", ""),
        ("a\x00b\x01c\x7f.png", "abc.png"),
        ("new\r\nline.png", "newline.png"),
        ("tab\there.png", "tabhere.png"),
        ("\u202eevil\u200b.png", "evil.png"),
        ("..", ""),
        (" . spaced . ", "spaced"),
        ("Cafe\u0301.png", "Café.png"),
        ("猫の写真.png", "猫の写真.png"),
        ("x" * 300, "x" * 255),
        ("x" * 300 + ".jpeg", "x" * 250 + ".jpeg"),
        ("x" * 300 + "." + "y" * 40, ("x" * 300 + "." + "y" * 40)[:255]),
    ],
)
def test_original_names_keep_a_safe_short_basename(raw, expected):
    assert sanitize_original_name(raw) == expected


def test_original_names_are_at_most_255_characters_whatever_the_input():
    for raw in ("a" * 10_000, "é" * 10_000 + ".png", "/" * 10_000 + "b", "\x00" * 10_000):
        assert len(sanitize_original_name(raw)) <= 255
