"""Images made in code, so the repository carries no binary fixtures.

`png`, `gif` and `jpeg` give well-formed headers with the requested dimensions; `png`
is also a complete, decodable image (browsers can show it). `*_of_size` pad a file to
an exact byte count with an ancillary chunk/segment that decoders skip.
"""

from __future__ import annotations

import struct
import uuid
import zlib

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width: int = 4, height: int = 3, rgb: tuple[int, int, int] = (200, 80, 40), extra: bytes = b"") -> bytes:
    """A decodable RGB PNG; `extra` goes into a private ancillary chunk (to vary bytes)."""
    row = b"\x00" + bytes(rgb) * width
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunks = [_png_chunk(b"IHDR", ihdr)]
    if extra:
        chunks.append(_png_chunk(b"prVt", extra))
    chunks += [_png_chunk(b"IDAT", zlib.compress(row * height)), _png_chunk(b"IEND", b"")]
    return PNG_SIGNATURE + b"".join(chunks)


def png_header_only(width: int, height: int) -> bytes:
    """Signature and IHDR only: enough for dimension checks (e.g. a declared pixel bomb)."""
    return PNG_SIGNATURE + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))


def png_of_size(total: int, width: int = 2, height: int = 2) -> bytes:
    """A decodable PNG of exactly `total` bytes (padding in a private chunk)."""
    base = png(width, height)
    padding = total - len(base) - 12  # a chunk adds length, type and CRC
    if padding < 0:
        raise ValueError(f"a PNG cannot be smaller than {len(base) + 12} bytes")
    data = png(width, height, extra=b"\x00" * padding) if padding else None
    if data is None:  # an empty private chunk still adds 12 bytes
        data = base[:-12] + _png_chunk(b"prVt", b"") + base[-12:]
    assert len(data) == total, (len(data), total)
    return data


def gif(width: int = 4, height: int = 3, version: bytes = b"89a") -> bytes:
    """A minimal complete GIF: header, screen descriptor, one 1-colour image, trailer."""
    header = b"GIF" + version + struct.pack("<HHBBB", width, height, 0x80, 0, 0)
    palette = b"\xff\x00\x00\x00\x00\x00"
    image = b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x02\x02\x44\x01\x00"
    return header + palette + image + b"\x3b"


# Extension blocks (GIF89a spec, sections 23-26): graphic control, comment, application.
GIF_GRAPHIC_CONTROL = b"\x21\xf9\x04\x00\x0a\x00\x00\x00"
GIF_COMMENT = b"\x21\xfe\x05hello\x00"
GIF_NETSCAPE_LOOP = b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
GIF_PLAIN_TEXT = b"\x21\x01\x0c" + bytes(12) + b"\x02hi\x00"


def gif_frame(
    left: int, top: int, width: int, height: int, local_colors: int = 0, data: bytes = b"\x02\x44\x01\x00"
) -> bytes:
    """An image descriptor, a local colour table of `local_colors` (a power of 2 from 2 to
    256; 0 for none), the LZW minimum code size and `data` (sub-blocks and terminator)."""
    packed = 0x80 | (local_colors.bit_length() - 2) if local_colors else 0
    table = bytes(3 * local_colors)
    return b"\x2c" + struct.pack("<HHHHB", left, top, width, height, packed) + table + b"\x02" + data


def gif_of_blocks(width: int, height: int, blocks: list[bytes], version: bytes = b"89a", trailer: bool = True) -> bytes:
    """A GIF with a 2-colour global table and `blocks` (frames, extensions) in order."""
    header = b"GIF" + version + struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\xff\x00\x00\x00\x00\x00"
    return header + b"".join(blocks) + (b"\x3b" if trailer else b"")


def jpeg(width: int = 4, height: int = 3, app_segments: int = 1, sof_marker: int = 0xC0) -> bytes:
    """JPEG markers up to and including the frame header and SOS: enough for our parser.

    `app_segments` APPn segments (like EXIF blocks) stand before the frame header.
    """
    soi = b"\xff\xd8"
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    apps = app0 + b"".join(b"\xff\xe1" + struct.pack(">H", 2 + 30) + bytes(30) for _ in range(app_segments - 1))
    sof = bytes([0xFF, sof_marker]) + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    sos = b"\xff\xda" + struct.pack(">H", 8) + b"\x01\x01\x00\x00\x3f\x00"
    return soi + apps + sof + sos + b"\x00" * 16 + b"\xff\xd9"


def jpeg_of_size(total: int, width: int = 4, height: int = 3) -> bytes:
    base = jpeg(width, height)
    padding = total - len(base)
    if padding < 0:
        raise ValueError("too small")
    # Put the padding in the entropy-coded data before EOI, which our parser never reads.
    return base[:-2] + b"\x00" * padding + base[-2:]


def multipart(parts: list[tuple[str, str | None, str | None, bytes]], boundary: str | None = None) -> tuple[bytes, str]:
    """Encode (field name, filename or None, content type or None, data) parts.

    Returns (body, Content-Type header value).
    """
    boundary = boundary or "----test" + uuid.uuid4().hex
    out = []
    for name, filename, content_type, data in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        head = f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
        if content_type:
            head += f"Content-Type: {content_type}\r\n"
        out.append(head.encode("utf-8") + b"\r\n" + data + b"\r\n")
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out), f"multipart/form-data; boundary={boundary}"


