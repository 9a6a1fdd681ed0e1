"""What an upload may be: image types by magic bytes, dimensions, names.

The type is decided by the file's bytes only, never by its name or declared
Content-Type. Width and height come from the format's own headers (PNG IHDR, every GIF
image descriptor, JPEG SOFn, WebP's VP8/VP8L/VP8X and ANMF chunks, AVIF's ispe) so that
no decoder ever runs on an upload: a pixel bomb is refused by arithmetic. Every walk over
a file's structure is bounded in steps by the file's size (or a fixed count) and reads in
bulk, so hostile bytes cost no more than ordinary ones. HEIC/HEIF and SVG are refused
with a message saying what to send instead (RefusedType).

The accepted types are one table, ACCEPTED_TYPES: detection, the names images are
stored under and `/api/limits` are derived from it. nginx's image location cannot be
(no Python in its image): tests/integration/test_nginx_config.py checks it against the
table. Adding a type is a row here, its dimension reader, and what that test names.
"""

from __future__ import annotations

import mmap
import os
import re
import struct
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import BinaryIO, NamedTuple


@dataclass(frozen=True)
class ImageType:
    """One accepted type: its name as people write it, its Content-Type, the extension
    of the names it is stored under, the bytes a file of it starts with (any of `magic`,
    where `?` stands for any byte: no format's literal magic holds 0x3F), and the reader
    of its dimensions (raises NotAnImage)."""

    name: str
    mime: str
    extension: str
    magic: tuple[bytes, ...]
    read_dimensions: Callable[[bytes | mmap.mmap], Dimensions] = field(compare=False, repr=False)


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# The stem of a stored image's name (storage makes them); the extension is its type's.
IMAGE_STEM = r"[A-Za-z0-9_-]{12,128}"
MAX_ORIGINAL_NAME = 255


class NotAnImage(ValueError):
    """The bytes are not a well-formed header of an accepted type."""


class RefusedType(NotAnImage):
    """A type people often send that is refused on purpose (HEIC/HEIF, SVG, animated
    AVIF): str() of it is the message for them, saying what to send instead."""


class Dimensions(NamedTuple):
    """What a dimension reader finds: the size a browser shows, and the canvas a decoder
    needs, which an animation's frames can make larger than the size shown."""

    width: int
    height: int
    canvas_width: int
    canvas_height: int


def still(width: int, height: int) -> Dimensions:
    return Dimensions(width, height, width, height)


@dataclass(frozen=True)
class ImageInfo:
    type: ImageType
    width: int
    height: int
    canvas_width: int
    canvas_height: int

    @property
    def pixels(self) -> int:
        """The pixels a decoder allocates: what MAX_IMAGE_PIXELS limits."""
        return self.canvas_width * self.canvas_height


def detect_type(head: bytes) -> ImageType | None:
    """The accepted type whose magic bytes `head` starts with, or None. An AVIF's magic
    is any ISO-BMFF `ftyp` box: its reader decides on the brands (HEIC is refused there)."""
    return next(
        (
            image_type
            for image_type in ACCEPTED_TYPES
            if any(len(head) >= len(magic) and _matches(magic, head) for magic in image_type.magic)
        ),
        None,
    )


def could_still_be_image(head: bytes) -> bool:
    """False once `head` (the first bytes seen so far) can no longer start an image."""
    return any(_matches(magic, head) for magic in _MAGIC_PREFIXES)


def _matches(magic: bytes, head: bytes) -> bool:
    """Whether `head` and `magic` agree on the bytes both have, `?` in `magic` matching any."""
    return all(expected in (_ANY_BYTE, got) for expected, got in zip(magic, head, strict=False))


_ANY_BYTE = ord("?")


def refusal_message(head: bytes) -> str | None:
    """The message for a type refused on purpose that `head` (a file's first bytes)
    shows, or None. Only SVG is told by its first bytes alone; HEIC by the AVIF reader."""
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n")
    if text.startswith((b"<?xml", b"<svg", b"<!DOCTYPE svg", b"<!doctype svg")):
        return SVG_REFUSAL
    return None


