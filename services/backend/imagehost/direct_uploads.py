"""Direct uploads (S3_DIRECT_UPLOADS): the browser sends the file straight to the bucket.

1. `POST /api/uploads` {"filename", "size", "content_type"}: refused at once when the
   declared size or type would be (413, 415); else a presigned POST for one fresh
   staging key, `<prefix>uploads/<id>`, valid UPLOAD_WINDOW seconds, that the bucket
   accepts only with 1 to MAX_UPLOAD_BYTES bytes and that Content-Type.
2. The browser posts the form's fields and the file to the bucket.
3. `POST /api/uploads/<id>/complete` (optionally {"title", "description", "tags",
   "expires_in"}, checked as /upload's form fields, before the bucket is asked): the
   staged object is checked as /upload checks a body, without trusting the bucket to
   have kept the policy (a key can be written with the app's credentials, and a server
   may not enforce every condition): its size by a HEAD, its first bytes by a ranged
   GET, then at most MAX_UPLOAD_BYTES of it into a temp file, where the headers, the
   pixel limit and metadata stripping are /upload's own. It is published from that
   file under a fresh name and answered exactly as /upload answers.

Never copied on the bucket's side from the staging key: until its POST expires the
browser may post to that key again, so the object copied could be another than the
one checked (and an ETag condition would rest on MD5, which collides on purpose).

A refused object is deleted from the bucket; one published is deleted after its row
is written (best effort: a failure there is logged, and the sweep removes it). Staged
objects nobody completes are removed by the supervisor's sweep (expiry.Sweeper, at
object_store.STAGED_KEPT after they were written). Both routes answer 404 `not_found`,
naming POST /upload, when direct uploads are off: what a server without them answers
too, so a page falls back to /upload on either.
"""

from __future__ import annotations

import time
from http import HTTPStatus

from loguru import logger

from .errors import (
    AppError,
    BadRequest,
    EmptyFile,
    FileTooLarge,
    ImageTooLarge,
    NotFound,
    UnsupportedType,
)
from .handlers import (
    UPLOAD_TEXT_FIELDS,
    App,
    json_object,
    publish_upload,
    request_base,
    require_upload_permission,
    upload_details,
)
from .index import iso_utc
from .object_store import UPLOAD_WINDOW, S3Store, is_upload_id, new_upload_id
from .storage import TempUpload
from .uploads import ReceivedImage, checked_image
from .validation import (
    ACCEPTED_TYPES,
    MAGIC_LENGTH,
    SNIFF_LENGTH,
    could_still_be_image,
    refusal_message,
    sanitize_original_name,
)
from .web import Request, Response, json_response

ACCEPTED_MIME_TYPES = tuple(image_type.mime for image_type in ACCEPTED_TYPES)
# What makes a staged object not an image we accept: it is deleted. Anything else (the
# bucket unreachable, the local disk full) leaves it, so the same complete can be tried again.
OBJECT_REFUSALS = (FileTooLarge, EmptyFile, UnsupportedType, ImageTooLarge)
UNKNOWN_UPLOAD = "No direct upload has that id (it may have expired or been completed already)."


def start_upload(request: Request, app: App) -> Response:
    """201 {"id", "url", "fields", "expires_at"}: where and how to post the file.

    Refuses, before anything is signed: as /upload does (CrossOrigin, the upload token),
    NotFound naming POST /upload when direct uploads are off, BadRequest for a body that
    is not the JSON described, FileTooLarge for a declared size over MAX_UPLOAD_BYTES,
    UnsupportedType for a Content-Type that is not an accepted image type."""
    bucket = _bucket_for(request, app)
    wanted = json_object(request, {"filename", "size", "content_type"})
    size, content_type = wanted.get("size"), wanted.get("content_type")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise BadRequest("'size' must be the file's size in bytes, a whole number of at least 1.")
    if size > app.config.max_upload_bytes:
        raise FileTooLarge(app.config.max_upload_bytes)
    if not isinstance(content_type, str) or content_type.strip().lower() not in ACCEPTED_MIME_TYPES:
        raise UnsupportedType(
            f"'content_type' must be one of {', '.join(ACCEPTED_MIME_TYPES)}; for any other file, POST /upload "
            "decides by its bytes."
        )
    filename = wanted.get("filename", "")
    if not isinstance(filename, str):
        raise BadRequest("'filename' must be text, the name of the file being uploaded.")
    upload_id = new_upload_id()
    post = bucket.presign_upload(
        upload_id, content_type.strip().lower(), app.config.max_upload_bytes, sanitize_original_name(filename)
    )
    expires_at = iso_utc(time.time() + UPLOAD_WINDOW)
    return json_response(HTTPStatus.CREATED, {"id": upload_id, **post, "expires_at": expires_at})


