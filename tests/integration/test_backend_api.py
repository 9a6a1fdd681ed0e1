"""The HTTP contract of the backend, driven over real sockets against real workers."""

from __future__ import annotations

import hashlib
import http.client
import socket

import pytest
from support import images
from support.backend import ADMIN_TOKEN, UPLOAD_TOKEN, Backend
from support.client import bearer, request, upload
from support.encoded import animated_webp, encoded, size_of

ADMIN = bearer(ADMIN_TOKEN)


def files_in(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.is_file())


def row_count(backend) -> int:
    return backend.index_rows("SELECT COUNT(*) FROM images")[0][0]


def read_until_closed(s: socket.socket) -> bytes:
    chunks = []
    while chunk := s.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def uploaded(backend, data: bytes | None = None, filename: str = "cat.png") -> dict:
    reply = upload(backend.url(), images.file_form(data or images.png(), filename))
    assert reply.status == 201, reply.body
    return reply.json()


# --- service routes -----------------------------------------------------------------


def test_health_reports_the_worker_and_that_storage_is_usable(backend):
    for worker in range(backend.workers):
        reply = request("GET", backend.url(worker) + "/api/health")
        assert reply.status == 200
        assert reply.json() == {
            "status": "ok",
            "worker": worker,
            "pid": reply.json()["pid"],
            "images_dir_writable": True,
            "index_readable": True,
            "index_file": "ok",
            "store_reachable": True,
            "log_lines_dropped": 0,
        }


def test_limits_publish_the_upload_limits_and_accepted_types(backend):
    reply = request("GET", backend.url() + "/api/limits")
    assert reply.status == 200
    assert reply.json() == {
        "max_upload_bytes": 5 * 1024 * 1024,
        "max_image_pixels": 50_000_000,
        "accepted_types": ["image/png", "image/jpeg", "image/gif", "image/webp", "image/avif"],
        "accepted_extensions": [".png", ".jpg", ".gif", ".webp", ".avif"],
        "upload_token_required": False,
        "gallery_public": False,
        "max_expiry": None,
        "default_expiry": None,
        "direct_uploads": False,
    }


def test_limits_publish_the_longest_and_the_default_expiry_in_seconds(tmp_path):
    with Backend(tmp_path, MAX_EXPIRY="30d", DEFAULT_EXPIRY="1d") as limited:
        limits = request("GET", limited.url() + "/api/limits").json()
    assert (limits["max_expiry"], limits["default_expiry"]) == (30 * 86400, 86400)


def test_an_unknown_path_is_a_json_404(backend):
    reply = request("GET", backend.url() + "/nope")
    assert reply.status == 404 and reply.error_code == "not_found"


@pytest.mark.parametrize(
    "method, path, allow",
    [
        ("PUT", "/upload", "POST"),
        ("GET", "/upload", "POST"),
        ("DELETE", "/api/limits", "GET, HEAD"),
        ("POST", "/api/health", "GET, HEAD"),
        ("POST", "/api/images/AbCdEfGhIjKlMnOp.png", "DELETE, GET, HEAD, PATCH"),
        ("PATCH", "/images", "GET, HEAD"),
        ("BREW", "/api/images", "GET, HEAD"),
    ],
)
def test_a_known_path_with_another_method_is_405_with_allow(backend, method, path, allow):
    reply = request(method, backend.url() + path, body=b"" if method in ("PUT", "PATCH") else None)
    assert reply.status == 405 and reply.error_code == "method_not_allowed"
    assert reply.headers["Allow"] == allow


def test_head_answers_like_get_without_a_body(backend):
    get = request("GET", backend.url() + "/api/limits")
    head = request("HEAD", backend.url() + "/api/limits")
    assert head.status == 200 and head.body == b""
    assert head.headers["Content-Length"] == str(len(get.body))


def test_a_malformed_request_line_gets_a_json_400(backend):
    with socket.create_connection(("127.0.0.1", backend.start_port), timeout=5) as s:
        s.sendall(b"THIS IS NOT HTTP\r\n\r\n")
        answer = read_until_closed(s)
    assert answer.startswith(b"HTTP/1.1 400")
    assert b'"code":"bad_request"' in answer


