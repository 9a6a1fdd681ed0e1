"""metadata.py: the rewrite of a file without its metadata, read back with Pillow, and
its bounds on files that are malformed after their header."""

from __future__ import annotations

import io
import itertools
import re
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from imagehost import metadata, uploads
from imagehost.errors import InsufficientStorage
from imagehost.web import RequestBody
from PIL import Image
from support import camera, encoded, images

MIB = 1024 * 1024


def rewritten(mime: str, data: bytes) -> bytes:
    out = bytearray()
    metadata.plan_rewrite(mime, data).write(data, out.extend)
    return bytes(out)


def tiff(order: str, entries: list[tuple[int, int, int, int]]) -> bytes:
    head = (b"II" if order == "<" else b"MM") + struct.pack(order + "HIH", 42, 8, len(entries))
    return head + b"".join(struct.pack(order + "HHIHH", *entry) for entry in entries) + bytes(4)


@pytest.mark.parametrize(
    "structure, orientation",
    [
        (tiff("<", [(0x0112, 3, 1, 6, 0)]), 6),
        (tiff(">", [(0x010F, 2, 4, 0, 0), (0x0112, 3, 1, 8, 0)]), 8),
        (tiff("<", [(0x0110, 2, 4, 0, 0)]), 1),
        (tiff("<", [(0x0112, 3, 1, 9, 0)]), 1),
        (tiff("<", [(0x0112, 4, 1, 6, 0)]), 1),
        (tiff("<", [(0x0112, 3, 1, 6, 0)])[:12], 1),
        (b"II*\x00\xff\xff\xff\xff", 1),
        (b"XX*\x00\x08\x00\x00\x00", 1),
        (b"", 1),
    ],
    ids=[
        "little-endian 6",
        "big-endian 8, second tag",
        "no orientation tag",
        "9 is out of range",
        "not a SHORT",
        "entries cut short",
        "IFD past the end",
        "no byte order",
        "empty",
    ],
)
def test_exif_orientation_is_read_from_ifd0_or_is_1(structure, orientation):
    assert metadata.exif_orientation(structure) == orientation


@pytest.mark.parametrize(
    "mime, make, end_marker",
    [
        ("image/jpeg", lambda: camera.camera_jpeg(6), b"\xff\xd9"),
        ("image/png", lambda: camera.camera_png(6), b"IEND\xaeB`\x82"),
        ("image/gif", camera.camera_gif, b"\x3b"),
    ],
    ids=["jpeg", "png", "gif"],
)
def test_bytes_after_the_end_marker_are_dropped(mime, make, end_marker):
    data = make()
    # A phone's MPF preview or motion-photo video, with its own EXIF, after the image.
    stripped = rewritten(mime, data + b"\xff\xd8\xff\xe1" + camera.ARTIST.encode())

    assert stripped == rewritten(mime, data)
    assert stripped.endswith(end_marker)


def test_a_jpeg_cut_short_in_its_scan_keeps_the_scan_and_loses_its_metadata():
    data = camera.camera_jpeg(6)
    cut = data[: len(data) - 200]

    stripped = rewritten("image/jpeg", cut)

    assert camera.ARTIST.encode() not in stripped
    assert stripped.endswith(cut[-150:])
    with Image.open(io.BytesIO(stripped)) as image:
        assert dict(image.getexif()) == {camera.ORIENTATION_TAG: 6}


def test_a_segment_whose_length_runs_past_the_end_keeps_the_rest_as_it_is():
    data = images.jpeg(4, 3)
    broken = data[:-2] + b"\xff\xfe\xff\xff" + b"tail"

    assert rewritten("image/jpeg", broken) == broken


def test_a_file_without_metadata_is_not_rewritten():
    for mime, data in (("image/png", images.png()), ("image/jpeg", images.jpeg()), ("image/gif", images.gif())):
        rewrite = metadata.plan_rewrite(mime, data)
        assert not rewrite.changed
        assert rewrite.pieces == [(0, len(data))]


def test_a_type_without_a_rewriter_is_kept_whole():
    assert rewritten("image/x-unknown", b"RIFF1234WEBPVP8X") == b"RIFF1234WEBPVP8X"


