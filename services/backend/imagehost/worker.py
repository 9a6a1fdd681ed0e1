"""The HTTP adapter: http.server's request handler and a server on a listening socket
inherited from the supervisor. The only code that reads from or writes to a client's
socket; the worker process around it is worker_process.py.

Why threaded: workers speak HTTP/1.1 with keep-alive, and nginx keeps idle upstream
connections open. A single-threaded http.server serves one connection until the client
closes it, so one idle keep-alive connection would stall every other request on that
worker. `ThreadingHTTPServer` gives each connection a thread; the work per request is
short (streaming to disk releases the GIL) and nginx buffers slow clients, so threads
stay few.

Graceful stop (WorkerServer.stop): stop accepting, close idle keep-alive connections,
let requests in flight finish.
"""

from __future__ import annotations

import select
import socket
import threading
import time
import uuid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import BinaryIO

from loguru import logger

from . import logs, metrics
from .errors import (
    AppError,
    BadRequest,
    HeadersTooLarge,
    HttpVersionNotSupported,
    Internal,
    LengthRequired,
    MethodNotAllowed,
    NotFound,
    UriTooLong,
)
from .handlers import App
from .headers import Headers, read_headers
from .router import Router
from .web import ClientGone, Request, RequestBody, Response, error_response

# On a graceful stop, how long a keep-alive connection must have been idle before it is
# closed (see _is_quiet).
IDLE_BEFORE_HANG_UP = 0.5
# A Content-Length with more digits is refused: no body is that large (nginx refuses one
# past 2**63 - 1), and int() refuses more than 4,300 digits with a ValueError (a 500).
_MAX_LENGTH_DIGITS = 18
# A file body (a backup download) is sent in pieces of this size.
_SEND_PIECE_BYTES = 1 << 18
_REQUEST_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
# The statuses http.server passes to send_error before a handler runs (a request line
# over 65536 bytes is 414; its parse_request, replaced below, uses the others), each as
# its contract error. 501, a method without a do_ method, is answered as the route
# would answer it (see send_error).
_PROTOCOL_ERRORS: dict[int, type[AppError]] = {
    HTTPStatus.BAD_REQUEST: BadRequest,
    HTTPStatus.REQUEST_URI_TOO_LONG: UriTooLong,
    HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE: HeadersTooLarge,
    HTTPStatus.HTTP_VERSION_NOT_SUPPORTED: HttpVersionNotSupported,
}


class RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "imagehost"
    # Seconds a connection may sit idle, or a body may stall, before it is closed.
    timeout = 60
    server: WorkerServer
    # Ours (read_headers), not email.parser's Message; empty when the request line was bad.
    headers: Headers  # type: ignore[assignment]
    # Set by http.server, left out of typeshed's stub.
    raw_requestline: bytes
    _headers_buffer: list[bytes]

    def do_GET(self) -> None:
        self.dispatch()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET

    def setup(self) -> None:
        super().setup()
        self.server.track(self)

    def finish(self) -> None:
        self.server.untrack(self)
        super().finish()

    def handle_one_request(self) -> None:
        if self.server.stopping:
            self.close_connection = True
            return
        self.busy = False
        self.idle_since = time.monotonic()
        super().handle_one_request()

    def parse_request(self) -> bool:
        """http.server's parse_request with `headers.read_headers` instead of email.parser.

        Accepts HTTP/1.0 and HTTP/1.1 request lines only. On failure an error response
        (400, 431 or 505) has already been sent and False is returned.
        """
        self.command = ""
        self.request_version = self.default_request_version
        self.close_connection = True
        self.requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        words = self.requestline.split()
        if not words:
            return False
        if len(words) != 3 or words[2] not in ("HTTP/1.0", "HTTP/1.1"):
            if len(words) == 3 and words[2].startswith("HTTP/"):
                self._refuse(HttpVersionNotSupported())
            else:
                self._refuse(BadRequest())
            return False
        self.command, path, self.request_version = words
        # As http.server does: "//host/x" must not read as a network path later on.
        self.path = "/" + path.lstrip("/") if path.startswith("//") else path
        try:
            self.headers = read_headers(self.rfile)
        except AppError as error:  # HeadersTooLarge or BadRequest, with what was wrong
            self._refuse(error)
            return False
        connection = (self.headers.get("Connection") or "").lower()
        self.close_connection = "close" in connection or (
            self.request_version == "HTTP/1.0" and "keep-alive" not in connection
        )
        # `Expect: 100-continue` is answered by _framed_body, once the body can be framed.
        return True

    def dispatch(self) -> None:
        self.busy = True
        started = time.perf_counter()
        request_id = self._request_id()
        path, _, query = self.path.partition("?")
        # None while (or once) where this request's body ends is not known.
        body: RequestBody | None = None
        # The metrics' route label: a pattern from the table, never the raw path.
        route = metrics.UNROUTED
        failure: BaseException | None = None
        try:
            body = self._framed_body()
            route = metrics.UNMATCHED
            matched, params = self.server.router.match_route(self.command, path)
            route = matched.pattern
            request = Request(self.command, path, query, self.headers, body, request_id)
            response = matched.handler(request, self.server.app, **params)
        except AppError as error:
            failure = error
            if isinstance(error, MethodNotAllowed):
                route = error.pattern or route
            response = error_response(error)
        except ClientGone:
            self.close_connection = True
            logger.info("{} {} client went away mid-request rid={}", self.command, path[:300], request_id)
            return
        except Exception as exc:  # noqa: BLE001 (any bug becomes a logged 500, never a dropped connection)
            failure = exc
            logger.exception("{} {} failed rid={}", self.command, path[:300], request_id)
            response = error_response(Internal())
            body = None  # the bug may have struck mid-read
        metrics.request_answered(route, self.command, response.status, time.perf_counter() - started, failure)

        if not self._at_next_request(body):
            self.close_connection = True
        try:
            self._send(response, request_id)
        except (ConnectionError, TimeoutError):
            # The work is done (an upload is stored and indexed); only the answer is lost.
            self.close_connection = True
            self._log_request(response.status, started, request_id, response.length, "answer not delivered")
            return
        finally:
            response.close()
        self._log_request(response.status, started, request_id, response.length)

    def _at_next_request(self, body: RequestBody | None) -> bool:
        """Whether the connection can carry another request once this one is answered.

        The one rule that keeps requests apart on a kept-alive connection, which nginx
        reuses for other visitors: no byte of this request may be read as the next one,
        whatever the route, method or status. So the body must have been framed, and
        whatever of it the handler left unread (an answer decided before reading it: 404,
        405, 401, ...) is read and dropped here, before the answer, so the client hears
        the answer rather than a reset. At most `max_body_bytes` is dropped, the most
        nginx lets through. False, so the connection is closed, when the body could not
        be framed, its rest is longer than that, or the client stopped sending. (What is
        refused before dispatch goes through _refuse, which always closes: such a
        request's body is never framed.)
        """
        return body is not None and body.drain(self.server.app.config.max_body_bytes)

    def _framed_body(self) -> RequestBody:
        """The body as Content-Length frames it, before routing, so that every answer
        (routing errors included) knows where the next request starts.

        A POST, PUT or PATCH without Content-Length gets an unframed, empty body: it is
        routed (a 404 or 405 says more than a 411), its answer closes the connection, and
        the upload handler refuses it with LengthRequired. A client waiting on
        `Expect: 100-continue` is told to send the body only here, once it can be framed.
        Raises LengthRequired (any Transfer-Encoding header: bodies are not de-chunked here) or
        BadRequest (a Content-Length that is not one whole number): the request is refused
        before routing and the connection closed.
        """
        values = self.headers.get_all("Content-Length") or []
        # Present at all, even empty (get() would return "", the first of several): a proxy
        # may read a later `Transfer-Encoding: chunked` where we would read Content-Length.
        if "Transfer-Encoding" in self.headers:
            raise LengthRequired()
        if not values:
            return RequestBody(self.rfile, 0, framed=self.command not in ("POST", "PUT", "PATCH"))
        if len(set(values)) != 1 or not values[0].strip().isascii() or not values[0].strip().isdigit():
            raise BadRequest("The Content-Length header is not a single whole number.")
        if len(values[0].strip()) > _MAX_LENGTH_DIGITS:
            raise BadRequest("The Content-Length header is too large to be true.")
        length = int(values[0])
        if length and self._expects_continue():
            self.send_response_only(HTTPStatus.CONTINUE)
            self.end_headers()
        return RequestBody(self.rfile, length)

    def _expects_continue(self) -> bool:
        return self.request_version == "HTTP/1.1" and (self.headers.get("Expect") or "").lower() == "100-continue"

    def _request_id(self) -> str:
        given = self.headers.get("X-Request-ID") or ""
        if 0 < len(given) <= 128 and _REQUEST_ID_CHARS.issuperset(given):
            return given
        return uuid.uuid4().hex

    def _send(self, response: Response, request_id: str) -> None:
        if self.server.stopping:
            self.close_connection = True
        self.send_response(response.status)
        if response.content_type:
            self.send_header("Content-Type", response.content_type)
        if response.status != HTTPStatus.NO_CONTENT:
            self.send_header("Content-Length", str(response.length))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("X-Request-ID", request_id)
        for name, value in response.headers.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        # One write for the head and the body: two small writes on a keep-alive
        # connection meet Nagle's algorithm and the peer's delayed ACK (a 40 ms stall).
        self._headers_buffer.append(b"\r\n")
        if isinstance(response.body, (bytes, bytearray)):
            if self.command != "HEAD" and response.body:
                self._headers_buffer.append(response.body)
            self.flush_headers()
            return
        self.flush_headers()
        if self.command != "HEAD":
            self._send_file(response.body, response.length)

    def _send_file(self, file: BinaryIO, length: int) -> None:
        """Copy `length` bytes of `file` to the connection in pieces. A file that ends
        early cannot be told to the client any more: the connection is closed, so the
        client sees a short body rather than a complete one."""
        remaining = length
        while remaining > 0:
            try:
                piece = file.read(min(_SEND_PIECE_BYTES, remaining))
            except OSError as exc:  # a disk error: the client must not take the body for whole
                piece = b""
                logger.error("reading the body to send failed: {}", exc)
            if not piece:
                self.close_connection = True
                raise ConnectionError(f"the file ended {remaining} bytes early")
            self.wfile.write(piece)
            remaining -= len(piece)

    def version_string(self) -> str:
        return self.server_version

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's error path: its status as the contract error _PROTOCOL_ERRORS
        gives it (BadRequest for one not there), answered as `_refuse` does. Its own
        wording (`message`, `explain`) is dropped for the class's."""
        if code == HTTPStatus.NOT_IMPLEMENTED:  # a method no route uses
            self._refuse(self._method_error())
        else:
            self._refuse(_PROTOCOL_ERRORS.get(code, BadRequest)())

    def _refuse(self, error: AppError) -> None:
        """Answer a request refused before dispatch with `error` as JSON, and close the
        connection: such a request's body is never framed."""
        self.close_connection = True
        if not hasattr(self, "headers"):  # the request line itself was bad
            self.headers = Headers([])
        if self.request_version not in ("HTTP/1.0", "HTTP/1.1"):
            self.request_version = "HTTP/1.1"  # else http.server sends an HTTP/0.9 body without a status line
        self._send(error_response(error), uuid.uuid4().hex)
        metrics.request_answered(metrics.UNROUTED, self.command, error.status, None, error)
        logger.info("{} -> {} {}", (self.requestline or "")[:200], error.status.value, error.code)

    def _method_error(self) -> AppError:
        try:
            self.server.router.match("", self.path.partition("?")[0])
        except AppError as error:
            if isinstance(error, (MethodNotAllowed, NotFound)):
                return error
        return NotFound()

    def _log_request(self, status: int, started: float, request_id: str, size: int = 0, note: str = "") -> None:
        elapsed_ms = (time.perf_counter() - started) * 1000
        logs.request_line(
            f"{self.command} {self.path[:300]} {int(status)} {size}B {elapsed_ms:.1f}ms rid={request_id}"
            + (f" ({note})" if note else "")
        )

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # dispatch() logs one line per request, with more in it

    def log_message(self, format: str, *args: object) -> None:
        logger.debug("http.server: " + (format % args))