def read_image_info(f: BinaryIO) -> ImageInfo:
    """Type and dimensions of the image in the seekable file `f` (an upload's temp file,
    an image on disk, or an in-memory file).

    Raises NotAnImage when the magic bytes are not an accepted type, or when the headers
    are truncated, malformed, beyond the walk's bounds or declare a zero width or height.
    """
    with _contents(f) as data:
        image_type = detect_type(data[:MAGIC_LENGTH])
        if image_type is None:
            message = refusal_message(data[:SNIFF_LENGTH])
            raise RefusedType(message) if message else NotAnImage(f"not {TYPE_NAMES}")
        size = image_type.read_dimensions(data)
    if size.width <= 0 or size.height <= 0:
        raise NotAnImage("zero width or height")
    return ImageInfo(image_type, *size)


@contextmanager
def _contents(f: BinaryIO) -> Iterator[bytes | mmap.mmap]:
    """The whole file as one buffer: mapped when `f` has a descriptor (only the pages a
    reader touches are read), read into memory otherwise."""
    try:
        fd = f.fileno()
    except (AttributeError, OSError):  # io.BytesIO raises io.UnsupportedOperation
        f.seek(0)
        yield f.read()
        return
    if os.fstat(fd).st_size == 0:  # mmap refuses an empty file
        yield b""
        return
    with mmap.mmap(fd, 0, access=mmap.ACCESS_READ) as data:
        yield data


def _png_dimensions(data: bytes | mmap.mmap) -> Dimensions:
    # Signature, then the first chunk must be IHDR: length 13, width, height (big-endian).
    if len(data) < 24 or data[12:16] != b"IHDR":
        raise NotAnImage("PNG without IHDR")
    (length,) = struct.unpack_from(">I", data, 8)
    if length != 13:
        raise NotAnImage("PNG with a malformed IHDR")
    return still(*struct.unpack_from(">II", data, 16))


# GIF89a spec (https://www.w3.org/Graphics/GIF/spec-gif89a.txt), sections 17-27: the
# header and logical screen descriptor (13 bytes), an optional global colour table, then
# blocks until the trailer. An extension is 0x21, a label and data sub-blocks; an image
# is 0x2C, a 9-byte descriptor, an optional local colour table, the LZW minimum code
# size and data sub-blocks. A sub-block is a length byte and that many bytes; a zero
# length ends the chain.
_GIF_SCREEN = struct.Struct("<HHB")
_GIF_DESCRIPTOR = struct.Struct("<HHHHB")
_GIF_EXTENSION, _GIF_IMAGE = 0x21, 0x2C
# The walk's bounds grow with the file, so its cost stays proportional to the file's
# size: encoders write 255-byte sub-blocks and a frame (with its graphic control
# extension) rarely under 1 KiB; a GIF that needs more steps than this is refused.
_GIF_BYTES_PER_BLOCK = 512
_GIF_BYTES_PER_SUB_BLOCK = 64
_GIF_MIN_BLOCKS = 4096
_GIF_MIN_SUB_BLOCKS = 8192


