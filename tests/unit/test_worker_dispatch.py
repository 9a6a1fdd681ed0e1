"""The worker's request handler fed over a socketpair, without a server process."""

from __future__ import annotations

import socket

import pytest
from imagehost import worker
from imagehost.config import Config
from imagehost.errors import NotFound
from imagehost.router import Route, Router
from imagehost.web import Response
from loguru import logger


class FakeServer:
    stopping = False

    def __init__(self):
        self.app = type("App", (), {"worker_id": 0, "config": Config()})()

    def track(self, handler):
        pass

    def untrack(self, handler):
        pass


def exchange(raw_request: bytes, routes: tuple[Route, ...], monkeypatch) -> bytes:
    monkeypatch.setattr(worker, "router", Router(routes))
    client, server_end = socket.socketpair()
    with client, server_end:
        client.sendall(raw_request)
        client.shutdown(socket.SHUT_WR)
        worker.RequestHandler(server_end, ("127.0.0.1", 1), FakeServer())
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


def test_an_unexpected_exception_is_a_generic_500_with_the_traceback_only_in_the_log(monkeypatch, log_lines):
    def broken(request, app):
        raise RuntimeError("secret detail at /srv/data/index.sqlite3")

    answer = exchange(b"GET /boom HTTP/1.1\r\nHost: x\r\n\r\n", (Route("GET", "/boom", broken),), monkeypatch)
    assert answer.startswith(b"HTTP/1.1 500")
    assert b'"code":"internal"' in answer
    assert b"secret" not in answer and b"Traceback" not in answer and b"/srv" not in answer
    logged = "".join(log_lines)
    assert "Traceback" in logged and "secret detail" in logged


def test_an_app_error_becomes_its_json_body_and_headers(monkeypatch):
    def missing(request, app):
        raise NotFound("No such thing.")

    answer = exchange(b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n", (Route("GET", "/x", missing),), monkeypatch)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 404")
    assert b"Content-Type: application/json" in head
    assert body == b'{"error":{"code":"not_found","message":"No such thing."}}'


def test_a_request_id_from_nginx_is_echoed_and_a_hostile_one_replaced(monkeypatch):
    def ok(request, app):
        return Response(200, b"{}", "application/json")

    routes = (Route("GET", "/ok", ok),)
    answer = exchange(b"GET /ok HTTP/1.1\r\nHost: x\r\nX-Request-ID: abc123\r\n\r\n", routes, monkeypatch)
    assert b"X-Request-ID: abc123\r\n" in answer
    answer = exchange(b"GET /ok HTTP/1.1\r\nHost: x\r\nX-Request-ID: a b<c>\r\n\r\n", routes, monkeypatch)
    assert b"X-Request-ID: a b<c>" not in answer and b"X-Request-ID: " in answer


@pytest.mark.parametrize(
    "content_length", [b"abc", b"-1", b"1, 2", b"\xd9\xa3"]
)
def test_a_content_length_that_is_not_one_whole_number_is_a_400(monkeypatch, content_length):
    def ok(request, app):
        return Response(200, b"{}", "application/json")

    raw = b"POST /ok HTTP/1.1\r\nHost: x\r\nContent-Length: " + content_length + b"\r\n\r\n"
    answer = exchange(raw, (Route("POST", "/ok", ok),), monkeypatch)
    assert answer.startswith(b"HTTP/1.1 400") and b'"bad_request"' in answer
