"""A small HTTP client for tests, on http.client: no exceptions for 4xx/5xx."""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self):
        return json.loads(self.body)

    @property
    def error_code(self) -> str | None:
        """The contract's error code, asserting the JSON error shape on the way."""
        assert self.headers.get("Content-Type", "").startswith("application/json"), self.headers
        payload = self.json()
        assert set(payload) == {"error"} and set(payload["error"]) == {"code", "message"}, payload
        assert payload["error"]["message"], payload
        return payload["error"]["code"]


class NotSelfConnection(http.client.HTTPConnection):
    """An HTTPConnection that never talks to itself. Connecting to a local port nobody
    listens on yet (a server starting up, polled) can, when the kernel happens to pick
    that same port as the source, join the socket to itself (TCP simultaneous open):
    the request then comes back as the "answer" (once: BadStatusLine 'GET /api/health
    HTTP/1.1'). Such a connection is refused here, as the port itself would be."""

    def connect(self) -> None:
        super().connect()
        try:
            peer = self.sock.getpeername()
        except OSError as exc:  # ENOTCONN: the server reset it already (nginx stopping, say)
            self.sock.close()
            raise ConnectionResetError(f"{self.host}:{self.port} reset the connection as it was made") from exc
        if self.sock.getsockname() == peer:
            self.sock.close()
            raise ConnectionRefusedError(f"{self.host}:{self.port} is not listening (the socket joined itself)")


def request(
    method: str, url: str, body: bytes | None = None, headers: dict | None = None, timeout: float = 30
) -> Reply:
    parts = urlsplit(url)
    connection = NotSelfConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        connection.request(method, target, body=body, headers=headers or {})
        response = connection.getresponse()
        return Reply(response.status, response.headers, response.read())
    finally:
        connection.close()


def upload(base_url: str, body_and_type: tuple[bytes, str], token: str | None = None, path: str = "/upload") -> Reply:
    body, content_type = body_and_type
    headers = {"Content-Type": content_type}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return request("POST", base_url + path, body, headers)


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}
