"""The multipart splitter in uploads.py, fed through `receive_image` in chunks of any size."""

from __future__ import annotations

import io

import pytest
from imagehost import uploads
from imagehost.errors import AppError
from imagehost.web import RequestBody
from support import images

MIB = 1024 * 1024
PNG = images.png(3, 2, extra=b"\r\n-\r\n--C--B\r\n--")  # boundary-like bytes inside the file
FILE_PART = b'--B\r\nContent-Disposition: form-data; name="file"; filename="cat.png"\r\nContent-Type: image/png\r\n\r\n'


def field(name: str, value: bytes = b"x", boundary: bytes = b"B") -> bytes:
    disposition = b'Content-Disposition: form-data; name="' + name.encode() + b'"'
    return b"--" + boundary + b"\r\n" + disposition + b"\r\n\r\n" + value + b"\r\n"


def form(*parts: bytes, closing: bytes = b"--B--\r\n") -> bytes:
    return b"".join(parts) + closing


def file_part(data: bytes = PNG) -> bytes:
    return FILE_PART + data + b"\r\n"


def receive(body: bytes, tmp_path, monkeypatch, chunk: int = 64 * 1024, boundary: str = "B"):
    """The stored file's bytes and the original name, or the error code; the body is always read to its end."""
    monkeypatch.setattr(uploads, "_read_buffer", lambda: bytearray(chunk))
    request_body = RequestBody(io.BytesIO(body), len(body))
    try:
        received = uploads.receive_image(
            request_body,
            f"multipart/form-data; boundary={boundary}",
            tmp_path,
            5 * MIB,
            50_000_000,
            strip_metadata=False,  # the bytes as the splitter wrote them
        )
    except AppError as error:
        outcome = error.code
    else:
        with received.temp as temp, open(temp.path, "rb") as f:
            outcome = (f.read(), received.original_name)
    assert request_body.remaining == 0
    assert list(tmp_path.iterdir()) == []
    return outcome


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 7, 8, 13, 64, 4096, 64 * 1024])
def test_the_file_is_stored_byte_for_byte_whatever_the_chunk_edges(tmp_path, monkeypatch, chunk):
    body = form(field("title", b"a\r\n--"), file_part(), field("tags", b"--B"))
    assert receive(body, tmp_path, monkeypatch, chunk) == (PNG, "cat.png")


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(form(file_part(), *[field(f"f{i}") for i in range(15)]), id="the-file-and-15-fields"),
        pytest.param(b"a preamble\r\n" + form(file_part()), id="a-preamble"),
        pytest.param(form(file_part(), closing=b"--B--\r\nan epilogue\r\n--B\r\n"), id="an-epilogue"),
        pytest.param(form(file_part(), closing=b"--B--"), id="no-newline-after-the-closing"),
        pytest.param(form(file_part().replace(b"--B\r\n", b"--B \t \r\n", 1)), id="transport-padding"),
        pytest.param(
            form(file_part().replace(b'name="file"', b'name="file"; x="' + b"y" * 60_000 + b'"')),
            id="60-KiB-of-headers",
        ),
        pytest.param(form(file_part().replace(b"Content-Type: image/png\r\n", b"X-A: 1\r\n" * 6)), id="eight-headers"),
        pytest.param(
            form(file_part().replace(b"Content-Type: image/png", b"Content-Type:   image/png   ")),
            id="spaces-around-a-header-value",
        ),
        pytest.param(
            form(file_part().replace(b'filename="cat.png"', b'filename="' + b";" * 62 + b'.png"')),
            id="64-semicolons-in-a-header",
        ),
    ],
)
def test_a_well_formed_form_within_the_bounds_is_stored(tmp_path, monkeypatch, body):
    stored, _ = receive(body, tmp_path, monkeypatch, chunk=4096)
    assert stored == PNG


