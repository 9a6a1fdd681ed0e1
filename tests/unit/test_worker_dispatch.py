"""The worker's request handler fed over a socketpair, without a server process."""

from __future__ import annotations

import json
import socket
import threading

import pytest
from imagehost import errors, worker
from imagehost.config import Config
from imagehost.errors import NotFound
from imagehost.router import Route, Router
from imagehost.web import Response
from loguru import logger


class FakeServer:
    """What RequestHandler asks of its server: the app, the router, connection tracking."""

    stopping = False

    def __init__(self, routes: tuple[Route, ...]):
        self.app = type("App", (), {"worker_id": 0, "config": Config()})()
        self.router = Router(routes)

    def track(self, handler):
        pass

    def untrack(self, handler):
        pass


def exchange(raw_request: bytes, routes: tuple[Route, ...]) -> bytes:
    client, server_end = socket.socketpair()
    with client, server_end:
        client.sendall(raw_request)
        client.shutdown(socket.SHUT_WR)
        worker.RequestHandler(server_end, ("127.0.0.1", 1), FakeServer(routes))
        server_end.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := client.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.fixture
def log_lines():
    lines: list[str] = []
    sink = logger.add(lines.append, format="{message}\n{exception}")
    yield lines
    logger.remove(sink)


def test_an_unexpected_exception_is_a_generic_500_with_the_traceback_only_in_the_log(log_lines):
    def broken(request, app):
        raise RuntimeError("secret detail at /srv/data/index.sqlite3")

    answer = exchange(b"GET /boom HTTP/1.1\r\nHost: x\r\n\r\n", (Route("GET", "/boom", broken),))
    assert answer.startswith(b"HTTP/1.1 500")
    assert b'"code":"internal"' in answer
    assert b"secret" not in answer and b"Traceback" not in answer and b"/srv" not in answer
    logged = "".join(log_lines)
    assert "Traceback" in logged and "secret detail" in logged


