"""Type detection and dimension parsing on crafted bytes, names and original names."""

from __future__ import annotations

import io
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st
from imagehost.validation import (
    AVIF,
    GIF,
    JPEG,
    MAGIC_LENGTH,
    PNG,
    WEBP,
    NotAnImage,
    RefusedType,
    could_still_be_image,
    detect_type,
    is_image_name,
    read_image_info,
    refusal_message,
    sanitize_original_name,
)
from support import images
from support.encoded import animated_webp, encoded, size_of


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
        (b"RIFF\x00\x00\x00\x00WEBP", WEBP),
        (b"RIFF\x00\x00\x00\x00WAVE", None),
        (b"\x00\x00\x00\x1cftypavif", AVIF),
        (b"\x00\x00\x00\x1cftypheic", AVIF),  # by its first bytes: the AVIF reader refuses it
        (b"", None),
        (b"%PDF-1.4", None),
        (b"\x00\x00\x00\x0cjP  ", None),
    ],
)
def test_the_type_comes_from_the_magic_bytes(data, expected):
    assert detect_type(data[:MAGIC_LENGTH]) is expected


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


# --- GIF: every frame's image descriptor --------------------------------------------------

frame = images.gif_frame
GCE, COMMENT, NETSCAPE, PLAIN_TEXT = (
    images.GIF_GRAPHIC_CONTROL,
    images.GIF_COMMENT,
    images.GIF_NETSCAPE_LOOP,
    images.GIF_PLAIN_TEXT,
)


def gif(width, height, *blocks, **kwargs):
    return images.gif_of_blocks(width, height, list(blocks), **kwargs)


@pytest.mark.parametrize(
    "data, shown, canvas",
    [
        # What Chromium shows (naturalWidth x naturalHeight): the screen enlarged to cover
        # the first frame; later frames never change it. The canvas covers every frame.
        pytest.param(gif(1, 1, frame(0, 0, 100, 50)), (100, 50), (100, 50), id="first-frame-larger-than-screen"),
        pytest.param(gif(1, 1, frame(10, 20, 100, 50)), (110, 70), (110, 70), id="first-frame-offset"),
        pytest.param(gif(200, 10, frame(0, 0, 100, 50)), (200, 50), (200, 50), id="first-frame-taller-only"),
        pytest.param(gif(10, 10, frame(20, 20, 5, 5)), (25, 25), (25, 25), id="first-frame-past-the-screen"),
        pytest.param(
            gif(10, 10, frame(0, 0, 5, 5), frame(0, 0, 100, 50)), (10, 10), (100, 50), id="second-frame-larger"
        ),
        pytest.param(
            gif(10, 10, frame(0, 0, 10, 10), frame(8, 8, 5, 5)),
            (10, 10),
            (13, 13),
            id="second-frame-offset-past-the-screen",
        ),
        pytest.param(
            gif(100, 80, *[frame(i, i, 10, 10) for i in range(0, 60, 10)]),
            (100, 80),
            (100, 80),
            id="six-frames-inside-the-screen",
        ),
        pytest.param(
            gif(10, 10, frame(0, 0, 10, 10, local_colors=256), frame(0, 0, 30, 40, local_colors=2)),
            (10, 10),
            (30, 40),
            id="local-colour-tables",
        ),
        pytest.param(
            gif(10, 10, NETSCAPE, COMMENT, GCE, frame(0, 0, 10, 10), GCE, PLAIN_TEXT, frame(0, 0, 20, 10)),
            (10, 10),
            (20, 10),
            id="extensions-between-frames",
        ),
        pytest.param(gif(10, 10, frame(0, 0, 0, 0)), (10, 10), (10, 10), id="zero-size-frame"),
        pytest.param(gif(10, 10, frame(20, 20, 0, 0)), (20, 20), (20, 20), id="zero-size-frame-past-the-screen"),
        pytest.param(gif(0, 0, frame(0, 0, 30, 40)), (30, 40), (30, 40), id="zero-screen-first-frame-gives-size"),
        pytest.param(gif(10, 20, frame(0, 0, 40, 3), version=b"87a"), (40, 20), (40, 20), id="gif87a-alike"),
        pytest.param(gif(30, 40, frame(0, 0, 30, 40))[:-3], (30, 40), (30, 40), id="truncated-in-the-frame-data"),
        pytest.param(gif(30, 40, frame(0, 0, 30, 40))[:-6], (30, 40), (30, 40), id="truncated-after-the-descriptor"),
        pytest.param(
            gif(30, 40, frame(0, 0, 30, 40), frame(0, 0, 900, 900))[:-10],
            (30, 40),
            (30, 40),
            id="truncated-in-the-second-descriptor",
        ),
        pytest.param(
            gif(30, 40, frame(0, 0, 30, 40), trailer=False) + b"\0\0" + frame(0, 0, 900, 900),
            (30, 40),
            (30, 40),
            id="zero-bytes-where-a-block-belongs-end-the-walk",
        ),
        pytest.param(
            gif(30, 40, frame(0, 0, 30, 40)) + frame(0, 0, 900, 900),
            (30, 40),
            (30, 40),
            id="frames-after-the-trailer-are-ignored",
        ),
        pytest.param(
            gif(1, 1, frame(0, 0, 1, 1, data=b"\xff" + bytes(255) + b"\x00")), (1, 1), (1, 1), id="a-255-byte-sub-block"
        ),
    ],
)
def test_a_gif_is_as_large_as_browsers_show_it_and_its_canvas_covers_every_frame(data, shown, canvas):
    info = info_of(data)
    assert (info.width, info.height) == shown
    assert (info.canvas_width, info.canvas_height) == canvas
    assert info.pixels == canvas[0] * canvas[1]


