"""Uploads with issue 13's text fields, and JSON requests, for tests through a stack.

from support import labelled

reply = labelled.upload(stack, title="Black cat", tags=["cat, night"], expires_in="1h")
reply = labelled.send_json(stack, "PATCH", f"/api/images/{name}", {"title": "x"}, token)
"""

from __future__ import annotations

import json
import uuid

from .client import Reply, bearer, request
from .images import multipart, png


def unique_png(label: str = "") -> bytes:
    """A small decodable PNG whose bytes no other call gives (no two uploads share a file)."""
    return png(3, 2, extra=f"{label} {uuid.uuid4().hex}".encode())


def form(data: bytes, filename: str = "cat.png", **fields: str | list[str]) -> tuple[bytes, str]:
    """The body curl -F file=@<filename> -F <field>=<value> ... sends; a list repeats the field."""
    parts: list[tuple[str, str | None, str | None, bytes]] = [("file", filename, "image/png", data)]
    for name, value in fields.items():
        parts.extend((name, None, None, one.encode("utf-8")) for one in ([value] if isinstance(value, str) else value))
    return multipart(parts)


def upload(stack, data: bytes | None = None, filename: str = "cat.png", **fields: str | list[str]) -> Reply:
    """POST /upload through the stack's nginx with the given text fields."""
    body, content_type = form(data if data is not None else unique_png(), filename, **fields)
    return stack.request("POST", "/upload", body, {"Content-Type": content_type})


def uploaded(stack, data: bytes | None = None, filename: str = "cat.png", **fields: str | list[str]) -> dict:
    """The answer of an upload that must succeed."""
    reply = upload(stack, data, filename, **fields)
    assert reply.status == 201, reply.body
    return reply.json()


def send_json(stack, method: str, path: str, value: object, token: str | None = None) -> Reply:
    """`method path` through nginx with `value` as a JSON body, with a Bearer token if given."""
    headers = {"Content-Type": "application/json", **(bearer(token) if token else {})}
    return request(method, stack.base_url + path, json.dumps(value).encode(), headers)
