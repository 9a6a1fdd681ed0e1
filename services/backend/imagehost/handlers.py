"""The route handlers: `handler(request, app, **path_params) -> Response`.

Handlers raise AppError subclasses for every refusal; they never touch the socket.
"""

from __future__ import annotations

import functools
import json
import os
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any, cast

import orjson
from loguru import logger

from . import auth, backups, expiry, labels, logs, metrics, previews, search, version
from .config import Config
from .errors import (
    BadRequest,
    BodyTooLarge,
    CrossOrigin,
    Forbidden,
    InsufficientStorage,
    InvalidName,
    LengthRequired,
    NotFound,
    Unauthorized,
    Unavailable,
)
from .index import ImageRecord, Index
from .object_store import ObjectStore, open_store
from .uploads import ReceivedImage, receive_image
from .validation import ACCEPTED_TYPES, is_image_name
from .web import Request, Response, base_url, json_response, origin_of

DEFAULT_PAGE_SIZE = 50
STATS_DAYS = 30
MAX_PAGE_SIZE = 200
# Listed images kept as JSON per worker (listed_image): 20 full pages, a few MB.
LISTED_IMAGES_KEPT = 4096
_CURSOR = re.compile(r"[1-9][0-9]{0,17}")


@dataclass(frozen=True)
class App:
    """What handlers share within one worker. `store` holds the images (default: the
    config's, object_store.open_store; one per process). `ask_for_previews` tells the
    supervisor that an image is waiting for its preview (worker_process: SIGUSR1)."""

    config: Config
    index: Index
    worker_id: int
    ask_for_previews: Callable[[], None] = lambda: None
    store: ObjectStore = None  # type: ignore[assignment]  # made in __post_init__

    def __post_init__(self) -> None:
        if cast("ObjectStore | None", self.store) is None:
            object.__setattr__(self, "store", open_store(self.config))


def upload(request: Request, app: App) -> Response:
    """Store the uploaded image and its row; all or nothing.

    The image is in the store before its row is written: on any failure after that
    (the row cannot be written, or anything else) the image is withdrawn from the store
    before the error goes on: InsufficientStorage (507) when the index's disk is full,
    else the error as it was (an AppError's own status, or 500). The store's own
    failures are its errors: 507 when it is full, 503 when it cannot be reached.
    """
    config = app.config
    if not request.body.framed:
        raise LengthRequired()
    base = request_base(request, app)
    require_upload_permission(request, app, base)
    received = receive_image(
        request.body,
        request.header("Content-Type"),
        config.tmp_dir,
        config.max_upload_bytes,
        config.max_image_pixels,
        strip_metadata=config.strip_metadata,
        text_fields=UPLOAD_TEXT_FIELDS,
    )
    with received.temp:
        details = upload_details(received.fields, config)  # a refusal leaves nothing behind
        return publish_upload(app, base, received, details)


def publish_upload(app: App, base: str, received: ReceivedImage, details: dict[str, Any]) -> Response:
    """Publish the checked image `received` (its temp file open) with its `details`
    (upload_details): the image into the store, then its row; answer 201 with the
    image, its delete token and Location. What upload's docstring says of failures."""
    temp = received.temp
    same_content = app.index.names_with_content(temp.sha256, temp.size)
    name = app.store.publish(temp, received.info.type.extension, same_content)
    delete_token = auth.new_delete_token()
    try:
        record = app.index.add(
            name=name,
            type=received.info.type.mime,
            size=temp.size,
            width=received.info.width,
            height=received.info.height,
            sha256=temp.sha256,
            original_name=received.original_name,
            delete_token_hash=auth.hash_token(delete_token),
            **details,
        )
    except BaseException as exc:
        app.store.withdraw(name)
        if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
            raise InsufficientStorage() from exc
        raise
    app.ask_for_previews()
    metrics.upload_stored(temp.size)
    described = describe_image(record, base)
    payload = {
        **described,
        "delete_token": delete_token,
        "delete_url": _delete_url(base, name),
        "delete_page_url": f"{base}/#/delete/{name}/{delete_token}",
    }
    return json_response(HTTPStatus.CREATED, payload, {"Location": str(described["url"])})