def _gif_dimensions(data: bytes | mmap.mmap) -> Dimensions:
    """The size browsers show and the canvas every frame needs, from a walk over all
    the blocks.

    Shown size, the source of truth being Debian's Chromium 156 (Skia's Wuffs GIF
    decoder), whose naturalWidth and naturalHeight tests/e2e/test_gif_sizes.py compares
    with this function on crafted files: the logical screen, enlarged to cover the FIRST
    frame's left+width and top+height, each side on its own (a 1x1 screen with a 100x50
    frame at (10, 20) shows as 110x70; a 200x10 screen with a 100x50 frame as 200x50).
    Later frames never change it; GIF87a is treated alike. Firefox's decoder, by its
    source (nsGIFDecoder2.cpp; not measured here), instead takes the first frame's own
    size when that frame is larger than the screen, which is never larger than this.
    Canvas: the logical screen extended to cover every frame, what a decoder that keeps
    each frame whole would allocate; MAX_IMAGE_PIXELS applies to it.

    A file cut short (no trailer) is accepted once one image descriptor is complete, as
    browsers show such files; the walk also stops at a byte that starts no block, where
    decoders stop too. Raises NotAnImage for a header cut short, a GIF without any
    image, or one that needs more steps than its size allows.
    """
    size = len(data)
    if size < 13:
        raise NotAnImage("truncated GIF header")
    width, height, flags = _GIF_SCREEN.unpack_from(data, 6)
    canvas_width, canvas_height = width, height
    pos = 13 + _gif_color_table_length(flags)
    blocks_left = _GIF_MIN_BLOCKS + size // _GIF_BYTES_PER_BLOCK
    sub_blocks_left = _GIF_MIN_SUB_BLOCKS + size // _GIF_BYTES_PER_SUB_BLOCK
    frames = 0
    while pos < size:
        introducer = data[pos]
        if introducer == _GIF_IMAGE:
            if pos + 10 > size:
                break  # the descriptor is cut short: the frame is never drawn
            left, top, frame_width, frame_height, packed = _GIF_DESCRIPTOR.unpack_from(data, pos + 1)
            right, bottom = left + frame_width, top + frame_height
            if not frames:
                width, height = max(width, right), max(height, bottom)
            canvas_width = max(canvas_width, right)
            canvas_height = max(canvas_height, bottom)
            frames += 1
            pos += 11 + _gif_color_table_length(packed)  # descriptor, table, LZW code size
        elif introducer == _GIF_EXTENSION:
            pos += 2  # introducer and label
        else:
            break  # the trailer (0x3B), or a byte that starts no block
        blocks_left -= 1
        if not blocks_left:
            raise NotAnImage("GIF with more blocks than its size allows")
        # The data sub-blocks: the one loop a hostile file can stretch, so kept tight.
        while pos < size:
            length = data[pos]
            pos += length + 1
            if not length:
                break
            sub_blocks_left -= 1
            if not sub_blocks_left:
                raise NotAnImage("GIF with more sub-blocks than its size allows")
    if not frames:
        raise NotAnImage("GIF without an image")
    return Dimensions(width, height, canvas_width, canvas_height)


def _gif_color_table_length(flags: int) -> int:
    """Bytes of the colour table that a screen or image descriptor's packed field announces."""
    return 3 << ((flags & 0x07) + 1) if flags & 0x80 else 0


# Start-of-frame markers carry the dimensions; C4 (DHT), C8 (JPG) and CC (DAC) do not.
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
# Markers that stand alone, without a length: TEM and RST0-7.
_JPEG_STANDALONE = {0x01, *range(0xD0, 0xD8)}
# Bound the walk so a file of endless tiny segments cannot keep a worker busy.
_JPEG_MAX_SEGMENTS = 4096
# Any number of 0xFF fill bytes may precede a marker (T.81, B.1.1.2): skipped in one step.
_JPEG_FILL = re.compile(rb"\xff+")


def _jpeg_dimensions(data: bytes | mmap.mmap) -> Dimensions:
    """Walk the marker segments to the first SOFn (ITU T.81, B.1.1)."""
    if data[:2] != b"\xff\xd8":
        raise NotAnImage("JPEG without SOI")
    size = len(data)
    pos = 2
    for _ in range(_JPEG_MAX_SEGMENTS):
        fill = _JPEG_FILL.match(data, pos)
        if fill is None:
            raise NotAnImage("JPEG marker expected")
        pos = fill.end()
        if pos >= size:
            raise NotAnImage("truncated JPEG")
        marker = data[pos]
        pos += 1
        if marker in _JPEG_STANDALONE:
            continue
        if marker in (0xD9, 0xDA):  # EOI or SOS before any frame header
            break
        if pos + 2 > size:
            break
        (length,) = struct.unpack_from(">H", data, pos)
        if length < 2:
            break
        if marker in _JPEG_SOF:
            if length < 7 or pos + 7 > size:
                break
            height, width = struct.unpack_from(">HH", data, pos + 3)
            return still(width, height)
        pos += length
    raise NotAnImage("JPEG without a frame header")


