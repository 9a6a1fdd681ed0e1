"""Receiving an upload: stream one multipart file part to a temp file and validate it.

The body is read in large chunks and fed to python-multipart's streaming parser; only
the `file` part's bytes are written, to a TempUpload in `IMAGES_DIR/.tmp/`. Nothing is
held in memory beyond one chunk. Refusals are decided while reading (too large, not an
image by its first bytes: writing stops, reading goes on) but raised only once the whole
body has been read, so the client gets the JSON error instead of a broken pipe.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from python_multipart.exceptions import FormParserError, MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from .errors import (
    BadRequest,
    EmptyFile,
    FileTooLarge,
    ImageTooLarge,
    MissingFile,
    TooManyFiles,
    UnsupportedType,
)
from .storage import TempUpload
from .validation import (
    MAGIC_LENGTH,
    ImageInfo,
    NotAnImage,
    could_still_be_image,
    read_image_info,
    sanitize_original_name,
)

FILE_FIELD = "file"
READ_CHUNK = 64 * 1024
# Room for a 10,000-character (UTF-8) file name: it is shortened, not refused.
MAX_PART_HEADER_BYTES = 64 * 1024

_thread_buffers = threading.local()


@dataclass
class ReceivedImage:
    """A validated image in a temp file; the caller publishes it or lets it be removed."""

    temp: TempUpload
    info: ImageInfo
    original_name: str


def boundary_of(content_type: str | None) -> bytes:
    """The multipart boundary from a Content-Type header; BadRequest when not multipart."""
    media_type, options = parse_options_header(content_type or "")
    if media_type != b"multipart/form-data":
        raise BadRequest("Send the image as multipart/form-data with a field named 'file' (curl -F file=@cat.png).")
    boundary = options.get(b"boundary", b"")
    if not 1 <= len(boundary) <= 70:
        raise BadRequest("The multipart Content-Type has no valid boundary.")
    return boundary


def receive_image(body, content_type: str | None, tmp_dir: Path, max_bytes: int, max_pixels: int) -> ReceivedImage:
    """Read the whole multipart `body` and return the validated image it carries.

    On failure an AppError is raised after the body has been read completely (or
    ClientGone when the client left), and no temp file remains.
    """
    boundary = boundary_of(content_type)
    temp = TempUpload(tmp_dir)
    try:
        form = _FilePartWriter(temp, max_bytes)
        _parse(body, boundary, form)
        form.check()
        info = _image_info(temp, max_pixels)
        return ReceivedImage(temp, info, form.original_name)
    except BaseException:
        temp.__exit__(None, None, None)
        raise


def _parse(body, boundary: bytes, form: _FilePartWriter) -> None:
    try:
        parser = MultipartParser(boundary, form.callbacks(), max_header_size=MAX_PART_HEADER_BYTES)
        for piece in body.pieces(_read_buffer()):
            parser.write(piece)
        parser.finalize()
    except (MultipartParseError, FormParserError):
        # The worker drains the rest of the body before it answers.
        raise BadRequest("The multipart body is malformed.") from None
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
        except NotAnImage:
            raise UnsupportedType() from None
    if info.pixels > max_pixels:
        raise ImageTooLarge(info.canvas_width, info.canvas_height, max_pixels)
    return info


class _FilePartWriter:
    """python-multipart callbacks that write the `file` part and note what is wrong."""

    def __init__(self, temp: TempUpload, max_bytes: int):
        self.temp = temp
        self.max_bytes = max_bytes
        self.file_parts = 0
        self.file_part_named_file = False
        self.original_name = ""
        self.too_large = False
        self.not_an_image = False
        self.finished = False
        self._head = b""
        self._writing = False
        self._header_name = b""
        self._header_value = b""
        self._disposition = b""

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value_data,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_end": self._end,
        }

    def _part_begin(self) -> None:
        self._disposition = b""
        self._header_name = self._header_value = b""

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        if self._header_name.strip().lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_name = self._header_value = b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        field_name = options.get(b"name", b"").decode("latin-1")
        filename = options.get(b"filename")
        if filename is None and field_name != FILE_FIELD:
            return  # an ordinary form field: ignored
        self.file_parts += 1
        if field_name == FILE_FIELD and self.file_parts == 1:
            self.file_part_named_file = True
            self._writing = True
            # Browsers send file names as raw UTF-8; the header parser read them as latin-1.
            raw = (filename or b"").decode("latin-1").encode("latin-1").decode("utf-8", "replace")
            self.original_name = sanitize_original_name(raw)

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if not self._writing:
            return
        chunk = memoryview(data)[start:end]
        if len(self._head) < MAGIC_LENGTH:
            self._head += bytes(chunk[: MAGIC_LENGTH - len(self._head)])
            if not could_still_be_image(self._head):
                self.not_an_image = True
                self._writing = False
                return
        if self.temp.size + len(chunk) > self.max_bytes:
            self.too_large = True
            self._writing = False
            return
        self.temp.write(chunk)

    def _part_end(self) -> None:
        self._writing = False

    def _end(self) -> None:
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
            raise UnsupportedType()
        if self.temp.size == 0:
            raise EmptyFile()
