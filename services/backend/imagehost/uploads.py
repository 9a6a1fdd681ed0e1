"""Receiving an upload: stream one multipart file part to a temp file and validate it.

The body is read in large chunks and split by `_MultipartSplitter`; only the `file`
part's bytes are written, to a TempUpload in `IMAGES_DIR/.tmp/`. Nothing is held in
memory beyond one chunk and one part's headers. Refusals are decided while reading (too
large, not an image by its first bytes: writing stops, reading goes on) but raised only
once the whole body has been read, so the client gets the JSON error instead of a broken
pipe. A body that breaks the form's bounds (too many parts, huge part headers) stops
being parsed at once; the rest is read and dropped.

CPU per upload stays proportional to its size: every step of the splitter is a bulk
search over a chunk, and the Python work per part is bounded by the part cap and the
header limits, so no arrangement of bytes makes a body cost much more than an ordinary
image of the same size (tests/unit/test_upload_cost.py measures it).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path

from python_multipart.multipart import parse_options_header

from . import metadata
from .errors import (
    AppError,
    BadRequest,
    EmptyFile,
    FileTooLarge,
    ImageTooLarge,
    MissingFile,
    TooManyFields,
    TooManyFiles,
    UnsupportedType,
    describe_size,
)
from .storage import TempUpload
from .validation import (
    MAGIC_LENGTH,
    SNIFF_LENGTH,
    ImageInfo,
    NotAnImage,
    RefusedType,
    could_still_be_image,
    read_image_info,
    refusal_message,
    sanitize_original_name,
)
from .validation import _contents as file_contents
from .web import RequestBody

FILE_FIELD = "file"
READ_CHUNK = 64 * 1024
# The file and a handful of text fields (title, description, tags...), with room to spare.
MAX_FORM_PARTS = 16
# Room for a 10,000-character (UTF-8) file name: it is shortened, not refused.
MAX_PART_HEADER_BYTES = 64 * 1024
MAX_PART_HEADERS = 8
# RFC 2046 5.1.1 lets a transport pad a delimiter line with spaces and tabs; no client does.
MAX_DELIMITER_PADDING = 64
# python-multipart's parse_options_header takes a Python step per ';', however long the value.
MAX_HEADER_PARAMETERS = 64
# A text field (title, description, tags, expires_in): the longest description (2,000
# characters) in 4-byte UTF-8, with room.
MAX_TEXT_FIELD_BYTES = 16 * 1024

_thread_buffers = threading.local()


@dataclass
class ReceivedImage:
    """A validated image in a temp file; the caller publishes it or lets it be removed."""

    temp: TempUpload
    info: ImageInfo
    original_name: str
    # The form's text fields that were asked for, by name: every value, in order.
    fields: dict[str, list[str]] = field(default_factory=dict)


def boundary_of(content_type: str | None) -> bytes:
    """The multipart boundary from a Content-Type header; BadRequest when not multipart."""
    media_type, options = _header_options(content_type or "")
    if media_type != b"multipart/form-data":
        raise BadRequest("Send the image as multipart/form-data with a field named 'file' (curl -F file=@cat.png).")
    boundary = options.get(b"boundary", b"")
    if not 1 <= len(boundary) <= 70:
        raise BadRequest("The multipart Content-Type has no valid boundary.")
    return boundary


def receive_image(
    body: RequestBody,
    content_type: str | None,
    tmp_dir: Path,
    max_bytes: int,
    max_pixels: int,
    *,
    strip_metadata: bool = True,
    text_fields: frozenset[str] = frozenset(),
) -> ReceivedImage:
    """Read the whole multipart `body` and return the validated image it carries, its
    width and height as displayed (EXIF orientation applied), and, with
    `strip_metadata` (STRIP_METADATA's default, the safe one), in a new temp file without
    its metadata (metadata.py). The values of the form fields named in `text_fields`
    come with it, each at most MAX_TEXT_FIELD_BYTES of UTF-8; other fields are ignored.

    On failure an AppError is raised after the body has been read completely (or
    ClientGone when the client left), and no temp file remains.
    """
    boundary = boundary_of(content_type)
    temp = TempUpload(tmp_dir)
    try:
        form = _FilePartWriter(temp, max_bytes, text_fields)
        _parse(body, boundary, form)
        form.check()
        temp, info = checked_image(temp, tmp_dir, max_pixels, strip_metadata)
        return ReceivedImage(temp, info, form.original_name, form.text_values())
    except BaseException:
        temp.__exit__(None, None, None)
        raise


def checked_image(
    temp: TempUpload, tmp_dir: Path, max_pixels: int, strip_metadata: bool
) -> tuple[TempUpload, ImageInfo]:
    """The image in `temp` (whole, at most the size limit), checked by its headers and
    the pixel limit, and without its metadata when `strip_metadata` (a new temp file in
    `tmp_dir`, `temp` removed): what becomes the published image, and its info.
    UnsupportedType or ImageTooLarge when refused; `temp` is then the caller's to remove."""
    info = _image_info(temp, max_pixels)
    return _rewritten(temp, info, tmp_dir, strip_metadata)


def _parse(body: RequestBody, boundary: bytes, form: _FilePartWriter) -> None:
    """Feed the whole body to the splitter; on a refusal, read and drop the rest first."""
    splitter = _MultipartSplitter(boundary, form)
    pieces = body.pieces(_read_buffer())
    try:
        for piece in pieces:
            splitter.feed(piece)
    except AppError:
        for _ in pieces:
            pass
        raise
    if not form.finished:
        raise BadRequest("The multipart body ended before its closing boundary.")


def _read_buffer() -> bytearray:
    """This thread's read buffer: one per connection thread, reused for every upload."""
    buffer = getattr(_thread_buffers, "read", None)
    if buffer is None:
        buffer = _thread_buffers.read = bytearray(READ_CHUNK)
    return buffer


def _image_info(temp: TempUpload, max_pixels: int) -> ImageInfo:
    with temp.open_for_reading() as f:
        try:
            info = read_image_info(f)
        except RefusedType as refusal:
            raise UnsupportedType(str(refusal)) from None
        except NotAnImage:
            raise UnsupportedType() from None
    if info.pixels > max_pixels:
        raise ImageTooLarge(info.canvas_width, info.canvas_height, max_pixels)
    return info


def _rewritten(temp: TempUpload, info: ImageInfo, tmp_dir: Path, strip: bool) -> tuple[TempUpload, ImageInfo]:
    """The upload without its metadata (a new temp file in `tmp_dir`, `temp` removed) when
    `strip` and there is any, else `temp` itself; and `info` with the width and height a
    browser shows once it applies the EXIF orientation (the canvas, what MAX_IMAGE_PIXELS
    limits, is unchanged). On failure the new file is removed and `temp` left as it was.
    """
    with temp.open_for_reading() as f, file_contents(f) as data:
        rewrite = metadata.plan_rewrite(info.type.mime, data)
        if rewrite.orientation in metadata.QUARTER_TURNS:
            info = replace(info, width=info.height, height=info.width)
        if not (strip and rewrite.changed):
            return temp, info
        stripped = TempUpload(tmp_dir)
        try:
            rewrite.write(data, stripped.write)
        except BaseException:
            stripped.__exit__(None, None, None)
            raise
    temp.__exit__(None, None, None)
    return stripped, info


class _MultipartSplitter:
    """Splits a multipart/form-data body (RFC 7578, RFC 2046 5.1.1), fed in chunks, into
    parts for a _FilePartWriter.

    Each step is a bulk search (for the delimiter CRLF "--" boundary, or for the blank
    line that ends a part's headers), so no byte is looked at one by one in Python; bytes
    that might begin a delimiter wait for the next chunk. A preamble before the first
    delimiter and an epilogue after the last are ignored, as RFC 2046 asks. Raises
    TooManyFields past MAX_FORM_PARTS and BadRequest for a malformed body, as soon as
    the bytes show it.
    """

    def __init__(self, boundary: bytes, form: _FilePartWriter):
        self.delimiter = b"\r\n--" + boundary
        # re, not bytes.find: for needles under 100 bytes find steps one byte at a time
        # through bytes that occur in the delimiter but never end it (a file of dashes),
        # while re skips to each CR and follows a KMP table, so no file is much slower
        # than random bytes (tests/unit/test_upload_cost.py has both kinds).
        self._search = re.compile(re.escape(self.delimiter)).search
        self.form = form
        self.parts = 0
        self._in_part = False  # False in the preamble
        self._reading_headers = False
        self._searched = 0  # how much of a header block has been searched for its end
        self._done = False
        # The body's first delimiter has no CRLF before it: lend it one.
        self._pending = bytearray(b"\r\n")

    def feed(self, piece: bytes | bytearray) -> None:
        if self._done:
            return  # the epilogue
        self._pending += piece
        while not self._done and (self._headers() if self._reading_headers else self._data()):
            pass

    def _data(self) -> bool:
        """Hand on part data up to the next delimiter and pass it; False when more bytes are needed."""
        found = self._search(self._pending)
        if found is None:
            # Keep what might be the start of a delimiter completed by the next chunk.
            self._hand_on(max(0, len(self._pending) - len(self.delimiter) + 1))
            return False
        self._hand_on(found.start())
        return self._delimiter_line()

    def _delimiter_line(self) -> bool:
        """At a delimiter: its transport padding, then CRLF (a part follows) or "--" (the end)."""
        pending, after = self._pending, len(self.delimiter)
        padded = _PADDING.match(pending, after)  # [ \t]* always matches, if only nothing
        padding = (padded.end() if padded else after) - after
        if padding > MAX_DELIMITER_PADDING:
            raise BadRequest(f"A multipart boundary has more than {MAX_DELIMITER_PADDING} spaces or tabs after it.")
        ending = bytes(pending[after + padding : after + padding + 2])
        if len(ending) < 2:
            return False
        if ending not in (b"\r\n", b"--"):
            raise BadRequest("The multipart boundary appears inside a part. Use a boundary the file does not contain.")
        if self._in_part:
            self.form.part_end()
        if ending == b"--":
            self.form.end()
            self._done = True
            self._pending = bytearray()
            return False
        del pending[: after + padding + 2]
        self.parts += 1
        if self.parts > MAX_FORM_PARTS:
            raise TooManyFields(MAX_FORM_PARTS)
        self._in_part = self._reading_headers = True
        self._searched = 0
        self.form.part_begin()
        return True

    def _hand_on(self, end: int) -> None:
        """Give the first `end` pending bytes to the current part (none in the preamble)."""
        if not end:
            return
        if self._in_part:
            with memoryview(self._pending) as view:
                self.form.part_data(view[:end])
        del self._pending[:end]

    def _headers(self) -> bool:
        """Read the part's headers once the blank line after them is here; False until then."""
        pending = self._pending
        if pending.startswith(b"\r\n"):
            block_end = 0  # no headers at all
        else:
            found = pending.find(b"\r\n\r\n", max(0, self._searched - 3))
            self._searched = len(pending)
            if found < 0:
                if len(pending) > MAX_PART_HEADER_BYTES:
                    raise _headers_too_large()
                return False
            block_end = found + 2
        if block_end > MAX_PART_HEADER_BYTES:
            raise _headers_too_large()
        lines = bytes(pending[:block_end]).split(b"\r\n")[:-1]
        if len(lines) > MAX_PART_HEADERS:
            raise BadRequest(f"A form part has more than {MAX_PART_HEADERS} headers.")
        for line in lines:
            name, colon, value = line.partition(b":")
            if not colon or not name.strip():
                raise BadRequest("A form part has a header line that is not 'Name: value'.")
            self.form.header(name.strip(), value.strip(b" \t"))
        del pending[: block_end + 2]
        self._reading_headers = False
        self.form.headers_finished()
        return True


_PADDING = re.compile(rb"[ \t]*")


def _headers_too_large() -> BadRequest:
    return BadRequest(f"The headers of a form part are larger than {describe_size(MAX_PART_HEADER_BYTES)}.")


def _header_options(value: bytes | str) -> tuple[bytes, dict[bytes, bytes]]:
    """parse_options_header, after a cap on the ';' it steps through one by one in Python."""
    separators = value.count(";") if isinstance(value, str) else value.count(b";")
    if separators > MAX_HEADER_PARAMETERS:
        raise BadRequest(f"A header has more than {MAX_HEADER_PARAMETERS} ';'. If the file name has many, rename it.")
    return parse_options_header(value)


class _FilePartWriter:
    """What the splitter found, turned into a file write and notes of what is wrong."""

    def __init__(self, temp: TempUpload, max_bytes: int, text_fields: frozenset[str] = frozenset()):
        self.temp = temp
        self.max_bytes = max_bytes
        self.text_fields = text_fields
        self.texts: list[tuple[str, bytearray]] = []
        self.text_too_large: str | None = None
        self._text: bytearray | None = None
        self.file_parts = 0
        self.file_part_named_file = False
        self.original_name = ""
        self.too_large = False
        self.not_an_image = False
        self.finished = False
        self._head = b""
        self._writing = False
        self._disposition = b""

    def part_begin(self) -> None:
        self._disposition = b""
        self._text = None

    def header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"content-disposition":
            self._disposition = value

    def headers_finished(self) -> None:
        _, options = _header_options(self._disposition)
        field_name = options.get(b"name", b"").decode("latin-1")
        filename = options.get(b"filename")
        if filename is None and field_name != FILE_FIELD:
            if field_name in self.text_fields:  # one the caller wants; others are ignored
                self._text = bytearray()
                self.texts.append((field_name, self._text))
            return
        self.file_parts += 1
        if field_name == FILE_FIELD and self.file_parts == 1:
            self.file_part_named_file = True
            self._writing = True
            # Browsers send file names as raw UTF-8; the header parser read them as latin-1.
            raw = (filename or b"").decode("latin-1").encode("latin-1").decode("utf-8", "replace")
            self.original_name = sanitize_original_name(raw)

    def part_data(self, chunk: memoryview) -> None:
        if self._text is not None:
            self._collect_text(chunk)
            return
        if not self._writing:
            return
        if len(self._head) < SNIFF_LENGTH:
            self._head += bytes(chunk[: SNIFF_LENGTH - len(self._head)])
        if self.not_an_image:
            # Only the head is kept: enough to say why (an SVG), nothing is written.
            self._writing = len(self._head) < SNIFF_LENGTH
            return
        if not could_still_be_image(self._head[:MAGIC_LENGTH]):
            self.not_an_image = True
            self._writing = len(self._head) < SNIFF_LENGTH
            return
        if self.temp.size + len(chunk) > self.max_bytes:
            self.too_large = True
            self._writing = False
            return
        self.temp.write(chunk)

    def part_end(self) -> None:
        self._writing = False
        self._text = None

    def _collect_text(self, chunk: memoryview) -> None:
        assert self._text is not None
        if len(self._text) + len(chunk) > MAX_TEXT_FIELD_BYTES:
            self.text_too_large = self.text_too_large or self.texts[-1][0]
            self._text = None
            return
        self._text += chunk

    def text_values(self) -> dict[str, list[str]]:
        """The text fields' values, decoded as UTF-8 (what browsers and curl send)."""
        values: dict[str, list[str]] = {}
        for name, raw in self.texts:
            values.setdefault(name, []).append(bytes(raw).decode("utf-8", "replace"))
        return values

    def end(self) -> None:
        self.finished = True

    def check(self) -> None:
        """Raise the error this form deserves, if any, in the contract's order."""
        if self.file_parts > 1:
            raise TooManyFiles()
        if not self.file_part_named_file:
            if self.file_parts:
                raise MissingFile("The file must be sent in the form field named 'file'.")
            raise MissingFile()
        if self.too_large:
            raise FileTooLarge(self.max_bytes)
        if self.not_an_image:
            raise UnsupportedType(refusal_message(self._head))
        if self.temp.size == 0:
            raise EmptyFile()
        if self.text_too_large:
            raise BadRequest(
                f"The form field '{self.text_too_large}' is longer than {MAX_TEXT_FIELD_BYTES} bytes; "
                "see the API's limits for titles, descriptions and tags."
            )