def test_a_1x1_gif_holding_a_10000x10000_frame_needs_100_megapixels():
    info = info_of(gif(1, 1, frame(0, 0, 1, 1), frame(0, 0, 10_000, 10_000)))
    assert (info.width, info.height, info.pixels) == (1, 1, 100_000_000)


def empty_comments(count: int) -> bytes:
    return b"\x21\xfe\x00" * count


def one_byte_sub_blocks(count: int) -> bytes:
    return b"\x02" + b"\x01\x00" * count + b"\x00"  # after the LZW code size


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(gif(10, 10), id="no-frames"),
        pytest.param(gif(10, 10, COMMENT, GCE), id="extensions-but-no-frame"),
        pytest.param(gif(10, 10, trailer=False), id="header-and-colour-table-only"),
        pytest.param(gif(10, 10, frame(0, 0, 10, 10))[:25], id="truncated-in-the-first-descriptor"),
        pytest.param(gif(10, 10, frame(0, 0, 10, 10))[:16], id="truncated-in-the-colour-table"),
        pytest.param(gif(10, 10, b"\x99", frame(0, 0, 10, 10)), id="a-byte-that-starts-no-block-before-any-frame"),
        pytest.param(gif(0, 0, frame(0, 0, 0, 0)), id="zero-screen-and-zero-frame"),
        pytest.param(gif(0, 10, frame(0, 0, 0, 10)), id="zero-width-everywhere"),
        pytest.param(gif(1, 1, empty_comments(5000), frame(0, 0, 1, 1)), id="over-the-block-limit"),
        pytest.param(gif(1, 1, frame(0, 0, 1, 1)[:-5] + one_byte_sub_blocks(10_000)), id="over-the-sub-block-limit"),
    ],
)
def test_a_gif_without_a_whole_frame_or_beyond_the_walk_limits_is_not_an_image(data):
    with pytest.raises(NotAnImage):
        info_of(data)