# WebP (RFC 9649): "RIFF", the size of what follows (little-endian), "WEBP", then chunks:
# a FourCC, a payload size, the payload and a pad byte when the size is odd. The first
# chunk says which kind: VP8 (lossy), VP8L (lossless) or VP8X (extended: a canvas, and
# for animations ANMF frames placed on it). The RIFF and chunk sizes are the sender's
# word: every walk stops at the bytes present.
_WEBP_CHUNK = struct.Struct("<4sI")
_WEBP_ANIMATION = 0x02
_VP8_START_CODE = b"\x9d\x01\x2a"
_VP8L_SIGNATURE = 0x2F
_ANMF_FIELDS = struct.Struct("<QI")
_U24 = 0xFFFFFF
# Chunks walked (frames and the others), grown with the file as for GIF's frames: a real
# animation spends more than 1 KiB on a frame on average (4096 frames come free).
_WEBP_MIN_CHUNKS = 4096
_WEBP_BYTES_PER_CHUNK = 1024


class _Budget:
    """Steps a walk may still take; raises NotAnImage once they are spent."""

    def __init__(self, steps: int, what: str):
        self.steps, self.what = steps, what

    def spend(self) -> None:
        self.steps -= 1
        if self.steps < 0:
            raise NotAnImage(f"{self.what} than its size allows")


