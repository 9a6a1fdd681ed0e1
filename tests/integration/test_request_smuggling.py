"""Request smuggling through nginx's kept-alive upstream connections.

nginx keeps idle HTTP/1.1 connections to the workers and sends other visitors' requests
on them. A worker that answered before reading a body used to leave that body on the
connection, where it was read as the start of the next request: an anonymous
`POST /api/whatever` whose body was `DELETE /api/images/<name> HTTP/1.1\\r\\nX: ` made the
admin's next listing delete <name>. Each test here sends such a body with a refused (or
body-less) request, then many requests from other connections, each of which must get
its own answer, with nothing deleted and every upload stored.
"""

from __future__ import annotations

import hashlib
import socket
import time
import uuid

import pytest
from reliability.harness import access_log_lines, request_head, split_response, wait_until
from support import images
from support.backend import ADMIN_TOKEN as BACKEND_ADMIN_TOKEN
from support.client import bearer, request, upload
from support.stack import nginx_binary, require, start_stack

UPLOAD_TOKEN = "smuggling-upload-token-0123456789"
# Requests from other connections after each attempt. nginx reuses its most recently
# freed upstream connection first, so with one worker most of these meet the connection
# the attempt used (through whichever nginx worker process took the attempt).
FOLLOW_UPS = 30


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    """A stack with an admin token and an upload token, and one worker (see FOLLOW_UPS)."""
    require(nginx_binary() is not None, "nginx is not installed (make test installs it)")
    with start_stack(tmp_path_factory.mktemp("stack"), WEB_SERVER_WORKERS="1", UPLOAD_TOKEN=UPLOAD_TOKEN) as stack:
        for seed in range(6):  # more images than any follow-up listing asks for
            assert stored(stack, f"seed {seed}").status == 201
        yield stack


def stored(stack, tag: str, probe: str = "") -> object:
    """An upload with the upload token: a PNG whose bytes carry `tag`."""
    path = "/upload" + (f"?probe={probe}" if probe else "")
    return upload(stack.base_url, images.file_form(png(tag)), token=UPLOAD_TOKEN, path=path)


def png(tag: str) -> bytes:
    return images.png(3, 2, extra=tag.encode())


def smuggled_delete(victim: str) -> bytes:
    return f"DELETE /api/images/{victim} HTTP/1.1\r\nX: ".encode()


SMUGGLED_LISTING = b"GET /api/images?limit=200 HTTP/1.1\r\nHost: x\r\nX: "

# (method, path, extra headers, the status the attempt itself gets). Every one is
# answered without reading the body: a refusal, or a route that takes no body.
ATTEMPTS = [
    ("POST", "/api/whatever", {}, 404),
    ("PUT", "/upload", {}, 405),
    ("PATCH", "/upload", {}, 405),
    ("POST", "/images", {}, 405),
    ("POST", "/api/images/{victim}", {}, 405),
    ("PUT", "/api/images/{victim}", {}, 405),
    ("DELETE", "/api/images/{victim}", {}, 401),
    ("DELETE", "/api/images/not-an-image-name", {}, 400),
    ("POST", "/api/health", {}, 405),
    ("GET", "/api/images", {}, 401),
    ("GET", "/api/limits", {}, 200),
    ("HEAD", "/api/limits", {}, 200),
    ("POST", "/upload", {"Content-Type": "multipart/form-data; boundary=x"}, 401),
    ("POST", "/upload", {"Authorization": "Bearer wrong-token-wrong-token-wrong"}, 403),
    ("POST", "/upload", {"Authorization": f"Bearer {UPLOAD_TOKEN}", "Content-Type": "text/plain"}, 400),
]


def attempt_id(attempt) -> str:
    method, path, headers, status = attempt
    return f"{method} {path} {status}" + (" " + ",".join(headers) if headers else "")


@pytest.mark.parametrize("payload", ["delete", "listing"])
@pytest.mark.parametrize("attempt", ATTEMPTS, ids=attempt_id)
def test_a_body_smuggled_after_an_early_answer_never_reaches_another_visitors_request(guarded, attempt, payload):
    method, path, headers, status = attempt
    victim = stored(guarded, f"victim {uuid.uuid4()}").json()["name"]
    body = smuggled_delete(victim) if payload == "delete" else SMUGGLED_LISTING

    reply = guarded.request(method, path.format(victim=victim), body, headers)

    assert reply.status == status, reply.body
    assert_every_follow_up_gets_its_own_answer(guarded, victim)
    assert request("GET", f"{guarded.base_url}/api/images/{victim}", headers=guarded.admin()).status == 200
    assert guarded.stored_bytes(victim) is not None