# Segment soup: a valid start of each format, then pieces of its structure in any order,
# lengths that lie, cut anywhere.
JPEG_PIECES = st.sampled_from(
    [
        b"\xff\xe1\x00\x10Exif\x00\x00II*\x00\x08\x00",
        b"\xff\xe1\x00\x2aExif\x00\x00" + tiff("<", [(0x0112, 3, 1, 6, 0)]),
        b"\xff\xe2\x00\x10ICC_PROFILE\x00\x01\x01",
        b"\xff\xfe\x00\x05hi!",
        b"\xff\xed\xff\xff",
        b"\xff\xc0\x00\x0b\x08\x00\x03\x00\x04\x01\x01\x11\x00",
        b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00",
        b"\x00\x12\xff\x00\xff\xd0",
        b"\xff\xd9",
        b"\xff\xff\xff",
        b"\xff\x01",
    ]
)
PNG_PIECES = st.sampled_from(
    [
        struct.pack(">I", 4) + b"tEXtabcd\x00\x00\x00\x00",
        struct.pack(">I", 0x7FFFFFFF) + b"zTXt",
        struct.pack(">I", 42) + b"eXIf" + tiff("<", [(0x0112, 3, 1, 6, 0)]) + bytes(4),
        struct.pack(">I", 26) + b"eXIf" + tiff("<", [(0x0112, 3, 1, 8, 0)]) + bytes(4),
        struct.pack(">I", 1) + b"IDATx\x00\x00\x00\x00",
        struct.pack(">I", 0) + b"IEND\xaeB`\x82",
        b"\x00\x00",
    ]
)
GIF_PIECES = st.sampled_from(
    [
        b"\x21\xfe\x03abc\x00",
        b"\x21\xff\x0bXMP DataXMP\x02xy\x00",
        b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00",
        b"\x21\xf9\x04\x00\x0a\x00\x00\x00",
        images.gif_frame(0, 0, 2, 2, 4),
        b"\x2c\x00\x00",
        b"\x21\xfe\xff",
        b"\x3b",
        b"\x00",
    ]
)
WEBP_PIECES = st.sampled_from(
    [
        b"VP8X\x0a\x00\x00\x00\x2c\x00\x00\x00\x01\x00\x00\x01\x00\x00",
        b"EXIF\x05\x00\x00\x00MM\x00*\x00\x00",
        b"XMP \x02\x00\x00\x00<x",
        b"ICCP\x01\x00\x00\x00\x00",
        b"VP8L\xff\xff\xff\x7f",
        b"ALPH\x00\x00\x00\x00",
        b"\x00\x00",
    ]
)
WEBP_HEADS = st.sampled_from([b"RIFF\xff\xff\xff\x00WEBP", b"RIFF\x30\x00\x00\x00WEBP", b"RIFF\x00\x00\x00\x00WEBP"])
SOUPS = st.one_of(
    st.tuples(
        st.just("image/webp"),
        st.tuples(WEBP_HEADS, st.lists(WEBP_PIECES, max_size=24)).map(
            lambda head_and_pieces: head_and_pieces[0] + b"".join(head_and_pieces[1])
        ),
    ),
    st.tuples(st.just("image/jpeg"), st.lists(JPEG_PIECES, max_size=24).map(lambda p: b"\xff\xd8" + b"".join(p))),
    st.tuples(st.just("image/png"), st.lists(PNG_PIECES, max_size=24).map(lambda p: images.png()[:33] + b"".join(p))),
    st.tuples(st.just("image/gif"), st.lists(GIF_PIECES, max_size=24).map(lambda p: images.gif()[:19] + b"".join(p))),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(soup=SOUPS, cut=st.integers(0, 400))
def test_metadata_stripping_never_raises_and_only_copies_spans_of_the_file_in_order(soup, cut):
    mime, data = soup
    data = data[: max(len(data) - cut, 0)] if cut < 200 else data

    rewrite = metadata.plan_rewrite(mime, data)

    spans = [piece for piece in rewrite.pieces if isinstance(piece, tuple)]
    assert all(0 <= start < end <= len(data) for start, end in spans)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))
    assert 1 <= rewrite.orientation <= 8
    # The rewrite is as sturdy: a second pass raises nothing either. (It may drop more from a
    # malformed file, whose rest the first pass kept as it was once the structure broke.)
    rewritten(mime, rewritten(mime, data))