def _webp_dimensions(data: bytes | mmap.mmap) -> Dimensions:
    """The canvas of a WebP: the bitstream's size for VP8 and VP8L, VP8X's canvas
    otherwise. A still VP8X's bitstream must have the canvas's size and an animation's
    frames must lie within the canvas (libwebp refuses other files), so the canvas is
    the most a browser allocates. Raises NotAnImage for a chunk past the end of the
    file, a missing or malformed bitstream, or more chunks than the size allows."""
    size = len(data)
    if size < 20:
        raise NotAnImage("truncated WebP header")
    (riff_size,) = struct.unpack_from("<I", data, 4)
    chunks = _riff_chunks(data, 12, min(size, 8 + riff_size), _WEBP_MIN_CHUNKS + size // _WEBP_BYTES_PER_CHUNK)
    first = next(chunks, None)
    if first is None:
        raise NotAnImage("WebP without chunks")
    fourcc, start, end = first
    if fourcc != b"VP8X":
        return still(*_webp_bitstream_size(data, fourcc, start, end))
    if end - start < 10:
        raise NotAnImage("truncated VP8X chunk")
    canvas = (_le24(data, start + 4) + 1, _le24(data, start + 7) + 1)
    if data[start] & _WEBP_ANIMATION:
        _check_webp_frames(data, chunks, canvas)
    else:
        bitstream = next(((f, s, e) for f, s, e in chunks if f in (b"VP8 ", b"VP8L")), None)
        if bitstream is None:
            raise NotAnImage("still VP8X WebP without a bitstream")
        if _webp_bitstream_size(data, *bitstream) != canvas:
            raise NotAnImage("WebP bitstream of another size than its canvas")
    return still(*canvas)


def _check_webp_frames(
    data: bytes | mmap.mmap, chunks: Iterator[tuple[bytes, int, int]], canvas: tuple[int, int]
) -> None:
    """Every ANMF frame (offsets, size, and its bitstream of that size) lies within the
    canvas; at least one frame. Raises NotAnImage otherwise. The one loop a hostile
    file can stretch, so each frame is read with two unpacks and no inner walk."""
    frames = 0
    canvas_width, canvas_height = canvas
    for fourcc, start, end in chunks:
        if fourcc != b"ANMF":
            continue
        if end - start < 16:
            raise NotAnImage("truncated ANMF chunk")
        # Four 24-bit fields: X/2, Y/2, width-1, height-1 (then duration and flags).
        low, high = _ANMF_FIELDS.unpack_from(data, start)
        left, top = 2 * (low & _U24), 2 * ((low >> 24) & _U24)
        width, height = (((low >> 48) | (high << 16)) & _U24) + 1, ((high >> 8) & _U24) + 1
        if left + width > canvas_width or top + height > canvas_height:
            raise NotAnImage("WebP frame outside its canvas")
        if _frame_bitstream_size(data, start + 16, end) != (width, height):
            raise NotAnImage("WebP frame without a bitstream of its size")
        frames += 1
    if not frames:
        raise NotAnImage("animated WebP without frames")


def _frame_bitstream_size(data: bytes | mmap.mmap, pos: int, end: int) -> tuple[int, int]:
    """The size of a frame's bitstream: its frame data is an optional ALPH chunk, then
    VP8 or VP8L (RFC 9649, 2.7.1.1). Raises NotAnImage when neither follows."""
    for _ in range(2):
        if end - pos < 8:
            break
        fourcc, length = _WEBP_CHUNK.unpack_from(data, pos)
        payload = pos + 8
        if length > end - payload:
            break
        if fourcc != b"ALPH":
            return _webp_bitstream_size(data, fourcc, payload, payload + length)
        pos = payload + length + (length & 1)
    raise NotAnImage("WebP frame without a bitstream")


def _riff_chunks(data: bytes | mmap.mmap, pos: int, end: int, max_chunks: int) -> Iterator[tuple[bytes, int, int]]:
    """(FourCC, payload start, payload end) of each chunk from `pos` to `end`; fewer
    than 8 bytes left end the walk. Raises NotAnImage for a chunk past `end` or more
    than `max_chunks` chunks."""
    for _ in range(max_chunks):
        if pos + 8 > end:
            return
        fourcc, length = _WEBP_CHUNK.unpack_from(data, pos)
        payload = pos + 8
        if length > end - payload:
            raise NotAnImage("WebP chunk past the end of its container")
        yield fourcc, payload, payload + length
        pos = payload + length + (length & 1)
    if pos + 8 <= end:
        raise NotAnImage("WebP with more chunks than its size allows")


def _webp_bitstream_size(data: bytes | mmap.mmap, fourcc: bytes, start: int, end: int) -> tuple[int, int]:
    """Width and height of a VP8 key frame (RFC 6386, 9.1) or a VP8L image (its header:
    signature, then 14 bits of width-1, 14 of height-1, alpha, a 3-bit version 0)."""
    if fourcc == b"VP8 ":
        if end - start < 10 or data[start] & 1 or data[start + 3 : start + 6] != _VP8_START_CODE:
            raise NotAnImage("VP8 without a key frame header")
        width, height = struct.unpack_from("<HH", data, start + 6)
        return width & 0x3FFF, height & 0x3FFF  # the top 2 bits are an upscaling hint
    if fourcc == b"VP8L":
        if end - start < 5 or data[start] != _VP8L_SIGNATURE:
            raise NotAnImage("VP8L without its signature")
        (bits,) = struct.unpack_from("<I", data, start + 1)
        if bits >> 29:
            raise NotAnImage("VP8L of an unknown version")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    raise NotAnImage("WebP starting with an unknown chunk")


def _le24(data: bytes | mmap.mmap, pos: int) -> int:
    return int.from_bytes(data[pos : pos + 3], "little")


# AVIF: ISO-BMFF (ISO/IEC 14496-12, 4.2) boxes, a size (32 bits; 1: a 64-bit size
# follows; 0: to the end of the container) and a type. HEIF (ISO/IEC 23008-12, 9.3) puts
# the image items' properties in meta > iprp > ipco (ispe: width and height, irot: a
# rotation) and their association with items in meta > iprp > ipma; meta > pitm names
# the primary item, the one browsers show. The walk follows that one path, so its depth
# is fixed; the boxes it reads are capped in number.
_BOX = struct.Struct(">I4s")
_AVIF_MAX_BOXES = 4096
_AVIF_MAX_BRANDS = 256
_AVIF_MAX_ITEMS = 16384
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"}


def _avif_dimensions(data: bytes | mmap.mmap) -> Dimensions:
    """The primary item's size (its ispe, turned by its irot), and for the pixel limit
    the largest ispe in the file (grid tiles, alpha, thumbnails): no item a browser
    decodes is larger. Raises RefusedType for HEIC/HEIF and for image sequences
    (animated AVIF, whose frames no ispe bounds), NotAnImage for other ISO-BMFF files
    and for boxes past their container, too many boxes or a primary item without ispe."""
    budget = _Budget(_AVIF_MAX_BOXES, "AVIF with more boxes")
    top = list(_boxes(data, 0, len(data), budget))
    if not top or top[0][0] != b"ftyp":
        raise NotAnImage("ISO-BMFF without ftyp first")
    _check_avif_brands(data, *top[0][1:])
    if any(kind == b"moov" for kind, _, _ in top):
        raise RefusedType(ANIMATED_AVIF_REFUSAL)
    meta = _child(top, b"meta", "AVIF without meta")
    meta_boxes = list(_boxes(data, meta[1] + 4, meta[2], budget))  # meta is a FullBox
    iprp = _child(meta_boxes, b"iprp", "AVIF without iprp")
    iprp_boxes = list(_boxes(data, iprp[1], iprp[2], budget))
    ipco = _child(iprp_boxes, b"ipco", "AVIF without ipco")
    properties = list(_boxes(data, ipco[1], ipco[2], budget))
    sizes = [_ispe(data, start, end) for kind, start, end in properties if kind == b"ispe"]
    if not sizes:
        raise NotAnImage("AVIF without ispe")
    primary = _primary_item(data, _child(meta_boxes, b"pitm", "AVIF without pitm"))
    associated = [
        properties[index - 1]
        for kind, start, end in iprp_boxes
        if kind == b"ipma"
        for index in _associations(data, start, end, primary)
        if 0 < index <= len(properties)
    ]
    ispe = next(((s, e) for kind, s, e in associated if kind == b"ispe"), None)
    if ispe is None:
        raise NotAnImage("AVIF primary item without ispe")
    width, height = _ispe(data, *ispe)
    irot = next((s for kind, s, e in associated if kind == b"irot" and e > s), None)
    if irot is not None and data[irot] & 1:  # 90 or 270 degrees anticlockwise
        width, height = height, width
    canvas = max(sizes, key=lambda size: size[0] * size[1])
    return Dimensions(width, height, *canvas)


def _check_avif_brands(data: bytes | mmap.mmap, start: int, end: int) -> None:
    """An ftyp's major and compatible brands must include `avif`; HEIC/HEIF brands and
    `avis` alone (an image sequence) are refused with a message for people."""
    if end - start < 8 or (end - start) % 4:
        raise NotAnImage("malformed ftyp")
    if (end - start) // 4 - 2 > _AVIF_MAX_BRANDS:
        raise NotAnImage("ftyp with too many brands")
    brands = {bytes(data[pos : pos + 4]) for pos in (start, *range(start + 8, end, 4))}
    if b"avif" in brands:
        if b"avis" in brands:
            raise RefusedType(ANIMATED_AVIF_REFUSAL)
        return
    if b"avis" in brands:
        raise RefusedType(ANIMATED_AVIF_REFUSAL)
    if brands & _HEIF_BRANDS:
        raise RefusedType(HEIF_REFUSAL)
    raise NotAnImage("ISO-BMFF file without the avif brand")


def _boxes(data: bytes | mmap.mmap, pos: int, end: int, budget: _Budget) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, box end) of each box from `pos` to `end`. Raises
    NotAnImage for a box cut short or past `end`, or once the budget is spent."""
    while pos < end:
        budget.spend()
        if end - pos < 8:
            raise NotAnImage("truncated box header")
        size, kind = _BOX.unpack_from(data, pos)
        header = 8
        if size == 1:
            if end - pos < 16:
                raise NotAnImage("truncated box header")
            (size,) = struct.unpack_from(">Q", data, pos + 8)
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or size > end - pos:
            raise NotAnImage("box past the end of its container")
        yield bytes(kind), pos + header, pos + size
        pos += size


def _child(boxes: list[tuple[bytes, int, int]], kind: bytes, missing: str) -> tuple[bytes, int, int]:
    box = next((box for box in boxes if box[0] == kind), None)
    if box is None:
        raise NotAnImage(missing)
    return box


def _ispe(data: bytes | mmap.mmap, start: int, end: int) -> tuple[int, int]:
    if end - start < 12:
        raise NotAnImage("truncated ispe")
    width, height = struct.unpack_from(">II", data, start + 4)  # after version and flags
    return width, height


def _primary_item(data: bytes | mmap.mmap, pitm: tuple[bytes, int, int]) -> int:
    _, start, end = pitm
    version = data[start] if end > start else -1
    if version not in (0, 1) or end - start < (6 if version == 0 else 8):
        raise NotAnImage("malformed pitm")
    id_size = 2 if version == 0 else 4
    return int.from_bytes(data[start + 4 : start + 4 + id_size], "big")


def _associations(data: bytes | mmap.mmap, start: int, end: int, item: int) -> list[int]:
    """The property indices (1-based into ipco) that an ipma box associates with `item`.
    Other items' entries are skipped whole. Raises NotAnImage when it is cut short."""
    if end - start < 8:
        raise NotAnImage("truncated ipma")
    version, flags = data[start], int.from_bytes(data[start + 1 : start + 4], "big")
    (entries,) = struct.unpack_from(">I", data, start + 4)
    if entries > _AVIF_MAX_ITEMS:
        raise NotAnImage("ipma with too many items")
    id_size, index_size = (2 if version < 1 else 4), (2 if flags & 1 else 1)
    pos = start + 8
    for _ in range(entries):
        if pos + id_size + 1 > end:
            raise NotAnImage("truncated ipma")
        item_id = int.from_bytes(data[pos : pos + id_size], "big")
        count = data[pos + id_size]
        pos += id_size + 1
        if pos + count * index_size > end:
            raise NotAnImage("truncated ipma")
        if item_id == item:
            mask = 0x7FFF if index_size == 2 else 0x7F  # the top bit says "essential"
            return [
                int.from_bytes(data[p : p + index_size], "big") & mask
                for p in range(pos, pos + count * index_size, index_size)
            ]
        pos += count * index_size
    return []