def test_the_gif_walk_limits_leave_room_for_real_animations():
    # 2,000 frames, each with a graphic control extension and 300 bytes of 255-byte
    # sub-blocks (what encoders write), and a 1 MiB frame of 64-byte sub-blocks.
    small = frame(0, 0, 64, 64, data=b"\xff" + bytes(255) + b"\x2d" + bytes(45) + b"\x00")
    big = frame(0, 0, 640, 480, data=(b"\x40" + bytes(64)) * (1 << 14) + b"\x00")
    info = info_of(gif(640, 480, NETSCAPE, *[GCE + small] * 2000, GCE, big))
    assert (info.width, info.height) == (640, 480)


def test_the_gif_walk_stays_inside_its_limits_for_millions_of_one_byte_sub_blocks():
    data = gif(1, 1, frame(0, 0, 1, 1)[:-5] + one_byte_sub_blocks(2_500_000))
    with pytest.raises(NotAnImage, match="sub-blocks"):
        info_of(data)


gif_blocks = st.one_of(
    st.builds(
        frame,
        st.integers(0, 65535),
        st.integers(0, 65535),
        st.integers(0, 65535),
        st.integers(0, 65535),
        st.sampled_from([0, 2, 4, 256]),
        st.binary(max_size=20),
    ),
    st.sampled_from([GCE, COMMENT, NETSCAPE, PLAIN_TEXT, b"\x3b", b"\x21", b"\x2c", b"\x00"]),
    st.binary(max_size=12),
)


@given(
    width=st.integers(0, 65535),
    height=st.integers(0, 65535),
    blocks=st.lists(gif_blocks, max_size=8),
    cut=st.integers(0, 64),
)
def test_any_gif_is_read_or_refused_as_not_an_image_and_nothing_else(width, height, blocks, cut):
    data = gif(width, height, *blocks)
    data = data[: len(data) - cut]
    try:
        info = info_of(data)
    except NotAnImage:
        return
    assert 0 < info.width <= info.canvas_width <= 2 * 65535
    assert 0 < info.height <= info.canvas_height <= 2 * 65535


@given(
    data=st.binary(max_size=300), magic=st.sampled_from([b"GIF89a", b"GIF87a", b"\xff\xd8\xff", images.PNG_SIGNATURE])
)
def test_any_bytes_after_the_magic_are_read_or_refused_as_not_an_image(data, magic):
    try:
        info = info_of(magic + data)
    except NotAnImage:
        return
    assert info.width > 0 and info.height > 0 and info.pixels >= info.width * info.height


# --- JPEG ----------------------------------------------------------------------------------


def test_a_jpeg_frame_header_behind_a_mebibyte_of_fill_bytes_is_found():
    data = images.jpeg(7, 9)
    sof = data.index(b"\xff\xc0")
    assert info_of(data[:sof] + b"\xff" * (1 << 20) + data[sof:]).width == 7


def test_a_jpeg_of_fill_bytes_to_its_end_is_not_an_image():
    with pytest.raises(NotAnImage):
        info_of(b"\xff\xd8" + b"\xff" * (1 << 20))


# --- files on disk (reconcile, temp files) ---------------------------------------------------


@pytest.mark.parametrize("data", [images.png(5, 6), images.jpeg(5, 6), gif(5, 6, GCE, frame(0, 0, 5, 6))])
def test_an_image_file_on_disk_reads_like_the_same_bytes_in_memory(tmp_path, data):
    path = tmp_path / "image"
    path.write_bytes(data)
    with open(path, "rb") as f:
        assert read_image_info(f) == info_of(data)


def test_an_empty_file_on_disk_is_not_an_image(tmp_path):
    (tmp_path / "empty").write_bytes(b"")
    with open(tmp_path / "empty", "rb") as f, pytest.raises(NotAnImage):
        read_image_info(f)


def test_a_png_html_polyglot_is_a_png_by_its_first_bytes():
    polyglot = images.png(extra=b"<html><script>alert(1)</script></html>")
    assert info_of(polyglot).type is PNG


def test_a_gif_with_a_script_comment_is_still_only_a_gif():
    assert info_of(images.gif() + b"/*<script>alert(1)</script>*/").type is GIF


