"""Removing location, camera and owner metadata from an image, losslessly.

No decoder runs: each format's structure is walked, like validation.py's header walks,
and a rewrite is planned as pieces of the original (spans) and a few new bytes. The
segments, chunks and blocks that carry pixels, colour (ICC profiles, gamma, colour
transforms) or animation are kept byte for byte, so a decoder gives identical pixels;
the ones that carry EXIF (GPS, camera, owner, software), XMP, IPTC, comments and text
are dropped. Only EXIF's Orientation survives, in a minimal EXIF of that one tag,
because browsers apply it (CSS `image-orientation: from-image` is the default): without
it a phone photo would show sideways. Debian's Chromium 156 applies it to JPEG's APP1
Exif and to PNG's eXIf chunk alike (naturalWidth of a 40x10 file with orientation 6 is 10).

Malformed structure: the file passed validation, whose walks stop at the dimensions, so
the bytes after them may still be broken (cut short, a length past the end). The walk
then keeps everything from that point on as it is and never raises: decoders and
metadata readers follow the same structure and stop there too, and a camera or phone
never writes such a file. A file that needs more steps than the walk's bounds is kept
whole, unchanged: no camera writes one either, and so a crafted one costs no copy. Bytes after the end marker (JPEG
EOI, PNG IEND, GIF trailer) are dropped: browsers never read them, and phones append
further images there (MPF previews with their own EXIF, motion-photo videos).

Every walk is bounded in steps by the file's size and each step is a constant amount of
Python, so stripping costs no more than validation (tests/unit/test_upload_cost.py).
The rewriters are keyed by Content-Type (REWRITERS); a type without one is kept as it is.
AVIF's works in place rather than by dropping: its EXIF and XMP are items of the ISO-BMFF
`meta` box whose bytes sit in `mdat` beside the pixels', and removing them would mean
rewriting `iinf`, `iloc`'s offsets, `iref` and `ipma` together. Instead each metadata
item is renamed to a type no reader interprets and its bytes are overwritten with zeros,
so the file keeps its size and every offset (see the AVIF section). Browsers turn an
AVIF by its `irot`/`imir` properties, which stay, and ignore its EXIF orientation.
"""

from __future__ import annotations

import bisect
import itertools
import mmap
import re
import struct
import sys
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

Buffer = bytes | mmap.mmap
# A piece of the rewritten file: a span (start, end) of the original, or new bytes.
Piece = tuple[int, int] | bytes
UPRIGHT = 1
# EXIF orientations 5-8 turn the image a quarter: shown width and height swap.
QUARTER_TURNS = frozenset({5, 6, 7, 8})
_WRITE_CHUNK = 1024 * 1024
_ZEROS = bytes(_WRITE_CHUNK)


@dataclass
class Rewrite:
    """The planned rewrite of one file: `pieces` in order, the EXIF orientation browsers
    will apply to the result (1 when none), and whether anything was dropped or added."""

    pieces: list[Piece] = field(default_factory=list)
    orientation: int = UPRIGHT
    changed: bool = False

    def keep(self, start: int, end: int) -> None:
        """Keep the original's bytes [start, end), merged with a span just before it."""
        if end <= start:
            return
        last = self.pieces[-1] if self.pieces else None
        if isinstance(last, tuple) and last[1] == start:
            self.pieces[-1] = (last[0], end)
        else:
            self.pieces.append((start, end))

    def drop(self) -> None:
        self.changed = True

    def add(self, data: bytes) -> None:
        self.pieces.append(data)
        self.changed = True

    def write(self, data: Buffer, write: Callable[[bytes], object]) -> None:
        """Give the rewritten file to `write`, in pieces of at most 1 MiB."""
        for piece in self.pieces:
            if isinstance(piece, bytes):
                write(piece)
                continue
            for start in range(piece[0], piece[1], _WRITE_CHUNK):
                write(data[start : min(start + _WRITE_CHUNK, piece[1])])


def plan_rewrite(mime: str, data: Buffer) -> Rewrite:
    """The rewrite of `data`, a file of type `mime` that passed validation, without its
    metadata. Never raises for any bytes (see the module's note on malformed files); a
    type without a rewriter is kept whole."""
    rewriter = REWRITERS.get(mime)
    return _whole(data) if rewriter is None else rewriter(data)