def test_an_app_error_becomes_its_json_body_and_headers():
    def missing(request, app):
        raise NotFound("No such thing.")

    answer = exchange(b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n", (Route("GET", "/x", missing),))
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 404")
    assert b"Content-Type: application/json" in head
    assert body == b'{"error":{"code":"not_found","message":"No such thing."}}'


def test_a_request_id_from_nginx_is_echoed_and_a_hostile_one_replaced():
    def ok(request, app):
        return Response(200, b"{}", "application/json")

    routes = (Route("GET", "/ok", ok),)
    answer = exchange(b"GET /ok HTTP/1.1\r\nHost: x\r\nX-Request-ID: abc123\r\n\r\n", routes)
    assert b"X-Request-ID: abc123\r\n" in answer
    answer = exchange(b"GET /ok HTTP/1.1\r\nHost: x\r\nX-Request-ID: a b<c>\r\n\r\n", routes)
    assert b"X-Request-ID: a b<c>" not in answer and b"X-Request-ID: " in answer


@pytest.mark.parametrize("content_length", [b"abc", b"-1", b"1, 2", b"\xd9\xa3", b"9" * 19, b"9" * 5000])
def test_a_content_length_that_is_not_one_plausible_whole_number_is_a_400(content_length):
    def ok(request, app):
        return Response(200, b"{}", "application/json")

    raw = b"POST /ok HTTP/1.1\r\nHost: x\r\nContent-Length: " + content_length + b"\r\n\r\n"
    answer = exchange(raw, (Route("POST", "/ok", ok),))
    assert answer.startswith(b"HTTP/1.1 400") and b'"bad_request"' in answer


# --- keeping requests apart on a kept-alive connection ----------------------------------
# Each case sends a request whose body (or what follows it) is a second, smuggled request,
# then a legitimate one on the same connection. The smuggled request must never run: the
# worker either reads the body as a body, or closes the connection.

SMUGGLED = b"DELETE /victim HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
LEGITIMATE = b"GET /ok HTTP/1.1\r\nHost: x\r\nX-Request-ID: legitimate\r\n\r\n"


def _with_body(head: bytes, body: bytes = SMUGGLED) -> bytes:
    return head.replace(b"\r\n\r\n", b"\r\nContent-Length: %d\r\n\r\n" % len(body), 1) + body


def _chunked(head: bytes, body: bytes = SMUGGLED) -> bytes:
    return head.replace(b"\r\n\r\n", b"\r\nTransfer-Encoding: chunked\r\n\r\n", 1) + b"%x\r\n%s\r\n0\r\n\r\n" % (
        len(body),
        body,
    )


def responses(data: bytes) -> list[tuple[int, bytes]]:
    """Each response in `data` as (status, head), interim 1xx ones included."""
    found = []
    while data:
        head, _, data = data.partition(b"\r\n\r\n")
        status = int(head.split(b" ")[1])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        found.append((status, head))
        data = data[length:]
    return found


def converse(raw: bytes, max_upload_bytes: int = 5 * 1024 * 1024) -> tuple[list[tuple[int, bytes]], list]:
    """Send `raw` on one connection to a worker's handler; (its responses, the victim's calls)."""
    victims = []

    def ok(request, app):
        return Response(200, b"{}", "application/json")

    def refuse_unread(request, app):
        raise NotFound("Refused before reading the body.")

    def break_unread(request, app):
        raise RuntimeError("a bug before reading the body")

    def victim(request, app):
        victims.append(request)
        return Response(204)

    routes = (
        Route("GET", "/ok", ok),
        Route("POST", "/refuse", refuse_unread),
        Route("POST", "/boom", break_unread),
        Route("DELETE", "/victim", victim),
    )
    server = FakeServer(routes)
    server.app.config = Config(max_upload_bytes=max_upload_bytes)
    client, server_end = socket.socketpair()
    with client, server_end:
        # From a thread: a body larger than the socket's buffer must not block the handler.
        sender = threading.Thread(target=_send_and_half_close, args=(client, raw), daemon=True)
        sender.start()
        worker.RequestHandler(server_end, ("127.0.0.1", 1), server)
        server_end.shutdown(socket.SHUT_RDWR)
        chunks = []
        while chunk := client.recv(65536):
            chunks.append(chunk)
        sender.join(5)
    return responses(b"".join(chunks)), victims


def _send_and_half_close(client: socket.socket, raw: bytes) -> None:
    try:
        client.sendall(raw)
        client.shutdown(socket.SHUT_WR)
    except OSError:
        pass  # the handler closed the connection: what it did not read is not a request


@pytest.mark.parametrize(
    "raw, first_status",
    [
        pytest.param(_with_body(b"POST /unknown HTTP/1.1\r\nHost: x\r\n\r\n"), 404, id="no route (404)"),
        pytest.param(_with_body(b"PUT /ok HTTP/1.1\r\nHost: x\r\n\r\n"), 405, id="wrong method (405)"),
        pytest.param(_with_body(b"POST /refuse HTTP/1.1\r\nHost: x\r\n\r\n"), 404, id="handler refuses before reading"),
        pytest.param(_with_body(b"POST /boom HTTP/1.1\r\nHost: x\r\n\r\n"), 500, id="handler bug before reading"),
        pytest.param(_with_body(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n"), 200, id="GET with a body"),
        pytest.param(_with_body(b"HEAD /ok HTTP/1.1\r\nHost: x\r\n\r\n"), 200, id="HEAD with a body"),
        pytest.param(
            _with_body(b"POST /unknown HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n"),
            100,
            id="Expect 100-continue",
        ),
        pytest.param(_chunked(b"POST /unknown HTTP/1.1\r\nHost: x\r\n\r\n"), 411, id="chunked, no route"),
        pytest.param(_chunked(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n"), 411, id="chunked GET"),
        pytest.param(
            _chunked(b"POST /unknown HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\nContent-Length: 0\r\n\r\n"),
            411,
            id="chunked after an empty Transfer-Encoding, with Content-Length: 0",
        ),
        pytest.param(
            b"POST /unknown HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 2\r\n\r\n" + SMUGGLED,
            400,
            id="bad Content-Length",
        ),
        pytest.param(b"POST /unknown HTTP/1.1\r\nHost: x\r\n\r\n" + SMUGGLED, 404, id="POST without Content-Length"),
        pytest.param(_with_body(b"FROB /ok HTTP/1.1\r\nHost: x\r\n\r\n"), 405, id="unknown method (501 path)"),
        pytest.param(_with_body(b"POST /ok HTTP/1.1\r\nHost: x\r\nBad header\r\n\r\n"), 400, id="malformed header"),
        pytest.param(_with_body(b"POST /ok HTTP/1.1 extra\r\nHost: x\r\n\r\n"), 400, id="malformed request line"),
    ],
)
def test_a_body_left_unread_by_the_answer_is_never_run_as_the_next_request(raw, first_status):
    answers, victims = converse(raw + LEGITIMATE)
    assert victims == []
    assert answers[0][0] == first_status
    final = [head for status, head in answers if status >= 200]
    assert len(final) <= 2
    if len(final) == 2:  # the connection was kept: the second answer is the legitimate request's
        assert b"X-Request-ID: legitimate" in final[1].split(b"\r\n")
    else:
        assert b"Connection: close" in final[0]


def test_a_refused_body_within_nginx_limit_is_drained_and_the_connection_kept():
    body = SMUGGLED + b"x" * (5 * 1024 * 1024)
    answers, victims = converse(_with_body(b"POST /unknown HTTP/1.1\r\nHost: x\r\n\r\n", body) + LEGITIMATE)
    assert victims == []
    assert [status for status, _ in answers] == [404, 200]
    assert b"X-Request-ID: legitimate" in answers[1][1].split(b"\r\n")


def test_a_refused_body_beyond_nginx_limit_closes_the_connection_unread():
    body = b"x" * (1024 + 64 * 1024 + 1) + SMUGGLED
    answers, victims = converse(
        _with_body(b"POST /unknown HTTP/1.1\r\nHost: x\r\n\r\n", body) + LEGITIMATE, max_upload_bytes=1024
    )
    assert victims == []
    assert [status for status, _ in answers] == [404]
    assert b"Connection: close" in answers[0][1]


def test_a_file_body_is_sent_in_pieces_with_its_length_and_closed(tmp_path, monkeypatch):
    data = bytes(range(256)) * 20
    (tmp_path / "body").write_bytes(data)
    opened = []

    def download(request, app):
        opened.append(open(tmp_path / "body", "rb"))  # noqa: SIM115 (the worker closes it)
        return Response(200, opened[-1], "application/octet-stream")

    monkeypatch.setattr(worker, "_SEND_PIECE_BYTES", 1000)
    answer = exchange(b"GET /f HTTP/1.1\r\nHost: x\r\n\r\n", (Route("GET", "/f", download),))
    head, _, body = answer.partition(b"\r\n\r\n")
    assert f"Content-Length: {len(data)}".encode() in head
    assert body == data
    head_only = exchange(b"HEAD /f HTTP/1.1\r\nHost: x\r\n\r\n", (Route("GET", "/f", download),))
    assert head_only.endswith(b"\r\n\r\n") and f"Content-Length: {len(data)}".encode() in head_only
    assert all(file.closed for file in opened)


def test_a_file_body_that_ends_early_closes_the_connection_instead_of_passing_for_whole(tmp_path, monkeypatch):
    (tmp_path / "body").write_bytes(b"x" * 100)

    def download(request, app):
        return Response(200, open(tmp_path / "body", "rb"), "application/octet-stream", length=150)

    raw = b"GET /f HTTP/1.1\r\nHost: x\r\n\r\n" * 2
    answer = exchange(raw, (Route("GET", "/f", download),))
    assert answer.count(b"HTTP/1.1 200") == 1  # the second request is never answered
    assert answer.endswith(b"x" * 100) and b"Content-Length: 150" in answer


# --- protocol errors: refused before any route is chosen --------------------------------


def refused(raw: bytes) -> tuple[bytes, dict]:
    """The head and JSON body of the one answer to `raw`, sent from a thread (it may be
    larger than the socket's buffer). No route is asked: `raw` is refused before that."""
    client, server_end = socket.socketpair()
    with client, server_end:
        sender = threading.Thread(target=_send_and_half_close, args=(client, raw), daemon=True)
        sender.start()
        worker.RequestHandler(server_end, ("127.0.0.1", 1), FakeServer(()))
        server_end.shutdown(socket.SHUT_RDWR)
        chunks = []
        while chunk := client.recv(65536):
            chunks.append(chunk)
        sender.join(5)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    return head, json.loads(body)


@pytest.mark.parametrize(
    "raw, error",
    [
        pytest.param(
            b"GET /x HTTP/1.1\r\nX: " + b"a" * 70000 + b"\r\n\r\n",
            errors.HeadersTooLarge,
            id="a header line over 64 KiB",
        ),
        pytest.param(
            b"GET /x HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(101)) + b"\r\n",
            errors.HeadersTooLarge,
            id="101 headers",
        ),
        pytest.param(
            b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
            errors.UriTooLong,
            id="a request line over 64 KiB",
        ),
        pytest.param(b"GET /x HTTP/2.0\r\nHost: x\r\n\r\n", errors.HttpVersionNotSupported, id="HTTP/2.0"),
        pytest.param(b"GET /x HTTP/1.1 extra\r\nHost: x\r\n\r\n", errors.BadRequest, id="four words"),
        pytest.param(b"GET /x HTTP/1.1\r\nX-A: 1\r\n folded\r\n\r\n", errors.BadRequest, id="a folded header"),
    ],
)
def test_each_protocol_error_is_answered_with_its_own_status_and_code_and_closes(raw, error):
    head, body = refused(raw)
    assert head.startswith(b"HTTP/1.1 %d " % error.status), head
    assert body["error"]["code"] == error.code and body["error"]["message"]
    assert b"Content-Type: application/json" in head.split(b"\r\n")
    assert b"Connection: close" in head.split(b"\r\n")