@pytest.mark.parametrize(
    "head, possible",
    [
        (b"", True),
        (b"\xff", True),
        (b"\xff\xd8\xff\x00", True),
        (b"\x89PN", True),
        (b"GIF8", True),
        (b"GIF87", True),
        (b"GIF86", False),
        (b"\x89PNG\r\n\x1a\x0b", False),
        (b"RIFF", True),
        (b"RIFF\x00\x01\x02\x03WEB", True),
        (b"RIFF\x00\x01\x02\x03WAVE", False),
        (b"\x00\x00\x00\x1cft", True),  # an ISO-BMFF box size, then the start of ftyp
        (b"\x00\x00\x00\x1cftyp", True),
        (b"\x00\x00\x00\x1cmoov", False),
        (b"<svg xml", False),
        (b"\xff\xd9\x00\x00abcd", False),
    ],
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


# --- WebP and AVIF ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data, image_type",
    [
        pytest.param(encoded("WEBP", (37, 23), lossless=False), WEBP, id="webp-lossy"),
        pytest.param(encoded("WEBP", (37, 23), lossless=True), WEBP, id="webp-lossless"),
        pytest.param(encoded("WEBP", (37, 23), mode="RGBA", lossless=False), WEBP, id="webp-lossy-alpha-vp8x"),
        pytest.param(animated_webp((40, 30)), WEBP, id="webp-animated"),
        pytest.param(encoded("WEBP", (16383, 2), lossless=True), WEBP, id="webp-widest-vp8l"),
        pytest.param(encoded("AVIF", (37, 23)), AVIF, id="avif"),
        pytest.param(encoded("AVIF", (64, 2), mode="RGBA"), AVIF, id="avif-with-alpha"),
    ],
)
def test_webp_and_avif_sizes_agree_with_an_independent_reader(data, image_type):
    info = info_of(data)
    assert (info.type, info.width, info.height) == (image_type, *size_of(data))
    assert info.pixels == info.width * info.height


@pytest.mark.parametrize(
    "data, shown, canvas",
    [
        pytest.param(images.webp(images.vp8(640, 480)), (640, 480), (640, 480), id="vp8"),
        pytest.param(images.webp(images.vp8(0x4000 | 30, 0x8000 | 20)), (30, 20), (30, 20), id="vp8-scale-bits"),
        pytest.param(images.webp(images.vp8l(16384, 16384)), (16384, 16384), (16384, 16384), id="vp8l-largest"),
        pytest.param(
            images.webp(images.vp8x(300, 200), images.riff_chunk(b"ICCP", b"x"), images.vp8l(300, 200)),
            (300, 200),
            (300, 200),
            id="vp8x-still-with-odd-sized-chunk",
        ),
        pytest.param(
            images.webp(
                images.vp8x(100, 80, True), images.ANIM, images.anmf(0, 0, 100, 80), images.anmf(50, 40, 50, 40)
            ),
            (100, 80),
            (100, 80),
            id="animation-frames-inside-the-canvas",
        ),
        pytest.param(
            images.webp(images.vp8l(10, 10)) + b"junk after the RIFF size",
            (10, 10),
            (10, 10),
            id="bytes-after-the-riff-are-ignored",
        ),
        pytest.param(images.avif(images.ispe(4000, 3000)), (4000, 3000), (4000, 3000), id="avif-ispe"),
        pytest.param(
            images.avif(images.ispe(4000, 3000), images.box(b"irot", b"\x01")),
            (3000, 4000),
            (4000, 3000),
            id="avif-rotated-90",
        ),
        pytest.param(
            images.avif(images.ispe(200, 100), images.ispe(9000, 9000), associations={1: [1], 2: [2]}),
            (200, 100),
            (9000, 9000),
            id="avif-largest-ispe-counts-for-the-limit",
        ),
        pytest.param(
            images.avif(images.ispe(9000, 9000), images.ispe(200, 100), primary=2, associations={1: [1], 2: [0x82]}),
            (200, 100),
            (9000, 9000),
            id="avif-primary-item-is-the-second-essential-bit-set",
        ),
        pytest.param(
            images.avif(images.ispe(50, 60), brands=images.ftyp(b"mif1", b"avif", b"miaf")),
            (50, 60),
            (50, 60),
            id="avif-as-a-compatible-brand",
        ),
        pytest.param(
            images.avif(
                images.ispe(50, 60),
                extra=images.box(b"free", b"")[:0] + b"\x00\x00\x00\x01free" + struct.pack(">Q", 20) + b"\0" * 4,
            ),
            (50, 60),
            (50, 60),
            id="avif-64-bit-box-size",
        ),
    ],
)
def test_webp_and_avif_sizes_come_from_their_headers_and_the_canvas_covers_what_is_decoded(data, shown, canvas):
    info = info_of(data)
    assert (info.width, info.height) == shown
    assert (info.canvas_width, info.canvas_height) == canvas


