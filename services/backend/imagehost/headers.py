"""Request header parsing, lighter than http.client.parse_headers.

http.server hands the header block to `email.parser`, a general MIME parser that costs
more per request than the rest of an upload's Python work together (profiled with
py-spy under the upload benchmark, see docs/performance.md). HTTP/1.1 headers need much
less: `name: value` lines up to an empty line. This parser is also stricter where
strictness is safer (RFC 9112 5.1, 5.2): no whitespace before the colon and no
obsolete line folding, the usual ingredients of request smuggling.
"""

from __future__ import annotations

from io import BufferedIOBase

from .errors import BadRequest, HeadersTooLarge

MAX_LINE = 65536  # as http.client's _MAXLINE
MAX_HEADERS = 100  # as http.client's _MAXHEADERS


class Headers:
    """Case-insensitive request headers; the subset of email.message.Message we use."""

    __slots__ = ("_first", "_pairs")

    def __init__(self, pairs: list[tuple[str, str]]):
        self._pairs = pairs
        self._first: dict[str, str] = {}
        for name, value in pairs:
            self._first.setdefault(name.lower(), value)

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._first.get(name.lower(), default)

    def get_all(self, name: str, failobj: list[str] | None = None) -> list[str] | None:
        key = name.lower()
        values = [value for n, value in self._pairs if n.lower() == key]
        return values or failobj

    def __getitem__(self, name: str) -> str | None:
        return self.get(name)

    def __contains__(self, name: str) -> bool:
        return name.lower() in self._first


def read_headers(rfile: BufferedIOBase) -> Headers:
    """Read header lines up to the empty line, leaving the body unread.

    Raises HeadersTooLarge (431: a line over MAX_LINE, more than MAX_HEADERS lines) or
    BadRequest (400: a folded or malformed line); the stream is then left mid-headers.
    """
    pairs: list[tuple[str, str]] = []
    while True:
        line = rfile.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise HeadersTooLarge("A request header line is too long. Send shorter headers (cookies included).")
        if line in (b"\r\n", b"\n", b""):
            return Headers(pairs)
        if len(pairs) >= MAX_HEADERS:
            raise HeadersTooLarge(f"Too many request headers: send at most {MAX_HEADERS}.")
        if line[:1] in (b" ", b"\t"):
            raise BadRequest("Folded header lines are not accepted.")
        name, colon, value = line.partition(b":")
        if not colon or not name or name != name.strip() or b" " in name:
            raise BadRequest("A request header line is malformed.")
        pairs.append((name.decode("latin-1"), value.strip(b" \t\r\n").decode("latin-1")))