# --- The accepted types: the one table ---------------------------------------------------

PNG = ImageType("PNG", "image/png", ".png", (PNG_SIGNATURE,), _png_dimensions)
JPEG = ImageType("JPEG", "image/jpeg", ".jpg", (b"\xff\xd8\xff",), _jpeg_dimensions)
GIF = ImageType("GIF", "image/gif", ".gif", (b"GIF87a", b"GIF89a"), _gif_dimensions)
WEBP = ImageType("WebP", "image/webp", ".webp", (b"RIFF????WEBP",), _webp_dimensions)
# Any ftyp box: the brands that follow (HEIC's too) are read on the whole file.
AVIF = ImageType("AVIF", "image/avif", ".avif", (b"????ftyp",), _avif_dimensions)
# In the order /api/limits lists them.
ACCEPTED_TYPES = (PNG, JPEG, GIF, WEBP, AVIF)

_MAGIC_PREFIXES = tuple(prefix for image_type in ACCEPTED_TYPES for prefix in image_type.magic)
# Enough leading bytes to tell every accepted type apart.
MAGIC_LENGTH = max(map(len, _MAGIC_PREFIXES))
# Enough leading bytes to tell an SVG by its start after a BOM and some white space.
SNIFF_LENGTH = 512


def names_of(image_types: tuple[ImageType, ...]) -> str:
    """ "PNG, GIF or WebP": the types' names as a sentence lists them."""
    names = [t.name for t in image_types]
    return ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else names[0]