def test_a_1x1_webp_canvas_holding_a_10000x10000_frame_is_not_an_image():
    data = images.webp(images.vp8x(1, 1, True), images.ANIM, images.anmf(0, 0, 10_000, 10_000))
    with pytest.raises(NotAnImage, match="outside its canvas"):
        info_of(data)


def test_an_avif_of_100000x100000_needs_10_gigapixels():
    assert info_of(images.avif(images.ispe(100_000, 100_000))).pixels == 10_000_000_000


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"RIFF\x04\x00\x00\x00WEBP", id="webp-no-chunks"),
        pytest.param(images.webp(images.vp8l(10, 10))[:22], id="webp-bitstream-cut-short"),
        pytest.param(images.webp(images.vp8l(10, 10), riff_size=10), id="webp-riff-size-hides-the-chunk"),
        pytest.param(
            images.webp(b"VP8L" + struct.pack("<I", 0xFFFFFFF0) + b"\x2f" + bytes(8)), id="webp-chunk-size-lies"
        ),
        pytest.param(images.webp(images.riff_chunk(b"VP8L", b"\x2e" + bytes(8))), id="vp8l-bad-signature"),
        pytest.param(
            images.webp(images.riff_chunk(b"VP8L", b"\x2f" + struct.pack("<I", 1 << 29) + bytes(4))),
            id="vp8l-version-1",
        ),
        pytest.param(
            images.webp(images.riff_chunk(b"VP8 ", b"\x11\x02\x00\x9d\x01\x2a" + bytes(8))), id="vp8-not-a-key-frame"
        ),
        pytest.param(
            images.webp(images.riff_chunk(b"VP8 ", b"\x10\x02\x00\x9d\x01\x2b" + bytes(8))), id="vp8-bad-start-code"
        ),
        pytest.param(images.webp(images.vp8(0, 10)), id="vp8-zero-width"),
        pytest.param(images.webp(images.riff_chunk(b"ALPH", b"")), id="webp-unknown-first-chunk"),
        pytest.param(images.webp(images.vp8x(300, 200)), id="vp8x-still-without-bitstream"),
        pytest.param(
            images.webp(images.vp8x(1, 1), images.vp8l(10_000, 10_000)), id="vp8x-1x1-holding-a-larger-bitstream"
        ),
        pytest.param(images.webp(images.vp8x(10, 10, True), images.ANIM), id="animation-without-frames"),
        pytest.param(
            images.webp(images.vp8x(100, 100, True), images.anmf(60, 0, 50, 50)), id="frame-offset-past-the-canvas"
        ),
        pytest.param(
            images.webp(images.vp8x(100, 100, True), images.anmf(0, 0, 50, 50, images.vp8l(5000, 5000))),
            id="frame-holding-a-larger-bitstream",
        ),
        pytest.param(
            images.webp(images.vp8x(100, 100, True), images.anmf(0, 0, 50, 50, b"")), id="frame-without-bitstream"
        ),
        pytest.param(
            images.webp(images.vp8x(100, 100, True), images.riff_chunk(b"ANMF", bytes(8))), id="frame-cut-short"
        ),
        pytest.param(images.ftyp() + images.box(b"mdat", b""), id="avif-without-meta"),
        pytest.param(images.avif(), id="avif-without-ispe"),
        pytest.param(images.avif(images.ispe(10, 10), associations={2: [1]}), id="avif-primary-without-ispe"),
        pytest.param(images.avif(images.ispe(0, 10)), id="avif-zero-width"),
        pytest.param(images.avif(images.ispe(10, 10), brands=images.ftyp(b"mp42", b"isom")), id="mp4-brands"),
        pytest.param(images.avif(images.ispe(10, 10))[:-20], id="avif-cut-short"),
        pytest.param(images.avif(images.ispe(10, 10)) + b"\x00\x00", id="avif-trailing-bytes"),
        pytest.param(images.box(b"meta", b"") + images.ftyp(), id="avif-ftyp-not-first"),
        pytest.param(images.ftyp() + images.box(b"meta", bytes(8), size=0xFFFF), id="avif-box-size-lies"),
        pytest.param(images.ftyp() + b"\x00\x00\x00\x01meta" + struct.pack(">Q", 1 << 62), id="avif-64-bit-size-lies"),
        pytest.param(images.ftyp() + images.box(b"free", b"") * 5000, id="avif-over-the-box-limit"),
        pytest.param(images.box(b"ftyp", b"avif" + bytes(4) + b"mif1" * 300), id="avif-too-many-brands"),
    ],
)
def test_truncated_or_lying_webp_and_avif_headers_are_not_images(data):
    with pytest.raises(NotAnImage):
        info_of(data)