def test_keep_alive_connections_carry_several_requests(backend):
    connection = http.client.HTTPConnection("127.0.0.1", backend.start_port, timeout=5)
    for _ in range(3):
        connection.request("GET", "/api/limits")
        response = connection.getresponse()
        assert response.status == 200 and response.read()
    body, content_type = images.file_form(b"not an image at all")
    connection.request("POST", "/upload", body, {"Content-Type": content_type})
    response = connection.getresponse()
    assert response.status == 415 and response.read()
    connection.request("GET", "/api/limits")
    assert connection.getresponse().status == 200
    connection.close()


# --- uploads that succeed -------------------------------------------------------------


@pytest.mark.parametrize(
    "data, mime, extension, width, height",
    [
        (images.png(40, 30), "image/png", ".png", 40, 30),
        (images.jpeg(640, 480, app_segments=3), "image/jpeg", ".jpg", 640, 480),
        (images.jpeg(17, 9, sof_marker=0xC2), "image/jpeg", ".jpg", 17, 9),
        (images.gif(12, 34), "image/gif", ".gif", 12, 34),
        (images.gif(5, 6, version=b"87a"), "image/gif", ".gif", 5, 6),
        # Browsers enlarge the logical screen to cover the first frame.
        (images.gif_of_blocks(1, 1, [images.gif_frame(10, 20, 100, 50)]), "image/gif", ".gif", 110, 70),
    ],
)
def test_png_jpeg_and_gif_are_accepted_with_their_dimensions(backend, data, mime, extension, width, height):
    body = uploaded(backend, data, "picture.bin")
    assert body["type"] == mime and body["name"].endswith(extension)
    assert (body["width"], body["height"]) == (width, height)
    # The stored file's size: the JPEG's APP1 segments (metadata) are removed before it is published.
    assert body["size"] == len(backend.stored_bytes(body["name"])) <= len(data)


def test_the_upload_response_describes_the_image_with_absolute_links(backend):
    data = images.png(8, 8)
    reply = upload(backend.url(), images.file_form(data, "holiday.png"))
    assert reply.status == 201
    body = reply.json()
    assert set(body) == {
        "name",
        "url",
        "thumbnail_url",
        "type",
        "size",
        "width",
        "height",
        "sha256",
        "created_at",
        "original_name",
        "title",
        "description",
        "tags",
        "expires_at",
        "delete_token",
        "delete_url",
        "delete_page_url",
    }
    assert body["url"] == f"{backend.url()}/images/{body['name']}"
    assert body["thumbnail_url"] == f"{backend.url()}/images/previews/{body['name']}.webp"
    assert body["delete_url"] == f"{backend.url()}/api/images/{body['name']}"
    assert body["delete_page_url"] == f"{backend.url()}/#/delete/{body['name']}/{body['delete_token']}"
    assert reply.headers["Location"] == body["url"]
    assert body["original_name"] == "holiday.png"
    assert body["sha256"] == hashlib.sha256(data).hexdigest()
    assert len(body["delete_token"]) >= 32  # 192 random bits
    assert body["created_at"].endswith("Z")
    assert reply.headers["Cache-Control"] == "no-store"


def test_names_are_random_url_safe_and_carry_at_least_72_bits(backend):
    names = {uploaded(backend)["name"] for _ in range(5)}
    assert len(names) == 5
    for name in names:
        stem = name.rsplit(".", 1)[0]
        assert len(stem) >= 12 and all(c.isalnum() or c in "-_" for c in stem)


def test_links_follow_the_forwarded_proto_and_host(backend):
    body, content_type = images.file_form(images.png())
    headers = {"Content-Type": content_type, "X-Forwarded-Proto": "https", "X-Forwarded-Host": "img.example.org"}
    reply = request("POST", backend.url() + "/upload", body, headers)
    assert reply.json()["url"].startswith("https://img.example.org/images/")


def test_a_hostile_forwarded_host_never_reaches_the_links(backend):
    body, content_type = images.file_form(images.png())
    headers = {"Content-Type": content_type, "X-Forwarded-Host": "evil.example/<script>", "Host": "good.example:8080"}
    reply = request("POST", backend.url() + "/upload", body, headers)
    assert reply.json()["url"].startswith("http://good.example:8080/images/")


def test_the_bytes_stored_equal_the_bytes_uploaded(backend):
    data = images.png(64, 64, extra=bytes(range(256)) * 50)
    body = uploaded(backend, data)
    assert backend.stored_bytes(body["name"]) == data  # the file's mode: test_backend_instance.py