TYPE_NAMES = names_of(ACCEPTED_TYPES)
HEIF_REFUSAL = (
    "HEIC/HEIF photos are not accepted: send a JPEG (on iPhone: Settings > Camera > Formats > Most Compatible), "
    + names_of(tuple(t for t in ACCEPTED_TYPES if t is not JPEG))
    + "."
)
SVG_REFUSAL = f"SVG is not accepted (it can carry scripts): send {TYPE_NAMES} (export the drawing as PNG)."
ANIMATED_AVIF_REFUSAL = "Animated AVIF is not accepted: send a still AVIF, or an animated GIF or WebP."
IMAGE_NAME = re.compile(IMAGE_STEM + r"\.(" + "|".join(re.escape(t.extension[1:]) for t in ACCEPTED_TYPES) + ")")


def is_image_name(name: str) -> bool:
    return IMAGE_NAME.fullmatch(name) is not None


def sanitize_original_name(raw: str | None) -> str:
    """A safe, display-only form of a client's file name.

    Keeps the last path component (either slash), drops control and format characters
    (NUL, CR, LF, bidi overrides...), trims spaces and dots at the ends, and caps the
    length at 255 characters keeping the extension. Never fails: an unusable name
    becomes "".
    """
    if not raw:
        return ""
    name = re.split(r"[/\\]", raw)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = unicodedata.normalize("NFC", name).strip(" .")
    if len(name) > MAX_ORIGINAL_NAME:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 16:
            name = stem[: MAX_ORIGINAL_NAME - len(ext) - 1] + "." + ext
        else:
            name = name[:MAX_ORIGINAL_NAME]
    return name
