"""What an upload may be: image types by magic bytes, dimensions, names.

The type is decided by the file's first bytes only, never by its name or declared
Content-Type. Width and height come from the format's own headers (PNG IHDR, every GIF
image descriptor, JPEG SOFn) so that no decoder ever runs on an upload: a pixel bomb is
refused by arithmetic. Every walk over a file's structure is bounded in steps by the
file's size and reads in bulk, so hostile bytes cost no more than ordinary ones.

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
    """One accepted type: its Content-Type, the extension of the names it is stored
    under, the bytes a file of it starts with (any of `magic`), and the reader of its
    dimensions (raises NotAnImage)."""

    mime: str
    extension: str
    magic: tuple[bytes, ...]
    read_dimensions: Callable[[bytes | mmap.mmap], Dimensions] = field(compare=False, repr=False)

    @property
    def name(self) -> str:
        """ "PNG", "JPEG", "GIF": the subtype, as people write it."""
        return self.mime.partition("/")[2].upper()


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# The stem of a stored image's name (storage makes them); the extension is its type's.
IMAGE_STEM = r"[A-Za-z0-9_-]{12,}"
MAX_ORIGINAL_NAME = 255


class NotAnImage(ValueError):
    """The bytes are not a well-formed header of an accepted type."""


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
    """The accepted type whose magic bytes `head` starts with, or None."""
    return next((image_type for image_type in ACCEPTED_TYPES if head.startswith(image_type.magic)), None)


def could_still_be_image(head: bytes) -> bool:
    """False once `head` (the first bytes seen so far) can no longer start an image."""
    return any(prefix.startswith(head[: len(prefix)]) for prefix in _MAGIC_PREFIXES)


def read_image_info(f: BinaryIO) -> ImageInfo:
    """Type and dimensions of the image in the seekable file `f` (an upload's temp file,
    an image on disk, or an in-memory file).

    Raises NotAnImage when the magic bytes are not an accepted type, or when the headers
    are truncated, malformed, beyond the walk's bounds or declare a zero width or height.
    """
    with _contents(f) as data:
        image_type = detect_type(data[:MAGIC_LENGTH])
        if image_type is None:
            raise NotAnImage(f"not {_TYPE_NAMES}")
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


# --- The accepted types: the one table ---------------------------------------------------

PNG = ImageType("image/png", ".png", (PNG_SIGNATURE,), _png_dimensions)
JPEG = ImageType("image/jpeg", ".jpg", (b"\xff\xd8\xff",), _jpeg_dimensions)
GIF = ImageType("image/gif", ".gif", (b"GIF87a", b"GIF89a"), _gif_dimensions)
# In the order /api/limits lists them.
ACCEPTED_TYPES = (PNG, JPEG, GIF)

_MAGIC_PREFIXES = tuple(prefix for image_type in ACCEPTED_TYPES for prefix in image_type.magic)
# Enough leading bytes to tell every accepted type apart.
MAGIC_LENGTH = max(map(len, _MAGIC_PREFIXES))
_TYPE_NAMES = ", ".join(t.name for t in ACCEPTED_TYPES[:-1]) + " or " + ACCEPTED_TYPES[-1].name
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