@pytest.mark.parametrize(
    "body, code",
    [
        pytest.param(form(file_part(), *[field(f"f{i}") for i in range(16)]), "too_many_fields", id="17-parts"),
        pytest.param(
            form(*[field(f"f{i}") for i in range(100_000)], file_part()),
            "too_many_fields",
            id="100000-fields-before-the-file",
        ),
        pytest.param(form(file_part(), b"--B\r\n\r\n\r\n" * 16), "too_many_fields", id="17-parts-without-headers"),
        pytest.param(form(file_part(PNG + b"\r\n--Bx")), "bad_request", id="the-boundary-inside-a-part"),
        pytest.param(
            form(file_part().replace(b"--B\r\n", b"--B" + b" " * 65 + b"\r\n", 1)),
            "bad_request",
            id="65-bytes-of-padding",
        ),
        pytest.param(
            form(file_part().replace(b'name="file"', b'name="file"; x="' + b" " * 70_000 + b'"')),
            "bad_request",
            id="headers-over-64-KiB",
        ),
        pytest.param(
            form(file_part().replace(b"Content-Type: image/png\r\n", b"X-A: 1\r\n" * 8)),
            "bad_request",
            id="nine-headers",
        ),
        pytest.param(
            form(file_part().replace(b'filename="cat.png"', b'filename="' + b";" * 63 + b'.png"')),
            "bad_request",
            id="65-semicolons-in-a-header",
        ),
        pytest.param(
            form(file_part().replace(b"Content-Type: image/png", b"no colon here")),
            "bad_request",
            id="a-header-without-a-colon",
        ),
        pytest.param(
            form(file_part().replace(b"Content-Type: image/png", b": image/png")),
            "bad_request",
            id="a-header-without-a-name",
        ),
        pytest.param(form(file_part()).replace(b"\r\n", b"\n"), "bad_request", id="bare-newlines"),
        pytest.param(form(file_part(), closing=b""), "bad_request", id="no-closing-delimiter"),
        pytest.param(form(file_part())[:-30], "bad_request", id="cut-inside-the-file"),
        pytest.param(b"", "bad_request", id="empty-body"),
        pytest.param(form(field("title")), "missing_file", id="fields-but-no-file"),
    ],
)
def test_a_form_past_the_bounds_or_malformed_gets_its_error_after_the_body_is_read(tmp_path, monkeypatch, body, code):
    assert receive(body, tmp_path, monkeypatch, chunk=4096) == code


def test_the_parts_cap_is_16_and_says_so(tmp_path, monkeypatch):
    body = form(*[field(f"f{i}") for i in range(16)], file_part())
    with pytest.raises(AppError, match="more than 16 parts") as refused:
        uploads.receive_image(
            RequestBody(io.BytesIO(body), len(body)),
            "multipart/form-data; boundary=B",
            tmp_path,
            5 * MIB,
            50_000_000,
            strip_metadata=False,
        )
    assert refused.value.code == "too_many_fields"


def refusal_message(body: bytes, tmp_path, monkeypatch, chunk: int) -> str:
    monkeypatch.setattr(uploads, "_read_buffer", lambda: bytearray(chunk))
    request_body = RequestBody(io.BytesIO(body), len(body))
    with pytest.raises(AppError) as refusal:
        uploads.receive_image(request_body, "multipart/form-data; boundary=B", tmp_path, 5 * MIB, 50_000_000)
    assert (refusal.value.code, request_body.remaining, list(tmp_path.iterdir())) == ("unsupported_type", 0, [])
    return refusal.value.message


@pytest.mark.parametrize("chunk", [1, 3, 7, 64, 4096])
def test_an_svg_after_a_bom_and_white_space_gets_the_svg_message_whatever_the_chunk_edges(tmp_path, monkeypatch, chunk):
    svg = b"\xef\xbb\xbf" + b" \r\n" * 100 + b'<svg xmlns="http://www.w3.org/2000/svg"/>' + b" " * 5000
    message = refusal_message(form(file_part(svg)), tmp_path, monkeypatch, chunk)
    assert message.startswith("SVG is not accepted (it can carry scripts)")


@pytest.mark.parametrize("chunk", [1, 5, 64 * 1024])
def test_a_heic_gets_the_heic_message_whatever_the_chunk_edges(tmp_path, monkeypatch, chunk):
    heic = images.ftyp(b"heic", b"mif1") + images.box(b"mdat", bytes(100))
    message = refusal_message(form(file_part(heic)), tmp_path, monkeypatch, chunk)
    assert message.startswith("HEIC/HEIF photos are not accepted: send a JPEG")


@pytest.mark.parametrize("chunk", [1, 5, 9, 64 * 1024])
@pytest.mark.parametrize("data", [images.webp(images.vp8l(5, 6)), images.avif(images.ispe(5, 6))], ids=["webp", "avif"])
def test_webp_and_avif_magic_split_over_chunks_is_still_recognised(tmp_path, monkeypatch, chunk, data):
    stored, _ = receive(form(file_part(data)), tmp_path, monkeypatch, chunk)
    assert stored == data
