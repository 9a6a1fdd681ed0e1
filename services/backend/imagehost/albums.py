"""Albums: several images under one link, `/a/<id>`.

An album has a random id (96 bits: nobody finds one without its link), an optional
title and description, its images in order, and an album token that edits or deletes
it, shown once when it is made. Anyone with the link sees the album (GET is public:
the link is the permission, as an image's name is), its images as the image page shows
them (handlers.public_image: not their original file names). Images are named in requests as
`"name"` or as `{"name", "delete_token"}`: with the token, the album owns that image,
and deleting the album "with its images" deletes those (and only those). Deleting an
image removes it from every album.
"""

from __future__ import annotations

import re
import secrets
from http import HTTPStatus
from typing import Any

from . import auth, labels
from .errors import BadRequest, Forbidden, NotFound, Unauthorized
from .handlers import App, json_object, public_image, remove_image_everywhere, request_base
from .index import AlbumRecord, ImageRecord
from .validation import is_image_name
from .web import Request, Response, json_response

ALBUM_ID_BYTES = 12  # 96 bits, 16 URL-safe characters
ALBUM_ID = re.compile(r"[A-Za-z0-9_-]{16}")
MAX_ALBUM_IMAGES = 200


def create_album(request: Request, app: App) -> Response:
    """POST /api/albums {"title"?, "description"?, "images": [...]}: 201 with the album
    and its token. Each image must exist (else 400 naming it). Who may upload may make
    albums: with UPLOAD_TOKEN set, the request needs it, as an upload does."""
    auth.require_upload_token(auth.bearer_token(request.header("Authorization")), app.config.upload_token)
    body = json_object(request, {"title", "description", "images"})
    images = _image_list(body.get("images"), app)
    token = auth.new_delete_token()
    try:
        album = app.index.add_album(
            secrets.token_urlsafe(ALBUM_ID_BYTES),
            labels.title(body.get("title", "")),
            labels.description(body.get("description", "")),
            auth.hash_token(token),
            images,
        )
    except LookupError as missing:
        raise BadRequest(f"There is no image named '{missing.args[0]}' (deleted, or a typo?).") from None
    base = request_base(request, app)
    return json_response(
        HTTPStatus.CREATED,
        {**_album_body(app, album.public_id, base), "album_token": token},
        {"Location": f"{base}/a/{album.public_id}"},
    )


def get_album(request: Request, app: App, album_id: str) -> Response:
    """GET /api/albums/<id>: public, for whoever has the link."""
    _require_album_id(album_id)
    return json_response(HTTPStatus.OK, _album_body(app, album_id, request_base(request, app)))


def update_album(request: Request, app: App, album_id: str) -> Response:
    """PATCH /api/albums/<id> with the album token: title, description, and/or the whole
    list of images (in their new order)."""
    album = _album_for_owner(request, app, album_id)
    body = json_object(request, {"title", "description", "images"})
    images = _image_list(body["images"], app, album) if "images" in body else None
    try:
        app.index.update_album(
            album.id,
            title=labels.title(body["title"]) if "title" in body else None,
            description=labels.description(body["description"]) if "description" in body else None,
            images=images,
        )
    except LookupError as missing:
        raise BadRequest(f"There is no image named '{missing.args[0]}' (deleted, or a typo?).") from None
    return json_response(HTTPStatus.OK, _album_body(app, album_id, request_base(request, app)))


def delete_album(request: Request, app: App, album_id: str) -> Response:
    """DELETE /api/albums/<id> with the album token: 204. With `?with_images=true`, the
    images the album owns go too (file, row, preview); the others stay."""
    album = _album_for_owner(request, app, album_id)
    with_images = request.query_value("with_images")
    if with_images not in (None, "", "true", "false"):
        raise BadRequest("'with_images' must be true or false.")
    # The images first, each as a DELETE removes it: if one fails (a 500), the album and
    # the rest are still there, and the same request again finishes the job.
    if with_images == "true":
        for name, is_owned in app.index.album_ownership(album.id).items():
            if is_owned:
                remove_image_everywhere(app, name)
    app.index.delete_album(album.id)
    return Response(HTTPStatus.NO_CONTENT)


def _album_body(app: App, album_id: str, base: str) -> dict[str, Any]:
    found = app.index.album(album_id)
    if found is None:
        raise NotFound("No album has that id (it may have been deleted).")
    album, images = found
    return describe_album(album, images, base)


def describe_album(album: AlbumRecord, images: list[ImageRecord], base: str) -> dict[str, Any]:
    return {
        "id": album.public_id,
        "url": f"{base}/a/{album.public_id}",
        "title": album.title,
        "description": album.description,
        "created_at": album.created_at,
        "images": [public_image(image, base) for image in images],
    }


def _require_album_id(album_id: str) -> None:
    if not ALBUM_ID.fullmatch(album_id):
        raise NotFound("No album has that id: album links end in 16 letters, digits, '-' or '_'.")


def _album_for_owner(request: Request, app: App, album_id: str) -> AlbumRecord:
    _require_album_id(album_id)
    token = auth.bearer_token(request.header("Authorization"))
    if token is None:
        raise Unauthorized("Changing an album needs its album token: 'Authorization: Bearer <album token>'.")
    found = app.index.album(album_id)
    if found is None:
        raise NotFound("No album has that id (it may have been deleted).")
    album = found[0]
    if not (auth.matches_hash(token, album.token_hash) or auth.is_admin(token, app.config.admin_token)):
        raise Forbidden("That is not this album's token.")
    return album


def _image_list(value: object, app: App, album: AlbumRecord | None = None) -> list[tuple[str, bool]]:
    """[(name, owned)] from the request's "images": names or {"name", "delete_token"}.

    An image already in `album` keeps its ownership. BadRequest for a malformed entry, a
    name given twice, more than MAX_ALBUM_IMAGES, or a delete token that does not match.
    """
    if not isinstance(value, list) or not value:
        raise BadRequest('\'images\' must be a list of image names (or {"name", "delete_token"}), at least one.')
    if len(value) > MAX_ALBUM_IMAGES:
        raise BadRequest(f"An album holds at most {MAX_ALBUM_IMAGES} images.")
    already = app.index.album_ownership(album.id) if album else {}
    chosen: list[tuple[str, bool]] = []
    for entry in value:
        name, token = (entry, None) if isinstance(entry, str) else _name_and_token(entry)
        if not is_image_name(name):
            raise BadRequest(f"'{name[:40]}' is not an image name (names look like 'AbCdEfGhIjKlMnOp.png').")
        if any(name == seen for seen, _ in chosen):
            raise BadRequest(f"The image '{name}' is in the list twice.")
        owned = already.get(name, False)
        if token is not None:
            record = app.index.get(name)
            if record is None:
                raise BadRequest(f"There is no image named '{name}' (deleted, or a typo?).")
            if not auth.matches_hash(token, record.delete_token_hash):
                raise BadRequest(f"The delete_token given for '{name}' is not that image's.")
            owned = True
        chosen.append((name, owned))
    return chosen


def _name_and_token(entry: object) -> tuple[str, str | None]:
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or set(entry) - {"name", "delete_token"}:
        raise BadRequest('Each image is a name or {"name": "...", "delete_token": "..."}.')
    token = entry.get("delete_token")
    if token is not None and not isinstance(token, str):
        raise BadRequest("A delete_token must be a string.")
    return entry["name"], token