UPLOAD_TEXT_FIELDS = frozenset({"title", "description", "tags", "expires_in"})
# A PATCH body: the longest title, description and tags, in 4-byte UTF-8 and JSON escapes.
MAX_JSON_BYTES = 64 * 1024


def require_upload_permission(request: Request, app: App, base: str) -> None:
    """Raise CrossOrigin for a browser's upload from another site's page, and
    Unauthorized or Forbidden without the upload token when the server has one."""
    _refuse_cross_site(request, app, base)
    auth.require_upload_token(auth.bearer_token(request.header("Authorization")), app.config.upload_token)


def upload_details(fields: dict[str, list[str]], config: Config) -> dict[str, Any]:
    """The upload form's title, description, tags and expiry, checked (BadRequest)."""
    for name in ("title", "description", "expires_in"):
        if len(fields.get(name, [])) > 1:
            raise BadRequest(f"Give the form field '{name}' once.")
    return {
        "title": labels.title(fields.get("title", [""])[0]),
        "description": labels.description(fields.get("description", [""])[0]),
        "tags": labels.tags_from_form(fields.get("tags", [])),
        "expires_at": expiry.expires_at(fields.get("expires_in", [None])[0], config),
    }


def _refuse_cross_site(request: Request, app: App, base: str) -> None:
    """Raise CrossOrigin when a browser sends this upload from another site's page.

    Without an upload token, any page could otherwise make its visitors upload: a form
    POST or a no-cors fetch needs no CORS permission. Browsers send `Origin` with every
    POST; it must be this site's (the origin of the links we build) or one of
    ALLOWED_ORIGINS, and `null` (sandboxed frames, some redirects) is neither. Without
    Origin, `Sec-Fetch-Site: cross-site` still gives a cross-site request away; with
    neither, the client is not a browser (curl, scripts), which this check is not about.
    A Bearer token ends the question: a page cannot send one to another site without a
    CORS preflight, which nothing here grants. Only Bearer: a browser does attach Basic
    credentials it remembers to cross-site requests.
    https://fetch.spec.whatwg.org/#origin-header
    """
    if auth.bearer_token(request.header("Authorization")):
        return
    origin = request.header("Origin")
    if origin is None:
        if (request.header("Sec-Fetch-Site") or "").strip().lower() == "cross-site":
            raise CrossOrigin()
        return
    sent = origin_of(origin)
    if sent is None or (sent != origin_of(base) and sent not in app.config.allowed_origins):
        raise CrossOrigin()


def list_images(request: Request, app: App) -> Response:
    _require_gallery_access(request, app)
    limit = _page_size(request.query_value("limit"))
    cursor = _cursor(request.query_value("cursor"))
    records, next_id = app.index.page(limit, cursor, search.listing_filter(request))
    base = request_base(request, app)
    items = [listed_image(record, base) for record in records]
    return json_response(HTTPStatus.OK, {"items": items, "next_cursor": str(next_id) if next_id else None})


@functools.lru_cache(maxsize=LISTED_IMAGES_KEPT)
def listed_image(record: ImageRecord, base: str) -> orjson.Fragment:
    """describe_image(record, base), already JSON. Kept, because it depends on nothing else
    (the whole row is the key: a row that changes is a new key) and the newest images are
    listed again and again, by every visitor; describing and encoding 50 of them was a
    third of a listing's CPU (docs/performance.md, "The listing's CPU")."""
    return orjson.Fragment(orjson.dumps(describe_image(record, base)))


def get_image(request: Request, app: App, name: str) -> Response:
    _require_valid_name(name)
    token = auth.bearer_token(request.header("Authorization"))
    if not (app.config.gallery_public or auth.is_admin(token, app.config.admin_token)):
        if token is None:
            raise Unauthorized("Send the image's delete token or the admin token: 'Authorization: Bearer <token>'.")
        record = _find(app, name)
        if not auth.matches_hash(token, record.delete_token_hash):
            raise Forbidden("That token is neither this image's delete token nor the admin token.")
    record = _find(app, name)
    return json_response(HTTPStatus.OK, describe_image(record, request_base(request, app)))