def file_form(data: bytes, filename: str = "cat.png", content_type: str = "image/png") -> tuple[bytes, str]:
    """The body curl -F file=@cat.png sends."""
    return multipart([("file", filename, content_type, data)])


# --- WebP and AVIF: crafted containers (RFC 9649; ISO/IEC 14496-12 and 23008-12) ---------


def riff_chunk(fourcc: bytes, payload: bytes) -> bytes:
    """A RIFF chunk, padded to an even size."""
    return fourcc + struct.pack("<I", len(payload)) + payload + b"\0" * (len(payload) & 1)


def webp(*chunks: bytes, riff_size: int | None = None) -> bytes:
    body = b"WEBP" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body) if riff_size is None else riff_size) + body


def vp8l(width: int, height: int, data: bytes = b"\0" * 4) -> bytes:
    """A VP8L chunk whose header says width x height, then `data` for pixels."""
    bits = (width - 1) | ((height - 1) << 14)
    return riff_chunk(b"VP8L", b"\x2f" + struct.pack("<I", bits) + data)


def vp8(width: int, height: int) -> bytes:
    """A VP8 chunk whose key frame header says width x height (no pixel data)."""
    return riff_chunk(b"VP8 ", b"\x10\x02\x00\x9d\x01\x2a" + struct.pack("<HH", width, height) + b"\0" * 8)


def _le24(value: int) -> bytes:
    return value.to_bytes(3, "little")


def vp8x(width: int, height: int, animated: bool = False) -> bytes:
    flags = 0x02 if animated else 0
    return riff_chunk(b"VP8X", bytes([flags, 0, 0, 0]) + _le24(width - 1) + _le24(height - 1))


def anmf(left: int, top: int, width: int, height: int, bitstream: bytes | None = None) -> bytes:
    """An ANMF frame at (left, top) (even), of width x height, holding `bitstream`
    (a VP8L of that size by default)."""
    header = _le24(left // 2) + _le24(top // 2) + _le24(width - 1) + _le24(height - 1) + _le24(100) + b"\0"
    return riff_chunk(b"ANMF", header + (vp8l(width, height) if bitstream is None else bitstream))


ANIM = riff_chunk(b"ANIM", b"\0" * 6)


def box(kind: bytes, payload: bytes, size: int | None = None) -> bytes:
    return struct.pack(">I", 8 + len(payload) if size is None else size) + kind + payload


def full_box(kind: bytes, payload: bytes, version: int = 0, flags: int = 0) -> bytes:
    return box(kind, bytes([version]) + flags.to_bytes(3, "big") + payload)


def ftyp(major: bytes = b"avif", *compatible: bytes) -> bytes:
    return box(b"ftyp", major + b"\0\0\0\0" + b"".join(compatible or (b"mif1", b"miaf")))


def ispe(width: int, height: int) -> bytes:
    return full_box(b"ispe", struct.pack(">II", width, height))


def avif(
    *properties: bytes,
    primary: int = 1,
    associations: dict[int, list[int]] | None = None,
    brands: bytes | None = None,
    extra: bytes = b"",
    items: bytes = b"",
) -> bytes:
    """An AVIF's boxes: ftyp, then meta (pitm, the boxes `items` (iinf, iloc...), iprp
    with ipco of `properties` and an ipma giving each item its 1-based property indices),
    then an empty mdat. By default item 1 has every property."""
    associations = associations if associations is not None else {1: list(range(1, len(properties) + 1))}
    entries = b"".join(
        struct.pack(">HB", item, len(indices)) + bytes(indices) for item, indices in associations.items()
    )
    ipma = full_box(b"ipma", struct.pack(">I", len(associations)) + entries)
    iprp = box(b"iprp", box(b"ipco", b"".join(properties)) + ipma)
    meta = full_box(b"meta", full_box(b"pitm", struct.pack(">H", primary)) + items + iprp)
    return (brands if brands is not None else ftyp()) + meta + extra + box(b"mdat", b"")


def infe(item: int, item_type: bytes, name: bytes = b"") -> bytes:
    """A version 2 item info entry."""
    return full_box(b"infe", struct.pack(">HH", item, 0) + item_type + name + b"\0", version=2)


def iinf(*entries: bytes) -> bytes:
    return full_box(b"iinf", struct.pack(">H", len(entries)) + b"".join(entries))


def iloc(
    items: list[tuple[int, list[tuple[int, int]]]],
    field_size: int = 4,
    repeat: int = 1,
    method: int = 0,
    reference: int = 0,
) -> bytes:
    """A version 1 iloc: each item's extents (offset, length), as fields of `field_size`
    bytes (0, 4 or 8), with construction `method` (0: file offsets, 1: idat offsets) and
    data reference index `reference` (0: this file), the whole item list `repeat` times."""
    entries = b"".join(
        struct.pack(">HHHH", item, method, reference, len(extents))
        + b"".join(o.to_bytes(field_size, "big") + n.to_bytes(field_size, "big") for o, n in extents)
        for item, extents in items
    )
    sizes = (field_size << 12) | (field_size << 8)
    return full_box(b"iloc", struct.pack(">HH", sizes, len(items) * repeat) + entries * repeat, version=1)