def receive(data: bytes, tmp_path, strip: bool = True) -> uploads.ReceivedImage:
    body, content_type = images.file_form(data, "photo.jpg", "image/jpeg")
    return uploads.receive_image(
        RequestBody(io.BytesIO(body), len(body)), content_type, tmp_path, 5 * MIB, 50_000_000, strip_metadata=strip
    )


@pytest.mark.parametrize("strip", [True, False], ids=["stripping", "not stripping"])
def test_a_received_photo_turned_a_quarter_answers_its_displayed_size_and_keeps_its_canvas(tmp_path, strip):
    received = receive(camera.camera_jpeg(6, width=48, height=32), tmp_path, strip)
    with received.temp:
        info = received.info
        assert (info.width, info.height, info.canvas_width, info.canvas_height) == (32, 48, 48, 32)


def test_a_disk_full_while_stripping_is_a_507_and_leaves_no_file(tmp_path, monkeypatch):
    def disk_full(self, data, write):
        write(b"\xff\xd8")
        raise InsufficientStorage()

    monkeypatch.setattr(metadata.Rewrite, "write", disk_full)
    with pytest.raises(InsufficientStorage):
        receive(camera.camera_jpeg(6), tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind", ["lossy", "lossless", "animated"])
def test_a_webp_loses_its_exif_and_xmp_and_keeps_its_pixels_and_colour_profile(kind):
    data = camera.camera_webp(kind)

    stripped = rewritten("image/webp", data)

    assert [text for text in camera.PRIVATE if text.encode() in stripped] == []
    assert b"EXIF" not in stripped and b"XMP " not in stripped
    assert struct.unpack_from("<I", stripped, 4)[0] == len(stripped) - 8
    assert stripped[12:16] == b"VP8X" and not stripped[20] & 0x0C
    with Image.open(io.BytesIO(stripped)) as image, Image.open(io.BytesIO(data)) as original:
        assert not image.getexif() and "xmp" not in image.info
        assert image.info["icc_profile"] == original.info["icc_profile"] == camera.icc_profile()
    assert camera.pixels(stripped) == camera.pixels(data)


def test_a_webp_chunk_running_past_the_end_keeps_the_rest_as_it_is():
    data = camera.camera_webp("lossless")
    exif_at = data.index(b"EXIF")
    broken = data[:exif_at] + b"EXIF\xff\xff\xff\x00" + data[exif_at + 8 :]

    assert rewritten("image/webp", broken) == broken


def test_c2pa_content_credentials_are_dropped_from_png_and_jpeg():
    png = images.png()
    credentials = struct.pack(">I", 9) + b"caBXjumb:c2pa" + bytes(4)
    jpeg = images.jpeg()
    app11 = b"\xff\xeb" + struct.pack(">H", 2 + 10) + b"JPjumbc2pa"

    assert rewritten("image/png", png[:-12] + credentials + png[-12:]) == png
    assert rewritten("image/jpeg", jpeg[:2] + app11 + jpeg[2:]) == jpeg


def test_a_file_needing_more_steps_than_the_walks_bounds_is_kept_whole():
    comments = b"\x21\xfe\x01c\x00" * 5000  # 5000 blocks in 25 KB: no encoder writes this
    gif = images.gif_of_blocks(2, 2, [comments, images.gif_frame(0, 0, 2, 2)])
    jpeg = images.jpeg()
    jpeg = jpeg[:2] + b"\xff\xfe\x00\x02" * 5000 + jpeg[2:]

    assert rewritten("image/gif", gif) == gif
    assert rewritten("image/jpeg", jpeg) == jpeg


def iloc_entries(data: bytes) -> dict[int, int]:
    """Item id -> where its first extent's offset is, in the version 0 iloc Pillow writes
    (4-byte offsets and lengths, no base offset, one extent per item)."""
    payload = data.index(b"iloc") + 4
    assert data[payload] == 0 and data[payload + 4 : payload + 6] == b"\x44\x00"
    (count,) = struct.unpack_from(">H", data, payload + 6)
    entries = range(payload + 8, payload + 8 + 14 * count, 14)
    return {struct.unpack_from(">H", data, entry)[0]: entry + 6 for entry in entries}


def item_extent(data: bytes, item: int) -> tuple[int, int]:
    offset, length = struct.unpack_from(">II", data, iloc_entries(data)[item])
    return offset, offset + length


def item_type_positions(data: bytes) -> list[int]:
    """Where each item's type is, in the version 2 infe boxes Pillow writes."""
    return [match.start() + 12 for match in re.finditer(b"infe\x02", data)]


def item_types(data: bytes) -> list[bytes]:
    return [data[at : at + 4] for at in item_type_positions(data)]


AVIF_EXIF_ITEM, AVIF_XMP_ITEM = 3, 4  # Pillow's order: colour, alpha, EXIF, XMP


@pytest.mark.parametrize("orientation", [6, 8, 1])
def test_an_avif_loses_its_exif_and_xmp_items_in_place_and_keeps_its_pixels_and_colour_profile(orientation):
    data = camera.camera_avif(orientation)

    stripped = rewritten("image/avif", data)

    assert len(stripped) == len(data)
    assert [text for text in camera.PRIVATE if text.encode() in stripped] == []
    assert item_types(stripped) == [b"av01", b"av01", b"free", b"free"]
    for item in (AVIF_EXIF_ITEM, AVIF_XMP_ITEM):
        start, end = item_extent(data, item)
        assert stripped[start:end] == bytes(end - start)
    changed = [at for at in range(len(data)) if data[at] != stripped[at]]
    zeroed = [range(*item_extent(data, item)) for item in (AVIF_EXIF_ITEM, AVIF_XMP_ITEM)]
    renamed = [range(at, at + 4) for at in item_type_positions(data)[2:]]
    assert all(any(at in span for span in zeroed + renamed) for at in changed)
    with Image.open(io.BytesIO(stripped)) as image, Image.open(io.BytesIO(data)) as original:
        assert "xmp" not in image.info
        # Pillow reads the irot and imir properties, which stay, as an EXIF orientation.
        assert dict(image.getexif()) == ({} if orientation == 1 else {camera.ORIENTATION_TAG: orientation})
        assert image.info["icc_profile"] == original.info["icc_profile"] == camera.icc_profile()
    assert camera.pixels(stripped) == camera.pixels(data)


def test_an_avif_metadata_item_sharing_bytes_with_the_image_is_renamed_but_its_bytes_are_kept():
    data = bytearray(camera.camera_avif(6))
    image_start, _ = item_extent(data, 1)
    struct.pack_into(">I", data, iloc_entries(data)[AVIF_EXIF_ITEM], image_start)  # EXIF "in" the pixels

    stripped = rewritten("image/avif", bytes(data))

    assert camera.pixels(stripped) == camera.pixels(camera.camera_avif(6))
    assert item_types(stripped) == [b"av01", b"av01", b"free", b"free"]
    assert camera.XMP_TEXT.encode() not in stripped


def avif_with_empty_extents(items: int, extents: int) -> bytes:
    """An AVIF whose EXIF item (item 2) has `items` iloc entries of `extents` extents
    with no offset or length fields: a lot of declared work in few bytes."""
    entries = [(2, [(0, 0)] * extents)]
    return images.avif(
        images.ispe(4, 4), items=images.iinf(images.infe(2, b"Exif")) + images.iloc(entries, 0, repeat=items)
    )


def cut_iloc_items(data: bytes) -> bytes:
    payload = data.index(b"iloc") + 4
    return data[: payload + 6] + b"\xff\xff" + data[payload + 8 :]


def odd_iloc_offset_size(data: bytes) -> bytes:
    payload = data.index(b"iloc") + 4
    return data[: payload + 4] + b"\x54" + data[payload + 5 :]


@pytest.mark.parametrize(
    "make",
    [
        lambda: cut_iloc_items(camera.camera_avif(6)),
        lambda: odd_iloc_offset_size(camera.camera_avif(6)),
        lambda: camera.camera_avif(6) + b"\x00\x00\x00",
        lambda: camera.camera_avif(6)[:-100],
        lambda: avif_with_empty_extents(items=2000, extents=65535),
        lambda: images.ftyp() + images.box(b"mdat", camera.xmp_packet()),
    ],
    ids=[
        "iloc declaring more items than it holds",
        "iloc offsets of 5 bytes",
        "bytes after the last box",
        "cut short in mdat",
        "more extents than the size allows",
        "no meta box",
    ],
)
def test_a_malformed_avif_is_kept_whole_without_an_exception(make):
    data = make()

    rewrite = metadata.plan_rewrite("image/avif", data)

    assert not rewrite.changed
    assert rewrite.pieces == [(0, len(data))]


def test_an_avif_iloc_without_offset_or_length_fields_renames_the_exif_item_and_zeroes_nothing():
    data = avif_with_empty_extents(items=3, extents=5)

    stripped = rewritten("image/avif", data)

    assert stripped == data.replace(b"Exif", b"free")


def avif_with_exif_in_idat(method: int = 1, reference: int = 0) -> bytes:
    """An AVIF whose EXIF item (item 2) is in an idat box inside meta, at idat offset 4."""
    exif = b"\0\0\0\0" + camera.exif(6).tobytes()
    located = images.iloc([(2, [(4, len(exif))])], method=method, reference=reference)
    idat = images.box(b"idat", b"head" + exif + b"tail")
    return images.avif(images.ispe(4, 4), items=images.iinf(images.infe(2, b"Exif")) + located + idat)


def test_an_avif_exif_item_in_idat_is_renamed_and_zeroed_there():
    data = avif_with_exif_in_idat()
    exif_at = data.index(b"idat") + 4 + 4
    exif_length = len(camera.exif(6).tobytes()) + 4

    stripped = rewritten("image/avif", data)

    assert stripped == data[:exif_at].replace(b"Exif", b"free") + bytes(exif_length) + data[exif_at + exif_length :]


@pytest.mark.parametrize(
    "method, reference", [(2, 0), (0, 1)], ids=["built from other items", "in another file (data reference)"]
)
def test_an_avif_exif_item_whose_bytes_are_not_located_in_the_file_is_renamed_and_its_bytes_kept(method, reference):
    data = avif_with_exif_in_idat(method, reference)

    assert rewritten("image/avif", data) == data.replace(b"Exif", b"free", 1)


def avif_with_image_and_exif_in_mdat(image_length: int) -> tuple[bytes, int]:
    """An AVIF whose mdat holds 4 bytes of item 1 (av01, located with `image_length`; 0
    means "to the end of the file") then item 2's EXIF; and where that EXIF starts."""
    exif = b"\0\0\0\0" + camera.exif(6).tobytes()
    infos = images.iinf(images.infe(1, b"av01"), images.infe(2, b"Exif"))

    def build(payload_at: int) -> bytes:
        located = images.iloc([(1, [(payload_at, image_length)]), (2, [(payload_at + 4, len(exif))])])
        return images.avif(images.ispe(4, 4), items=infos + located, extra=images.box(b"mdat", b"pixl" + exif))

    payload_at = len(build(0)) - 8 - len(exif) - 4  # before the empty mdat images.avif ends with
    return build(payload_at), payload_at + 4


@pytest.mark.parametrize("image_length, zeroed", [(4, True), (0, False)], ids=["4 bytes", "to the end"])
def test_an_avif_exif_item_is_zeroed_unless_the_image_item_reaches_over_it(image_length, zeroed):
    data, exif_at = avif_with_image_and_exif_in_mdat(image_length)
    exif_length = len(camera.exif(6).tobytes()) + 4
    renamed = data.replace(b"Exif", b"free", 1)

    stripped = rewritten("image/avif", data)

    if zeroed:
        assert stripped == renamed[:exif_at] + bytes(exif_length) + renamed[exif_at + exif_length :]
    else:
        assert stripped == renamed


def test_an_avif_without_metadata_items_is_not_rewritten():
    data = encoded.encoded("AVIF", (37, 23), mode="RGBA")

    assert metadata.plan_rewrite("image/avif", data).pieces == [(0, len(data))]