HEIF_MESSAGE = (
    "HEIC/HEIF photos are not accepted: send a JPEG (on iPhone: Settings > Camera > Formats > Most Compatible), "
    "PNG, GIF, WebP or AVIF."
)


@pytest.mark.parametrize(
    "data, message",
    [
        (images.avif(images.ispe(10, 10), brands=images.ftyp(b"heic", b"mif1", b"heic")), HEIF_MESSAGE),
        (images.avif(images.ispe(10, 10), brands=images.ftyp(b"mif1", b"heix")), HEIF_MESSAGE),
        (images.avif(images.ispe(10, 10), brands=images.ftyp(b"msf1", b"hevc")), HEIF_MESSAGE),
        (images.avif(images.ispe(10, 10), brands=images.ftyp(b"mif1", b"miaf")), HEIF_MESSAGE),
        (images.ftyp(b"heic"), HEIF_MESSAGE),
        (images.avif(images.ispe(10, 10), brands=images.ftyp(b"avis", b"msf1")), "Animated AVIF"),
        (images.avif(images.ispe(10, 10), brands=images.ftyp(b"avif", b"avis")), "Animated AVIF"),
        (images.avif(images.ispe(10, 10), extra=images.box(b"moov", b"")), "Animated AVIF"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "SVG is not accepted"),
        (b'\xef\xbb\xbf\n  <?xml version="1.0"?><svg/>', "SVG is not accepted"),
        (b"\n" * 100 + b"<!DOCTYPE svg PUBLIC>", "SVG is not accepted"),
    ],
)
def test_heif_svg_and_animated_avif_are_refused_saying_what_to_send_instead(data, message):
    with pytest.raises(RefusedType) as refusal:
        info_of(data)
    assert str(refusal.value).startswith(message)


def test_the_svg_refusal_lists_every_accepted_type():
    assert refusal_message(b"<svg/>") == (
        "SVG is not accepted (it can carry scripts): send PNG, JPEG, GIF, WebP or AVIF (export the drawing as PNG)."
    )
    assert refusal_message(b"<html><svg/>") is None


def test_the_webp_walk_stays_inside_its_limits_for_millions_of_empty_chunks():
    data = images.webp(images.vp8x(10, 10, True), images.riff_chunk(b"XXXX", b"") * 600_000)
    with pytest.raises(NotAnImage, match="more chunks"):
        info_of(data)


