"""Property-based names on GET and DELETE, through nginx: traversal plain, encoded and
double-encoded, backslashes, dotfiles, NUL and CRLF, the index's own file name. Nothing
but an image is ever served or deleted, nothing answers 5xx, and every answer a worker
gives is the JSON error shape. (nginx refuses some paths itself, before any route is
chosen: a 400, 404 or 414 page of its own, listed in docs/openapi.yaml.)
"""

from __future__ import annotations

import os
import re
from urllib.parse import quote, unquote, unquote_to_bytes

import pytest
from hypothesis import assume, event, given, note
from hypothesis import strategies as st
from imagehost.validation import IMAGE_STEM
from support import images
from support.backend import REPO
from support.client import bearer, request

from .harness import (
    examples,
    index_rows,
    is_json_error_body,
    raw_exchange,
    request_head,
    split_response,
)

FIGURE_CLASS = "hostile names (hypothesis)"
FRONTEND = (REPO / "services" / "frontend").resolve()
SECRET = b"secret-sentinel-0123456789"
NGINX_REFUSALS = {400, 404, 414}

SEGMENTS = [
    "..",
    ".",
    "%2e%2e",
    "%2E%2E",
    ".%2e",
    "%2e.",
    "%252e%252e",
    "%25252e",
    "..%2f",
    "..%2F",
    "..%5c",
    "%2f",
    "%5c",
    "\\",
    "..\\",
    "/",
    "//",
    "%00",
    "\x00",
    "%0a",
    "%0d%0a",
    "\r\n",
    "index.sqlite3",
    "index.sqlite3-wal",
    "data",
    "images",
    ".tmp",
    ".env",
    ".git",
    ".sentinel",
    "secret.txt",
    "etc",
    "passwd",
    "%",
    "%zz",
    "~",
    "*",
    "?",
    "#",
    ";",
    " ",
    "%20",
    "\t",
    "%c0%ae%c0%ae",
    "\u2025",
    "\uff0e\uff0e",
    "AbCdEfGhIjKlMnOp.png",
    "a" * 12 + ".png",
]
segments = st.one_of(st.sampled_from(SEGMENTS), st.text(max_size=12))
hostile_names = st.one_of(
    st.lists(segments, min_size=1, max_size=6).map("".join),
    st.lists(segments, min_size=1, max_size=6).map("/".join),
    st.integers(1, 12_000).map(lambda n: "a" * n + ".png"),
)
# How the name is put into the URL: as it is (bytes the request line carries raw), or
# percent-encoded once or twice.
encodings = st.sampled_from(["raw", "once", "twice", "once-keeping-slashes"])


def encode(name: str, how: str) -> bytes:
    if how == "once":
        return quote(name, safe="").encode()
    if how == "twice":
        return quote(quote(name, safe=""), safe="").encode()
    if how == "once-keeping-slashes":
        return quote(name, safe="/%").encode()
    # Raw, but a request line cannot carry CR, LF, spaces or controls and stay HTTP/1.1.
    return "".join(quote(ch) if ord(ch) <= 0x20 or ch == "\x7f" else ch for ch in name).encode("utf-8", "surrogatepass")


def nginx_path(target: bytes) -> str | None:
    """The path nginx chooses a location by: `target` decoded once (%2F too), slashes
    merged, "." and ".." resolved. None when ".." climbs above "/" (nginx answers 400)."""
    decoded = unquote_to_bytes(target.split(b"?", 1)[0].split(b"#", 1)[0])
    parts: list[bytes] = []
    for segment in decoded.split(b"/")[1:]:
        if segment == b"..":
            if not parts:
                return None
            parts.pop()
        elif segment not in (b"", b"."):
            parts.append(segment)
    directory = decoded.endswith((b"/", b"/.", b"/..")) and parts
    return os.fsdecode(b"/" + b"/".join(parts) + (b"/" if directory else b""))


def file_nginx_serves(stack, target: bytes) -> bytes | None:
    """The file nginx serves by itself for `target`: an image by its exact name, or one of
    the page's own files; None for anything it proxies or refuses."""
    path = nginx_path(target)
    if path is None or "/." in path:
        return None
    image = re.fullmatch(rf"/images/({IMAGE_STEM}\.(?:jpg|png|gif))", path)
    if image:
        return stack.stored_bytes(image.group(1))
    if path.startswith(("/api/", "/images/")) or path in ("/upload", "/images"):
        return None
    candidate = FRONTEND / (path.lstrip("/") + ("index.html" if path.endswith("/") else ""))
    if not candidate.resolve().is_relative_to(FRONTEND):
        return None
    try:
        return candidate.read_bytes()
    except OSError:
        return None


@pytest.fixture(scope="module")
def planted(stack):
    """Three real images (the only things that may ever be served), and secrets planted
    where a traversal would find them: in DATA_DIR, beside the folders, in IMAGES_DIR
    under names that are not image names, and a temp file in .tmp."""
    baits = {}
    for data in (images.png(5, 5), images.jpeg(6, 6), images.gif(7, 7)):
        reply = stack.upload(data)
        assert reply.status == 201, reply.body
        baits[reply.json()["name"]] = (data, reply.json()["delete_token"])
    secrets = [
        stack.data_dir / "secret.txt",
        stack.root / "secret.txt",
        stack.images_dir / ".sentinel",
        stack.images_dir / "secret.txt",
        stack.images_dir / "index.sqlite3",
        stack.images_dir / ".tmp" / "x.part",
    ]
    for path in secrets:
        path.write_bytes(SECRET)
    yield baits, secrets
    for path in secrets:
        path.unlink(missing_ok=True)


