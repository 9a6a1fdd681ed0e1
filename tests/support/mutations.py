"""Valid camera-like files with structured mutations, for fuzzing the header walks of
validation.py and the rewriters of metadata.py (issue 12).

A mutation is one of: a byte flipped; the file cut short; random bytes inserted; a unit
of the format's structure (an ISO-BMFF box, a PNG or RIFF chunk, a JPEG segment, a GIF
block) duplicated in place; its length field replaced by an extreme value (0, 1, past
the end, 2^32 - 1...); or a field a few bytes into a unit (versions, counts, field sizes)
overwritten with one. A file gets one to four, so mutations can meet.
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass

from hypothesis import strategies as st

from support import camera, images
from support.encoded import animated_webp, encoded


@dataclass(frozen=True)
class Layout:
    """Where a format's units keep their length: `units` are the type codes (or markers)
    looked for; the length field is `length_at` bytes from a code, packed as `length`
    (struct); a unit starts `start_at` bytes from its code and spans its length plus
    `overhead` bytes."""

    units: tuple[bytes, ...]
    length_at: int
    length: str
    start_at: int
    overhead: int


LAYOUTS = {
    "image/avif": Layout(
        tuple(
            b"ftyp meta hdlr pitm iloc iinf infe iref iprp ipco ispe ipma irot imir colr pixi av1C idat mdat".split()
        ),
        -4,
        ">I",
        -4,
        0,
    ),
    "image/png": Layout(
        (b"IHDR", b"iCCP", b"eXIf", b"tEXt", b"zTXt", b"iTXt", b"tIME", b"IDAT", b"IEND"), -4, ">I", -4, 12
    ),
    "image/webp": Layout(
        (b"RIFF", b"VP8X", b"VP8 ", b"VP8L", b"ANIM", b"ANMF", b"ICCP", b"EXIF", b"XMP ", b"ALPH"), 4, "<I", 0, 8
    ),
    "image/jpeg": Layout(
        tuple(bytes([0xFF, marker]) for marker in (0xE0, 0xE1, 0xE2, 0xED, 0xFE, 0xDB, 0xC0, 0xC4, 0xDA)), 2, ">H", 0, 2
    ),
    "image/gif": Layout((b"\x21\xf9", b"\x21\xfe", b"\x21\xff", b"\x2c"), 2, ">B", 0, 3),
}
EXTREMES = (0, 1, 2, 7, 8, 9, 0x7F, 0xFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF)


@functools.cache
def seeds() -> tuple[tuple[str, bytes], ...]:
    """The valid files mutated: camera-like ones of every format, and plain WebP and AVIF."""
    return (
        ("image/jpeg", camera.camera_jpeg(6, 16, 8)),
        ("image/png", camera.camera_png(6, 8, 6)),
        ("image/gif", camera.camera_gif(8, 6)),
        ("image/webp", camera.camera_webp("lossy", 8, 6)),
        ("image/webp", camera.camera_webp("animated", 8, 6)),
        ("image/webp", animated_webp((8, 6), frames=2)),
        ("image/avif", camera.camera_avif(6, 8, 6)),
        ("image/avif", encoded("AVIF", (8, 6), mode="RGBA")),
        ("image/avif", images.avif(images.ispe(8, 6), images.box(b"irot", b"\x01"))),
        ("image/avif", avif_with_metadata_items(field_size=8)),
        ("image/avif", avif_with_metadata_items(field_size=0)),
    )


def avif_with_metadata_items(field_size: int) -> bytes:
    """An AVIF whose EXIF (item 2) and XMP (item 3) items are in an mdat after meta, located
    by an iloc of `field_size`-byte offsets and lengths (0: each item is all of the file)."""
    payloads = [b"\0\0\0\0" + camera.exif(6).tobytes(), camera.xmp_packet()]
    items = images.iinf(images.infe(2, b"Exif"), images.infe(3, b"mime", b"XMP\0application/rdf+xml"))

    def build(mdat_at: int) -> bytes:
        starts = [mdat_at + 8, mdat_at + 8 + len(payloads[0])] if field_size else [0, 0]
        lengths = [len(payload) if field_size else 0 for payload in payloads]
        extents = [(2, [(starts[0], lengths[0])]), (3, [(starts[1], lengths[1])])]
        avif = images.avif(images.ispe(8, 6), items=items + images.iloc(extents, field_size))
        return avif[:-8] + images.box(b"mdat", b"".join(payloads))

    return build(len(build(0)) - 8 - sum(map(len, payloads)))


def _units(data: bytes, layout: Layout, kind: bytes) -> list[int]:
    """Where each `kind` code is in `data`, at most 16 of them."""
    found, at = [], data.find(kind)
    while at >= 0 and len(found) < 16:
        found.append(at)
        at = data.find(kind, at + 1)
    return found


def _put(data: bytes, at: int, fmt: str, value: int) -> bytes:
    width = struct.calcsize(fmt)
    if at < 0 or at + width > len(data):
        return data
    return data[:at] + struct.pack(fmt, value & ((1 << 8 * width) - 1)) + data[at + width :]


@st.composite
def mutated_files(draw, mimes: tuple[str, ...] | None = None) -> tuple[str, bytes]:
    """(Content-Type, bytes) of a seed file of one of `mimes` (all when None) after one to
    four mutations."""
    mime, data = draw(st.sampled_from([seed for seed in seeds() if mimes is None or seed[0] in mimes]))
    layout = LAYOUTS[mime]
    for _ in range(draw(st.integers(1, 4))):
        mutation = draw(st.sampled_from(["flip", "cut", "insert", "duplicate", "length", "field"]))
        if mutation in ("flip", "cut", "insert"):
            at = draw(st.integers(0, max(len(data) - 1, 0)))
            if mutation == "flip" and data:
                data = data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1 :]
            elif mutation == "cut":
                data = data[:at]
            else:
                data = data[:at] + draw(st.binary(min_size=1, max_size=32)) + data[at:]
            continue
        kind = draw(st.sampled_from(layout.units))
        places = _units(data, layout, kind)
        if not places:
            continue
        code = draw(st.sampled_from(places))
        if mutation == "length":
            data = _put(data, code + layout.length_at, layout.length, draw(st.sampled_from(EXTREMES)))
        elif mutation == "field":
            fmt = draw(st.sampled_from([">B", ">H", ">I"]))
            data = _put(data, code + draw(st.integers(4, 24)), fmt, draw(st.sampled_from(EXTREMES)))
        else:
            data = _duplicated(data, layout, code)
    return mime, data


def _duplicated(data: bytes, layout: Layout, code: int) -> bytes:
    """`data` with the unit at `code` (as long as its length field says, within the file)
    repeated right after itself."""
    start = code + layout.start_at
    width = struct.calcsize(layout.length)
    at = code + layout.length_at
    if start < 0 or at < 0 or at + width > len(data):
        return data
    (length,) = struct.unpack_from(layout.length, data, at)
    end = min(len(data), start + length + layout.overhead)
    return data[:end] + data[start:end] + data[end:]
