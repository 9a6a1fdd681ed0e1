"""The error contract: one exception class per contract code, the API's whole error table.

Handlers raise these; the worker turns them into `{"error": {"code", "message"}}` in one
place (`AppError.to_body`). Anything else that escapes a handler is a bug: the worker
logs its traceback and answers `Internal` without details.

nginx answers some of these itself, before or instead of a worker (its error pages in
services/nginx/templates/imagehost.conf.template): those pages carry the class's status,
code and default message, which tests/integration/test_nginx_errors.py checks. A few
classes are answered by nginx only (`RateLimited`, `BadGateway`, `GatewayTimeout`,
`Unimplemented`); they are here so that the table is whole.
"""

from __future__ import annotations

from http import HTTPStatus

from .validation import TYPE_NAMES


class AppError(Exception):
    status: HTTPStatus = HTTPStatus.INTERNAL_SERVER_ERROR
    code: str = "internal"
    message: str = "Something went wrong on our side. Try again; if it keeps happening, tell the site owner."

    def __init__(self, message: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message or self.message)
        self.message = message or self.message
        self.headers = headers or {}

    def to_body(self) -> dict[str, dict[str, str]]:
        return {"error": {"code": self.code, "message": self.message}}


class BadRequest(AppError):
    status, code = HTTPStatus.BAD_REQUEST, "bad_request"
    message = "The HTTP request is malformed (request line, headers or encoding)."


# Protocol errors: what is refused before any route is chosen, by a worker's
# RequestHandler or by nginx. Statuses as RFC 9110 section 15 names them.
class UriTooLong(AppError):
    status, code = HTTPStatus.REQUEST_URI_TOO_LONG, "uri_too_long"
    message = "The URL is too long. Image addresses are short: check the link."


class HeadersTooLarge(AppError):
    status, code = HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "headers_too_large"
    message = "The request headers are too large. Send fewer or shorter headers (cookies included)."


class Unimplemented(AppError):
    """Not `NotImplemented`, which would shadow the builtin of that name."""

    status, code = HTTPStatus.NOT_IMPLEMENTED, "not_implemented"
    message = "That Transfer-Encoding is not supported. Send the body as it is, with Content-Length."


class HttpVersionNotSupported(AppError):
    status, code = HTTPStatus.HTTP_VERSION_NOT_SUPPORTED, "http_version_not_supported"
    message = "Use HTTP/1.0 or HTTP/1.1."


class MissingFile(AppError):
    status, code = HTTPStatus.BAD_REQUEST, "missing_file"
    message = "No file was sent. Send the image as a multipart/form-data field named 'file'."


class TooManyFiles(AppError):
    status, code = HTTPStatus.BAD_REQUEST, "too_many_files"
    message = "Send exactly one file per upload, in the field named 'file'."


class TooManyFields(AppError):
    status, code = HTTPStatus.BAD_REQUEST, "too_many_fields"

    def __init__(self, limit: int):
        super().__init__(
            f"The form has more than {limit} parts. Send the image in the field 'file' "
            f"with at most {limit - 1} other fields."
        )


class EmptyFile(AppError):
    status, code = HTTPStatus.BAD_REQUEST, "empty_file"
    message = f"The file is empty (0 bytes). Choose a {TYPE_NAMES} image."


class BodyTooLarge(AppError):
    status, code = HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "body_too_large"

    def __init__(self, limit: int):
        super().__init__(f"The request body is too large: send at most {limit} bytes of JSON.")


class InvalidName(AppError):
    status, code = HTTPStatus.BAD_REQUEST, "invalid_name"
    message = "That is not an image name. Names look like 'AbCdEfGhIjKlMnOp.png'."


class Unauthorized(AppError):
    status, code = HTTPStatus.UNAUTHORIZED, "unauthorized"
    message = "A token is needed: send 'Authorization: Bearer <token>'."

    def __init__(self, message: str | None = None):
        super().__init__(message, headers={"WWW-Authenticate": 'Bearer realm="imagehost"'})


