"""The real stack through nginx: static images from the volume, the proxied API, the body
limit, the rate limit, security headers, and failover when a worker dies."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import time
import uuid

import pytest
from imagehost import errors
from support import images
from support.encoded import animated_webp, encoded

MIB = 1024 * 1024
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
IMAGE_CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"


def png(seed: int) -> bytes:
    return images.png(5, 4, extra=f"seed {seed}".encode())


def uploaded(stack, seed: int) -> dict:
    reply = stack.upload(png(seed))
    assert reply.status == 201, reply.body
    return reply.json()


def logged_line(read_log, text: str, seconds: float = 5) -> str:
    """The first line of the log with `text`, waiting for it: nginx writes the access log
    line when the request is finalised, which can be just after the answer is sent, and
    worker lines reach app.log through the supervisor."""
    deadline = time.monotonic() + seconds
    while True:
        found = [line for line in read_log().splitlines() if text in line]
        if found or time.monotonic() > deadline:
            assert found, f"no log line with {text!r}"
            return found[0]
        time.sleep(0.05)


def assert_json_error(reply, status: int, code: str) -> None:
    assert reply.status == status, reply.body
    assert reply.error_code == code


def test_image_is_served_by_nginx_not_by_the_backend(stack):
    data = png(1)
    reply = stack.upload(data)
    assert reply.status == 201, reply.body
    name = reply.json()["name"]

    served = stack.get(f"/images/{name}")

    assert served.status == 200
    assert served.body == data == stack.stored_bytes(name)
    # From the folder ("-") or the bucket, never from a worker.
    upstream = re.search(r"upstream=(\S+) ", logged_line(stack.access_log, f'"GET /images/{name} ')).group(1)
    assert upstream not in {f"127.0.0.1:{port}" for port in stack.worker_ports}
    # A later request's line in app.log: a backend line for the GET would be there by now.
    logged_line(stack.app_log, stack.get("/api/health").headers["X-Request-ID"])
    assert not [line for line in stack.app_log().splitlines() if "GET" in line and f"/images/{name}" in line]


def test_upload_answer_links_to_the_address_the_client_used(stack):
    image = uploaded(stack, seed=2)
    assert image["url"] == f"{stack.base_url}/images/{image['name']}"
    assert image["delete_url"] == f"{stack.base_url}/api/images/{image['name']}"


@pytest.mark.parametrize(
    "extension, content_type",
    [
        ("jpg", "image/jpeg"),
        ("png", "image/png"),
        ("gif", "image/gif"),
        ("webp", "image/webp"),
        ("avif", "image/avif"),
    ],
)
def test_image_type_comes_from_its_extension(stack, extension, content_type):
    name = f"TypeByExtension_{extension}.{extension}"
    stack.put_stored(name, b"not really an image")
    reply = stack.get(f"/images/{name}")
    assert reply.status == 200
    assert reply.headers.get_all("Content-Type") == [content_type]


@pytest.mark.parametrize(
    "data, content_type",
    [
        pytest.param(encoded("WEBP", (30, 20), lossless=False), "image/webp", id="webp-lossy"),
        pytest.param(encoded("WEBP", (30, 20), lossless=True), "image/webp", id="webp-lossless"),
        pytest.param(animated_webp((30, 20)), "image/webp", id="webp-animated"),
        pytest.param(encoded("AVIF", (30, 20)), "image/avif", id="avif"),
    ],
)
def test_a_webp_or_avif_uploaded_through_nginx_is_served_byte_for_byte_as_its_type(stack, data, content_type):
    reply = stack.upload(data, "from-a-phone.jpg", "image/jpeg")
    assert reply.status == 201, reply.body
    created = reply.json()
    assert (created["type"], created["width"], created["height"]) == (content_type, 30, 20)
    served = stack.get(f"/images/{created['name']}")
    assert (served.status, served.headers.get("Content-Type"), served.body) == (200, content_type, data)


def test_image_has_nosniff_immutable_cache_and_sandbox_policy(stack):
    image = uploaded(stack, seed=3)
    reply = stack.get(f"/images/{image['name']}")
    assert reply.headers.get("X-Content-Type-Options") == "nosniff"
    assert reply.headers.get("Cache-Control") == "public, max-age=31536000, immutable"
    assert reply.headers.get("Content-Security-Policy") == IMAGE_CSP


def test_missing_image_is_a_json_404_that_is_never_cached(stack):
    reply = stack.get("/images/NoSuchImage000000.png")
    assert (reply.status, reply.error_code) == (404, "not_found")
    assert reply.headers.get("Cache-Control") == "no-store"
    assert reply.headers.get("X-Content-Type-Options") == "nosniff"


@pytest.mark.parametrize(
    "raw_path",
    ["/images/x%2F..%2F..%2F", "/api/images/x%2F..%2F..%2F..%2F", "/images/x%2f%2e%2e%2fdata", "/images/..%5Cdata"],
)
def test_dot_segments_behind_encoded_slashes_are_404_too(stack, raw_path):
    reply = stack.get(raw_path)
    assert (reply.status, reply.error_code) == (404, "not_found")


@pytest.mark.parametrize(
    "raw_request, error",
    [
        pytest.param(
            b"GET /api/limits HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n",
            errors.HeadersTooLarge,
            id="a header over nginx's buffer",
        ),
        pytest.param(
            b"GET /api/limits HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(120)) + b"\r\n",
            errors.HeadersTooLarge,
            id="more headers than a worker reads",
        ),
        pytest.param(b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", errors.UriTooLong, id="a long URL"),
        pytest.param(b"GET /api/limits HTTP/2.0\r\nHost: x\r\n\r\n", errors.HttpVersionNotSupported, id="HTTP/2.0"),
        pytest.param(b"TRACE /api/limits HTTP/1.1\r\nHost: x\r\n\r\n", errors.MethodNotAllowed, id="TRACE"),
        pytest.param(
            b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
            errors.Unimplemented,
            id="an unknown transfer coding",
        ),
    ],
)
def test_protocol_refusals_use_the_json_error_shape_with_their_own_status_and_code(stack, raw_request, error):
    with socket.create_connection(("127.0.0.1", stack.http_port), timeout=5) as s:
        s.sendall(raw_request.replace(b"Host: x\r\n", b"Host: x\r\nConnection: close\r\n", 1))
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 %d " % error.status), head
    assert b"Content-Type: application/json" in head.split(b"\r\n")
    assert json.loads(body)["error"]["code"] == error.code, body


def test_page_has_its_security_headers(stack):
    reply = stack.get("/")
    assert reply.status == 200
    assert reply.headers.get("Content-Type").startswith("text/html")
    assert reply.headers.get("Content-Security-Policy") == PAGE_CSP
    assert reply.headers.get("Referrer-Policy") == "strict-origin-when-cross-origin"
    assert reply.headers.get("X-Content-Type-Options") == "nosniff"
    assert reply.headers.get("X-Frame-Options") == "DENY"


def test_api_answers_carry_one_nosniff_header(stack):
    reply = stack.get("/api/health")
    assert reply.status == 200
    assert reply.headers.get_all("X-Content-Type-Options") == ["nosniff"]
    assert reply.headers.get("X-Frame-Options") == "DENY"


@pytest.mark.parametrize(
    "path",
    [
        "/images/../data/index.sqlite3",
        "/images/.tmp/x",
        "/images/%2e%2e/",
        "/images/%2E%2E/index.html",
        "/images/..%2fdata/index.sqlite3",
        "/images/.gitkeep",
        "/images/",
        "/images/short.png",
        "/images/AbCdEfGhIjKlMnOp.svg",
        "/images/AbCdEfGhIjKlMnOp.png/",
        "/images/sub/AbCdEfGhIjKlMnOp.png",
        "/.env",
        "/data/index.sqlite3",
    ],
)
def test_nothing_but_image_names_is_served_under_images(stack, path):
    (stack.images_dir / ".tmp").mkdir(exist_ok=True)
    (stack.images_dir / ".tmp" / "x").write_bytes(b"partial upload")
    stack.put_stored(".gitkeep", b"")
    reply = stack.get(path)
    assert reply.status == 404, (path, reply.status, reply.body[:200])


def test_listing_is_proxied_at_exact_images_and_at_api_images(stack):
    image = uploaded(stack, seed=4)
    for path in ("/images", "/api/images"):
        reply = stack.get(path, headers=stack.admin())
        assert reply.status == 200, reply.body
        assert image["name"] in [item["name"] for item in reply.json()["items"]]


def test_request_id_is_forwarded_to_the_backend_and_logged_by_both(stack):
    reply = stack.get("/api/health")
    request_id = reply.headers.get("X-Request-ID")
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    logged_line(stack.access_log, f"rid={request_id}")
    logged_line(stack.app_log, f"rid={request_id}")


def test_access_log_has_upstream_address_and_timings(stack):
    reply = stack.get("/api/health")
    line = logged_line(stack.access_log, reply.headers["X-Request-ID"])
    assert re.search(r"upstream=127\.0\.0\.1:\d+ rt=\d+\.\d{3} urt=\d+\.\d{3}$", line), line


def test_upload_of_exactly_5_MiB_passes_nginx(stack):
    reply = stack.upload(images.png_of_size(5 * MIB))
    assert reply.status == 201, reply.body
    assert reply.json()["size"] == 5 * MIB


def test_upload_of_5_MiB_plus_1_byte_is_a_json_413(stack):
    reply = stack.upload(images.png_of_size(5 * MIB + 1))
    assert_json_error(reply, 413, "file_too_large")
    assert "5 MiB" in reply.json()["error"]["message"]


def test_20_MB_body_is_refused_by_nginx_as_a_json_413(stack):
    body, content_type = images.file_form(b"\0" * 20_000_000)
    marker = uuid.uuid4().hex  # to find this request in the access log
    reply = stack.request("POST", f"/upload?probe={marker}", body, {"Content-Type": content_type})
    assert_json_error(reply, 413, "file_too_large")
    assert "at most 5 MiB" in reply.json()["error"]["message"]
    assert "upstream=- " in logged_line(stack.access_log, marker)  # no worker was asked


def test_too_many_uploads_get_a_json_429(stack_factory):
    stack = stack_factory(UPLOAD_RATE_LIMIT="1r/m", UPLOAD_RATE_BURST="1")
    statuses = []
    for seed in range(5):  # 1 at the rate + 1 of burst pass; the third is over
        reply = stack.upload(png(seed))
        statuses.append(reply.status)
        if reply.status == 429:
            break
    assert statuses == [201, 201, 429]
    assert_json_error(reply, 429, "rate_limited")


def test_rate_limit_applies_to_uploads_only(stack_factory):
    stack = stack_factory(UPLOAD_RATE_LIMIT="1r/m", UPLOAD_RATE_BURST="1")
    assert [stack.upload(png(seed)).status for seed in range(3)] == [201, 201, 429]
    assert all(stack.get("/api/health").status == 200 for _ in range(10))


def test_killed_workers_share_goes_to_the_others_without_errors(stack_factory):
    stack = stack_factory(WEB_SERVER_WORKERS="3")
    image = uploaded(stack, seed=5)
    for _ in range(12):  # nginx now holds keepalive connections to every worker
        assert stack.get("/api/health").status == 200
    victim = stack.worker_pids()[0]

    os.kill(victim, signal.SIGKILL)
    seen = {}
    for i in range(150):
        path = "/api/health" if i % 2 else f"/api/images/{image['name']}"
        reply = stack.get(path, headers=stack.admin())
        seen[reply.status] = seen.get(reply.status, 0) + 1

    assert seen == {200: 150}
    deadline = time.monotonic() + 15
    while victim in stack.worker_pids() or len(stack.worker_pids()) < 3:
        assert time.monotonic() < deadline, "the supervisor did not replace the worker"
        time.sleep(0.1)