def assert_every_follow_up_gets_its_own_answer(stack, victim: str) -> None:
    """FOLLOW_UPS requests from new connections, admin listings, uploads and admin reads in
    turn; each answer must be the one its request asked for, and must carry the request ID
    nginx gave that request (its access log line, found by the probe in the URL)."""
    answers = {}
    for i in range(FOLLOW_UPS):
        probe = uuid.uuid4().hex
        if i % 3 == 0:
            limit = 1 + i % 4
            reply = request("GET", f"{stack.base_url}/api/images?limit={limit}&probe={probe}", headers=stack.admin())
            assert reply.status == 200, reply.body
            assert len(reply.json()["items"]) == limit
        elif i % 3 == 1:
            data = png(probe)
            reply = stored(stack, probe, probe)
            assert reply.status == 201, reply.body
            assert reply.json()["sha256"] == hashlib.sha256(data).hexdigest()
        else:
            reply = request("GET", f"{stack.base_url}/api/images/{victim}?probe={probe}", headers=stack.admin())
            assert reply.status == 200, reply.body
            assert reply.json()["name"] == victim
        answers[probe] = reply.headers["X-Request-ID"]
    wait_until(lambda: len(access_log_lines(stack, set(answers))) == len(answers), 5, message="access log lines")
    for probe, line in access_log_lines(stack, set(answers)).items():
        assert f"rid={answers[probe]} " in line, line


# --- straight to a worker, one raw connection -------------------------------------------

LEGITIMATE = request_head(
    "GET",
    "/api/images?limit=1",
    {"Host": "x", "Authorization": f"Bearer {BACKEND_ADMIN_TOKEN}", "X-Request-ID": "legitimate"},
)


def with_length(head: bytes, body: bytes) -> bytes:
    return head[:-2] + b"Content-Length: %d\r\n\r\n" % len(body) + body


def chunked(head: bytes, body: bytes) -> bytes:
    return head[:-2] + b"Transfer-Encoding: chunked\r\n\r\n" + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)


# (name, the refused request with the smuggled bytes in or after it, the status it gets)
RAW_ATTEMPTS = [
    ("no route", lambda s: with_length(request_head("POST", "/api/whatever", {"Host": "x"}), s), 404),
    ("wrong method", lambda s: with_length(request_head("PUT", "/upload", {"Host": "x"}), s), 405),
    ("body on a GET", lambda s: with_length(request_head("GET", "/api/limits", {"Host": "x"}), s), 200),
    (
        "100-continue",
        lambda s: with_length(request_head("POST", "/api/whatever", {"Host": "x", "Expect": "100-continue"}), s),
        404,
    ),
    ("chunked", lambda s: chunked(request_head("POST", "/api/whatever", {"Host": "x"}), s), 411),
    ("chunked upload", lambda s: chunked(request_head("POST", "/upload", {"Host": "x"}), s), 411),
    ("two lengths", lambda s: request_head("POST", "/api/whatever", {"Host": "x", "Content-Length": "0, 5"}) + s, 400),
    ("no length", lambda s: request_head("POST", "/api/whatever", {"Host": "x"}) + s, 404),
    ("upload, no length", lambda s: request_head("POST", "/upload", {"Host": "x"}) + s, 411),
    ("unknown method", lambda s: with_length(request_head("FROB", "/api/images", {"Host": "x"}), s), 405),
]


@pytest.mark.parametrize("build, status", [pytest.param(b, s, id=n) for n, b, s in RAW_ATTEMPTS])
def test_straight_to_a_worker_the_next_answer_on_the_connection_is_never_the_smuggled_request(backend, build, status):
    created = upload(backend.url(), images.file_form(png(f"raw victim {uuid.uuid4()}")))
    assert created.status == 201, created.body
    victim = created.json()["name"]

    with socket.create_connection(("127.0.0.1", backend.start_port), timeout=10) as connection:
        connection.sendall(build(smuggled_delete(victim)))
        first_status, first_headers, _ = read_final_response(connection)
        assert first_status == status
        if first_headers.get("connection", "").lower() != "close":
            connection.sendall(LEGITIMATE)
            second = read_final_response(connection)
            assert second[0] == 200 and second[1]["x-request-id"] == "legitimate", second

    assert request("GET", f"{backend.url()}/api/images/{victim}", headers=bearer(BACKEND_ADMIN_TOKEN)).status == 200


def read_final_response(connection: socket.socket, seconds: float = 10) -> tuple[int, dict[str, str], bytes]:
    """The next non-1xx response on `connection`: (status, headers, body)."""
    data = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        _, separator, rest = data.partition(b"\r\n\r\n")
        if separator:
            status, headers, body = split_response(data)
            if 100 <= status < 200:
                data = rest
                continue
            if len(body) >= int(headers.get("content-length", 0)):
                return status, headers, body
        chunk = connection.recv(65536)
        assert chunk, f"the connection closed before a whole answer: {data!r}"
        data += chunk
    raise AssertionError(f"no whole answer within {seconds} s: {data!r}")