def decodes_to_a_real_name(target: bytes, baits) -> bool:
    """The backend and nginx decode a path once (nginx for files, the router for names)."""
    text = target.decode("utf-8", "replace")
    return any(candidate in baits for candidate in (text, unquote(text)))


def everything_still_there(stack, baits, secrets, rows_before) -> None:
    assert index_rows(stack) == rows_before
    for name, (data, _) in baits.items():
        assert stack.stored_bytes(name) == data
    for path in secrets:
        assert path.read_bytes() == SECRET


def send(stack, method: str, target: bytes, token: str | None):
    headers = [("Host", "localhost"), ("Connection", "close")]
    if token:
        headers.append(("Authorization", f"Bearer {token}"))
    head = request_head(method, "PLACEHOLDER", headers).replace(b"PLACEHOLDER", target, 1)
    return raw_exchange(stack.http_port, head, timeout=10)


def check_api_answer(stack, answer, method: str, target: bytes) -> None:
    note(f"{answer.statuses} {answer.data[:300]!r}")
    assert answer.statuses, answer
    status, headers, body = split_response(answer.data)
    event(f"{method} {status} {'worker' if 'x-request-id' in headers else 'nginx'}")
    assert status < 500
    assert SECRET not in body and b"SQLite format 3" not in body
    if "x-request-id" in headers:  # a worker answered: the contract's JSON error
        assert status in (400, 401, 403, 404), status
        assert is_json_error_body(headers.get("content-type", ""), body), body[:300]
    elif status == 200:
        # An encoded slash lets dot segments climb out of /api/ (see docs/reliability.md):
        # nginx then serves what the resolved path names, which is only ever public.
        assert body == file_nginx_serves(stack, target), target
    else:
        assert status in NGINX_REFUSALS | {405}, status  # 405: DELETE on a file nginx serves


@given(
    name=hostile_names,
    how=encodings,
    method=st.sampled_from(["GET", "DELETE", "HEAD"]),
    token=st.sampled_from(["admin", "none", "delete token of a real image", "garbage"]),
)
@examples(ci=80, full=2000)
def test_a_hostile_name_on_the_api_never_reaches_a_file_and_gets_a_json_error(
    stack, planted, tally, name, how, method, token
):
    baits, secrets = planted
    target = b"/api/images/" + encode(name, how)
    assume(not decodes_to_a_real_name(encode(name, how), baits))
    tally.case()
    rows_before = index_rows(stack)
    bearer_token = {
        "admin": stack.admin_token,
        "none": None,
        "garbage": "x" * 40,
        "delete token of a real image": next(iter(baits.values()))[1],
    }[token]
    answer = send(stack, method, target, bearer_token)
    if method == "HEAD":
        assert answer.statuses and answer.statuses[0] < 500
    else:
        check_api_answer(stack, answer, method, target)
    everything_still_there(stack, baits, secrets, rows_before)


@given(name=hostile_names, how=encodings, prefix=st.sampled_from([b"/images/", b"/images", b"/", b"/images/.tmp/"]))
@examples(ci=60, full=1500)
def test_a_hostile_name_under_images_serves_nothing_but_a_real_image(stack, planted, tally, name, how, prefix):
    baits, _ = planted
    target = prefix + encode(name, how)
    assume(not decodes_to_a_real_name(encode(name, how), baits))
    tally.case()
    answer = send(stack, "GET", target, None)
    note(f"{answer.statuses} {answer.data[:300]!r}")
    assert answer.statuses
    status, _, body = split_response(answer.data)
    event(f"GET {status}")
    assert status < 500
    assert SECRET not in body and b"SQLite format 3" not in body
    if status == 200:  # only a public file (the page's own, or an image by its name)
        assert body == file_nginx_serves(stack, target), (target, body[:200])


@pytest.mark.parametrize(
    "target",
    [
        "/api/images/..%2f..%2fdata%2findex.sqlite3",
        "/api/images/%2e%2e%2fdata%2findex.sqlite3",
        "/api/images/%252e%252e%252fdata%252findex.sqlite3",
        "/api/images/..%5c..%5cdata%5cindex.sqlite3",
        "/api/images/index.sqlite3",
        "/api/images/.%2e/.%2e/data/index.sqlite3",
    ],
)
def test_deleting_the_index_by_any_path_with_the_admin_token_leaves_it_and_every_row(stack, planted, tally, target):
    baits, secrets = planted
    rows_before = index_rows(stack)
    reply = request("DELETE", stack.base_url + target, headers=stack.admin())
    assert reply.status in (400, 404), reply.status
    everything_still_there(stack, baits, secrets, rows_before)


@pytest.mark.parametrize(
    "target",
    [
        "/images/%252e%252e%2F..%2F..",
        "/images/x%2F..%2F..%2F",
        "/api/images/x%2F..%2F..%2F..%2F",
        "/api/images/x%2F..%2F..%2F..%2Fimages%2F..%2Fdata%2Findex.sqlite3",
    ],
)
def test_dot_segments_behind_an_encoded_slash_are_404(stack, planted, tally, target):
    """nginx's dot-segment guard also matches a "." or ".." after an encoded slash, so these
    paths never resolve out of /images/ or /api/."""
    answer = send(stack, "GET", target.encode(), stack.admin_token)
    status, _, body = split_response(answer.data)
    assert status == 404, status
    assert SECRET not in body and b"SQLite format 3" not in body


def test_the_real_images_are_still_served_and_deletable_after_all_that(stack, planted, tally):
    baits, _ = planted
    for name, (data, token) in baits.items():
        assert request("GET", f"{stack.base_url}/images/{name}").body == data
        assert request("DELETE", f"{stack.base_url}/api/images/{name}", headers=bearer(token)).status == 204
