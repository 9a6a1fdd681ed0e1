"""The shareable pages' server side: `/i/<name>` (one image) and `/a/<id>` (an album).

nginx serves the page (services/frontend/index.html) at those addresses, and fills its
head through a server-side include from `GET /api/cards/...`: the Open Graph and Twitter
card tags (title, description, image, size) that chat apps read when a link is pasted,
since their crawlers run no scripts. Every text a person wrote is HTML-escaped here; an
unknown name or id gives no tags (and a 404 the include leaves out). The page's script
reads the same facts from `GET /api/public/images/<name>` and `GET /api/albums/<id>`.
"""

from __future__ import annotations

import html
from http import HTTPStatus

from .albums import ALBUM_ID
from .errors import InvalidName, NotFound
from .handlers import App, public_image, request_base
from .index import ImageRecord
from .validation import is_image_name
from .web import Request, Response, json_response

SITE_NAME = "imagehost"
MAX_CARD_DESCRIPTION = 300


def public_image_view(request: Request, app: App, name: str) -> Response:
    """GET /api/public/images/<name>: what the image page shows, to anyone with the link."""
    return json_response(HTTPStatus.OK, public_image(_image(app, name), request_base(request, app)))


def image_card(request: Request, app: App, name: str) -> Response:
    """GET /api/cards/i/<name>: the <head> tags of the image page."""
    record = _image(app, name)
    base = request_base(request, app)
    title = record.title or "An image"
    facts = f"{record.width} × {record.height} · {record.type.removeprefix('image/').upper()}"
    description = record.description or facts
    return _card(
        title=title,
        description=description,
        page_url=f"{base}/i/{record.name}",
        image=record,
        base=base,
    )


def album_card(request: Request, app: App, album_id: str) -> Response:
    """GET /api/cards/a/<id>: the <head> tags of the album page (its first image as the picture)."""
    if not ALBUM_ID.fullmatch(album_id):
        raise NotFound()
    found = app.index.album(album_id)
    if found is None:
        raise NotFound()
    album, images = found
    base = request_base(request, app)
    count = f"{len(images)} image{'s' if len(images) != 1 else ''}"
    return _card(
        title=album.title or f"An album of {count}",
        description=album.description or count,
        page_url=f"{base}/a/{album.public_id}",
        image=images[0] if images else None,
        base=base,
    )


def _image(app: App, name: str) -> ImageRecord:
    if not is_image_name(name):
        raise InvalidName()
    record = app.index.get(name)
    if record is None:
        raise NotFound("No image has that name (it may have been deleted).")
    return record


def _card(*, title: str, description: str, page_url: str, image: ImageRecord | None, base: str) -> Response:
    if len(description) > MAX_CARD_DESCRIPTION:
        description = description[: MAX_CARD_DESCRIPTION - 1] + "…"
    tags = [
        f"<title>{html.escape(title)} · {SITE_NAME}</title>",
        _meta("property", "og:site_name", SITE_NAME),
        _meta("property", "og:type", "website"),
        _meta("property", "og:title", title),
        _meta("property", "og:description", description),
        _meta("property", "og:url", page_url),
        _meta("name", "description", description),
        _meta("name", "twitter:title", title),
        _meta("name", "twitter:description", description),
    ]
    if image is not None:
        image_url = f"{base}/images/{image.name}"
        tags += [
            _meta("property", "og:image", image_url),
            _meta("property", "og:image:type", image.type),
            _meta("property", "og:image:width", str(image.width)),
            _meta("property", "og:image:height", str(image.height)),
            _meta("property", "og:image:alt", image.title or title),
            _meta("name", "twitter:card", "summary_large_image"),
            _meta("name", "twitter:image", image_url),
        ]
    else:
        tags.append(_meta("name", "twitter:card", "summary"))
    body = ("\n    ".join(tags) + "\n").encode()
    return Response(HTTPStatus.OK, body, "text/html; charset=utf-8", {"Cache-Control": "no-store"})


def _meta(attribute: str, key: str, value: str) -> str:
    return f'<meta {attribute}="{key}" content="{html.escape(value, quote=True)}">'