class Forbidden(AppError):
    status, code = HTTPStatus.FORBIDDEN, "forbidden"
    message = "That token is not valid for this request."


class CrossOrigin(AppError):
    status, code = HTTPStatus.FORBIDDEN, "cross_origin"
    message = (
        "Uploads from another site's page are refused. Open this site's own page to upload; "
        "scripts can send no Origin header, or 'Authorization: Bearer <token>'. "
        "The site owner can allow another site with ALLOWED_ORIGINS."
    )


class NotFound(AppError):
    status, code = HTTPStatus.NOT_FOUND, "not_found"
    message = "Nothing here. Check the address."


class MethodNotAllowed(AppError):
    status, code = HTTPStatus.METHOD_NOT_ALLOWED, "method_not_allowed"
    message = "This address does not accept that method."
    # The route pattern the path matched (Router.match_route sets it), for the metrics.
    pattern = ""

    def __init__(self, allowed: list[str] | None = None):
        """With `allowed` (a worker's 405 always has it), the message names the methods
        and `Allow` lists them; without (nginx's 405 for TRACE), neither."""
        if allowed is None:
            super().__init__()
        else:
            allow = ", ".join(allowed)
            super().__init__(f"This address accepts {allow} only.", headers={"Allow": allow})


class LengthRequired(AppError):
    status, code = HTTPStatus.LENGTH_REQUIRED, "length_required"
    message = "Send the upload with a Content-Length header (chunked uploads are not accepted)."


class FileTooLarge(AppError):
    status, code = HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "file_too_large"

    def __init__(self, limit_bytes: int):
        super().__init__(f"The file is too large: at most {describe_size(limit_bytes)} ({limit_bytes} bytes).")


class RateLimited(AppError):
    """Answered by nginx only (UPLOAD_RATE_LIMIT, UPLOAD_RATE_BURST)."""

    status, code = HTTPStatus.TOO_MANY_REQUESTS, "rate_limited"
    message = "Too many uploads from your address. Wait a moment and try again."

    def __init__(self, message: str | None = None):
        super().__init__(message, headers={"Retry-After": "1"})


class UnsupportedType(AppError):
    status, code = HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "unsupported_type"
    message = f"That file is not an image we accept: {TYPE_NAMES} only."


class ImageTooLarge(AppError):
    status, code = HTTPStatus.UNPROCESSABLE_ENTITY, "image_too_large"

    def __init__(self, width: int, height: int, limit_pixels: int):
        super().__init__(
            f"The image is {width}x{height} pixels; at most {limit_pixels:,} pixels "
            f"({limit_pixels / 1e6:g} megapixels) are accepted. Scale it down and try again."
        )


class InsufficientStorage(AppError):
    status, code = HTTPStatus.INSUFFICIENT_STORAGE, "insufficient_storage"
    message = "The server's disk is full, so the image was not saved. Try again later."


class Unavailable(AppError):
    status, code = HTTPStatus.SERVICE_UNAVAILABLE, "unavailable"
    message = "The service is busy. Try again in a moment."

    def __init__(self, message: str | None = None):
        super().__init__(message, headers={"Retry-After": "1"})


class Internal(AppError):
    pass


class BadGateway(AppError):
    """Answered by nginx only: no worker answered."""

    status, code = HTTPStatus.BAD_GATEWAY, "bad_gateway"
    message = "The image service is not answering. Try again in a moment."


class GatewayTimeout(AppError):
    """Answered by nginx only: a worker took longer than proxy_read_timeout."""

    status, code = HTTPStatus.GATEWAY_TIMEOUT, "gateway_timeout"
    message = "The image service took too long to answer. Try again in a moment."


def describe_size(n: int) -> str:
    """5242880 -> '5 MiB'; 1536 -> '1.5 KiB'."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f}".removesuffix(".0") + f" {unit}"
    return f"{n} bytes"
