"""The request header parser: what it accepts, and the smuggling shapes it refuses."""

import io

import pytest
from imagehost.errors import AppError
from imagehost.headers import MAX_HEADERS, read_headers


def parse(raw: bytes):
    return read_headers(io.BytesIO(raw))


def test_headers_are_case_insensitive_and_keep_repeated_values():
    headers = parse(b"Host: a\r\ncontent-type: text/plain\r\nX-A: 1\r\nx-a: 2\r\n\r\nBODY")
    assert headers.get("Content-Type") == "text/plain" and headers["HOST"] == "a"
    assert headers.get_all("X-A") == ["1", "2"] and headers.get("x-a") == "1"
    assert "content-type" in headers and headers.get("Missing") is None


def test_the_parser_stops_at_the_empty_line_and_leaves_the_body():
    stream = io.BytesIO(b"A: b\r\n\r\nbody bytes")
    read_headers(stream)
    assert stream.read() == b"body bytes"


def test_values_are_trimmed_and_may_hold_colons():
    assert parse(b"Host:   example.com:8080  \r\n\r\n").get("Host") == "example.com:8080"


@pytest.mark.parametrize(
    "raw, status",
    [
        (b"Content-Length : 5\r\n\r\n", 400),  # whitespace before the colon
        (b"X-A: 1\r\n folded\r\n\r\n", 400),  # obsolete line folding
        (b"no colon here\r\n\r\n", 400),
        (b": empty name\r\n\r\n", 400),
        (b"Bad Name: x\r\n\r\n", 400),
        (b"X: " + b"a" * 70000 + b"\r\n\r\n", 431),
        (b"".join(b"X-%d: y\r\n" % i for i in range(MAX_HEADERS + 1)) + b"\r\n", 431),
    ],
)
def test_malformed_or_oversized_headers_are_refused(raw, status):
    with pytest.raises(AppError) as raised:
        parse(raw)
    assert raised.value.status == status
