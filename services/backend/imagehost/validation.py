"""What an upload may be: image types by magic bytes, dimensions, names.

The type is decided by the file's first bytes only, never by its name or declared
Content-Type. Width and height come from the format's own header (PNG IHDR, GIF logical
screen, JPEG SOFn) so that no decoder ever runs on an upload: a pixel bomb is refused by
arithmetic. The allowed types are defined here, once; `/api/limits` publishes them.
"""

from __future__ import annotations

import re
import struct
import unicodedata
from dataclasses import dataclass
from typing import BinaryIO


@dataclass(frozen=True)
class ImageType:
    mime: str
    extension: str


JPEG = ImageType("image/jpeg", ".jpg")
PNG = ImageType("image/png", ".png")
GIF = ImageType("image/gif", ".gif")
ACCEPTED_TYPES = (PNG, JPEG, GIF)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Enough leading bytes to tell every accepted type apart.
MAGIC_LENGTH = 8

IMAGE_NAME = re.compile(r"[A-Za-z0-9_-]{12,}\.(jpg|png|gif)")
MAX_ORIGINAL_NAME = 255


class NotAnImage(ValueError):
    """The bytes are not a well-formed PNG, JPEG or GIF header."""


@dataclass(frozen=True)
class ImageInfo:
    type: ImageType
    width: int
    height: int

    @property
    def pixels(self) -> int:
        return self.width * self.height


def detect_type(head: bytes) -> ImageType | None:
    """The accepted type whose magic bytes `head` starts with, or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(PNG_SIGNATURE):
        return PNG
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    return None


def could_still_be_image(head: bytes) -> bool:
    """False once `head` (the first bytes seen so far) can no longer start an image."""
    prefixes = (b"\xff\xd8\xff", PNG_SIGNATURE, b"GIF87a", b"GIF89a")
    return any(p.startswith(head[: len(p)]) for p in prefixes)


def read_image_info(f: BinaryIO) -> ImageInfo:
    """Type and dimensions of the image in the seekable file `f`.

    Raises NotAnImage when the magic bytes are not an accepted type, or when the header
    is truncated, malformed or declares a zero width or height.
    """
    f.seek(0)
    image_type = detect_type(f.read(MAGIC_LENGTH))
    if image_type is None:
        raise NotAnImage("not PNG, JPEG or GIF")
    f.seek(0)
    width, height = _DIMENSION_READERS[image_type](f)
    if width <= 0 or height <= 0:
        raise NotAnImage("zero width or height")
    return ImageInfo(image_type, width, height)


def _png_dimensions(f: BinaryIO) -> tuple[int, int]:
    # Signature, then the first chunk must be IHDR: length 13, width, height (big-endian).
    head = f.read(24)
    if len(head) < 24 or head[12:16] != b"IHDR":
        raise NotAnImage("PNG without IHDR")
    length, = struct.unpack(">I", head[8:12])
    if length != 13:
        raise NotAnImage("PNG with a malformed IHDR")
    return struct.unpack(">II", head[16:24])


def _gif_dimensions(f: BinaryIO) -> tuple[int, int]:
    head = f.read(10)
    if len(head) < 10:
        raise NotAnImage("truncated GIF header")
    return struct.unpack("<HH", head[6:10])


# Start-of-frame markers carry the dimensions; C4 (DHT), C8 (JPG) and CC (DAC) do not.
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
# Markers that stand alone, without a length: TEM and RST0-7.
_JPEG_STANDALONE = {0x01, *range(0xD0, 0xD8)}
# Bound the walk so a file of endless tiny segments cannot keep a worker busy.
_JPEG_MAX_SEGMENTS = 4096


def _jpeg_dimensions(f: BinaryIO) -> tuple[int, int]:
    """Walk the marker segments to the first SOFn (ITU T.81, B.1.1)."""
    if f.read(2) != b"\xff\xd8":
        raise NotAnImage("JPEG without SOI")
    for _ in range(_JPEG_MAX_SEGMENTS):
        marker = _next_jpeg_marker(f)
        if marker in _JPEG_STANDALONE:
            continue
        if marker in (0xD9, 0xDA):  # EOI or SOS before any frame header
            break
        raw_length = f.read(2)
        if len(raw_length) < 2:
            break
        length, = struct.unpack(">H", raw_length)
        if length < 2:
            break
        if marker in _JPEG_SOF:
            frame = f.read(5)
            if len(frame) < 5 or length < 7:
                break
            height, width = struct.unpack(">HH", frame[1:5])
            return width, height
        f.seek(length - 2, 1)
    raise NotAnImage("JPEG without a frame header")


def _next_jpeg_marker(f: BinaryIO) -> int:
    byte = f.read(1)
    if byte != b"\xff":
        raise NotAnImage("JPEG marker expected")
    while byte == b"\xff":  # any number of fill bytes may precede a marker
        byte = f.read(1)
    if not byte:
        raise NotAnImage("truncated JPEG")
    return byte[0]


_DIMENSION_READERS = {PNG: _png_dimensions, GIF: _gif_dimensions, JPEG: _jpeg_dimensions}


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