def test_the_type_is_decided_by_content_not_by_name_or_declared_type(backend):
    reply = upload(backend.url(), images.file_form(images.png(), "cat.gif", "image/gif"))
    assert reply.status == 201 and reply.json()["name"].endswith(".png")
    reply = upload(backend.url(), images.file_form(b"<html><script>alert(1)</script>", "cat.png", "image/png"))
    assert reply.status == 415 and reply.error_code == "unsupported_type"


def test_an_ordinary_form_field_beside_the_file_is_ignored(backend):
    body = images.multipart([("title", None, None, b"hello"), ("file", "cat.png", "image/png", images.png())])
    assert upload(backend.url(), body).status == 201


@pytest.mark.parametrize(
    "filename, expected",
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\win.ini", "win.ini"),
        ("C:\\Users\\me\\cat.png", "cat.png"),
        ("a\x00b.png", "ab.png"),
        ("line\nbreak.png", "linebreak.png"),
        ("a%0D%0Ab.png", "a%0D%0Ab.png"),  # how browsers and curl escape CR LF
        ("\u202egnp.exe", "gnp.exe"),  # a right-to-left override is dropped
        ("  .hidden.png. ", "hidden.png"),
        ("x" * 10_000 + ".png", "x" * 251 + ".png"),
        ("é" * 10_000, "é" * 255),
        ("", ""),
    ],
)
def test_a_hostile_filename_never_fails_the_upload_and_is_kept_safe(backend, filename, expected):
    body = images.multipart([("file", None, "image/png", images.png())])[0]
    body, content_type = images.multipart([("file", filename, "image/png", images.png())])
    reply = upload(backend.url(), (body, content_type))
    assert reply.status == 201, reply.body
    assert reply.json()["original_name"] == expected


@pytest.mark.parametrize(
    "data, extension",
    [
        pytest.param(encoded("WEBP", (37, 23), lossless=False), ".webp", id="webp-lossy"),
        pytest.param(encoded("WEBP", (37, 23), lossless=True), ".webp", id="webp-lossless"),
        pytest.param(animated_webp((40, 30)), ".webp", id="webp-animated"),
        pytest.param(encoded("AVIF", (37, 23)), ".avif", id="avif"),
    ],
)
def test_webp_and_avif_uploads_are_stored_under_their_own_type_with_their_size(backend, data, extension):
    body = uploaded(backend, data, "photo.jpg")
    assert body["name"].endswith(extension)
    assert (body["width"], body["height"]) == size_of(data)
    assert backend.stored_bytes(body["name"]) == data


@pytest.mark.parametrize(
    "data, message",
    [
        pytest.param(
            images.ftyp(b"heic", b"mif1", b"heic") + images.box(b"mdat", b"x" * 100),
            "HEIC/HEIF photos are not accepted: send a JPEG (on iPhone: Settings > Camera > Formats > Most "
            "Compatible), PNG, GIF, WebP or AVIF.",
            id="heic",
        ),
        pytest.param(
            b"\xef\xbb\xbf  <svg xmlns='http://www.w3.org/2000/svg'/>",
            "SVG is not accepted (it can carry scripts): send PNG, JPEG, GIF, WebP or AVIF "
            "(export the drawing as PNG).",
            id="svg",
        ),
        pytest.param(
            b"%PDF-1.7", "That file is not an image we accept: PNG, JPEG, GIF, WebP or AVIF only.", id="anything-else"
        ),
    ],
)
def test_a_refused_type_is_told_what_to_send_instead(backend, data, message):
    reply = upload(backend.url(), images.file_form(data, "photo.heic"))
    assert (reply.status, reply.error_code) == (415, "unsupported_type")
    assert reply.json()["error"]["message"] == message
    assert files_in(backend.images_dir / ".tmp") == []


# --- uploads that are refused -----------------------------------------------------------


def refused(backend, body: bytes, content_type: str, status: int, code: str, **kwargs) -> None:
    """Assert the refusal and that it left no file, temp file or row behind."""
    before_files, before_rows = backend.stored_names(), row_count(backend)
    reply = request("POST", backend.url() + "/upload", body, {"Content-Type": content_type, **kwargs})
    assert (reply.status, reply.error_code) == (status, code), reply.body
    assert backend.stored_names() == before_files
    assert files_in(backend.images_dir / ".tmp") == []
    assert row_count(backend) == before_rows