def test_the_webp_walk_limits_leave_room_for_long_animations():
    # 4,000 frames of 100 bytes of pixel data each (small changes, losslessly coded),
    # then 4,000 frames of 1,000 bytes.
    small = images.anmf(0, 0, 64, 64, images.vp8l(64, 64, bytes(100)))
    large = images.anmf(0, 0, 64, 64, images.vp8l(64, 64, bytes(1000)))
    data = images.webp(images.vp8x(64, 64, True), images.ANIM, *[small] * 4000, *[large] * 4000)
    assert len(data) < 5 * 1024 * 1024
    assert info_of(data).pixels == 64 * 64


webp_chunks = st.one_of(
    st.builds(images.vp8l, st.integers(1, 16384), st.integers(1, 16384)),
    st.builds(images.vp8, st.integers(0, 65535), st.integers(0, 65535)),
    st.builds(images.vp8x, st.integers(1, 1 << 24), st.integers(1, 1 << 24), st.booleans()),
    st.builds(
        images.anmf,
        st.integers(0, (1 << 24) - 1).map(lambda v: v * 2),
        st.integers(0, (1 << 24) - 1).map(lambda v: v * 2),
        st.integers(1, 16384),
        st.integers(1, 16384),
    ),
    st.builds(
        images.anmf,
        st.integers(0, 64).map(lambda v: v * 2),
        st.integers(0, 64).map(lambda v: v * 2),
        st.integers(1, 1 << 24),
        st.integers(1, 1 << 24),
        st.binary(max_size=20),
    ),
    st.builds(
        images.riff_chunk,
        st.sampled_from([b"ANMF", b"ANIM", b"ALPH", b"VP8L", b"VP8 ", b"VP8X"]),
        st.binary(max_size=30),
    ),
    st.binary(max_size=12),
)


@given(
    chunks=st.lists(webp_chunks, max_size=6),
    riff_size=st.none() | st.integers(0, (1 << 32) - 1),
    cut=st.integers(0, 40),
)
def test_any_webp_is_read_or_refused_as_not_an_image_and_nothing_else(chunks, riff_size, cut):
    data = images.webp(*chunks, riff_size=riff_size)
    try:
        info = info_of(data[: max(12, len(data) - cut)])
    except NotAnImage:
        return
    assert info.width > 0 and info.height > 0 and info.pixels >= info.width * info.height


avif_properties = st.one_of(
    st.builds(images.ispe, st.integers(0, (1 << 32) - 1), st.integers(0, (1 << 32) - 1)),
    st.builds(images.box, st.sampled_from([b"irot", b"pixi", b"av1C", b"ispe", b"clap"]), st.binary(max_size=16)),
    st.binary(max_size=16),
)


@given(
    properties=st.lists(avif_properties, max_size=5),
    primary=st.integers(0, 3),
    associations=st.dictionaries(st.integers(0, 3), st.lists(st.integers(0, 255), max_size=6), max_size=3),
    brands=st.lists(st.sampled_from([b"avif", b"avis", b"mif1", b"heic", b"miaf", b"mp42"]), min_size=1, max_size=4),
    cut=st.integers(0, 40),
)
def test_any_avif_is_read_or_refused_as_not_an_image_and_nothing_else(properties, primary, associations, brands, cut):
    data = images.avif(*properties, primary=primary, associations=associations, brands=images.ftyp(*brands))
    try:
        info = info_of(data[: max(12, len(data) - cut)])
    except NotAnImage:
        return
    assert info.width > 0 and info.height > 0 and info.pixels >= 1


@given(
    data=st.binary(max_size=300),
    magic=st.sampled_from(
        [b"RIFF\x00\x00\x00\x00WEBP", b"RIFF\xff\xff\xff\xffWEBP", b"\x00\x00\x00\x10ftypavif", b"\x00\x00\x00\x00ftyp"]
    ),
)
def test_any_bytes_after_webp_or_avif_magic_are_read_or_refused_as_not_an_image(data, magic):
    try:
        info = info_of(magic + data)
    except NotAnImage:
        return
    assert info.width > 0 and info.height > 0
