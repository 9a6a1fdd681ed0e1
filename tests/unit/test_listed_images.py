"""A listing's images are kept as JSON per worker (handlers.listed_image), keyed by the whole
row and the links' base: what a listing says of an image is always what describe_image
says of the row as it is now."""

from __future__ import annotations

import json

import orjson
from imagehost.handlers import describe_image, listed_image
from imagehost.index import ImageRecord

ROW = ImageRecord(
    id=7,
    name="AbCdEfGhIjKlMnOp.png",
    type="image/png",
    size=1234,
    width=40,
    height=30,
    sha256="a" * 64,
    original_name="cat.png",
    created_at="2026-11-27T12:00:00.000Z",
    delete_token_hash="h",
    preview="ready",
    title="A <b>cat</b> \u202e",
    description="line\nnext",
    tags="cat holiday-2026",
)
BASE = "http://127.0.0.1:8080"


def listed(record: ImageRecord, base: str = BASE) -> object:
    return json.loads(orjson.dumps([listed_image(record, base)]))[0]


def test_a_listed_image_is_the_image_as_described():
    assert listed(ROW) == describe_image(ROW, BASE)


def test_a_changed_row_is_listed_as_it_is_now():
    assert listed(ROW)["title"] == ROW.title
    for change in (
        {"title": "new"},
        {"tags": "dog"},
        {"preview": "failed"},
        {"expires_at": "2027-01-01T00:00:00.000Z"},
    ):
        changed = ROW._replace(**change)
        assert listed(changed) == describe_image(changed, BASE)


def test_the_same_row_is_listed_with_each_requests_own_links():
    other = "https://images.example.org"
    assert listed(ROW, other)["url"] == f"{other}/images/{ROW.name}"
    assert listed(ROW)["url"] == f"{BASE}/images/{ROW.name}"