def _whole(data: Buffer) -> Rewrite:
    """The file kept as it is."""
    rewrite = Rewrite()
    rewrite.keep(0, len(data))
    return rewrite


# --- EXIF: only the Orientation tag ---------------------------------------------------
# TIFF 6.0 section 2 (an EXIF block is a TIFF header and IFDs): byte order "II" or "MM",
# 42, the offset of IFD0; an IFD is a count and 12-byte entries (tag, type, count, value).
_ORIENTATION_TAG = 0x0112
_SHORT = 3


def exif_orientation(tiff: Buffer) -> int:
    """The Orientation (1-8) in IFD0 of the TIFF structure `tiff`; 1 when it is missing,
    out of range or the structure is malformed."""
    order = {b"II": "<", b"MM": ">"}.get(bytes(tiff[:2]))
    if order is None or len(tiff) < 8 or struct.unpack_from(order + "H", tiff, 2)[0] != 42:
        return UPRIGHT
    (ifd,) = struct.unpack_from(order + "I", tiff, 4)
    if ifd + 2 > len(tiff):
        return UPRIGHT
    (count,) = struct.unpack_from(order + "H", tiff, ifd)
    for entry in range(ifd + 2, ifd + 2 + 12 * min(count, (len(tiff) - ifd - 2) // 12), 12):
        tag, kind, values = struct.unpack_from(order + "HHI", tiff, entry)
        if tag == _ORIENTATION_TAG:
            value = struct.unpack_from(order + "H", tiff, entry + 8)[0] if kind == _SHORT and values else 0
            return value if 1 <= value <= 8 else UPRIGHT
    return UPRIGHT


def orientation_only_tiff(orientation: int) -> bytes:
    """A TIFF structure whose IFD0 holds the one tag Orientation = `orientation`."""
    entry = struct.pack("<HHIHH", _ORIENTATION_TAG, _SHORT, 1, orientation, 0)
    return b"II*\x00" + struct.pack("<IH", 8, 1) + entry + struct.pack("<I", 0)


# --- JPEG (ITU T.81 B.1.1; JFIF; EXIF 2.32 4.5.4; ICC.1 B.4; Adobe TN 5116) -------------
_JPEG_FILL = re.compile(rb"\xff+")
# The next marker after entropy-coded data: 0xFF then neither a stuffed 0x00, RST0-7 nor fill.
_JPEG_NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
_JPEG_STANDALONE = {0x01, *range(0xD0, 0xD8)}
_JPEG_EOI, _JPEG_SOS, _JPEG_COM = 0xD9, 0xDA, 0xFE
_JPEG_APP0, _JPEG_APP1, _JPEG_APP2, _JPEG_APP14, _JPEG_APP15 = 0xE0, 0xE1, 0xE2, 0xEE, 0xEF
_EXIF_HEADER = b"Exif\x00\x00"
# APPn segments that shape the pixels or colours: JFIF (APP0), the ICC profile, in as
# many APP2 chunks as it needs, and Adobe's colour transform flag (APP14).
_JPEG_KEPT_APPS = {_JPEG_APP0: b"", _JPEG_APP2: b"ICC_PROFILE\x00", _JPEG_APP14: b"Adobe"}
# Markers before the first scan, and between a progressive file's scans (DHT, DQT, DRI,
# SOS...): a camera file has a few dozen.
_JPEG_MAX_SEGMENTS = 4096


def _jpeg(data: Buffer) -> Rewrite:
    """Drop APP1 (EXIF, XMP), APP13 (Photoshop IPTC), COM and the other APPn (APP11's C2PA
    credentials, APP2's MPF index of appended previews among them); keep the
    rest, with a minimal EXIF where the first EXIF stood when its orientation is not 1."""
    rewrite = Rewrite()
    size = len(data)
    pos = min(2, size)  # everything before `pos` is decided
    rewrite.keep(0, pos)
    for _ in range(_JPEG_MAX_SEGMENTS):
        fill = _JPEG_FILL.match(data, pos)
        if fill is None or fill.end() >= size:
            break
        marker, body = data[fill.end()], fill.end() + 1
        if marker in _JPEG_STANDALONE:
            rewrite.keep(pos, body)
            pos = body
            continue
        if marker == _JPEG_EOI:
            rewrite.keep(pos, body)
            if body < size:
                rewrite.drop()  # bytes after the image: previews, videos
            return rewrite
        if body + 2 > size:
            break
        (length,) = struct.unpack_from(">H", data, body)
        end = body + length
        if length < 2 or end > size:
            break
        end = _jpeg_segment(data, marker, pos, body + 2, end, rewrite)
        if end < 0:
            break  # cut short in the scan: kept as browsers show it
        pos = end
    else:
        return _whole(data)
    rewrite.keep(pos, size)
    return rewrite


def _jpeg_segment(data: Buffer, marker: int, start: int, body: int, end: int, rewrite: Rewrite) -> int:
    """Keep or drop the segment from `start` (its marker) to `end`, its body starting at
    `body`; a scan runs on to the next marker. Returns where the next marker is, or -1
    when a scan reaches the end of the file."""
    if _JPEG_APP0 <= marker <= _JPEG_APP15 or marker == _JPEG_COM:
        if _jpeg_app_is_kept(data, marker, body):
            rewrite.keep(start, end)
        else:
            _drop_jpeg_app(data, marker, body, end, rewrite)
        return end
    if marker == _JPEG_SOS:
        following = _JPEG_NEXT_MARKER.search(data, end)
        if following is None:
            return -1
        end = following.start()
    rewrite.keep(start, end)
    return end


def _jpeg_app_is_kept(data: Buffer, marker: int, body: int) -> bool:
    signature = _JPEG_KEPT_APPS.get(marker)
    return signature is not None and data[body : body + len(signature)] == signature


def _drop_jpeg_app(data: Buffer, marker: int, body: int, end: int, rewrite: Rewrite) -> None:
    """Drop an APPn or COM segment; the first EXIF's orientation, when not 1, stays in a
    minimal EXIF segment in its place."""
    rewrite.drop()
    is_exif = marker == _JPEG_APP1 and data[body : body + 6] == _EXIF_HEADER
    if not is_exif or rewrite.orientation != UPRIGHT:
        return
    rewrite.orientation = exif_orientation(data[body + 6 : end])
    if rewrite.orientation != UPRIGHT:
        payload = _EXIF_HEADER + orientation_only_tiff(rewrite.orientation)
        rewrite.add(b"\xff\xe1" + struct.pack(">H", 2 + len(payload)) + payload)


# --- PNG (PNG 3rd edition, section 11; APNG) -------------------------------------------
# The chunks that hold text, EXIF (eXIf, and the pre-standard exIf/zxIf some tools
# wrote), the time of last change and C2PA content credentials (caBX, which can name the
# author and the place). Every other chunk is kept: critical ones carry the
# pixels, and ancillary ones colour (iCCP, sRGB, gAMA, cHRM, cICP...), transparency,
# animation (acTL, fcTL, fdAT) or data no reader takes for metadata.
_PNG_DROPPED = {b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"exIf", b"zxIf", b"tIME", b"caBX"}
_PNG_EXIF = b"eXIf"
_PNG_END = b"IEND"
# Encoders write IDAT chunks of 8 KiB or more; an APNG a few chunks per frame.
_PNG_MIN_CHUNKS = 4096
_PNG_BYTES_PER_CHUNK = 1024


def _png(data: Buffer) -> Rewrite:
    """Drop the text, EXIF and time chunks, with a minimal eXIf in place of the first
    eXIf when its orientation is not 1; stop after IEND."""
    rewrite = Rewrite()
    size = len(data)
    pos = min(8, size)
    rewrite.keep(0, pos)
    for _ in range(_PNG_MIN_CHUNKS + size // _PNG_BYTES_PER_CHUNK):
        if pos + 12 > size:
            break
        length, kind = struct.unpack_from(">I4s", data, pos)
        end = pos + 12 + length
        if end > size:
            break
        if kind not in _PNG_DROPPED:
            rewrite.keep(pos, end)
        else:
            rewrite.drop()
            if kind == _PNG_EXIF and rewrite.orientation == UPRIGHT:
                _png_orientation(data[pos + 8 : end - 4], rewrite)
        pos = end
        if kind == _PNG_END:
            if pos < size:
                rewrite.drop()
            return rewrite
    else:
        return _whole(data)
    rewrite.keep(pos, size)
    return rewrite


def _png_orientation(tiff: Buffer, rewrite: Rewrite) -> None:
    rewrite.orientation = exif_orientation(tiff)
    if rewrite.orientation != UPRIGHT:
        body = _PNG_EXIF + orientation_only_tiff(rewrite.orientation)
        rewrite.add(struct.pack(">I", len(body) - 4) + body + struct.pack(">I", zlib.crc32(body)))


# --- GIF (GIF89a, sections 17-27) ------------------------------------------------------
_GIF_EXTENSION, _GIF_IMAGE, _GIF_TRAILER = 0x21, 0x2C, 0x3B
_GIF_COMMENT, _GIF_APPLICATION = 0xFE, 0xFF
# Application extensions kept, with their identifier's length byte: the loop count of
# animations and the ICC profile; the others (XMP's "XMP DataXMP" among them) go.
_GIF_KEPT_APPLICATIONS = {b"\x0b" + name for name in (b"NETSCAPE2.0", b"ANIMEXTS1.0", b"ICCRGBG1012")}
# Tighter than validation.py's bounds, so that stripping adds little to its cost (the
# crafted GIF of tests/unit/test_upload_cost.py): encoders write 255-byte sub-blocks, so
# one per 256 bytes is always enough, and 4096 blocks are 2048 frames with their graphic
# control extensions, whatever their size, plus one frame per 4 KiB of file. The rest of
# a file that needs more steps is kept as it is, like a malformed one.
_GIF_BYTES_PER_BLOCK = 2048
_GIF_BYTES_PER_SUB_BLOCK = 256
_GIF_MIN_BLOCKS = 4096
_GIF_MIN_SUB_BLOCKS = 8192


def _gif(data: Buffer) -> Rewrite:  # noqa: PLR0912 (the hot loop, inlined on purpose: a call per block costs)
    """Drop comment extensions and application extensions other than animation and
    colour ones; keep images, graphic control and plain text; stop at the trailer."""
    rewrite = Rewrite()
    size = len(data)
    pos = min(size, 13 + _gif_color_table_length(data[10])) if size >= 13 else size
    rewrite.keep(0, pos)
    sub_blocks_left = _GIF_MIN_SUB_BLOCKS + size // _GIF_BYTES_PER_SUB_BLOCK
    for _ in range(_GIF_MIN_BLOCKS + size // _GIF_BYTES_PER_BLOCK):
        if pos + 2 > size:
            break
        start, introducer = pos, data[pos]
        if introducer == _GIF_IMAGE and pos + 11 <= size:
            pos += 11 + _gif_color_table_length(data[pos + 9])
            kept = True
        elif introducer == _GIF_EXTENSION:
            label = data[pos + 1]  # tested here, not in a function: this loop is the hot one
            kept = label != _GIF_COMMENT and (
                label != _GIF_APPLICATION or data[pos + 2 : pos + 14] in _GIF_KEPT_APPLICATIONS
            )
            pos += 2
        else:
            break  # the trailer, a block cut short, or a byte that starts no block
        # The data sub-blocks: the loop a hostile file can stretch, so kept tight.
        while pos < size and sub_blocks_left:
            length = data[pos]
            pos += length + 1
            sub_blocks_left -= 1
            if not length:
                break
        else:
            if not sub_blocks_left:
                return _whole(data)
            pos = start  # cut short: kept from this block on
            break
        if kept:
            rewrite.keep(start, pos)
        else:
            rewrite.changed = True
    else:
        return _whole(data)
    if pos < size and data[pos] == _GIF_TRAILER:
        rewrite.keep(pos, pos + 1)
        pos += 1
        if pos < size:
            rewrite.drop()  # bytes after the trailer
        return rewrite
    rewrite.keep(pos, size)
    return rewrite


def _gif_color_table_length(flags: int) -> int:
    return 3 << ((flags & 0x07) + 1) if flags & 0x80 else 0


# --- WebP (RFC 9649: RIFF chunks; VP8X flags) ------------------------------------------
# Ready for when validation accepts WebP ("image/webp" in its type table). Debian's
# Chromium 156 does not apply a WebP's EXIF orientation (a 40x10 lossless file with
# orientation 6 has naturalWidth 40), so no EXIF is kept and the size shown is the
# stored one.
_WEBP_DROPPED = {b"EXIF", b"XMP ", b"C2PA"}  # C2PA: content credentials, as PNG's caBX
_WEBP_VP8X = b"VP8X"
_WEBP_EXIF_AND_XMP_FLAGS = 0x08 | 0x04
_WEBP_MIN_CHUNKS = 4096
_WEBP_BYTES_PER_CHUNK = 1024


def _webp(data: Buffer) -> Rewrite:
    """Drop the EXIF and XMP chunks, clear their flags in VP8X and give the RIFF header
    the new size; drop bytes past the RIFF's declared end. A chunk whose size runs past
    the end keeps the rest of the file as it is."""
    rewrite = Rewrite()
    size = len(data)
    if size < 12:
        rewrite.keep(0, size)
        return rewrite
    riff_end = max(12, min(size, 8 + struct.unpack_from("<I", data, 4)[0]))
    kept: list[tuple[int, int]] = []
    pos = 12
    for _ in range(_WEBP_MIN_CHUNKS + size // _WEBP_BYTES_PER_CHUNK):
        if pos + 8 > riff_end:
            break
        fourcc, length = struct.unpack_from("<4sI", data, pos)
        end = min(pos + 8 + length + (length & 1), riff_end)  # a missing last pad byte is common
        if pos + 8 + length > riff_end:
            break
        if fourcc in _WEBP_DROPPED:
            rewrite.drop()
        else:
            kept.append((pos, end))
        pos = end
    else:
        return _whole(data)
    kept.append((pos, riff_end))
    if riff_end < size:
        rewrite.drop()
    if not rewrite.changed:
        rewrite.keep(0, size)
        return rewrite
    total = 4 + sum(end - start for start, end in kept)
    rewrite.add(b"RIFF" + struct.pack("<I", total) + b"WEBP")
    for start, end in kept:
        if data[start : start + 4] == _WEBP_VP8X and end - start >= 9:
            rewrite.add(bytes(data[start : start + 8]) + bytes([data[start + 8] & ~_WEBP_EXIF_AND_XMP_FLAGS]))
            rewrite.keep(start + 9, end)
        else:
            rewrite.keep(start, end)
    return rewrite


# --- AVIF (ISO/IEC 14496-12 4.2, 8.11: meta, iinf/infe, iloc, idat; ISO/IEC 23008-12) --
# EXIF and XMP are items of the top-level `meta` box, like the pixels: an `infe` in
# `iinf` gives each item's type, `iloc` where its bytes are (in `mdat`, or in `idat`
# inside meta). Removing them would mean rewriting iinf, iloc's offsets, iref and ipma
# together, so they are neutralised in place instead: the item's type becomes "free"
# (ISO-BMFF's name for space whose contents do not matter; no item type is registered
# under it, and readers skip item types they do not know) and its bytes become zeros.
# The file keeps its size and every offset; the image items, their properties (ICC
# `colr`, `irot`/`imir`, which browsers apply instead of EXIF's orientation) and the
# `mdat` bytes they point at are untouched. Neutralised: Exif, mime (XMP, and any other
# typed payload) and "uri " items, the metadata item types of ISO/IEC 23008-12 6.4.
_AVIF_METADATA_TYPES = {b"Exif", b"mime", b"uri "}
_AVIF_NEUTRAL_TYPE = b"free"
_AVIF_FILE_OFFSETS, _AVIF_IDAT_OFFSETS = 0, 1  # iloc construction methods; 2 (item offsets) is left alone
# Items, extents and boxes walked: a camera file has a handful (a grid image one item per
# tile); a crafted one may declare millions of empty extents, so the walk grows with the
# file's size, not with its counts, as for PNG's chunks.
_AVIF_MIN_STEPS = 4096
_AVIF_BYTES_PER_STEP = 1024


class _Malformed(Exception):
    """An AVIF structure cut short, past its box, or needing more steps than its size
    allows: raised inside the AVIF walk only, which then keeps the file whole."""


class _AvifReader:
    """Big-endian reads from `data` within [pos, end), and the walk's step budget;
    every read past `end` or step past the budget raises _Malformed."""

    def __init__(self, data: Buffer, steps: int):
        self.data, self.steps = data, steps

    def spend(self, steps: int = 1) -> None:
        self.steps -= steps
        if self.steps < 0:
            raise _Malformed()

    def uint(self, pos: int, end: int, length: int) -> int:
        if pos + length > end:
            raise _Malformed()
        return int.from_bytes(self.data[pos : pos + length], "big")

    def boxes(self, pos: int, end: int) -> list[tuple[bytes, int, int]]:
        """(type, payload start, box end) of each box from `pos` to `end`."""
        found = []
        while pos < end:
            self.spend()
            size, header = self.uint(pos, end, 4), 8
            if size == 1:
                size, header = self.uint(pos + 8, end, 8), 16
            elif size == 0:
                size = end - pos
            if size < header or size > end - pos:
                raise _Malformed()
            found.append((bytes(self.data[pos + 4 : pos + 8]), pos + header, pos + size))
            pos += size
        return found


def _avif(data: Buffer) -> Rewrite:
    """Turn the EXIF, XMP and other metadata items into "free" items of zeros, in place
    (see above). A file whose boxes, iinf or iloc are malformed, or that needs more steps
    than its size allows, is kept whole (the module's note on malformed files)."""
    reader = _AvifReader(data, _AVIF_MIN_STEPS + len(data) // _AVIF_BYTES_PER_STEP)
    try:
        edits = _avif_edits(reader, len(data))
    except _Malformed:
        return _whole(data)
    rewrite = Rewrite()
    pos = 0
    for start, new in edits:
        rewrite.keep(pos, start)
        rewrite.add(new)
        pos = start + len(new)
    rewrite.keep(pos, len(data))
    return rewrite


def _avif_edits(reader: _AvifReader, size: int) -> list[tuple[int, bytes]]:
    """The (position, new bytes) that neutralise the metadata items, in file order and
    not overlapping."""
    top = reader.boxes(0, size)
    meta = next(((start, end) for kind, start, end in top if kind == b"meta"), None)
    if meta is None:
        raise _Malformed()
    children = {kind: (start, end) for kind, start, end in reversed(reader.boxes(meta[0] + 4, meta[1]))}
    if b"iinf" not in children:
        return []
    renamed = [
        (item, at) for item, kind, at in _avif_item_types(reader, *children[b"iinf"]) if kind in _AVIF_METADATA_TYPES
    ]
    if not renamed:
        return []
    metadata_items = {item for item, _ in renamed}
    extents = _avif_extents(reader, *children.get(b"iloc", (0, 0)), children.get(b"idat"))
    containers = [(start, end) for kind, start, end in top if kind == b"mdat"]
    if b"idat" in children:
        containers.append(children[b"idat"])
    edits = [(at, _AVIF_NEUTRAL_TYPE) for _, at in renamed]
    for start, end in _avif_zeroed_ranges(extents, metadata_items, containers):
        # One shared block of zeros, so a large item costs no memory of its size.
        edits += [(at, _ZEROS[: min(_WRITE_CHUNK, end - at)]) for at in range(start, end, _WRITE_CHUNK)]
    return sorted(edits)


def _avif_item_types(reader: _AvifReader, start: int, end: int) -> list[tuple[int, bytes, int]]:
    """(item id, item_type, where the type is) for each infe of version 2 or 3 in the
    iinf box [start, end) (AVIF allows no others; an earlier version has no type)."""
    count_size = 2 if reader.uint(start, end, 1) == 0 else 4
    types = []
    for kind, infe, infe_end in reader.boxes(start + 4 + count_size, end):
        version = reader.uint(infe, infe_end, 1)
        if kind != b"infe" or version not in (2, 3):
            continue
        id_size = 2 if version == 2 else 4
        item = reader.uint(infe + 4, infe_end, id_size)
        type_at = infe + 4 + id_size + 2  # after item_protection_index
        reader.uint(type_at, infe_end, 4)
        types.append((item, bytes(reader.data[type_at : type_at + 4]), type_at))
    return types


def _avif_extents(
    reader: _AvifReader, start: int, end: int, idat: tuple[int, int] | None
) -> dict[int, list[tuple[int, int]]]:
    """Item id -> its byte ranges in the file, from the iloc box [start, end): extents
    by file offset, or by idat offset when there is an idat. Items whose data is in
    another file (a data reference) or built from other items are left out."""
    if end <= start:
        return {}
    version = reader.uint(start, end, 1)
    if version > 2:
        raise _Malformed()
    sizes = reader.uint(start + 4, end, 2)
    offset_size, length_size, base_size = sizes >> 12, (sizes >> 8) & 15, (sizes >> 4) & 15
    index_size = sizes & 15 if version else 0
    if not {offset_size, length_size, base_size, index_size} <= {0, 4, 8}:
        raise _Malformed()
    id_size = 2 if version < 2 else 4
    count, pos = reader.uint(start + 6, end, id_size), start + 6 + id_size
    extents: dict[int, list[tuple[int, int]]] = {}
    for _ in range(count):
        reader.spend()
        item, pos = reader.uint(pos, end, id_size), pos + id_size
        method = 0
        if version:
            method, pos = reader.uint(pos, end, 2) & 15, pos + 2
        reference, pos = reader.uint(pos, end, 2), pos + 2
        base, pos = reader.uint(pos, end, base_size), pos + base_size
        extent_count, pos = reader.uint(pos, end, 2), pos + 2
        reader.spend(extent_count)
        entry = index_size + offset_size + length_size
        reader.uint(pos, end, entry * extent_count)  # the extents are all there
        origin = {_AVIF_FILE_OFFSETS: 0, _AVIF_IDAT_OFFSETS: idat[0] if idat else None}.get(method)
        if reference == 0 and origin is not None and extent_count:
            ranges = extents.setdefault(item, [])
            fields = pos + index_size
            # With no offset, length or index fields (an entry of 0 bytes) all extents are one.
            for at in range(fields, fields + entry * extent_count, entry) if entry else (fields,):
                offset = origin + base + reader.uint(at, end, offset_size)
                ranges.append((offset, offset + reader.uint(at + offset_size, end, length_size)))
        pos += entry * extent_count
    return extents


def _avif_zeroed_ranges(
    extents: dict[int, list[tuple[int, int]]], metadata_items: set[int], containers: list[tuple[int, int]]
) -> list[tuple[int, int]]:
    """The metadata items' ranges to fill with zeros, merged and in order: those inside
    an mdat or idat payload (`containers`, which do not overlap) that share no byte with
    another item's range. A length of 0 means "to the end" (ISO/IEC 14496-12 8.11.3.3):
    here, the end of its container, and for another item, the end of the file."""
    others = _RangeSet(
        (start, end if end > start else sys.maxsize)
        for item, ranges in extents.items()
        if item not in metadata_items
        for start, end in ranges
    )
    containers.sort()
    container_starts = [start for start, _ in containers]
    zeroed = []
    for item in metadata_items:
        for start, declared_end in extents.get(item, []):
            at = bisect.bisect_right(container_starts, start) - 1
            if at < 0 or start >= containers[at][1]:
                continue
            end = containers[at][1] if declared_end == start else declared_end
            if end <= containers[at][1] and not others.overlaps(start, end):
                zeroed.append((start, end))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(zeroed):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


class _RangeSet:
    """Byte ranges [start, end), which may overlap, asked whether a range meets any."""

    def __init__(self, ranges: Iterable[tuple[int, int]]):
        ordered = sorted(ranges)
        self.starts = [start for start, _ in ordered]
        self.furthest_ends = list(itertools.accumulate((end for _, end in ordered), max))

    def overlaps(self, start: int, end: int) -> bool:
        """Whether [start, end) shares a byte with one of the ranges."""
        before_end = bisect.bisect_left(self.starts, end)  # the ranges starting before `end`
        return before_end > 0 and self.furthest_ends[before_end - 1] > start


REWRITERS: dict[str, Callable[[Buffer], Rewrite]] = {
    "image/jpeg": _jpeg,
    "image/png": _png,
    "image/gif": _gif,
    "image/webp": _webp,
    "image/avif": _avif,
}