class WorkerServer(ThreadingHTTPServer):
    """http.server on an already-listening socket, tracking its connections for a graceful stop.

    Requests are routed by `router` and handled with `app`; both are given, so a test
    serves a route table of its own.
    """

    daemon_threads = True

    def __init__(self, listener: socket.socket, app: App, router: Router):
        super().__init__(listener.getsockname()[:2], RequestHandler, bind_and_activate=False)
        self.socket.close()
        self.socket = listener
        self.app = app
        self.router = router
        self.stopping = False
        self._connections: set[RequestHandler] = set()
        self._changed = threading.Condition()

    def server_bind(self) -> None:  # never called: the supervisor bound the socket
        raise AssertionError("the listening socket comes from the supervisor")

    def track(self, handler: RequestHandler) -> None:
        with self._changed:
            self._connections.add(handler)

    def untrack(self, handler: RequestHandler) -> None:
        with self._changed:
            self._connections.discard(handler)
            self._changed.notify_all()

    def stop(self, timeout: float) -> bool:
        """Stop accepting, close idle connections, wait for requests in flight.

        Must be called from a thread other than the one in serve_forever(). Returns
        False when requests were still running after `timeout` seconds.
        """
        self.stopping = True
        self.shutdown()
        self.socket.close()
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._connections:
                for handler in self._connections:
                    if _is_quiet(handler):
                        _hang_up_reading(handler.connection)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(min(remaining, 0.1))
        return True


def _is_quiet(handler: RequestHandler) -> bool:
    """True for a keep-alive connection that has been idle a while with nothing arriving.

    Closing an idle connection races with nginx sending a request on it at that very
    moment (nginx does not resend a POST, so the client would get a 502). Connections
    used recently, or with bytes waiting, get to deliver their request first: it is
    served with `Connection: close`.
    """
    if getattr(handler, "busy", True) or time.monotonic() - handler.idle_since < IDLE_BEFORE_HANG_UP:
        return False
    try:
        readable, _, _ = select.select([handler.connection], [], [], 0)
    except (OSError, ValueError):
        return True
    return not readable


def _hang_up_reading(connection: socket.socket) -> None:
    """End an idle keep-alive wait: the blocked read returns EOF and the thread ends."""
    try:
        connection.shutdown(socket.SHUT_RD)
    except OSError:
        pass