def form(data: bytes, filename: str = "cat.png") -> tuple[bytes, str]:
    return images.file_form(data, filename)


@pytest.mark.parametrize(
    "body_and_type, status, code",
    [
        ((b"file=abc", "application/x-www-form-urlencoded"), 400, "bad_request"),
        ((images.png(), "image/png"), 400, "bad_request"),
        (
            (b'--X\r\nContent-Disposition: form-data; name="file"\r\n\r\nabc', "multipart/form-data; boundary=X"),
            400,
            "bad_request",
        ),
        ((b"garbage that is not multipart", "multipart/form-data; boundary=X"), 400, "bad_request"),
        ((b"", "multipart/form-data"), 400, "bad_request"),
        (images.multipart([("title", None, None, b"hello")]), 400, "missing_file"),
        (images.multipart([("image", "cat.png", "image/png", images.png())]), 400, "missing_file"),
        (
            images.multipart(
                [("file", "a.png", "image/png", images.png()), ("file", "b.png", "image/png", images.png())]
            ),
            400,
            "too_many_files",
        ),
        (
            images.multipart([("file", "a.png", "image/png", images.png()), ("more", "b.png", "image/png", b"x")]),
            400,
            "too_many_files",
        ),
        (form(b""), 400, "empty_file"),
        (form(b"hello, world", "cat.png"), 415, "unsupported_type"),
        (form(b"%PDF-1.7 ...", "doc.jpg"), 415, "unsupported_type"),
        (form(b"RIFF\x00\x00\x00\x00WEBPVP8 ", "x.webp"), 415, "unsupported_type"),
        (
            form(b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "x.svg"),
            415,
            "unsupported_type",
        ),
        (form(images.PNG_SIGNATURE), 415, "unsupported_type"),
        (form(images.png()[:20]), 415, "unsupported_type"),
        (form(images.png_header_only(0, 10)), 415, "unsupported_type"),
        (form(b"GIF89a\x01"), 415, "unsupported_type"),
        (form(images.gif(0, 0)), 415, "unsupported_type"),
        (form(b"\xff\xd8\xff\xe0\x00\x10JFIF"), 415, "unsupported_type"),
        (form(images.jpeg(0, 10)), 415, "unsupported_type"),
        (form(images.png_header_only(10_000, 10_000)), 422, "image_too_large"),
        (form(images.gif(65535, 65535)), 422, "image_too_large"),
        (form(images.jpeg(65000, 65000)), 422, "image_too_large"),
        (form(images.avif(images.ispe(100_000, 100_000)), "x.avif"), 422, "image_too_large"),
        (form(images.webp(images.vp8l(16384, 16384)), "x.webp"), 422, "image_too_large"),
        (form(images.webp(images.vp8x(1, 1, True), images.anmf(0, 0, 10_000, 10_000))), 415, "unsupported_type"),
        (form(images.gif_of_blocks(1, 1, [images.gif_frame(0, 0, 10_000, 10_000)])), 422, "image_too_large"),
        (
            form(images.gif_of_blocks(1, 1, [images.gif_frame(0, 0, 1, 1), images.gif_frame(0, 0, 10_000, 10_000)])),
            422,
            "image_too_large",
        ),
        (
            images.multipart(
                [("file", "a.png", "image/png", images.png())] + [(f"field{i}", None, None, b"x") for i in range(16)]
            ),
            400,
            "too_many_fields",
        ),
    ],
)
def test_a_refused_upload_gets_its_json_error_and_leaves_nothing_behind(backend, body_and_type, status, code):
    refused(backend, *body_and_type, status, code)


def test_exactly_5_MiB_is_accepted(backend):
    data = images.png_of_size(5 * 1024 * 1024)
    body = uploaded(backend, data)
    assert body["size"] == 5 * 1024 * 1024
    assert backend.stored_bytes(body["name"]) == data


def test_one_byte_more_than_5_MiB_is_refused_with_413(backend):
    refused(backend, *form(images.png_of_size(5 * 1024 * 1024 + 1)), 413, "file_too_large")


def test_a_20_MB_body_gets_the_json_413_not_a_reset(backend):
    refused(backend, *form(images.png_of_size(20_000_000)), 413, "file_too_large")