def update_image(request: Request, app: App, name: str) -> Response:
    """PATCH: change an image's title, description and/or tags (JSON), with its delete
    token or the admin token; answers the image as it is now."""
    _require_valid_name(name)
    token = auth.bearer_token(request.header("Authorization"))
    if token is None:
        raise Unauthorized(
            "Changing an image needs its delete token or the admin token: 'Authorization: Bearer <token>'."
        )
    record = _find(app, name)
    if not (auth.is_admin(token, app.config.admin_token) or auth.matches_hash(token, record.delete_token_hash)):
        raise Forbidden("That token is neither this image's delete token nor the admin token.")
    changes = json_object(request, {"title", "description", "tags"})
    tags = changes.get("tags")
    if tags is not None and not isinstance(tags, list):
        raise BadRequest('\'tags\' must be a list of strings, like ["cat", "holiday-2026"].')
    updated = app.index.update_labels(
        name,
        title=labels.title(changes["title"]) if "title" in changes else None,
        description=labels.description(changes["description"]) if "description" in changes else None,
        tags=labels.tags(tags) if tags is not None else None,
    )
    if updated is None:
        raise NotFound("No image has that name (it may have been deleted).")
    return json_response(HTTPStatus.OK, describe_image(updated, request_base(request, app)))


def json_object(request: Request, allowed: set[str]) -> dict[str, Any]:
    """The request's JSON object body, with no keys but `allowed`; BadRequest (or
    BodyTooLarge over MAX_JSON_BYTES) saying what is wrong."""
    media_type = (request.header("Content-Type") or "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise BadRequest("Send the changes as JSON, with 'Content-Type: application/json'.")
    if not request.body.framed:
        raise LengthRequired()
    if request.body.remaining > MAX_JSON_BYTES:
        raise BodyTooLarge(MAX_JSON_BYTES)
    raw = b"".join(iter(lambda: request.body.read(MAX_JSON_BYTES), b""))
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        raise BadRequest("The body is not valid JSON (UTF-8).") from None
    if not isinstance(value, dict):
        raise BadRequest('The body must be a JSON object, like {"title": "..."}.')
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise BadRequest(f"Unknown field '{unknown[0][:40]}': you can send {', '.join(sorted(allowed))}.")
    return value


def stats(request: Request, app: App) -> Response:
    """For the owner's overview (admin only): images and bytes stored, free disk, uploads
    per day over the last STATS_DAYS days."""
    _require_admin(request, app, "The overview")
    disk = os.statvfs(app.config.images_dir)
    counts = app.index.stats(STATS_DAYS)
    return json_response(
        HTTPStatus.OK,
        {
            **counts,
            "disk_free_bytes": disk.f_bavail * disk.f_frsize,
            "disk_total_bytes": disk.f_blocks * disk.f_frsize,
        },
    )


def delete_image(request: Request, app: App, name: str) -> Response:
    _require_valid_name(name)
    token = auth.bearer_token(request.header("Authorization"))
    if token is None:
        raise Unauthorized(
            "Deleting needs the image's delete token or the admin token: 'Authorization: Bearer <token>'."
        )
    record = _find(app, name)
    if not (auth.is_admin(token, app.config.admin_token) or auth.matches_hash(token, record.delete_token_hash)):
        raise Forbidden("That token is neither this image's delete token nor the admin token.")
    # File first, durably (its directory fsynced), then row: a crash in between leaves a
    # row without a file, which the start-up reconcile removes; the other order, or a row
    # removed before the unlink is durable, could bring a deleted image back after a
    # crash. If the fsync fails, the answer is a 500 and the row stays: the image is no
    # longer served, and the same DELETE again completes it. An index file removed or
    # replaced is found before the file goes: its 503 says nothing was changed.
    if not remove_image_everywhere(app, name):
        raise NotFound("That image was already deleted.")
    return Response(HTTPStatus.NO_CONTENT)


def remove_image_everywhere(app: App, name: str) -> bool:
    """Delete image `name`: from the store durably, then its row, then its preview;
    False when the row was gone already. Raises Unavailable (nothing changed) when the
    index is unusable (its file removed or replaced, its database unreachable) or the
    store cannot be reached, OSError when the folder's fsync fails (the row stays)."""
    app.index.require_usable()
    app.store.delete(name)
    deleted = app.index.delete(name)
    # After the row: a preview maker that finishes later finds no row and removes its
    # preview itself (preview_queue.py).
    app.store.delete_preview(name)
    return deleted


def limits(request: Request, app: App) -> Response:
    config = app.config
    return json_response(
        HTTPStatus.OK,
        {
            "max_upload_bytes": config.max_upload_bytes,
            "max_image_pixels": config.max_image_pixels,
            "accepted_types": [t.mime for t in ACCEPTED_TYPES],
            "accepted_extensions": [t.extension for t in ACCEPTED_TYPES],
            "upload_token_required": bool(config.upload_token),
            "gallery_public": config.gallery_public,
            # Seconds, or None for never: the page offers only expiries within max_expiry.
            "max_expiry": config.max_expiry,
            "default_expiry": config.default_expiry,
            # True: the page sends files straight to the bucket (direct_uploads.py).
            "direct_uploads": config.s3_direct_uploads,
        },
    )


def health(request: Request, app: App) -> Response:
    """200 when this worker can write images and read its index, the index file is still
    the one it opened and the store answers (with STORAGE=s3, a HEAD of the bucket);
    else 503. Either way it reports how many log lines this worker dropped while the
    supervisor was not reading them."""
    # A missing .tmp is fine: the next upload makes it again (storage._make_temp_dir_again).
    tmp_dir = app.config.tmp_dir
    images_writable = os.access(app.config.images_dir, os.W_OK) and (
        os.access(tmp_dir, os.W_OK) or not os.path.lexists(tmp_dir)
    )
    index_readable = app.index.is_readable()
    index_file = app.index.state()
    store_reachable = app.store.reachable()
    healthy = images_writable and index_readable and index_file == "ok" and store_reachable
    return json_response(
        HTTPStatus.OK if healthy else HTTPStatus.SERVICE_UNAVAILABLE,
        {
            "status": "ok" if healthy else "unhealthy",
            "worker": app.worker_id,
            "pid": os.getpid(),
            "images_dir_writable": images_writable,
            "index_readable": index_readable,
            "index_file": index_file,
            "store_reachable": store_reachable,
            "log_lines_dropped": logs.lines_dropped(),
        },
    )


def create_backup(request: Request, app: App) -> Response:
    """Snapshot the index into DATA_DIR/backups (keeping the newest backups.KEPT) and
    answer 201 with its name and size: a SQLite file, or with the index in PostgreSQL
    (DATABASE_URL) pg_dump's dump of the database. Admin only; the body must be empty.

    InsufficientStorage (507) when the disk is full, Unavailable (503) when the index
    cannot be read (missing, replaced, locked; pg_dump missing, failing or too slow: the
    log line says which); the snapshot is then not made and nothing is left behind.
    """
    _require_admin(request, app, "Backups")
    if request.body.remaining:
        raise BadRequest("A backup is made from the server's own data: send the POST without a body.")
    app.index.require_usable()  # a file put in its place is not this service's index
    try:
        path = backups.make_snapshot(app.config.index_path, _backups_dir(app), database_url=app.config.database_url)
    except backups.SnapshotError as exc:
        logger.error("backup failed: {}", exc)
        if exc.disk_full:
            raise InsufficientStorage("The server's disk is full, so no backup was made.") from exc
        raise Unavailable("The index could not be copied just now, so no backup was made. Try again.") from exc
    return json_response(HTTPStatus.CREATED, {"name": path.name, "size": path.stat().st_size})


# A snapshot's media type by its kind: pg_dump's custom format has none registered.
_BACKUP_TYPES = {backups.SQLITE_SUFFIX: "application/vnd.sqlite3", backups.DUMP_SUFFIX: "application/octet-stream"}


def download_backup(request: Request, app: App) -> Response:
    """The newest snapshot, of either kind, as an attachment streamed from its file:
    `application/vnd.sqlite3` for a SQLite file, `application/octet-stream` for a
    pg_dump. Admin only; NotFound (404) when none has been made yet."""
    _require_admin(request, app, "Backups")
    folder = _backups_dir(app)
    for _ in range(3):  # the newest may be pruned between finding and opening it
        path = backups.newest(folder)
        if path is None:
            break
        try:
            file = open(path, "rb")  # noqa: SIM115 (the worker closes it once the answer is sent)
        except FileNotFoundError:
            continue
        return Response(
            HTTPStatus.OK,
            file,
            _BACKUP_TYPES[path.suffix],
            {"Content-Disposition": f'attachment; filename="{path.name}"'},
        )
    raise NotFound("No backup has been made yet: POST /backup/ makes one.")


def version_info(request: Request, app: App) -> Response:
    """The running version, git commit and Python version; public (nothing secret)."""
    return json_response(HTTPStatus.OK, version.about())


def _backups_dir(app: App) -> Path:
    return app.config.data_dir / backups.FOLDER_NAME


def _require_admin(request: Request, app: App, what: str) -> None:
    token = auth.bearer_token(request.header("Authorization"))
    if token is None:
        raise Unauthorized(f"{what} are for the site owner: send 'Authorization: Bearer <admin token>'.")
    if not auth.is_admin(token, app.config.admin_token):
        raise Forbidden(
            "That is not the admin token."
            if app.config.admin_token
            else "This server has no ADMIN_TOKEN set, so nobody can use this."
        )


def _require_gallery_access(request: Request, app: App) -> None:
    if app.config.gallery_public:
        return
    token = auth.bearer_token(request.header("Authorization"))
    if token is None:
        raise Unauthorized("The image list is private: send 'Authorization: Bearer <admin token>'.")
    if not auth.is_admin(token, app.config.admin_token):
        raise Forbidden("That is not the admin token.")


def _require_valid_name(name: str) -> None:
    if not is_image_name(name):
        raise InvalidName()


def _find(app: App, name: str) -> ImageRecord:
    record = app.index.get(name)
    if record is None:
        raise NotFound("No image has that name (it may have been deleted).")
    return record


def _page_size(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_PAGE_SIZE
    if not re.fullmatch(r"[0-9]{1,3}", raw) or not 1 <= int(raw) <= MAX_PAGE_SIZE:
        raise BadRequest(f"'limit' must be a whole number from 1 to {MAX_PAGE_SIZE}.")
    return int(raw)


def _cursor(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    if not _CURSOR.fullmatch(raw):
        raise BadRequest("'cursor' is not valid: pass the next_cursor of the previous page as it is.")
    return int(raw)


def request_base(request: Request, app: App) -> str:
    """The absolute URL prefix for this request's links; computed once per request."""
    return base_url(request, app.config.public_base_url, f"{app.config.bind_host}:{app.config.port_of(app.worker_id)}")


def _delete_url(base: str, name: str) -> str:
    return f"{base}/api/images/{name}"


def describe_image(record: ImageRecord, base: str) -> dict[str, object]:
    """What API responses show of an image: everything but its id and token hash, and
    its preview's address unless that preview could not be made (null then). A pending
    preview's address answers 404 until it is made, a moment after the upload."""
    thumbnail = (
        None
        if record.preview == previews.FAILED
        else f"{base}/images/{previews.FOLDER}/{previews.preview_name(record.name)}"
    )
    return {
        "name": record.name,
        "url": f"{base}/images/{record.name}",
        "thumbnail_url": thumbnail,
        "type": record.type,
        "size": record.size,
        "width": record.width,
        "height": record.height,
        "sha256": record.sha256,
        "original_name": record.original_name,
        "created_at": record.created_at,
        "title": record.title,
        "description": record.description,
        "tags": record.tag_list,
        "expires_at": record.expires_at,
    }


# What anyone with an image's link may see of it (the image page, albums): not the name of
# the uploader's file, which can say more than the image does, nor its hash.
PRIVATE_FIELDS = ("original_name", "sha256")


def public_image(record: ImageRecord, base: str) -> dict[str, object]:
    described = describe_image(record, base)
    for key in PRIVATE_FIELDS:
        del described[key]
    return described
