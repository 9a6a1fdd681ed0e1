"""The request and response values that handlers see, free of sockets.

Handlers take a `Request` and return a `Response` (or raise an AppError); only the
worker's BaseHTTPRequestHandler subclass reads from and writes to the connection.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from http import HTTPStatus
from io import BufferedIOBase
from typing import BinaryIO
from urllib.parse import parse_qs

import orjson

from .errors import AppError, BadRequest
from .headers import Headers


class ClientGone(Exception):
    """The client closed the connection or stopped sending before the body was complete."""


class RequestBody:
    """The request body: exactly Content-Length bytes from the connection, read on demand.

    `framed` is False for a POST, PUT or PATCH that came without Content-Length: it reads
    as empty, but a body may follow that nothing frames, so it is never drained.
    """

    def __init__(self, rfile: BufferedIOBase, length: int, framed: bool = True):
        self._rfile = rfile
        self.remaining = length
        self.framed = framed

    def read(self, size: int) -> bytes:
        """Up to `size` bytes (b"" once the body is complete); raises ClientGone."""
        if self.remaining <= 0:
            return b""
        try:
            data = self._rfile.read(min(size, self.remaining))
        except (TimeoutError, ConnectionError) as exc:
            raise ClientGone() from exc
        if not data:
            raise ClientGone()
        self.remaining -= len(data)
        return data

    def pieces(self, buffer: bytearray) -> Iterator[bytearray]:
        """The rest of the body: `buffer` filled again and again, then a last, shorter
        piece in a new bytearray. A piece is valid only until the next one is read;
        reusing the buffer spares an allocation and a copy per piece."""
        size = len(buffer)
        if size == 0:
            raise ValueError("pieces() needs a buffer of at least one byte")
        while self.remaining > 0:
            piece = buffer if self.remaining >= size else bytearray(self.remaining)
            try:
                filled = self._rfile.readinto(piece)
            except (TimeoutError, ConnectionError) as exc:
                raise ClientGone() from exc
            if filled != len(piece):  # the connection ended mid-body
                raise ClientGone()
            self.remaining -= filled
            yield piece

    def drain(self, limit: int) -> bool:
        """Read and drop the rest of the body, up to `limit` bytes.

        Returns True when the body was read to its end, so the connection can carry
        another request; False when it was not framed, was longer than `limit`, or the
        client left.
        """
        if not self.framed or self.remaining > limit:
            return False
        try:
            while self.read(1 << 18):
                pass
        except ClientGone:
            return False
        return True


@dataclass
class Request:
    method: str
    path: str
    query: str
    headers: Headers | Mapping[str, str]  # a Mapping in unit tests
    body: RequestBody
    request_id: str

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    @cached_property
    def _parameters(self) -> dict[str, list[str]]:
        """The query string, parsed once (a listing reads seven parameters)."""
        try:
            return parse_qs(self.query, keep_blank_values=True, strict_parsing=False, max_num_fields=40)
        except ValueError:
            raise BadRequest("The query string has too many parameters.") from None

    def query_values(self, name: str) -> list[str]:
        """Every value of query parameter `name` (repeatable, like `tag`), in order."""
        return self._parameters.get(name, [])

    def query_value(self, name: str) -> str | None:
        """The value of query parameter `name`; BadRequest when it is given twice."""
        values = self._parameters.get(name)
        if not values:
            return None
        if len(values) > 1:
            raise BadRequest(f"Give '{name}' once.")
        return values[0]


@dataclass
class Response:
    """What a handler answers. `body` is bytes, or an open file read from its current
    position to its end (at most `length` bytes), which the worker sends in pieces and
    closes: for a large download, never held in memory."""

    status: HTTPStatus
    body: bytes | BinaryIO = b""
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    # The body's size in bytes; worked out from `body` when not given (-1).
    length: int = -1

    def __post_init__(self) -> None:
        if self.length < 0:
            self.length = len(self.body) if isinstance(self.body, (bytes, bytearray)) else _rest_of(self.body)

    def close(self) -> None:
        """Close a file body (bytes need nothing); safe to call twice."""
        if not isinstance(self.body, (bytes, bytearray)):
            self.body.close()


def _rest_of(file: BinaryIO) -> int:
    return os.fstat(file.fileno()).st_size - file.tell()


def json_response(status: HTTPStatus, payload: object, headers: dict[str, str] | None = None) -> Response:
    # Compact UTF-8, the bytes json.dumps(ensure_ascii=False, separators=(",", ":")) gives,
    # in a twentieth of the time (tests/unit/test_json_answers.py).
    body = orjson.dumps(payload)
    return Response(status, body, "application/json", headers or {})


def error_response(error: AppError) -> Response:
    return json_response(error.status, error.to_body(), dict(error.headers))


_HOST = re.compile(r"(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")


def base_url(request: Request, public_base_url: str, fallback_host: str) -> str:
    """The absolute URL prefix for links in responses.

    PUBLIC_BASE_URL when set; otherwise from X-Forwarded-Proto/X-Forwarded-Host (set by
    nginx) or Host. A host that is not a plain host[:port] is ignored, so a hostile
    header can never inject text into a Location header or a link.
    """
    if public_base_url:
        return public_base_url
    proto = (request.header("X-Forwarded-Proto") or "http").split(",")[0].strip().lower()
    if proto not in ("http", "https"):
        proto = "http"
    for candidate in (request.header("X-Forwarded-Host"), request.header("Host")):
        host = (candidate or "").split(",")[0].strip()
        if _HOST.fullmatch(host):
            return f"{proto}://{host}"
    return f"{proto}://{fallback_host}"


# scheme://host[:port], then the end or a path. Hosts as the Origin header serialises them
# (ASCII, IPv6 in brackets): https://html.spec.whatwg.org/multipage/browsers.html#ascii-serialisation-of-an-origin
_ORIGIN = re.compile(
    r"(https?)://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::([0-9]{1,5}))?(?:/.*)?", re.IGNORECASE | re.DOTALL
)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: str) -> str | None:
    """The origin of an http(s) URL in one spelling: lower case, no default port, no path.

    'HTTPS://Img.Example.com:443/x' -> 'https://img.example.com'. None for anything else
    ('null', other schemes, a port over 65535), which compares equal to no origin.
    """
    match = _ORIGIN.fullmatch(url.strip())
    if not match:
        return None
    scheme, host, port = match.group(1).lower(), match.group(2).lower(), match.group(3)
    if port is not None:
        number = int(port)
        if not 0 < number <= 65535:
            return None
        if number != _DEFAULT_PORTS[scheme]:
            host = f"{host}:{number}"
    return f"{scheme}://{host}"