def test_a_polyglot_is_stored_as_the_image_type_its_magic_bytes_say(backend):
    polyglot = images.png(extra=b"<html><script>alert(1)</script></html>")
    body = uploaded(backend, polyglot, "page.html")
    assert body["type"] == "image/png" and body["name"].endswith(".png")


def test_a_refused_upload_on_a_keep_alive_connection_still_answers_the_next_request(backend):
    connection = http.client.HTTPConnection("127.0.0.1", backend.start_port, timeout=10)
    body, content_type = form(images.png_of_size(6 * 1024 * 1024))
    connection.request("POST", "/upload", body, {"Content-Type": content_type})
    response = connection.getresponse()
    assert response.status == 413 and b"file_too_large" in response.read()
    connection.request("GET", "/api/limits")
    assert connection.getresponse().status == 200
    connection.close()


def test_a_body_without_content_length_is_refused_with_411(backend):
    with socket.create_connection(("127.0.0.1", backend.start_port), timeout=5) as s:
        s.sendall(
            b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            b"Content-Type: multipart/form-data; boundary=X\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
        )
        answer = read_until_closed(s)
    assert answer.startswith(b"HTTP/1.1 411") and b'"code":"length_required"' in answer


# --- the upload token -------------------------------------------------------------------


@pytest.fixture(scope="module")
def token_backend(tmp_path_factory):
    with Backend(tmp_path_factory.mktemp("token"), UPLOAD_TOKEN=UPLOAD_TOKEN, GALLERY_PUBLIC="true") as running:
        yield running


def test_with_an_upload_token_set_uploads_need_it(token_backend):
    body = form(images.png_of_size(1024 * 1024))
    assert upload(token_backend.url(), body).error_code == "unauthorized"
    assert upload(token_backend.url(), body).status == 401
    assert upload(token_backend.url(), body, token="wrong-token-wrong-token").status == 403
    assert upload(token_backend.url(), body, token=UPLOAD_TOKEN).status == 201
    assert request("GET", token_backend.url() + "/api/limits").json()["upload_token_required"] is True


# --- listing ----------------------------------------------------------------------------


def test_the_listing_is_private_without_the_admin_token(backend):
    for path in ("/api/images", "/images"):
        reply = request("GET", backend.url() + path)
        assert (reply.status, reply.error_code) == (401, "unauthorized")
        assert reply.headers["WWW-Authenticate"].startswith("Bearer")
        reply = request("GET", backend.url() + path, headers=bearer("not-the-admin-token"))
        assert (reply.status, reply.error_code) == (403, "forbidden")


def test_the_listing_is_open_when_the_gallery_is_public(token_backend):
    reply = request("GET", token_backend.url() + "/api/images")
    assert reply.status == 200 and "items" in reply.json()


def test_the_listing_is_newest_first_and_never_shows_delete_tokens(backend):
    names = [uploaded(backend)["name"] for _ in range(3)]
    reply = request("GET", backend.url() + "/api/images?limit=3", headers=ADMIN)
    assert reply.status == 200
    items = reply.json()["items"]
    assert [item["name"] for item in items] == names[::-1]
    assert b"delete_token" not in reply.body and b"delete_url" not in reply.body and b"#/delete/" not in reply.body
    assert set(items[0]) == {
        "name",
        "url",
        "thumbnail_url",
        "type",
        "size",
        "width",
        "height",
        "sha256",
        "created_at",
        "original_name",
        "title",
        "description",
        "tags",
        "expires_at",
    }
    assert request("GET", backend.url() + "/images?limit=3", headers=ADMIN).json() == reply.json()


def test_the_listing_pages_with_a_cursor_that_stays_stable_while_uploads_happen(backend):
    for _ in range(7):
        uploaded(backend)
    total = row_count(backend)
    seen, cursor, pages = [], None, 0
    while True:
        query = "/api/images?limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = request("GET", backend.url() + query, headers=ADMIN).json()
        seen += [item["name"] for item in page["items"]]
        pages += 1
        if pages == 1:
            uploaded(backend)  # a new image must not shift the pages that follow
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == total
    assert pages == -(-total // 3)


def test_the_default_page_holds_50_images(backend):
    while row_count(backend) < 52:
        uploaded(backend)
    page = request("GET", backend.url() + "/api/images", headers=ADMIN).json()
    assert len(page["items"]) == 50 and page["next_cursor"]


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=201",
        "limit=-1",
        "limit=abc",
        "limit=",
        "limit=1.5",
        "limit=%C2%B2",
        "limit=1&limit=2",
        "cursor=abc",
        "cursor=-5",
        "cursor=0",
        "cursor=1e9",
        "cursor=99999999999999999999999",
        "cursor=%00",
    ],
)
def test_a_bad_limit_or_cursor_is_a_400_never_clamped(backend, query):
    reply = request("GET", backend.url() + "/api/images?" + query, headers=ADMIN)
    assert (reply.status, reply.error_code) == (400, "bad_request")


