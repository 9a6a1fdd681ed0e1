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


def request(
    method: str, url: str, body: bytes | None = None, headers: dict | None = None, timeout: float = 30
) -> Reply:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
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