def complete_upload(request: Request, app: App, upload_id: str) -> Response:
    """Check the staged object of `upload_id` and publish it: exactly /upload's answer
    (201, the image, its delete token, Location) and refusals, plus NotFound for an
    unknown or malformed id (the bucket is not asked about a malformed one). A refused
    object is deleted; Unavailable and InsufficientStorage leave it for another try."""
    bucket = _bucket_for(request, app)
    if not is_upload_id(upload_id):
        raise NotFound(UNKNOWN_UPLOAD)
    details = upload_details(_detail_fields(request), app.config)
    try:
        received = _receive_staged(bucket, upload_id, app)
    except OBJECT_REFUSALS:
        _forget(bucket, upload_id)
        raise
    with received.temp:
        answer = publish_upload(app, request_base(request, app), received, details)
    _forget(bucket, upload_id)
    return answer


def _bucket_for(request: Request, app: App) -> S3Store:
    """The bucket, once this request may upload at all (as /upload checks) and direct
    uploads are on; NotFound naming POST /upload otherwise."""
    require_upload_permission(request, app, request_base(request, app))
    if not (app.config.s3_direct_uploads and isinstance(app.store, S3Store)):
        raise NotFound(
            "This server does not take direct uploads to a bucket (S3_DIRECT_UPLOADS is off): "
            "send the file to POST /upload as multipart/form-data (curl -F file=@cat.png)."
        )
    return app.store


def _detail_fields(request: Request) -> dict[str, list[str]]:
    """complete's optional JSON body as /upload's form fields: each field's values.
    `tags` may be a string (comma-separated, as the form's) or a list of strings."""
    if request.body.framed and request.body.remaining == 0:
        return {}
    given = json_object(request, set(UPLOAD_TEXT_FIELDS))
    fields: dict[str, list[str]] = {}
    for name, value in given.items():
        values = value if name == "tags" and isinstance(value, list) else [value]
        if not all(isinstance(item, str) for item in values):
            raise BadRequest(f"'{name}' must be text" + (" or a list of texts." if name == "tags" else "."))
        fields[name] = values
    return fields


def _receive_staged(bucket: S3Store, upload_id: str, app: App) -> ReceivedImage:
    """The staged object, checked, in a temp file: reading only what it must (no byte
    past its first SNIFF_LENGTH when it is too large or not an image). NotFound when
    there is none; the refusals of OBJECT_REFUSALS."""
    config = app.config
    staged = bucket.staged(upload_id)
    if staged is None:
        raise NotFound(UNKNOWN_UPLOAD)
    size, original_name = staged
    if size > config.max_upload_bytes:
        raise FileTooLarge(config.max_upload_bytes)
    if size == 0:
        raise EmptyFile()
    head = _first_bytes(bucket, upload_id)
    if not could_still_be_image(head[:MAGIC_LENGTH]):
        raise UnsupportedType(refusal_message(head))
    temp = TempUpload(config.tmp_dir)
    try:
        _download(bucket, upload_id, temp, config.max_upload_bytes)
        temp, info = checked_image(temp, config.tmp_dir, config.max_image_pixels, config.strip_metadata)
    except BaseException:
        temp.__exit__(None, None, None)
        raise
    return ReceivedImage(temp, info, sanitize_original_name(original_name))


def _first_bytes(bucket: S3Store, upload_id: str) -> bytes:
    try:
        return bucket.read_staged(upload_id, SNIFF_LENGTH)
    except FileNotFoundError:
        raise NotFound(UNKNOWN_UPLOAD) from None


def _download(bucket: S3Store, upload_id: str, temp: TempUpload, max_bytes: int) -> None:
    """The whole object into `temp`; it may have been posted again since the HEAD, so
    only what is downloaded is judged: FileTooLarge past `max_bytes`, EmptyFile."""
    try:
        bucket.download_staged(upload_id, temp, max_bytes)
    except FileNotFoundError:
        raise NotFound(UNKNOWN_UPLOAD) from None
    except ValueError:
        raise FileTooLarge(max_bytes) from None
    if temp.size == 0:
        raise EmptyFile()


def _forget(bucket: S3Store, upload_id: str) -> None:
    """Delete the staged object of a refused or published upload, best effort: the
    caller's answer stands, and the sweep removes what is left."""
    try:
        bucket.delete_staged(upload_id)
    except AppError as exc:  # the store's Unavailable or InsufficientStorage
        logger.warning("could not delete the staged upload {} ({}); the sweep removes it", upload_id, exc)