def test_limit_200_is_accepted(backend):
    assert request("GET", backend.url() + "/api/images?limit=200", headers=ADMIN).status == 200


# --- one image ------------------------------------------------------------------------


def test_one_image_is_shown_with_its_delete_token_or_the_admin_token(backend):
    body = uploaded(backend)
    url = f"{backend.url()}/api/images/{body['name']}"
    for headers in (bearer(body["delete_token"]), ADMIN):
        reply = request("GET", url, headers=headers)
        assert reply.status == 200 and reply.json()["name"] == body["name"]
        assert b"delete_token" not in reply.body
    assert request("HEAD", url, headers=ADMIN).status == 200
    assert request("GET", url).status == 401
    assert request("GET", url, headers=bearer("x" * 32)).error_code == "forbidden"


def test_another_images_delete_token_does_not_open_this_one(backend):
    first, second = uploaded(backend), uploaded(backend)
    reply = request("GET", f"{backend.url()}/api/images/{first['name']}", headers=bearer(second["delete_token"]))
    assert reply.status == 403


def test_an_unknown_image_is_404(backend):
    reply = request("GET", backend.url() + "/api/images/AAAAAAAAAAAAAAAA.png", headers=ADMIN)
    assert (reply.status, reply.error_code) == (404, "not_found")


INVALID_NAMES = [
    "short.png",
    "AbCdEfGhIjKlMnOp.txt",
    "AbCdEfGhIjKlMnOp.PNG",
    "AbCdEfGhIjKlMnOp",
    ".tmp",
    ".gitkeep",
    "index.sqlite3",
    "..%2F..%2Fdata%2Findex.sqlite3",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "%252e%252e%252fetc%252fpasswd",
    "..%5C..%5Cwindows",
    "AbCdEfGhIjKlMnOp.png%00.txt",
    "AbCd%20EfGhIjKlMnOp.png",
]


@pytest.mark.parametrize("name", INVALID_NAMES)
@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_a_name_outside_the_pattern_is_400_invalid_name(backend, method, name):
    before = backend.stored_names()
    reply = request(method, f"{backend.url()}/api/images/{name}", headers=ADMIN)
    assert (reply.status, reply.error_code) == (400, "invalid_name")
    assert backend.stored_names() == before


# --- delete -----------------------------------------------------------------------------


def test_delete_with_the_delete_token_removes_the_file_and_the_row(backend):
    body = uploaded(backend)
    url = f"{backend.url()}/api/images/{body['name']}"
    assert request("DELETE", url).status == 401
    assert request("DELETE", url, headers=bearer("y" * 32)).status == 403
    assert backend.stored_bytes(body["name"]) is not None
    reply = request("DELETE", url, headers=bearer(body["delete_token"]))
    assert reply.status == 204 and reply.body == b""
    assert backend.stored_bytes(body["name"]) is None
    assert request("GET", url, headers=ADMIN).status == 404
    assert request("DELETE", url, headers=bearer(body["delete_token"])).status == 404


def test_the_admin_token_deletes_any_image(backend):
    body = uploaded(backend)
    assert request("DELETE", f"{backend.url()}/api/images/{body['name']}", headers=ADMIN).status == 204
    assert backend.stored_bytes(body["name"]) is None


def test_deleting_an_unknown_image_is_404(backend):
    reply = request("DELETE", backend.url() + "/api/images/AAAAAAAAAAAAAAAA.gif", headers=ADMIN)
    assert (reply.status, reply.error_code) == (404, "not_found")


@pytest.mark.sqlite_index
def test_the_index_lives_in_the_data_dir_never_in_the_images_dir(backend):
    assert (backend.data_dir / "index.sqlite3").exists()
    assert not [p for p in backend.images_dir.rglob("*") if "sqlite" in p.name]
